// A device's store lost whole (a damaged file moved aside and the device started on an empty store,
// or every table emptied behind it): `triledger recover` rebuilds it from the other two devices,
// and the rebuilt device serves. Not only A and the signed rows come back: every table the device
// keeps beside them (transaction's operations and number counters, currency's unit and plan
// counters) is derived again from the rebuilt A and equals an untouched twin's, so that a new
// issuance, a remittance from an old account, a new account and their settlements all go through
// after the rebuild (issue 18).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, CopyName } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { openAccount } from '../../src/cli/clientCommands.js';
import { issuerKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { triledger } from '../cli/run.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { copyDeployment, readRows, tamper } from '../helpers/stores.js';

/** Every table a device keeps (schema_migrations aside): emptied, the store is as new. */
const tablesOf: Record<CopyName, readonly string[]> = {
  transaction: ['transactions', 'operations', 'counters', 'checkpoints', 'quarantine'],
  account: ['transactions', 'accounts', 'holds', 'checkpoints', 'quarantine'],
  currency: [
    'transactions',
    'currency_units',
    'unit_plans',
    'counters',
    'checkpoints',
    'quarantine',
  ],
};

/** The tables derived from A, as the twin holds them and the rebuild must give them again. */
const derivedOf: Record<CopyName, readonly string[]> = {
  transaction: [
    `SELECT remittance_id, request_digest, base_number, state, response_json, settled
       FROM operations ORDER BY base_number`,
    'SELECT name, value FROM counters ORDER BY name',
  ],
  account: [],
  currency: ['SELECT name, value FROM counters ORDER BY name'],
};

let twin: string;

const remittance = (from: bigint, to: bigint, amount: bigint) => ({
  sourceAccount: from,
  destinationAccount: to,
  amount,
  currencyType: 'JPY',
  keyNumber: accountKeyNumberBase + Number(from),
});

const run = (deployment: TestDeployment, ...args: string[]) =>
  triledger([...args, '--data', deployment.dir, '--json'], { cwd: deployment.dir });

beforeAll(async () => {
  const deployment = await startDeployment();
  try {
    for (const [from, to, amount] of [
      [1n, 2n, 500n],
      [2n, 1n, 200n],
      [1n, 2n, 300n],
    ] as const) {
      const sent = await deployment
        .client(deployment.wallet(from))
        .remit(remittance(from, to, amount));
      expect(sent.ok).toBe(true);
    }
  } finally {
    await deployment.stop();
  }
  twin = deployment.dir;
}, 120_000);

afterAll(() => undefined);

describe.each(['transaction', 'account', 'currency'] as const)('%s store lost whole', (device) => {
  it('recover rebuilds it from the other two: A, its rows and every derived table as the twin has them; then it serves', async () => {
    const dir = await copyDeployment(twin, 'triledger-rebuild-');
    await tamper(
      dir,
      device,
      ...tablesOf[device].map((table) => [`DELETE FROM ${table}`] as [string]),
    );
    const deployment = await startDeployment({ dir });
    try {
      const audited = run(deployment, 'audit');
      expect(audited.status, audited.stdout + audited.stderr).toBe(1);
      const findings = (JSON.parse(audited.stdout) as AuditReport).findings;
      expect(findings.length).toBeGreaterThan(0);
      expect(findings.every((finding) => finding.device === device)).toBe(true);

      const recovered = run(deployment, 'recover');
      expect(recovered.status, recovered.stderr).toBe(0);
      expect((JSON.parse(recovered.stdout) as RecoveryReport).recovered).toBe(true);
      for (const sql of derivedOf[device])
        expect(await readRows(dir, device, sql), sql).toEqual(await readRows(twin, device, sql));

      // It serves: a new issuance (new unit numbers), a remittance from an old account, a new
      // account (the next account number), each settled at all three devices.
      const issuer = deployment.client(deployment.keystore('issuer'));
      const issued = await issuer.issue({
        destinationAccount: 2n,
        currencyType: 'JPY',
        values: [700n],
        issuerKeyNumber,
      });
      expect(issued.ok, String(issued.ok || issued.message)).toBe(true);
      const sent = await deployment.client(deployment.wallet(1n)).remit(remittance(1n, 2n, 150n));
      expect(sent.ok, String(sent.ok || sent.message)).toBe(true);
      const opened = await openAccount(dir, 'JPY');
      expect(opened.accountNumber).toBe(3n);
      const after = run(deployment, 'audit', '--full');
      expect(after.status, after.stdout).toBe(0);
    } finally {
      await deployment.stop();
    }
  }, 90_000);
});

describe("the transaction device's table of operations", () => {
  it('emptied behind it: it hides no record deleted from a copy (what is settled is read from signed records), and recover derives it again', async () => {
    const dir = await copyDeployment(twin, 'triledger-rebuild-');
    await tamper(dir, 'transaction', ['DELETE FROM operations']);
    await tamper(dir, 'account', ['DELETE FROM transactions WHERE transaction_number = 24']);
    const deployment = await startDeployment({ dir });
    try {
      const audited = run(deployment, 'audit');
      expect(audited.status, audited.stdout + audited.stderr).toBe(1);
      const findings = (JSON.parse(audited.stdout) as AuditReport).findings;
      expect(findings.map((f) => `${f.device} ${f.store} ${f.key} ${f.kind}`)).toEqual([
        'account A 24 deleted',
      ]);
      const recovered = run(deployment, 'recover');
      expect(recovered.status, recovered.stderr).toBe(0);
      const sql = derivedOf.transaction[0]!;
      expect(await readRows(dir, 'transaction', sql)).toEqual(
        await readRows(twin, 'transaction', sql),
      );
    } finally {
      await deployment.stop();
    }
  }, 90_000);
});
