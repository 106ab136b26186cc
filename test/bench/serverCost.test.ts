// The throughput benchmark's server cost (bench/throughputReport.ts serverCostLines): where the
// PostgreSQL server runs on this machine, its CPU per remittance against its CPU per TPC-B
// transaction, both from the same run; nothing where either was not measured.

import { describe, expect, it } from 'vitest';
import type { ConfigurationResult, ThroughputResult } from '../../bench/throughput.js';
import { serverCostLines } from '../../bench/throughputReport.js';

const configuration = (perSecond: number, databaseServerCores?: number) =>
  ({
    scheme: 'hmac',
    mode: 'confirm',
    load: { load: { perSecond } },
    ...(databaseServerCores === undefined ? {} : { databaseServerCores }),
  }) as unknown as ConfigurationResult;

const result = (extra: Partial<ThroughputResult>, configurations: ConfigurationResult[]) =>
  ({ configurations, ...extra }) as unknown as ThroughputResult;

describe('serverCostLines', () => {
  it("sets a remittance's server CPU against a TPC-B transaction's", () => {
    // 0.5 cores at 500 per second: 1 ms; 1.5 cores at 2,000 tps: 0.75 ms.
    const lines = serverCostLines(
      result({ pgbenchTps: 2_000, pgbenchServerCores: 1.5 }, [configuration(500, 0.5)]),
    );
    expect(lines).toEqual([
      "hmac confirm: the PostgreSQL server's CPU is 1.00 ms per remittance and 0.75 ms per TPC-B transaction: a remittance costs it 1.33 TPC-B transactions; at pgbench's rate the server alone would use 2.00 cores",
    ]);
  });

  it('says nothing without the server measured in both', () => {
    expect(serverCostLines(result({ pgbenchTps: 2_000 }, [configuration(500, 0.5)]))).toEqual([]);
    expect(
      serverCostLines(result({ pgbenchTps: 2_000, pgbenchServerCores: 1.5 }, [configuration(500)])),
    ).toEqual([]);
  });
});
