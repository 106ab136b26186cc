// The throughput benchmark's rate targets and server cost (bench/throughputReport.ts): SQLite is
// held to the rates, ratio over pgbench and light load, PostgreSQL to pgbench's own rate;
// where the PostgreSQL server runs on this machine, its CPU per remittance is set against its CPU
// per TPC-B transaction, both from the same run, and nothing is said where either was not measured.

import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { ConfigurationResult, ThroughputResult } from '../../bench/throughput.js';
import {
  cpuCeiling,
  ed25519AtTarget,
  rateTargetsOf,
  serverCostLines,
} from '../../bench/throughputReport.js';

/** Signatures and verifications per remittance at the devices: 20 in all (26 with the terminal's). */
const signatures = {
  transaction: { sign: 3, verify: 3 },
  account: { sign: 4, verify: 5 },
  currency: { sign: 3, verify: 2 },
};

const configuration = (perSecond: number, databaseServerCores?: number, scheme = 'hmac') =>
  ({
    scheme,
    mode: 'confirm',
    load: { load: { perSecond } },
    steps: { signatures },
    ...(databaseServerCores === undefined ? {} : { databaseServerCores }),
  }) as unknown as ConfigurationResult;

const result = (extra: Partial<ThroughputResult>, configurations: ConfigurationResult[]) =>
  ({ configurations, ...extra }) as unknown as ThroughputResult;

describe('serverCostLines', () => {
  const measured = {
    pgbenchTps: 2_000,
    pgbenchServerCores: 1.5,
    unitCosts: { hmacUs: 3, recordRowUs: 5 },
    lightFloor: { roundTripCpuUs: 140 },
  } as unknown as Partial<ThroughputResult>;

  it("sets a remittance's server CPU against a TPC-B transaction's, and the devices' least beside it", () => {
    // 0.5 cores at 500 per second: 1 ms; 1.5 cores at 2,000 tps: 0.75 ms. The devices and the
    // terminal: 26 HMACs at 3 us and a round trip of 140 us, 218 us: 0.436 cores at 2,000 per second.
    const lines = serverCostLines(result(measured, [configuration(500, 0.5)]));
    expect(lines).toEqual([
      `hmac confirm: the PostgreSQL server's CPU is 1.00 ms per remittance and 0.75 ms per TPC-B transaction: a remittance costs it 1.33 TPC-B transactions; at pgbench's rate the server alone would use 2.00 cores, and with the least of the devices and the terminals beside it (26.0 HMACs and a bare round trip each: 218 us) 2.44 of this machine's ${availableParallelism()} cores`,
    ]);
    const ed25519 = serverCostLines(result(measured, [configuration(500, 0.5, 'ed25519')]));
    expect(ed25519[0]).toMatch(/would use 2\.00 cores$/);
  });

  it('says nothing without the server measured in both', () => {
    expect(serverCostLines(result({ pgbenchTps: 2_000 }, [configuration(500, 0.5)]))).toEqual([]);
    expect(
      serverCostLines(result({ pgbenchTps: 2_000, pgbenchServerCores: 1.5 }, [configuration(500)])),
    ).toEqual([]);
  });
});

describe('rateTargetsOf', () => {
  it("holds SQLite to the issue's rates, ratio and light load; client batches to the higher rate", () => {
    expect(rateTargetsOf({ store: undefined, batch: 1 })).toEqual({
      perSecond: 10_000,
      overPgbench: 2,
      lightP99: true,
    });
    expect(rateTargetsOf({ store: undefined, batch: 64 }).perSecond).toBe(20_000);
  });

  it("holds PostgreSQL to pgbench's own rate on its server, nothing else", () => {
    expect(
      rateTargetsOf({ store: 'postgres://postgres@127.0.0.1:5432/postgres', batch: 1 }),
    ).toEqual({ overPgbench: 1, lightP99: false });
  });
});

describe('cpuCeiling', () => {
  const run = {
    unitCosts: { hmacUs: 3, recordRowUs: 5 },
    lightFloor: { roundTripCpuUs: 150 },
  } as unknown as ThroughputResult;
  const counted = { steps: { signatures } } as unknown as ConfigurationResult;

  it("sets the HMACs (the devices' counted in the run, the terminal's) and the records' rows against the cores", () => {
    // 26 HMACs at 3 us and 18 rows at 5 us: 168 us; with the round trip 318 us.
    const cores = availableParallelism();
    const single = cpuCeiling(run, counted, 1);
    expect(single.perSecond).toBeCloseTo((cores * 1e6) / 318, 6);
    expect(cpuCeiling(run, counted, 64).perSecond).toBeCloseTo((cores * 1e6) / 168, 6);
    expect(single.line).toContain('26.0 HMACs at 3.0 us');
    expect(single.line).toContain('18 record rows at 5.0 us');
    expect(single.line).toContain(': 318 us, at most');
  });
});

describe('ed25519AtTarget', () => {
  it("adds the devices' crypto, the terminals' and a round trip at 80% of the limit", () => {
    const run = {
      ed25519CryptoLimit: { confirm: 1_000, update: 1_000 },
      ed25519Rates: { signsPerSecond: 20_000, verifiesPerSecond: 5_000 },
      lightFloor: { roundTripCpuUs: 200 },
    } as unknown as ThroughputResult;
    // At 800 per second: devices 800 x 4.3 ms = 3.44 cores; terminals 800 x 1.05 ms = 0.84;
    // round trips 800 x 0.2 ms = 0.16.
    const { cores, line } = ed25519AtTarget(run, 'confirm');
    expect(cores).toBeCloseTo(3.44 + 0.84 + 0.16, 9);
    expect(line).toContain('(800 remittances/s)');
    expect(line).toContain('signatures and verifications 3.44 cores, the terminals');
    expect(line).toContain('(1 and 5 per remittance) 0.84, a bare round trip each 0.16: 4.44');
  });
});
