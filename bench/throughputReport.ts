// The throughput benchmark's table and its targets (issue 7), one column per configuration.

import { renderTable } from '../src/cli/output.js';
import type { ConfigurationResult, ThroughputResult } from './throughput.js';

/** HMAC, confirm mode: remittances per second, and over pgbench TPC-B in the same run. */
export const hmacTargetPerSecond = 10_000;
export const hmacTargetOverPgbench = 2;
/** Ed25519: this share of what its signatures and verifications alone allow. */
export const ed25519TargetShare = 0.8;
/** One remittance at light load, p99. */
export const lightP99TargetMs = 5;
/** Memory is flat when it grows less than this between a quarter into the measured time and its end. */
export const rssGrowthShareMax = 0.1;

const ms = (value: number) => value.toFixed(1);
const whole = (value: number) => Math.round(value).toLocaleString('en-US');

function memoryFlat(c: ConfigurationResult): boolean {
  return (['transaction', 'account', 'currency'] as const).every(
    (d) => c.devices[d].rssEndMiB <= c.devices[d].rssQuarterMiB * (1 + rssGrowthShareMax),
  );
}

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
      row(`light load, ${o.lightCount} one at a time: p50 / p99 (ms)`, (c) => {
        const l = c.load.light;
        return `${ms(l.p50Ms)} / ${ms(l.p99Ms)}`;
      }),
      row('CPU, cores: transaction / account / currency', (c) =>
        [c.devices.transaction, c.devices.account, c.devices.currency]
          .map((d) => d.cores.toFixed(2))
          .join(' / '),
      ),
      row('CPU, cores: load generator', (c) => c.devices.loadGenerator.cores.toFixed(2)),
      row('peak memory MiB: transaction / account / currency', (c) =>
        [c.devices.transaction, c.devices.account, c.devices.currency]
          .map((d) => String(d.rssPeakMiB))
          .join(' / '),
      ),
      row(
        'resident MiB, a quarter in -> end (transaction)',
        (c) => `${c.devices.transaction.rssQuarterMiB} -> ${c.devices.transaction.rssEndMiB}`,
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
  const ed25519 = cs.filter((c) => c.scheme === 'ed25519');
  if (r.pgbenchTps !== undefined)
    lines.push(
      `pgbench TPC-B (-c 8 -j 2, 20 s, scale 10) on this machine: ${whole(r.pgbenchTps)} tps`,
    );
  else lines.push('pgbench TPC-B: not run (no PostgreSQL or no pgbench here)');
  lines.push(
    `Ed25519 crypto limit on this machine: ${whole(r.ed25519CryptoLimit)} remittances/s (5 signatures and 13 verifications each, all cores)`,
  );
  const results = [
    ...cs.map((c) =>
      target(
        `${c.scheme} ${c.mode}: correct (balances and audit)`,
        c.invariantsHold && c.auditClean && Object.keys(c.load.load.refused).length === 0,
      ),
    ),
    target(
      `HMAC confirm >= ${whole(hmacTargetPerSecond)} remittances/s`,
      hmacConfirm && hmacConfirm.load.load.perSecond >= hmacTargetPerSecond,
    ),
    target(
      `HMAC confirm >= ${hmacTargetOverPgbench}x pgbench TPC-B`,
      hmacConfirm && r.pgbenchTps !== undefined
        ? hmacConfirm.load.load.perSecond >= hmacTargetOverPgbench * r.pgbenchTps
        : undefined,
    ),
    ...ed25519.map((c) =>
      target(
        `Ed25519 ${c.mode} >= ${ed25519TargetShare * 100}% of the crypto limit (${((c.load.load.perSecond / r.ed25519CryptoLimit) * 100).toFixed(1)}% now)`,
        c.load.load.perSecond >= ed25519TargetShare * r.ed25519CryptoLimit,
      ),
    ),
    ...cs.map((c) =>
      target(
        `${c.scheme} ${c.mode}: light-load p99 < ${lightP99TargetMs} ms`,
        c.load.light.p99Ms < lightP99TargetMs,
      ),
    ),
    ...cs.map((c) =>
      target(`${c.scheme} ${c.mode}: memory flat over ${o.measureSeconds} s`, memoryFlat(c)),
    ),
  ];
  if (hmacConfirm && r.pgbenchTps !== undefined)
    lines.push(
      `HMAC confirm over pgbench: ${(hmacConfirm.load.load.perSecond / r.pgbenchTps).toFixed(3)}x`,
    );
  return { table: `${table}\n${lines.join('\n')}`, figures: r, met: results.every(Boolean) };
}
