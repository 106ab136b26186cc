// A device's store lost whole (a damaged store set aside with `triledger set-aside`, the device
// started on an empty store): `triledger recover` rebuilds it from the other two devices,
// and the rebuilt device serves. Not only A and the signed rows come back: every table the device
// keeps beside them (transaction's operations and number counters, currency's unit and plan
// counters) is derived again from the rebuilt A and equals an untouched twin's, so that a new
// issuance, a remittance from an old account, a new account and their settlements all go through
// after the rebuild (issue 18).
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, CopyName } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { openAccount } from '../../src/cli/clientCommands.js';
import { issuerKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { triledger } from '../cli/run.js';
import { startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';
import { onPostgres } from '../helpers/postgres.js';
import { copyDeployment, readRows, tamper } from '../helpers/stores.js';

/** Rows of a store set aside: a SQLite file, or a PostgreSQL schema. */
async function rowsAside(aside: string, sql: string): Promise<unknown[]> {
  if (testBackend() === 'postgres') return onPostgres(aside, (query) => query(sql));
  const db = new Database(aside, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

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

describe.each(['transaction', 'account', 'currency'] as const)('%s store set aside', (device) => {
  it('recover rebuilds it from the other two: A, its rows and every derived table as the twin has them; then it serves', async () => {
    const dir = await copyDeployment(twin, 'triledger-rebuild-');
    const setAside = triledger(['set-aside', device, '--data', dir], { cwd: dir });
    expect(setAside.status, setAside.stderr).toBe(0);
    const aside = /set aside as (\S+);/.exec(setAside.stdout)?.[1];
    expect(aside).toBeDefined();
    // Kept, never deleted: what was set aside still holds the twin's records.
    const count = 'SELECT count(*) AS n FROM transactions';
    expect(await rowsAside(aside!, count)).toEqual(await readRows(twin, device, count));
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

describe('triledger set-aside', () => {
  it('refuses a running device (exit 1) and an unknown one (exit 2), moving nothing', async () => {
    const deployment = await startDeployment({
      dir: await copyDeployment(twin, 'triledger-rebuild-'),
    });
    try {
      const running = triledger(['set-aside', 'account', '--data', deployment.dir], {
        cwd: deployment.dir,
      });
      expect(running.status).toBe(1);
      expect(running.stderr).toMatch(
        /^triledger: InvalidInput: the account device is running \(.+\); stop it first\n$/,
      );
      const unknown = triledger(['set-aside', 'ledger', '--data', deployment.dir], {
        cwd: deployment.dir,
      });
      expect(unknown.status).toBe(2);
      const count = 'SELECT count(*) AS n FROM transactions';
      expect(await readRows(deployment.dir, 'account', count)).toEqual(
        await readRows(twin, 'account', count),
      );
    } finally {
      await deployment.stop();
    }
  }, 60_000);
});
