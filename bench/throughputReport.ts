// The throughput benchmark's table and its targets (issue 7), one column per configuration.

import { availableParallelism } from 'node:os';
import { renderTable } from '../src/cli/output.js';
import type { DeviceName } from '../src/devices/context.js';
import { assert } from '../src/model/assert.js';
import {
  ceilingPerSecond,
  cryptoCores,
  cryptoWorkOf,
  devicesCryptoWork,
  recordRowsPerRemittance,
  remittanceCpuFloorUs,
  terminalCryptoWork,
} from './cpuLimits.js';
import type { LatencySummary } from './latency.js';
import { durableCommitsInSequence, type LightFloor, roundTripsInSequence } from './lightFloor.js';
import { stages } from './stageProfile.js';
import { peers } from './stepTimes.js';
import type {
  ConfigurationResult,
  DeviceFigures,
  Mode,
  ThroughputOptions,
  ThroughputResult,
} from './throughput.js';

/**
 * HMAC, confirm mode, on SQLite: remittances per second with single-remittance requests, and with
 * client batches; over pgbench TPC-B in the same run, on SQLite and on PostgreSQL.
 */
export const hmacTargetPerSecond = 10_000;
export const hmacBatchesTargetPerSecond = 20_000;
export const hmacTargetOverPgbench = { sqlite: 2, postgres: 1 } as const;
/** Ed25519: this share of what its signatures and verifications alone allow. */
export const ed25519TargetShare = 0.8;
/** One remittance at light load, p99. */
export const lightP99TargetMs = 5;
/**
 * Memory is flat when what each device keeps does not grow: the lowest of the measured time's last
 * third exceeds that of its middle third by less than this, for the V8 heap kept after a major
 * collection (in each third, what its own collections found) and for the resident memory outside
 * the V8 heap (native memory, buffers, SQLite's page caches). The resident size itself is shown, not
 * judged: it also holds the heap V8 keeps committed, which follows the allocation rate and V8's
 * collections (a sawtooth of 50 MiB and more at the transaction device), not what the process holds.
 * The first third is the heap and caches warming up. Judged on runs of memoryRunSecondsMin or more.
 */
export const memoryGrowthShareMax = 0.05;
export const memoryRunSecondsMin = 60;
const devices = ['transaction', 'account', 'currency'] as const;

/** The lowest of the middle and of the last third of the measured time, MiB. */
function thirds(samples: readonly number[]): [number | undefined, number | undefined] {
  const third = Math.floor(samples.length / 3);
  const lowest = (part: readonly number[]) => (part.length === 0 ? undefined : Math.min(...part));
  return [lowest(samples.slice(third, 2 * third)), lowest(samples.slice(2 * third))];
}

/**
 * The heap kept in the middle and in the last third, MiB: the lowest value a major collection made
 * within that third set. The gauge keeps a collection's value until the next one, and a value set
 * before a third (a device that made no major collection for a minute shows one made while it
 * warmed up) says nothing of that third; `undefined` for a third without a collection of its own.
 */
function keptThirds(
  figures: Pick<DeviceFigures, 'heapKeptMiB' | 'majorCollections'>,
): [number | undefined, number | undefined] {
  const { heapKeptMiB: kept, majorCollections: collections } = figures;
  assert(kept.length === collections.length, 'each read of the heap kept has its collections');
  const third = Math.floor(kept.length / 3);
  const lowestWithin = (from: number, to: number) => {
    const before = collections[from - 1] ?? 0;
    const values = kept.slice(from, to).filter((_, k) => collections[from + k]! > before);
    return values.length === 0 ? undefined : Math.min(...values);
  };
  return [lowestWithin(third, 2 * third), lowestWithin(2 * third, kept.length)];
}

function grewLittle([middle, last]: [number | undefined, number | undefined]): boolean | undefined {
  if (middle === undefined || last === undefined) return undefined;
  return last <= middle * (1 + memoryGrowthShareMax);
}

const ms = (value: number) => value.toFixed(1);
const whole = (value: number) => Math.round(value).toLocaleString('en-US');

/** Whether the devices' memory stayed flat (undefined: a run too short, or a heap not collected). */
export function memoryFlat(
  figures: Readonly<
    Record<DeviceName, Pick<DeviceFigures, 'heapKeptMiB' | 'outsideHeapMiB' | 'majorCollections'>>
  >,
  measureSeconds: number,
): boolean | undefined {
  if (measureSeconds < memoryRunSecondsMin) return undefined;
  const verdicts = devices.flatMap((d) => [
    grewLittle(keptThirds(figures[d])),
    grewLittle(thirds(figures[d].outsideHeapMiB)),
  ]);
  if (verdicts.includes(false)) return false;
  return verdicts.includes(undefined) ? undefined : true;
}

const thirdsText = ([middle, last]: [number | undefined, number | undefined]) =>
  `${middle ?? '-'}->${last ?? '-'}`;

export function throughputReport(r: ThroughputResult): {
  table: string;
  figures: unknown;
  met: boolean;
} {
  const cs = r.configurations;
  const o = r.options;
  const perRequest = o.batch === 1 ? 'per remittance' : `per request of ${o.batch}`;
  const row = (label: string, value: (c: ConfigurationResult) => string) => [
    label,
    ...cs.map(value),
  ];
  const table = renderTable(
    [
      `measure (${o.store === undefined ? 'SQLite' : 'PostgreSQL'}, ${o.clients} clients, ${o.measureSeconds} s)`,
      ...cs.map((c) => `${c.scheme}, ${c.mode}`),
    ],
    [
      row('remittances per second', (c) => whole(c.load.load.perSecond)),
      row(`latency ${perRequest} p50 / p99 / p99.9 (ms)`, (c) => {
        const l = c.load.load.latency;
        return `${ms(l.p50Ms)} / ${ms(l.p99Ms)} / ${ms(l.p999Ms)}`;
      }),
      row(
        `light load, ${o.lightCount} one at a time after ${o.lightWarmupCount}: p50 / p99 (ms)`,
        (c) => {
          const l = c.load.light;
          return `${ms(l.p50Ms)} / ${ms(l.p99Ms)}`;
        },
      ),
      row('CPU, cores: transaction / account / currency', (c) =>
        [c.devices.transaction, c.devices.account, c.devices.currency]
          .map((d) => d.cores.toFixed(2))
          .join(' / '),
      ),
      row('CPU, cores: load generator', (c) => c.devices.loadGenerator.cores.toFixed(2)),
      ...(o.store === undefined
        ? []
        : [
            row('CPU, cores: PostgreSQL server (its processes on this machine)', (c) =>
              c.databaseServerCores === undefined ? 'not local' : c.databaseServerCores.toFixed(2),
            ),
          ]),
      row('peak memory MiB: transaction / account / currency', (c) =>
        [c.devices.transaction, c.devices.account, c.devices.currency]
          .map((d) => String(d.rssPeakMiB))
          .join(' / '),
      ),
      row('resident MiB, lowest in the middle -> last third: T / A / C', (c) =>
        devices.map((d) => thirdsText(thirds(c.devices[d].rssMiB))).join(' / '),
      ),
      row('V8 heap kept after a major collection MiB, middle -> last third', (c) =>
        devices.map((d) => thirdsText(keptThirds(c.devices[d]))).join(' / '),
      ),
      row('resident outside the V8 heap MiB, middle -> last third', (c) =>
        devices.map((d) => thirdsText(thirds(c.devices[d].outsideHeapMiB))).join(' / '),
      ),
      row(
        'refused during the load (must be none)',
        (c) =>
          Object.entries(c.load.load.refused)
            .map(([code, n]) => `${code} ${n}`)
            .join(', ') || 'none',
      ),
      row('balances add up, nothing held (must be yes)', (c) => (c.invariantsHold ? 'yes' : 'NO')),
      row('full audit after the run clean (must be yes)', (c) => (c.auditClean ? 'yes' : 'NO')),
    ],
  );

  const lines: string[] = [];
  const target = (text: string, met: boolean | undefined) => {
    if (met !== undefined) lines.push(`target: ${text}: ${met ? 'met' : 'MISSED'}`);
    return met ?? true;
  };
  const hmacConfirm = cs.find((c) => c.scheme === 'hmac' && c.mode === 'confirm');
  const ceiling =
    hmacConfirm && o.store === undefined ? cpuCeiling(r, hmacConfirm, o.batch) : undefined;
  const onServer = hmacConfirm && o.store !== undefined ? serverCost(r, hmacConfirm) : undefined;
  /** A rate target, and whether it lies beyond what this machine's cores allow. */
  const rateTarget = (text: string, perSecond: number | undefined) => {
    const beyond =
      ceiling !== undefined && perSecond !== undefined && perSecond > ceiling.perSecond
        ? ` (beyond this machine: at most ${whole(ceiling.perSecond)})`
        : onServer?.cores !== undefined && onServer.cores > availableParallelism()
          ? ' (beyond this machine)'
          : '';
    return target(
      `${text}${beyond}`,
      hmacConfirm && perSecond !== undefined
        ? hmacConfirm.load.load.perSecond >= perSecond
        : undefined,
    );
  };
  const targets = rateTargetsOf(o);
  const memoryVerdicts = cs.map((c) => memoryFlat(c.devices, o.measureSeconds));
  const ed25519 = cs.filter((c) => c.scheme === 'ed25519');
  if (r.pgbenchTps !== undefined)
    lines.push(
      `pgbench TPC-B (-c 8 -j 2, 20 s, scale 10) on this machine: ${whole(r.pgbenchTps)} tps`,
    );
  else lines.push('pgbench TPC-B: not run (no PostgreSQL or no pgbench here)');
  lines.push(...serverCostLines(r));
  lines.push(...lightFloorLines(r.lightFloor));
  if (ceiling) lines.push(ceiling.line);
  for (const mode of new Set(ed25519.map((c) => c.mode))) {
    const { records, rows } = cryptoWorkOf[mode];
    lines.push(
      `Ed25519 crypto limit on this machine, ${mode}: ${whole(r.ed25519CryptoLimit[mode])} remittances/s (all cores; each ${records.sign + rows.sign} signatures and ${records.verify + rows.verify} verifications: records ${records.sign} / ${records.verify}, rows ${rows.sign} / ${rows.verify})`,
      ed25519AtTarget(r, mode).line,
    );
  }
  const results = [
    ...cs.map((c) =>
      target(
        `${c.scheme} ${c.mode}: correct (balances and audit)`,
        c.invariantsHold && c.auditClean && Object.keys(c.load.load.refused).length === 0,
      ),
    ),
    rateTarget(`HMAC confirm >= ${whole(targets.perSecond ?? 0)} remittances/s`, targets.perSecond),
    rateTarget(
      `HMAC confirm >= ${targets.overPgbench}x pgbench TPC-B`,
      r.pgbenchTps === undefined ? undefined : targets.overPgbench * r.pgbenchTps,
    ),
    ...ed25519.map((c) => {
      const limit = r.ed25519CryptoLimit[c.mode];
      const atTarget = ed25519AtTarget(r, c.mode);
      const beyond = atTarget.cores > availableParallelism() ? ' (beyond this machine)' : '';
      return target(
        `Ed25519 ${c.mode} >= ${ed25519TargetShare * 100}% of the crypto limit (${((c.load.load.perSecond / limit) * 100).toFixed(1)}% now)${beyond}`,
        c.load.load.perSecond >= ed25519TargetShare * limit,
      );
    }),
    ...cs.map((c) =>
      target(
        `${c.scheme} ${c.mode}: light-load p99 < ${lightP99TargetMs} ms`,
        targets.lightP99 ? c.load.light.p99Ms < lightP99TargetMs : undefined,
      ),
    ),
    ...cs.map((c, i) =>
      target(`${c.scheme} ${c.mode}: memory flat over ${o.measureSeconds} s`, memoryVerdicts[i]),
    ),
  ];
  if (o.measureSeconds < memoryRunSecondsMin)
    lines.push(
      `memory flatness: judged on runs of ${memoryRunSecondsMin} s or more (--seconds ${memoryRunSecondsMin})`,
    );
  else if (memoryVerdicts.includes(undefined))
    lines.push(
      'memory flatness: not judged where a device made no major collection in the middle or the last third (run longer)',
    );
  if (hmacConfirm && r.pgbenchTps !== undefined)
    lines.push(
      `HMAC confirm over pgbench: ${(hmacConfirm.load.load.perSecond / r.pgbenchTps).toFixed(3)}x`,
    );
  return {
    table: `${table}\n${stepsTable(cs)}${stagesTable(cs)}${lines.join('\n')}`,
    figures: r,
    met: results.every(Boolean),
  };
}

/**
 * The rate targets a run is held to: on SQLite (the figures are SQLite's) a rate, by
 * single-remittance requests or client batches, a ratio over pgbench, and the light load's p99; on
 * PostgreSQL, pgbench's own rate on its server.
 */
export function rateTargetsOf(o: Pick<ThroughputOptions, 'store' | 'batch'>): {
  readonly perSecond?: number;
  readonly overPgbench: number;
  readonly lightP99: boolean;
} {
  if (o.store !== undefined)
    return { overPgbench: hmacTargetOverPgbench.postgres, lightP99: false };
  return {
    perSecond: o.batch > 1 ? hmacBatchesTargetPerSecond : hmacTargetPerSecond,
    overPgbench: hmacTargetOverPgbench.sqlite,
    lightP99: true,
  };
}

/**
 * Where the PostgreSQL server runs on this machine, what a remittance costs it against what a TPC-B
 * transaction does, both measured in this run: the server's CPU alone, at pgbench's rate, whatever
 * the devices spend beside it.
 */
export function serverCostLines(r: ThroughputResult): string[] {
  return r.configurations.flatMap((c) => serverCost(r, c)?.line ?? []);
}

/**
 * What a remittance costs the PostgreSQL server on this machine against a TPC-B transaction (the
 * server's CPU per remittance in `c`'s run, per transaction in pgbench's), and in an HMAC run the
 * cores pgbench's rate would take: the server's, and beside it the least of the devices and the
 * terminals (hmacsOf and a bare round trip per remittance; the rows are the server's work).
 */
export function serverCost(
  r: ThroughputResult,
  c: ConfigurationResult,
): { readonly cores?: number; readonly line: string } | undefined {
  const tps = r.pgbenchTps;
  const serverCores = r.pgbenchServerCores;
  if (tps === undefined || serverCores === undefined || tps <= 0 || serverCores <= 0) return;
  const rate = c.load.load.perSecond;
  if (c.databaseServerCores === undefined || rate <= 0) return;
  const perTransactionMs = (serverCores / tps) * 1000;
  const perRemittanceMs = (c.databaseServerCores / rate) * 1000;
  const transactionsWorth = perRemittanceMs / perTransactionMs;
  const coresAtPgbenchRate = (perRemittanceMs * tps) / 1000;
  const line = `${c.scheme} ${c.mode}: the PostgreSQL server's CPU is ${perRemittanceMs.toFixed(2)} ms per remittance and ${perTransactionMs.toFixed(2)} ms per TPC-B transaction: a remittance costs it ${transactionsWorth.toFixed(2)} TPC-B transactions; at pgbench's rate the server alone would use ${coresAtPgbenchRate.toFixed(2)} cores`;
  if (c.scheme !== 'hmac') return { line };
  const hmacs = hmacsOf(c);
  const devicesUs = hmacs * r.unitCosts.hmacUs + r.lightFloor.roundTripCpuUs;
  const cores = coresAtPgbenchRate + (tps * devicesUs) / 1e6;
  return {
    cores,
    line: `${line}, and with the least of the devices and the terminals beside it (${hmacs.toFixed(1)} HMACs and a bare round trip each: ${whole(devicesUs)} us) ${cores.toFixed(2)} of this machine's ${availableParallelism()} cores`,
  };
}

/**
 * Under load: each protocol step's mean time, each device's store commits and signature work, the
 * transaction device's messages to its peers.
 */
function stepsTable(cs: readonly ConfigurationResult[]): string {
  const steps = Object.keys(cs[0]?.steps.stepMs ?? {});
  const rows = [
    ...steps.map((step) => [`${step}, ms`, ...cs.map((c) => ms(c.steps.stepMs[step] ?? 0))]),
    ...devices.map((d) => [
      `${d}: commits per remittance / ms each / transactions each`,
      ...cs.map((c) => {
        const commits = c.steps.commits[d];
        return `${commits.perRemittance.toFixed(2)} / ${ms(commits.ms)} / ${commits.works.toFixed(1)}`;
      }),
    ]),
    ...devices.map((d) => [
      `${d}: signatures / verifications per remittance`,
      ...cs.map((c) => {
        const { sign, verify } = c.steps.signatures[d];
        return `${sign.toFixed(2)} / ${verify.toFixed(2)}`;
      }),
    ]),
    ...peers.map((peer) => [
      `transaction to ${peer}: messages of steps per remittance / steps each`,
      ...cs.map((c) => {
        const { perRemittance, steps } = c.steps.peerMessages[peer];
        return `${perRemittance.toFixed(2)} / ${steps.toFixed(1)}`;
      }),
    ]),
    [
      'transaction: batches of settlements per remittance / settlements each',
      ...cs.map((c) => {
        const { perRemittance, settlements } = c.steps.settlementBatches;
        return `${perRemittance.toFixed(2)} / ${settlements.toFixed(1)}`;
      }),
    ],
  ];
  const header = [
    'under load, mean per protocol step (devices/metrics.ts)',
    ...cs.map((c) => `${c.scheme}, ${c.mode}`),
  ];
  return `${renderTable(header, rows)}\n`;
}

/** With --stages: each device's CPU per remittance by stage, in microseconds (T / A / C). */
function stagesTable(cs: readonly ConfigurationResult[]): string {
  const profiled = cs.filter((c) => c.stageMicroseconds !== undefined);
  if (profiled.length === 0) return '';
  const cell = (us: (d: (typeof devices)[number]) => number) =>
    devices.map((d) => whole(us(d))).join(' / ');
  const rows = stages.map((stage) => [
    stage,
    ...profiled.map((c) => cell((d) => c.stageMicroseconds![d][stage])),
  ]);
  const total = (c: ConfigurationResult, d: (typeof devices)[number]) =>
    Object.values(c.stageMicroseconds![d]).reduce((sum, us) => sum + us, 0);
  rows.push(['all stages', ...profiled.map((c) => cell((d) => total(c, d)))]);
  const header = [
    'CPU per remittance by stage, us: transaction / account / currency (main threads, sampled)',
    ...profiled.map((c) => `${c.scheme}, ${c.mode}`),
  ];
  return `${renderTable(header, rows)}\n`;
}

/** The light-load floor measured in the run, and what HTTP requests alone cost (bench/lightFloor.ts). */
function lightFloorLines(floor: LightFloor): string[] {
  const ms = (summary: LatencySummary) =>
    `${summary.p50Ms.toFixed(2)} / ${summary.p99Ms.toFixed(2)}`;
  const coresAtTarget = (floor.roundTripCpuUs * hmacTargetPerSecond) / 1e6;
  return [
    `light-load floor on this machine, p50 / p99 (ms): a bare HTTP round trip between processes ${ms(floor.roundTrip)}, a durable SQLite commit ${ms(floor.durableCommit)}; a lone remittance's ${roundTripsInSequence} round trips and ${durableCommitsInSequence} commits in sequence ${ms(floor.remittance)}`,
    `a bare HTTP round trip costs ${whole(floor.roundTripCpuUs)} us of CPU at both ends: at ${whole(hmacTargetPerSecond)} requests/s, ${coresAtTarget.toFixed(2)} cores`,
  ];
}

/**
 * The most remittances per second this machine's CPU allows with HMAC keys on SQLite
 * (bench/cpuLimits.ts): the unit costs measured in this run, times the least a remittance makes of
 * each (the HMACs of the devices as counted in `c`'s run and of the terminal, every record's row at
 * every device, and with single-remittance requests its terminal's round trip), on all cores.
 */
export function cpuCeiling(
  r: Pick<ThroughputResult, 'unitCosts' | 'lightFloor'>,
  c: Pick<ConfigurationResult, 'steps'>,
  batch: number,
): { readonly perSecond: number; readonly line: string } {
  const hmacs = hmacsOf(c);
  const { unitCosts: costs, lightFloor } = r;
  const floor = remittanceCpuFloorUs(costs, lightFloor.roundTripCpuUs, hmacs);
  const single = ceilingPerSecond(floor.single);
  const batched = ceilingPerSecond(floor.batched);
  const line =
    `the least CPU of a remittance here, from unit costs measured in this run: ${hmacs.toFixed(1)} HMACs at ${costs.hmacUs.toFixed(1)} us (the devices' signatures and verifications above, and the terminal's), ` +
    `${recordRowsPerRemittance} record rows at ${costs.recordRowUs.toFixed(1)} us (six at each device), a bare round trip ${whole(lightFloor.roundTripCpuUs)} us: ` +
    `${whole(floor.single)} us, at most ${whole(single)} remittances/s on this machine's cores; without a round trip each (client batches) ${whole(floor.batched)} us, at most ${whole(batched)}`;
  return { perSecond: batch > 1 ? batched : single, line };
}

/**
 * What Ed25519 at ed25519TargetShare of the crypto limit asks of this machine's cores: the devices'
 * signatures and verifications, the terminals' (each answer's chain checked: terminalCryptoWork)
 * and a bare round trip per remittance, each measured in this run; nothing else counted.
 */
export function ed25519AtTarget(
  r: Pick<ThroughputResult, 'ed25519CryptoLimit' | 'ed25519Rates' | 'lightFloor'>,
  mode: Mode,
): { readonly cores: number; readonly line: string } {
  const perSecond = ed25519TargetShare * r.ed25519CryptoLimit[mode];
  const devicesCores = cryptoCores(r.ed25519Rates, devicesCryptoWork(mode), perSecond);
  const terminalsCores = cryptoCores(r.ed25519Rates, terminalCryptoWork, perSecond);
  const roundTripCores = (perSecond * r.lightFloor.roundTripCpuUs) / 1e6;
  const cores = devicesCores + terminalsCores + roundTripCores;
  const line =
    `Ed25519 ${mode} at ${ed25519TargetShare * 100}% of the crypto limit (${whole(perSecond)} remittances/s): the devices' signatures and verifications ${devicesCores.toFixed(2)} cores, ` +
    `the terminals' (${terminalCryptoWork.sign} and ${terminalCryptoWork.verify} per remittance) ${terminalsCores.toFixed(2)}, a bare round trip each ${roundTripCores.toFixed(2)}: ` +
    `${cores.toFixed(2)} of this machine's ${availableParallelism()} cores before any other work`;
  return { cores, line };
}

/**
 * The HMACs of a remittance in `c`'s run: the signatures and verifications the devices made, and
 * the terminal's (its request signed, every link of the answer checked: terminalCryptoWork).
 */
function hmacsOf(c: Pick<ConfigurationResult, 'steps'>): number {
  const terminal = terminalCryptoWork.sign + terminalCryptoWork.verify;
  return devices.reduce(
    (sum, d) => sum + c.steps.signatures[d].sign + c.steps.signatures[d].verify,
    terminal,
  );
}
