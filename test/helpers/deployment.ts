// Starts a real deployment for a test: `triledger up` (three device processes, real HTTP, real
// stores) in a fresh temporary folder on free ports, and stops it afterwards. The stores are SQLite
// files, or PostgreSQL schemas when TRILEDGER_TEST_BACKEND=postgres (the `postgres` test project).
//
// A new deployment is a copy of one that `up` made once in the test run for its scheme and mode:
// `up`'s first run (a dozen keystores under scrypt, the demo's accounts and units through real
// signed operations) costs seconds that every test would otherwise pay again. The copy is what
// that first run left on disk, moved to the test's ports; on PostgreSQL it keeps the keys and
// configurations, its devices get fresh schemas, and `up` seeds them (`fresh` asks for a first
// run). The template's keystores are saved again with scrypt's cost at its minimum (the file
// records its cost, and every reader follows it), as the keystore's own tests do: each device
// start, each command and each wallet a test opens would otherwise spend a fifth of a second in
// the KDF.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerminalClient } from '../../src/client/terminal.js';
import {
  deploymentInfo,
  deviceNames,
  issuerKeyNumber,
  operatorKeyNumber,
  passphraseOf,
  walletPath,
} from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { assert } from '../../src/model/assert.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { envelopeHeader, signEnvelope } from '../../src/protocol/envelope.js';
import type { SignatureDevice } from '../../src/signature/device.js';
import {
  loadKeystoreFile,
  saveKeystoreFile,
  scryptCostLog2Min,
} from '../../src/signature/keystoreFile.js';
import { deviceStoreSpec } from '../../src/store/open.js';
import { binPath } from '../cli/run.js';
import { freshSchemaPrefix, postgresAvailable, postgresStoreSpec } from './postgres.js';
import { readRows } from './stores.js';

/** The backend of the current test project. */
export function testBackend(): 'sqlite' | 'postgres' {
  return process.env['TRILEDGER_TEST_BACKEND'] === 'postgres' ? 'postgres' : 'sqlite';
}

export interface TestDeployment {
  readonly dir: string;
  readonly portBase: number;
  /** What `triledger up` printed so far. */
  output(): string;
  readonly url: string;
  keystore(name: string): SignatureDevice;
  wallet(accountNumber: bigint): SignatureDevice;
  client(keys: SignatureDevice): TerminalClient;
  /** GET a path of the public API signed with the operator key (an account's reads need a key). */
  read(path: string): ReturnType<TerminalClient['read']>;
  /** A raw HTTP request to the transaction device, its envelope signed with the operator key. */
  fetchSigned(
    path: string,
    init?: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  /** Read a device's store directly (as an auditor would, for checks); `?` placeholders. */
  rows<T = Record<string, unknown>>(
    device: 'transaction' | 'account' | 'currency',
    sql: string,
    ...parameters: unknown[]
  ): Promise<T[]>;
  stop(): Promise<void>;
}

/** Point an existing deployment (a copy of another) at new ports, so that both can run. */
export function movePorts(dir: string, portBase: number): void {
  const ports = { transaction: portBase, account: portBase + 1, currency: portBase + 2 };
  const edit = (file: string, change: (json: Record<string, unknown>) => void) => {
    const path = join(dir, file);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    change(json);
    writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
  };
  for (const device of ['transaction', 'account', 'currency'] as const)
    edit(`${device}.json`, (config) => {
      config['port'] = ports[device];
      config['peers'] =
        device === 'transaction'
          ? {
              account: `http://127.0.0.1:${ports.account}`,
              currency: `http://127.0.0.1:${ports.currency}`,
            }
          : { transaction: `http://127.0.0.1:${ports.transaction}` };
    });
  edit('deployment.json', (info) => {
    info['transactionUrl'] = `http://127.0.0.1:${ports.transaction}`;
  });
}

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Where tests look for free ports: below the kernel's ephemeral range (32768 and up by Linux's
 * default, read where the kernel tells it), from which every outgoing connection (a device's to its
 * peers or to PostgreSQL, a client's) takes a local port, so that a port probed free is not a
 * connection's by the time a device binds it.
 */
const testPortMin = 20_000;
const testPortsEnd = Math.min(32_000, ephemeralPortMin());
assert(
  testPortsEnd - testPortMin >= 4_000,
  'tests have thousands of ports below the ephemeral range',
);

function ephemeralPortMin(): number {
  try {
    const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    return Number(range.trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

/** The first of `count` ports in a row that are free now (a parallel test may still take one). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = testPortMin + Math.floor(Math.random() * (testPortsEnd - testPortMin - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await portIsFree(port);
    if (free) return base;
  }
  throw new Error(`no ${count} free ports in a row`);
}

export function freePortBase(): Promise<number> {
  return freePorts(3);
}

interface DeploymentOptions {
  scheme?: 'hmac' | 'ed25519';
  mode?: 'confirm' | 'update';
  dir?: string;
  portBase?: number;
  /** Extra environment for the device processes (fault hooks). */
  env?: Record<string, string>;
  /** Where a new deployment keeps its stores (default: TRILEDGER_TEST_BACKEND, else sqlite). */
  backend?: 'sqlite' | 'postgres';
  /** A new deployment made by `up`'s own first run, not copied from the run's template. */
  fresh?: boolean;
}

/** Attempts when ports found free were taken (by a parallel test) before the devices bound them. */
const portRaceAttemptsMax = 3;
/** How that reads: `up`'s own check of the ports (src/cli/upCommand.ts), or a device's bind. */
const portTaken = /is in use by another process|EADDRINUSE/;

/** A remittance of `amount` JPY signed with the source account's own wallet key. */
export function remit(deployment: TestDeployment, from: bigint, to: bigint, amount: bigint) {
  return deployment.client(deployment.wallet(from)).remit({
    sourceAccount: from,
    destinationAccount: to,
    amount,
    currencyType: 'JPY',
    keyNumber: accountKeyNumberBase + Number(from),
  });
}

/** An issuance of units of `values` JPY to `to`, signed with the demo's issuer key. */
export function issue(deployment: TestDeployment, to: bigint, values: readonly bigint[]) {
  return deployment.client(deployment.keystore('issuer')).issue({
    destinationAccount: to,
    currencyType: 'JPY',
    values,
    issuerKeyNumber,
  });
}

export async function startDeployment(options: DeploymentOptions = {}): Promise<TestDeployment> {
  const dir = options.dir ?? join(mkdtempSync(join(tmpdir(), 'triledger-deployment-')), 'data');
  const backend = options.backend ?? testBackend();
  if (options.fresh !== true && !existsSync(join(dir, 'deployment.json'))) {
    await copyTemplate(options.scheme ?? 'hmac', options.mode ?? 'confirm', dir);
    if (backend === 'postgres' && existsSync(join(dir, 'deployment.json')))
      moveToPostgres(dir, postgresStoreSpec(freshSchemaPrefix()));
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDeploymentOnce({ ...options, dir });
    } catch (error) {
      const raced = error instanceof Error && portTaken.test(error.message);
      // Ports this helper chose were taken meanwhile: the deployment (written by the failed
      // attempt, or given) moves to other free ports and starts again.
      if (!raced || options.portBase !== undefined || attempt >= portRaceAttemptsMax) throw error;
    }
  }
}

/** The test run's templates (globalSetup names the run and removes them when it ends). */
function templatesDir(): string | undefined {
  const run = process.env['TRILEDGER_TEST_RUN'];
  return run === undefined ? undefined : join(tmpdir(), `triledger-templates-${run}`);
}

/** How long a test waits for another test's worker to finish making a template. */
const templateWaitMsMax = 90_000;

/**
 * Copy the run's template for `scheme` and `mode` into `dir`, making it first if no test has (one
 * maker per template across the run's workers: whoever creates its `.making` folder). Leaves
 * `dir` alone when there is no template to copy; the start then makes a fresh deployment.
 */
async function copyTemplate(
  scheme: 'hmac' | 'ed25519',
  mode: 'confirm' | 'update',
  dir: string,
): Promise<void> {
  const root = templatesDir();
  if (root === undefined) return;
  const ready = join(root, `${scheme}-${mode}`);
  const making = `${ready}.making`;
  mkdirSync(root, { recursive: true });
  if (!existsSync(ready) && makerOf(making)) {
    try {
      const made = await startDeployment({
        scheme,
        mode,
        backend: 'sqlite',
        dir: join(making, 'data'),
        fresh: true,
      });
      await made.stop();
      cheapenKeystores(join(making, 'data'));
      renameSync(join(making, 'data'), ready);
    } finally {
      rmSync(making, { recursive: true, force: true });
    }
  }
  const deadline = Date.now() + templateWaitMsMax;
  while (!existsSync(ready) && existsSync(making) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  if (existsSync(ready)) cpSync(ready, dir, { recursive: true });
}

/**
 * Save every keystore of a deployment again at scrypt's lowest cost: each device start and each
 * command then opens its keystore in milliseconds (the keystore's own tests run the real cost).
 */
export function cheapenKeystores(dir: string): void {
  const passphrase = passphraseOf(dir);
  const paths = [
    ...readdirSync(dir).filter((name) => name.endsWith('.keystore.json')),
    ...readdirSync(join(dir, 'wallets')).map((name) => join('wallets', name)),
  ].map((name) => join(dir, name));
  for (const path of paths) {
    const loaded = loadKeystoreFile(path, passphrase, { environment: systemEnvironment });
    if (!loaded.ok) throw new Error(loaded.message);
    const options = { environment: systemEnvironment, scryptCostLog2: scryptCostLog2Min };
    const saved = saveKeystoreFile(path, loaded.value, passphrase, options);
    if (!saved.ok) throw new Error(saved.message);
  }
}

/**
 * A copied deployment's devices on fresh PostgreSQL schemas instead of its SQLite files: the
 * stores start empty, so `up` seeds the demo again, its accounts with new wallets.
 */
function moveToPostgres(dir: string, store: string): void {
  for (const name of readdirSync(dir))
    if (name.includes('.sqlite') || name === 'seeded') rmSync(join(dir, name));
  rmSync(join(dir, 'wallets'), { recursive: true });
  mkdirSync(join(dir, 'wallets'), { mode: 0o700 });
  for (const device of deviceNames) {
    const path = join(dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    config['store'] = deviceStoreSpec(store, device);
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  }
}

/** Whether this process made the `making` folder (and so makes the template). */
function makerOf(making: string): boolean {
  try {
    mkdirSync(making);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function startDeploymentOnce(
  options: DeploymentOptions & { dir: string },
): Promise<TestDeployment> {
  const dir = options.dir;
  const portBase = options.portBase ?? (await freePortBase());
  const existing = existsSync(join(dir, 'deployment.json'));
  if (existing) movePorts(dir, portBase);
  const backend = options.backend ?? testBackend();
  if (backend === 'postgres' && !(await postgresAvailable()))
    throw new Error('the postgres test project needs PostgreSQL');
  const storeArguments =
    backend === 'postgres' && !existing ? ['--store', postgresStoreSpec(freshSchemaPrefix())] : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      binPath,
      'up',
      '--data',
      dir,
      '--port-base',
      String(portBase),
      '--scheme',
      options.scheme ?? 'hmac',
      '--mode',
      options.mode ?? 'confirm',
      ...storeArguments,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`deployment did not come up:\n${output}`)),
      60_000,
    );
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('triledger is up')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`triledger up exited with ${code}:\n${output}`));
    });
  });
  const passphrase = passphraseOf(dir);
  const load = (path: string) => {
    const loaded = loadKeystoreFile(path, passphrase, { environment: systemEnvironment });
    if (!loaded.ok) throw new Error(loaded.message);
    return loaded.value;
  };
  const clients: TerminalClient[] = [];
  const url = deploymentInfo(dir).transactionUrl;
  let operatorKeys: SignatureDevice | undefined;
  const operator = () => {
    operatorKeys ??= load(join(dir, 'operator.keystore.json'));
    return operatorKeys;
  };
  let operatorReader: TerminalClient | undefined;
  return {
    dir,
    portBase,
    output: () => output,
    url,
    keystore: (name) => load(join(dir, `${name}.keystore.json`)),
    wallet: (accountNumber) => load(walletPath(dir, accountNumber)),
    client(keys) {
      const client = new TerminalClient(deploymentInfo(dir), keys);
      clients.push(client);
      return client;
    },
    read(path) {
      operatorReader ??= new TerminalClient(deploymentInfo(dir), operator());
      return operatorReader.read(path, operatorKeyNumber);
    },
    fetchSigned(path, init = {}) {
      const method = init.method ?? 'GET';
      const body = Buffer.from(init.body ?? '');
      const envelope = signEnvelope(
        operator(),
        operatorKeyNumber,
        { receiver: 'transaction', method, url: path, body },
        systemEnvironment.nowMs(),
        systemEnvironment.randomBytes,
      );
      return fetch(`${url}${path}`, {
        method,
        headers: {
          ...init.headers,
          [envelopeHeader]: envelope,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: init.body }),
      });
    },
    async rows(device, sql, ...parameters) {
      // The answer comes before the settlement: a read behind the gateway waits for it first.
      if (device !== 'transaction') await settlementsDone(url);
      return readRows(dir, device, sql, ...parameters);
    },
    async stop() {
      await Promise.all(
        [...clients, ...(operatorReader ? [operatorReader] : [])].map((c) => c.close()),
      );
      // `up` may have stopped already (one of its devices died): nothing to wait for then.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** How long a direct read of account's or currency's store waits for settlements in flight. */
const settlementWaitMsMax = 5_000;

/**
 * Wait until the transaction device has no operation open or unsettled (its /health), or
 * settlementWaitMsMax passes (a test with a peer down reads what is there).
 */
async function settlementsDone(url: string): Promise<void> {
  const deadline = Date.now() + settlementWaitMsMax;
  while (Date.now() < deadline) {
    const health = await fetch(`${url}/health`)
      .then(
        (response) =>
          response.json() as Promise<{ operations?: { open: number; unsettled: number } }>,
      )
      .catch(() => undefined);
    const operations = health?.operations;
    if (!operations || (operations.open === 0 && operations.unsettled === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
