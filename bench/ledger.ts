// `npm run bench -- ledger`: a simple load on a real local deployment (three device processes,
// SQLite, HMAC, confirm mode), for the ledger issue's figures. The full benchmark is a later issue.
//
// 1. Latency: remittances one at a time (500 JPY back and forth between accounts 1 and 2), measured
//    at the terminal, signing and verifying included.
// 2. Throughput: N concurrent terminals, each moving 1 JPY between its own two accounts, for a fixed
//    time; remittances per second and latency under load.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openAccount } from '../src/cli/clientCommands.js';
import { TerminalClient } from '../src/client/terminal.js';
import {
  deploymentInfo,
  issuerKeyNumber,
  passphraseOf,
  walletPath,
} from '../src/deployment/demo.js';
import { accountKeyNumberBase } from '../src/devices/context.js';
import { systemEnvironment } from '../src/model/environment.js';
import { loadKeystoreFile } from '../src/signature/keystoreFile.js';
import { progressLine } from './progress.js';

const sequentialCount = 300;
const concurrentClients = 16;
const loadMs = 10_000;
const binPath = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

export interface LedgerBenchResult {
  readonly single: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  readonly load: {
    clients: number;
    seconds: number;
    remittances: number;
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
    refused: number;
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

async function up(dir: string, store: string | undefined): Promise<ChildProcess> {
  const storeArguments = store === undefined ? [] : ['--store', store];
  const child = spawn(
    process.execPath,
    [binPath, 'up', '--data', dir, '--port-base', '27101', ...storeArguments],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('triledger is up')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`triledger up exited with ${code}`)));
  });
  return child;
}

/**
 * `store`: a postgres:// URL to run the devices on PostgreSQL (a fresh schema per device, dropped
 * afterwards); SQLite files when absent.
 */
export async function runLedgerBench(store?: string): Promise<LedgerBenchResult> {
  const dir = join(mkdtempSync(join(tmpdir(), 'triledger-bench-')), 'data');
  const progress = progressLine();
  progress.update('ledger: starting the three devices');
  const schemaPrefix = `triledger_bench_${randomBytes(4).toString('hex')}`;
  const storeUrl = store === undefined ? undefined : new URL(store);
  storeUrl?.searchParams.set('schema', schemaPrefix);
  const child = await up(dir, storeUrl?.toString());
  const load = (path: string) => {
    const loaded = loadKeystoreFile(path, passphraseOf(dir), { environment: systemEnvironment });
    if (!loaded.ok) throw new Error(loaded.message);
    return loaded.value;
  };
  const info = deploymentInfo(dir);
  const clients: TerminalClient[] = [];
  const clientFor = (keys: ReturnType<typeof load>) => {
    const client = new TerminalClient(info, keys);
    clients.push(client);
    return client;
  };
  try {
    const one = clientFor(load(walletPath(dir, 1n)));
    const two = clientFor(load(walletPath(dir, 2n)));
    const single: number[] = [];
    for (let i = 0; i < sequentialCount; i++) {
      progress.update(`ledger: single remittances ${i + 1}/${sequentialCount}`);
      const [client, from, to] = i % 2 === 0 ? [one, 1n, 2n] : [two, 2n, 1n];
      const started = performance.now();
      const result = await client.remit({
        sourceAccount: from,
        destinationAccount: to,
        amount: 500n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + Number(from),
      });
      single.push(performance.now() - started);
      if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
    }

    const issuer = clientFor(load(join(dir, 'issuer.keystore.json')));
    const pairs: {
      client: TerminalClient;
      accounts: [bigint, bigint];
      wallets: TerminalClient[];
    }[] = [];
    for (let i = 0; i < concurrentClients; i++) {
      progress.update(`ledger: opening accounts ${i + 1}/${concurrentClients}`);
      const a = (await openAccount(dir, 'JPY')).accountNumber;
      const b = (await openAccount(dir, 'JPY')).accountNumber;
      for (const account of [a, b]) {
        const issued = await issuer.issue({
          destinationAccount: account,
          currencyType: 'JPY',
          values: Array(100).fill(1n),
          issuerKeyNumber,
        });
        if (!issued.ok) throw new Error(issued.message);
      }
      const wallets = [clientFor(load(walletPath(dir, a))), clientFor(load(walletPath(dir, b)))];
      pairs.push({ client: wallets[0]!, accounts: [a, b], wallets });
    }

    const latencies: number[] = [];
    let refused = 0;
    const deadline = performance.now() + loadMs;
    const startedAt = performance.now();
    const timer = setInterval(
      () =>
        progress.update(
          `ledger: load ${((performance.now() - startedAt) / 1000).toFixed(0)}/${loadMs / 1000} s, ${latencies.length} remittances`,
        ),
      250,
    );
    await Promise.all(
      pairs.map(async ({ accounts, wallets }) => {
        for (let turn = 0; performance.now() < deadline; turn++) {
          const from = accounts[turn % 2]!;
          const to = accounts[(turn + 1) % 2]!;
          const started = performance.now();
          const result = await wallets[turn % 2]!.remit({
            sourceAccount: from,
            destinationAccount: to,
            amount: 1n,
            currencyType: 'JPY',
            keyNumber: accountKeyNumberBase + Number(from),
          });
          latencies.push(performance.now() - started);
          if (!result.ok) refused += 1;
        }
      }),
    );
    clearInterval(timer);
    const seconds = (performance.now() - startedAt) / 1000;
    progress.done();
    single.sort((x, y) => x - y);
    latencies.sort((x, y) => x - y);
    return {
      single: {
        count: single.length,
        p50Ms: percentile(single, 50),
        p99Ms: percentile(single, 99),
        maxMs: single.at(-1) ?? 0,
      },
      load: {
        clients: concurrentClients,
        seconds,
        remittances: latencies.length,
        perSecond: latencies.length / seconds,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        refused,
      },
    };
  } finally {
    progress.done();
    await Promise.all(clients.map((c) => c.close()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    if (storeUrl) await dropBenchSchemas(storeUrl, schemaPrefix);
  }
}

async function dropBenchSchemas(storeUrl: URL, schemaPrefix: string): Promise<void> {
  const url = new URL(storeUrl);
  url.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    for (const device of ['transaction', 'account', 'currency'])
      await client.query(`DROP SCHEMA IF EXISTS ${schemaPrefix}_${device} CASCADE`);
  } finally {
    await client.end();
  }
}
