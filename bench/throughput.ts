// `npm run bench -- throughput`: how many remittances the ledger carries, how fast each returns, and
// what it costs per device; for each signature scheme (HMAC, Ed25519) and protocol mode (confirm,
// update).
//
// For each configuration: `triledger up` runs the three devices as separate processes (SQLite, or
// PostgreSQL with --store), and a load generator in its own process (bench/loadGenerator.ts) opens
// its accounts, measures one remittance at a time (light load), then runs N concurrent signing
// clients: a warm-up, then a fixed measuring time. Meanwhile this process reads each device's CPU
// time and memory from /proc. After the load, the accounts' balances must add up to what was
// issued with nothing held, and a full audit must be clean: speed never hides a wrong answer.
//
// Where PostgreSQL and pgbench are present, pgbench's TPC-B (the classic bank transfer: -c 8 -j 2,
// 20 s, scale 10) runs on this machine in the same run, and our rate is shown over its rate; with a
// PostgreSQL store on this machine, so is what a remittance costs the server's CPU against what a
// TPC-B transaction does (throughputReport.ts serverCostLines). So does the light-load floor
// (bench/lightFloor.ts): what a lone remittance's round trips and durable commits take here at the
// least, beside the light load's latency.

import { execFile, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { OperatorClient } from '../src/client/operator.js';
import {
  deploymentInfo,
  operatorKeyNumber,
  passphraseOf,
  type Scheme,
} from '../src/deployment/demo.js';
import type { DeviceName } from '../src/devices/context.js';
import { assert } from '../src/model/assert.js';
import { systemEnvironment } from '../src/model/environment.js';
import { loadKeystoreFile } from '../src/signature/keystoreFile.js';
import {
  type Ed25519Rates,
  ed25519CryptoLimit,
  measureEd25519Rates,
  measureUnitCosts,
  type UnitCosts,
} from './cpuLimits.js';
import {
  commandCpuSeconds,
  cpuSeconds,
  installBenchSharedKeys,
  liftRateLimits,
  openMetricsListeners,
  rssBytes,
  rssPeakBytes,
  stop,
  up,
} from './devices.js';
import { type LightFloor, measureLightFloor } from './lightFloor.js';
import type { LoadPlan, LoadResult } from './loadGenerator.js';
import { progressLine } from './progress.js';
import { mainThreadProfile, type Stage, stageMicroseconds } from './stageProfile.js';
import { type MetricValues, readMetrics, type StepTimes, stepTimes } from './stepTimes.js';

export type Mode = 'confirm' | 'update';

export interface ThroughputOptions {
  readonly schemes: readonly Scheme[];
  readonly modes: readonly Mode[];
  /** A postgres:// URL to run the devices on PostgreSQL (a fresh schema per run); SQLite without. */
  readonly store?: string;
  readonly clients: number;
  readonly batch: number;
  readonly warmupSeconds: number;
  readonly measureSeconds: number;
  readonly lightCount: number;
  /**
   * Remittances sent one at a time before the light load's, not counted: the light load measures
   * the devices warm (compiled code, caches filled), as a steady service runs, not their first calls.
   */
  readonly lightWarmupCount: number;
  /** Run pgbench TPC-B for the comparison (where PostgreSQL and pgbench are present). */
  readonly pgbench: boolean;
  /** Profile the devices and give their CPU per remittance by stage (bench/stageProfile.ts). */
  readonly stages: boolean;
  /** Keep the devices' CPU profiles of `stages` (their folder is printed) for a closer look. */
  readonly keepProfiles: boolean;
}

export const throughputDefaults: Omit<ThroughputOptions, 'store'> = {
  schemes: ['hmac', 'ed25519'],
  modes: ['confirm', 'update'],
  clients: 64,
  batch: 1,
  warmupSeconds: 3,
  measureSeconds: 15,
  lightCount: 300,
  lightWarmupCount: 300,
  pgbench: true,
  stages: false,
  keepProfiles: false,
};

export interface DeviceFigures {
  /** CPU used during the measured time over its length: 1.0 is one core busy throughout. */
  readonly cores: number;
  readonly rssPeakMiB: number;
  /** Resident memory once a second through the measured time. */
  readonly rssMiB: readonly number[];
  /**
   * A device's own figures every memorySampleSeconds through the measured time (its /metrics): the
   * V8 heap kept after its last major collection (0 before the first), and the resident memory
   * outside the V8 heap (resident less the heap V8 holds committed: native memory, buffers, code,
   * SQLite's page cache). Empty for the load generator.
   */
  readonly heapKeptMiB: readonly number[];
  readonly outsideHeapMiB: readonly number[];
  /**
   * The major collections the device had made at each of those reads: the heap kept is an older
   * collection's until the next one.
   */
  readonly majorCollections: readonly number[];
}

/** How often the devices' own memory figures are read during the measured time. */
export const memorySampleSeconds = 2;

export interface ConfigurationResult {
  readonly scheme: Scheme;
  readonly mode: Mode;
  readonly load: LoadResult;
  readonly devices: Record<DeviceName | 'loadGenerator', DeviceFigures>;
  /**
   * With a PostgreSQL store on this machine: the CPU of every postgres process over the measured
   * time (1.0 is one core): on a machine this size the server's statements compete with the devices.
   */
  readonly databaseServerCores?: number;
  readonly invariantsHold: boolean;
  readonly auditClean: boolean;
  /** Under load: each protocol step's mean time, and the store commits a remittance costs. */
  readonly steps: StepTimes;
  /** With `stages`: each device's CPU per remittance in the measured time, by stage, microseconds. */
  readonly stageMicroseconds?: Record<DeviceName, Record<Stage, number>>;
}

export interface ThroughputResult {
  readonly options: ThroughputOptions;
  readonly configurations: ConfigurationResult[];
  readonly pgbenchTps?: number;
  /**
   * The CPU of every postgres process while pgbench ran (1.0 is one core), where the server is on
   * this machine: with databaseServerCores, what a remittance costs the server against what a
   * TPC-B transaction does.
   */
  readonly pgbenchServerCores?: number;
  /**
   * Remittances per second the Ed25519 signatures and verifications a remittance needs allow on
   * this machine's cores, by mode (bench/cpuLimits.ts cryptoWorkOf).
   */
  readonly ed25519CryptoLimit: Readonly<Record<Mode, number>>;
  /** The Ed25519 operations per second of one core the limit comes from (bench/cpuLimits.ts). */
  readonly ed25519Rates: Ed25519Rates;
  /** What a lone remittance cannot take less than on this machine (bench/lightFloor.ts). */
  readonly lightFloor: LightFloor;
  /** The unit costs of a remittance's least CPU on this machine (bench/cpuLimits.ts). */
  readonly unitCosts: UnitCosts;
}

const pgbenchSeconds = 20;
const loadGeneratorPath = fileURLToPath(new URL('./loadGenerator.ts', import.meta.url));
const deviceNames: readonly DeviceName[] = ['transaction', 'account', 'currency'];
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/** prom-client's count of major (mark-compact) collections (none before the first). */
const majorCollectionsMetric = 'triledger_nodejs_gc_duration_seconds_count{kind="major"}';

/** Resident memory less the heap V8 holds committed, from one read of a device's /metrics. */
function outsideHeapBytes(values: MetricValues): number {
  const resident = values.get('triledger_process_resident_memory_bytes');
  const heapCommitted = values.get('triledger_nodejs_heap_size_total_bytes');
  assert(
    resident !== undefined && heapCommitted !== undefined,
    'a device reports its resident size and its heap',
  );
  return resident - heapCommitted;
}

export async function runThroughputBench(options: ThroughputOptions): Promise<ThroughputResult> {
  const progress = progressLine();
  const configurations: ConfigurationResult[] = [];
  let portBase = 27_101;
  for (const scheme of options.schemes) {
    for (const mode of options.modes) {
      progress.update(`throughput: ${scheme}, ${mode}: starting the devices`);
      configurations.push(await runConfiguration(options, scheme, mode, portBase, progress.update));
      progress.done();
      portBase += 10;
    }
  }
  progress.update('throughput: the light-load floor of this machine');
  const lightFloor = await measureLightFloor();
  progress.update("throughput: the CPU of a remittance's least work on this machine");
  const unitCosts = measureUnitCosts();
  const ed25519Rates = measureEd25519Rates();
  progress.update('throughput: pgbench TPC-B');
  const pgbench = options.pgbench ? await runPgbench(options.store) : undefined;
  progress.done();
  return {
    options,
    configurations,
    ed25519CryptoLimit: {
      confirm: ed25519CryptoLimit(ed25519Rates, 'confirm'),
      update: ed25519CryptoLimit(ed25519Rates, 'update'),
    },
    ed25519Rates,
    lightFloor,
    unitCosts,
    ...(pgbench === undefined ? {} : { pgbenchTps: pgbench.tps }),
    ...(pgbench?.serverCores === undefined ? {} : { pgbenchServerCores: pgbench.serverCores }),
  };
}

/** Where one configuration's run keeps its files and schemas: all removed after it, whatever happens. */
interface Workspace {
  readonly dir: string;
  /** The devices' CPU profiles (--stages). */
  readonly profileDir: string | undefined;
  /** The PostgreSQL store's URL naming the schemas (--store), or undefined on SQLite. */
  readonly storeUrl: URL | undefined;
}

async function runConfiguration(
  options: ThroughputOptions,
  scheme: Scheme,
  mode: Mode,
  portBase: number,
  show: (text: string) => void,
): Promise<ConfigurationResult> {
  const schemaPrefix = `triledger_bench_${systemEnvironment.randomBytes(4).toString('hex')}`;
  const storeUrl = options.store === undefined ? undefined : new URL(options.store);
  storeUrl?.searchParams.set('schema', schemaPrefix);
  const workspace: Workspace = {
    dir: join(mkdtempSync(join(tmpdir(), 'triledger-throughput-')), 'data'),
    profileDir: options.stages ? mkdtempSync(join(tmpdir(), 'triledger-stages-')) : undefined,
    storeUrl,
  };
  try {
    return await measureConfiguration(options, scheme, mode, portBase, show, workspace);
  } finally {
    // The deployment (tens of MiB per run), the profiles (read by now) and the schemas go, even
    // when the devices did not start.
    rmSync(dirname(workspace.dir), { recursive: true, force: true });
    const { profileDir } = workspace;
    if (profileDir !== undefined && !options.keepProfiles)
      rmSync(profileDir, { recursive: true, force: true });
    if (profileDir !== undefined && options.keepProfiles)
      process.stderr.write(`throughput: the devices' CPU profiles are kept in ${profileDir}\n`);
    if (storeUrl) await dropSchemas(storeUrl, schemaPrefix);
  }
}

async function measureConfiguration(
  options: ThroughputOptions,
  scheme: Scheme,
  mode: Mode,
  portBase: number,
  show: (text: string) => void,
  { dir, profileDir, storeUrl }: Workspace,
): Promise<ConfigurationResult> {
  const upArguments = ['--port-base', String(portBase), '--scheme', scheme, '--mode', mode];
  // Created once (the store is named at creation only), its rate limits lifted for the one load
  // generator, then started for the run.
  const storeArguments = storeUrl ? ['--store', storeUrl.toString()] : [];
  await stop((await up(dir, [...upArguments, ...storeArguments])).child);
  liftRateLimits(dir);
  openMetricsListeners(dir, portBase);
  if (scheme === 'hmac') installBenchSharedKeys(dir, accountsOf(options));
  const deployment = await up(
    dir,
    upArguments,
    profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  const window = { fromUs: 0, toUs: 0 };
  let metricsAtStart: Promise<Record<DeviceName, MetricValues>> | undefined;
  let metricsAtEnd: Promise<Record<DeviceName, MetricValues>> | undefined;
  const generator = fork(loadGeneratorPath, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const plan: LoadPlan = {
      dir,
      accountKeys: scheme === 'hmac' ? 'shared-hmac' : 'ed25519',
      clients: options.clients,
      batch: options.batch,
      lightCount: options.lightCount,
      lightWarmupCount: options.lightWarmupCount,
      warmupMs: options.warmupSeconds * 1000,
      measureMs: options.measureSeconds * 1000,
    };
    const pids = { ...deployment.pids, loadGenerator: generator.pid! };
    const names = [...deviceNames, 'loadGenerator'] as const;
    const cpuAtStart: Record<string, number> = {};
    const rssSamples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const memoryReads: Promise<Record<DeviceName, MetricValues>>[] = [];
    let sampler: NodeJS.Timeout | undefined;
    let measuredAtMs = 0;
    let cpuAtEnd: Record<string, number> = {};
    const serverIsLocal = storeUrl !== undefined && localHosts.has(storeUrl.hostname);
    const serverCpu = { atStart: 0, atEnd: 0 };
    show(`throughput: ${scheme}, ${mode}: opening ${accountsOf(options)} accounts`);
    const load = await new Promise<LoadResult>((resolve, reject) => {
      generator.on('message', (message: { event: string; result?: LoadResult }) => {
        if (message.event === 'ready')
          show(
            `throughput: ${scheme}, ${mode}: light load, then ${options.warmupSeconds} s warm-up`,
          );
        if (message.event === 'measuring') {
          measuredAtMs = performance.now();
          window.fromUs = monotonicUs();
          metricsAtStart = readMetrics(portBase);
          for (const name of names) cpuAtStart[name] = cpuSeconds(pids[name]);
          if (serverIsLocal) serverCpu.atStart = commandCpuSeconds('postgres');
          sampler = setInterval(() => {
            for (const name of names) rssSamples[name]!.push(rssBytes(pids[name]));
            // Counted in ticks, not rounded seconds, which a late timer skips or repeats.
            if (rssSamples[names[0]]!.length % memorySampleSeconds === 0)
              memoryReads.push(readMetrics(portBase));
            const elapsed = Math.round((performance.now() - measuredAtMs) / 1000);
            show(
              `throughput: ${scheme}, ${mode}: measuring ${elapsed}/${options.measureSeconds} s`,
            );
          }, 1000);
        }
        if (message.event === 'measured') {
          clearInterval(sampler);
          window.toUs = monotonicUs();
          metricsAtEnd = readMetrics(portBase);
          cpuAtEnd = Object.fromEntries(names.map((n) => [n, cpuSeconds(pids[n])]));
          if (serverIsLocal) serverCpu.atEnd = commandCpuSeconds('postgres');
          show(`throughput: ${scheme}, ${mode}: checking balances and the audit`);
        }
        if (message.event === 'result') resolve(message.result!);
      });
      generator.once('exit', (code) => reject(new Error(`the load generator exited with ${code}`)));
      generator.send(plan);
    });
    const memory = await Promise.all(memoryReads);
    const devices = Object.fromEntries(
      names.map((name) => {
        const samples = rssSamples[name]!;
        const own = name === 'loadGenerator' ? [] : memory.map((read) => read[name]);
        return [
          name,
          {
            cores: (cpuAtEnd[name]! - cpuAtStart[name]!) / options.measureSeconds,
            rssPeakMiB: name === 'loadGenerator' ? 0 : mib(rssPeakBytes(pids[name])),
            rssMiB: samples.map(mib),
            heapKeptMiB: own.map((values) => mib(values.get('triledger_heap_kept_bytes') ?? 0)),
            outsideHeapMiB: own.map((values) => mib(outsideHeapBytes(values))),
            majorCollections: own.map((values) => values.get(majorCollectionsMetric) ?? 0),
          },
        ];
      }),
    ) as unknown as Record<DeviceName | 'loadGenerator', DeviceFigures>;
    const invariants = load.invariants;
    const operatorKeys = loadKeystoreFile(join(dir, 'operator.keystore.json'), passphraseOf(dir), {
      environment: systemEnvironment,
    });
    assert(operatorKeys.ok, 'the operator keystore opens');
    const transactionUrl = deploymentInfo(dir).transactionUrl;
    const audit = await new OperatorClient(
      transactionUrl,
      operatorKeys.value,
      operatorKeyNumber,
    ).audit(undefined, { full: true });
    assert(metricsAtStart && metricsAtEnd, 'the devices timings were read');
    const steps = stepTimes(await metricsAtStart, await metricsAtEnd, load.load.remittances);
    generator.kill();
    await stop(deployment.child);
    return {
      scheme,
      mode,
      load,
      devices,
      ...(serverIsLocal
        ? { databaseServerCores: (serverCpu.atEnd - serverCpu.atStart) / options.measureSeconds }
        : {}),
      invariantsHold: invariants.balances === invariants.issued && invariants.held === '0',
      auditClean: audit.ok && audit.value.clean,
      steps,
      ...(profileDir === undefined
        ? {}
        : {
            stageMicroseconds: stagesPerRemittance(
              profileDir,
              deployment.pids,
              window,
              load.load.remittances,
            ),
          }),
    };
  } finally {
    generator.kill();
    if (deployment.child.exitCode === null) await stop(deployment.child);
  }
}

/** Hosts whose PostgreSQL server runs on this machine (its CPU is read from /proc). */
const localHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Each device's CPU per remittance by stage, from the profiles its stopped processes wrote. */
function stagesPerRemittance(
  profileDir: string,
  pids: Readonly<Record<DeviceName, number>>,
  window: { fromUs: number; toUs: number },
  remittances: number,
): Record<DeviceName, Record<Stage, number>> {
  assert(window.toUs > window.fromUs && remittances > 0, 'a measured time with remittances');
  return Object.fromEntries(
    deviceNames.map((device) => {
      const path = mainThreadProfile(profileDir, pids[device]);
      assert(path !== undefined, `the ${device} device wrote its profile`);
      // Kept profiles say which device wrote them and when the measured time ran (monotonic us).
      writeFileSync(`${path}.json`, JSON.stringify({ device, ...window, remittances }));
      const totals = stageMicroseconds(path, window.fromUs, window.toUs);
      const perRemittance = Object.entries(totals).map(([stage, us]) => [stage, us / remittances]);
      return [device, Object.fromEntries(perRemittance)];
    }),
  ) as Record<DeviceName, Record<Stage, number>>;
}

/** Two accounts per remittance in flight: each client owns `batch` pairs. */
function accountsOf(options: ThroughputOptions): number {
  return options.clients * options.batch * 2;
}

function postgresUrl(store: string | undefined): URL {
  const url = new URL(
    store ?? process.env['TRILEDGER_PGBENCH_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  );
  url.searchParams.delete('schema');
  return url;
}

/**
 * The server's CPU is read over pgbench's run less this much at each end: its connections are open
 * by then, and still open (a backend's CPU goes with it when it exits).
 */
const pgbenchServerSampleMarginSeconds = 3;

/**
 * pgbench TPC-B on a scratch database: transactions per second, and the server's cores meanwhile
 * when it runs on this machine; undefined without PostgreSQL or pgbench.
 */
async function runPgbench(
  store: string | undefined,
): Promise<{ readonly tps: number; readonly serverCores?: number } | undefined> {
  const url = postgresUrl(store);
  try {
    execFileSync('pgbench', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const admin = new pg.Client({ connectionString: url.toString() });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  const database = 'triledger_pgbench';
  const connection = [
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
  ];
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
    execFileSync('pgbench', [...connection, '-i', '-q', '-s', '10', database], { stdio: 'ignore' });
    const running = promisify(execFile)('pgbench', [
      ...connection,
      ...['-c', '8', '-j', '2', '-T', String(pgbenchSeconds), database],
    ]);
    running.catch(() => undefined); // its failure is met below, once the server's CPU is read
    const serverCores = localHosts.has(url.hostname) ? await serverCoresWhile() : undefined;
    const match = /tps = ([0-9.]+) \(without initial connection time\)/.exec(
      (await running).stdout,
    );
    if (!match) return undefined;
    return { tps: Number(match[1]), ...(serverCores === undefined ? {} : { serverCores }) };
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
  }
}

/** The postgres processes' cores over the middle of pgbench's run. */
async function serverCoresWhile(): Promise<number> {
  const margin = pgbenchServerSampleMarginSeconds;
  assert(pgbenchSeconds > 2 * margin, "pgbench's run outlasts the margins of its sample");
  const pause = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await pause(margin);
  const atStart = commandCpuSeconds('postgres');
  await pause(pgbenchSeconds - 2 * margin);
  return (commandCpuSeconds('postgres') - atStart) / (pgbenchSeconds - 2 * margin);
}

async function dropSchemas(storeUrl: URL, schemaPrefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl(storeUrl.toString()).toString() });
  await client.connect();
  try {
    for (const device of deviceNames)
      await client.query(`DROP SCHEMA IF EXISTS ${schemaPrefix}_${device} CASCADE`);
  } finally {
    await client.end();
  }
}
