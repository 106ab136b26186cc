// The benchmarks' local deployment: `triledger up` as a child process, the pids of its three
// device processes, and what /proc says of each (CPU time, resident and peak memory); the changes
// a benchmark makes to a stopped deployment (rate limits lifted, terminals' shared keys).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installSharedKeys } from '../src/deployment/demo.js';
import type { DeviceName } from '../src/devices/context.js';
import { systemEnvironment } from '../src/model/environment.js';

const binPath = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const deviceNames: readonly DeviceName[] = ['transaction', 'account', 'currency'];
const clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

export interface LocalDeployment {
  readonly child: ChildProcess;
  readonly pids: Readonly<Record<DeviceName, number>>;
}

/**
 * `triledger up --data DIR ...upArguments`, resolved once the three devices listen; `nodeArguments`
 * (such as `--cpu-prof`) reach `up` and the devices it starts.
 */
export async function up(
  dir: string,
  upArguments: readonly string[] = [],
  nodeArguments: readonly string[] = [],
): Promise<LocalDeployment> {
  const child = spawn(
    process.execPath,
    [...nodeArguments, binPath, 'up', '--data', dir, ...upArguments],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('triledger is up')) resolve();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code) => reject(new Error(`triledger up exited with ${code}: ${output}`)));
  });
  const pidOf = (device: DeviceName) =>
    Number(
      execFileSync('pgrep', ['-f', `device ${device} --config ${join(dir, `${device}.json`)}`])
        .toString()
        .trim()
        .split('\n')[0],
    );
  const pids = Object.fromEntries(deviceNames.map((d) => [d, pidOf(d)])) as Record<
    DeviceName,
    number
  >;
  return { child, pids };
}

/**
 * The gateway's rate and connection limits (devices/rateLimits.ts) raised for a benchmark: its load
 * generator is one client address that opens every account and sends every remittance over many
 * connections, far past what one client of a deployment may. Edits a deployment that `up` created;
 * takes effect at the next `up`.
 */
export function liftRateLimits(dir: string): void {
  const path = join(dir, 'transaction.json');
  const config = JSON.parse(readFileSync(path, 'utf8'));
  config.rateLimits = {
    requestsPerClientPerSecond: benchRateMax,
    accountOpeningsPerClientPerMinute: benchRateMax,
    requestsPerKeyPerSecond: benchRateMax,
    connectionsPerClientMax: benchRateMax,
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
}

/** Where each device's /metrics answers without a signature in a benchmark: portBase + this. */
export const metricsPortOffsets: Readonly<Record<DeviceName, number>> = {
  transaction: 5,
  account: 6,
  currency: 7,
};

/**
 * Each device's operator endpoints (/metrics, /ready) on a listener of its own at portBase +
 * metricsPortOffsets, so that the benchmark reads the devices' timings without signing. Edits a
 * deployment that `up` created; takes effect at the next `up`.
 */
export function openMetricsListeners(dir: string, portBase: number): void {
  for (const device of deviceNames) {
    const path = join(dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    config.operationsListen = { host: '127.0.0.1', port: portBase + metricsPortOffsets[device] };
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  }
}

/** The key number of the first terminal's shared HMAC key (FIG. 6) the HMAC runs install. */
export const sharedKeyNumberFirst = 200_000;

/**
 * HMAC runs: each account signs with a shared HMAC secret of its terminal (FIG. 6), `count` keys
 * from sharedKeyNumberFirst, installed before the devices start.
 */
export function installBenchSharedKeys(dir: string, count: number): void {
  const secrets = new Map(
    Array.from({ length: count }, (_, i) => [
      sharedKeyNumberFirst + i,
      systemEnvironment.randomBytes(32),
    ]),
  );
  installSharedKeys(dir, secrets, systemEnvironment);
}

/** The highest rate a device configuration accepts (devices/config.ts). */
const benchRateMax = 1_000_000;

export async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Number(match[1]) : 0;
}

/** The process's peak resident memory (VmHWM), in bytes. */
export function rssPeakBytes(pid: number): number {
  return statusKiB(pid, 'VmHWM') * 1024;
}

export function rssBytes(pid: number): number {
  return statusKiB(pid, 'VmRSS') * 1024;
}

/**
 * CPU time (user + system) used so far by every process of this machine running `command` (its
 * /proc comm: `postgres` for a PostgreSQL server's backends and workers), in seconds. A process that
 * ends between two readings takes its time with it: the devices' connections stay open.
 */
export function commandCpuSeconds(command: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === command)
        total += cpuSeconds(Number(entry));
    } catch {
      // The process ended while the list was read.
    }
  }
  return total;
}

/** CPU time (user + system) the process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}
