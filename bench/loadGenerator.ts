// The throughput benchmark's load generator: its own process (bench/throughput.ts forks it), so that
// the clients' signing and chain checks are measured apart from the devices' CPU.
//
// It opens its accounts through the public API, each with its own key: in HMAC runs a shared HMAC
// secret of its terminal (FIG. 6, installed in the keystores before the devices started,
// bench/devices.ts installSharedKeys), in Ed25519 runs an Ed25519 key pair held in memory; gives each
// 100 units of 1 JPY, then runs N concurrent signing clients. A client owns `batch` pairs of
// accounts and sends, in a loop, one remittance of 1 JPY from each pair (alone, or as one batch
// request when batch > 1), back and forth, so that no two remittances in flight share a source
// account. Every answer is checked as a terminal checks it: the whole chain from signature 0.
//
// Protocol over IPC: the parent sends a LoadPlan; the child answers { event: 'ready' }, then
// { event: 'measuring' } when the warm-up ends, { event: 'measured' } when the load ends, then
// { event: 'result', result } after the invariants are read.

import { join } from 'node:path';
import { TerminalClient } from '../src/client/terminal.js';
import {
  deploymentInfo,
  issuerKeyNumber,
  operatorKeyNumber,
  passphraseOf,
  terminalKeys,
} from '../src/deployment/demo.js';
import { accountKeyNumberBase } from '../src/devices/context.js';
import { assert } from '../src/model/assert.js';
import { systemEnvironment } from '../src/model/environment.js';
import type { SignatureDevice } from '../src/signature/device.js';
import { loadKeystoreFile } from '../src/signature/keystoreFile.js';
import { sharedKeyNumberFirst } from './devices.js';
import { type LatencySummary, summarize } from './latency.js';

export interface LoadPlan {
  readonly dir: string;
  /** How accounts sign: shared HMAC keys the terminal keystore holds, or new Ed25519 keys. */
  readonly accountKeys: 'shared-hmac' | 'ed25519';
  readonly clients: number;
  /** Remittances per request: 1 sends POST /v1/remittances, more send one batch request. */
  readonly batch: number;
  /** One client alone, one remittance at a time, before the load: the light-load latency. */
  readonly lightCount: number;
  /** Remittances of the light load sent first and not counted (the devices warm up). */
  readonly lightWarmupCount: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface LoadResult {
  readonly light: LatencySummary;
  readonly load: {
    readonly seconds: number;
    readonly remittances: number;
    readonly perSecond: number;
    /** Per request (a batch when batch > 1), from signing to the checked answer. */
    readonly latency: LatencySummary;
    readonly refused: Record<string, number>;
  };
  /** Every account the load used: balances add up to what was issued, nothing held. */
  readonly invariants: {
    readonly accounts: number;
    readonly issued: string;
    readonly held: string;
    readonly balances: string;
  };
  readonly cpuSeconds: number;
}

const unitsPerAccount = 100;
const setupConcurrency = 16;

async function inChunks<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map(work));
}

async function run(plan: LoadPlan): Promise<LoadResult> {
  const info = deploymentInfo(plan.dir);
  const keys: SignatureDevice = terminalKeys(plan.dir, systemEnvironment);
  const issuerKeys = loadKeystoreFile(
    join(plan.dir, 'issuer.keystore.json'),
    passphraseOf(plan.dir),
    {
      environment: systemEnvironment,
    },
  );
  assert(issuerKeys.ok, 'the issuer keystore opens');
  // An account's reads need its key or an operator's: the invariants are read as the operator.
  const operatorKeys = loadKeystoreFile(
    join(plan.dir, 'operator.keystore.json'),
    passphraseOf(plan.dir),
    { environment: systemEnvironment },
  );
  assert(operatorKeys.ok, 'the operator keystore opens');
  const operator = new TerminalClient(info, operatorKeys.value);
  const terminals = Array.from({ length: plan.clients + 1 }, () => new TerminalClient(info, keys));
  const issuer = new TerminalClient(info, issuerKeys.value);

  // Accounts: a shared HMAC key each (from sharedKeyNumberFirst), or an Ed25519 key each, first
  // under a stand-in number, then under the account's own.
  const accountCount = plan.clients * plan.batch * 2;
  const accounts: bigint[] = [];
  const keyNumberOf = new Map<bigint, number>();
  const openAccount = async (i: number): Promise<[bigint, number]> => {
    if (plan.accountKeys === 'shared-hmac') {
      const keyNumber = sharedKeyNumberFirst + i;
      const opened = await terminals[0]!.openAccountWithSharedKey({
        currencyType: 'JPY',
        keyNumber,
      });
      assert(
        opened.ok && opened.accountNumber !== undefined,
        `an account opens: ${opened.ok ? '' : opened.message}`,
      );
      return [opened.accountNumber, keyNumber];
    }
    const seed = systemEnvironment.randomBytes(32);
    const standIn = 900_000 + i;
    const key = {
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['sign', 'verify'],
    } as const;
    assert(keys.addKey({ keyNumber: standIn, owner: 'bench', ...key }).ok, 'a stand-in key');
    const opened = await terminals[0]!.openAccount({ currencyType: 'JPY', signKeyNumber: standIn });
    assert(
      opened.ok && opened.accountNumber !== undefined,
      `an account opens: ${opened.ok ? '' : opened.message}`,
    );
    const keyNumber = accountKeyNumberBase + Number(opened.accountNumber);
    assert(keys.addKey({ keyNumber, owner: 'bench', ...key }).ok, 'the account key');
    return [opened.accountNumber, keyNumber];
  };
  await inChunks(
    Array.from({ length: accountCount }, (_, i) => i),
    setupConcurrency,
    async (i) => {
      const [accountNumber, keyNumber] = await openAccount(i);
      const issued = await issuer.issue({
        destinationAccount: accountNumber,
        currencyType: 'JPY',
        values: Array(unitsPerAccount).fill(1n),
        issuerKeyNumber,
      });
      assert(issued.ok, `units are issued: ${issued.ok ? '' : issued.message}`);
      accounts[i] = accountNumber;
      keyNumberOf.set(accountNumber, keyNumber);
    },
  );
  process.send!({ event: 'ready' });

  const remit = (client: TerminalClient, pairs: [bigint, bigint][], turn: number) => {
    const list = pairs.map(([a, b]) => {
      const [from, to] = turn % 2 === 0 ? [a, b] : [b, a];
      return {
        sourceAccount: from,
        destinationAccount: to,
        amount: 1n,
        currencyType: 'JPY',
        keyNumber: keyNumberOf.get(from)!,
      };
    });
    return list.length === 1 ? client.remit(list[0]!).then((r) => [r]) : client.remitBatch(list);
  };

  // Light load: one client, one remittance at a time; the first lightWarmupCount not counted.
  const light: number[] = [];
  const lightPair: [bigint, bigint][] = [[accounts[0]!, accounts[1]!]];
  for (let turn = 0; turn < plan.lightWarmupCount + plan.lightCount; turn++) {
    const started = performance.now();
    const [answer] = await remit(terminals[0]!, lightPair, turn);
    if (turn >= plan.lightWarmupCount) light.push(performance.now() - started);
    assert(answer!.ok, `a remittance at light load succeeds: ${answer!.ok ? '' : answer!.message}`);
  }

  // The load: every client in a loop; only what starts after the warm-up is counted.
  const latencies: number[] = [];
  const refused: Record<string, number> = {};
  let remittances = 0;
  const warmupEnds = performance.now() + plan.warmupMs;
  const measureEnds = warmupEnds + plan.measureMs;
  let measuring = false;
  let cpuAtStart = 0;
  await Promise.all(
    Array.from({ length: plan.clients }, async (_, c) => {
      const pairs = Array.from({ length: plan.batch }, (_, k): [bigint, bigint] => {
        const base = (c * plan.batch + k) * 2;
        return [accounts[base]!, accounts[base + 1]!];
      });
      for (let turn = 0; performance.now() < measureEnds; turn++) {
        const started = performance.now();
        if (!measuring && started >= warmupEnds) {
          measuring = true;
          cpuAtStart = cpuSecondsOf(process.cpuUsage());
          process.send!({ event: 'measuring' });
        }
        const answers = await remit(terminals[c + 1]!, pairs, turn);
        const finished = performance.now();
        if (started < warmupEnds || finished > measureEnds) continue;
        latencies.push(finished - started);
        for (const answer of answers) {
          if (answer.ok) remittances += 1;
          else refused[answer.code] = (refused[answer.code] ?? 0) + 1;
        }
      }
    }),
  );
  const seconds = plan.measureMs / 1000;
  const cpuSeconds = cpuSecondsOf(process.cpuUsage()) - cpuAtStart;
  process.send!({ event: 'measured' });

  // Invariants over the accounts the load used, read through the public API (row signatures
  // checked there): what was issued is all still there, and nothing is left held.
  let balances = 0n;
  let held = 0n;
  await inChunks(accounts, setupConcurrency, async (account) => {
    const read = await operator.read(`/v1/accounts/${account}`, operatorKeyNumber);
    assert(read.ok, `account ${account} reads`);
    balances += BigInt(read.value['balance'] as string);
    held += BigInt(read.value['held'] as string);
  });
  await Promise.all([...terminals, issuer, operator].map((t) => t.close()));
  return {
    light: summarize(light),
    load: {
      seconds,
      remittances,
      perSecond: remittances / seconds,
      latency: summarize(latencies),
      refused,
    },
    invariants: {
      accounts: accounts.length,
      issued: String(BigInt(accounts.length * unitsPerAccount)),
      held: String(held),
      balances: String(balances),
    },
    cpuSeconds,
  };
}

function cpuSecondsOf(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

process.once('message', (plan: LoadPlan) => {
  run(plan).then(
    (result) => process.send!({ event: 'result', result }, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(
        `load generator: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exit(1);
    },
  );
});
