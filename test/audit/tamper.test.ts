// The tamper matrix (devices stopped): stores edited as an attacker with database access would
// (SQLite files, or PostgreSQL tables in the postgres project), then audited. Each of the five
// stores (A at transaction, account and currency; B; C) and each kind of change; two of three
// copies of A changed; all three changed differently.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { auditStores } from '../../src/audit/offline.js';
import { passphraseOf, verifyingKeysOf } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { loadKeystoreFile } from '../../src/signature/keystoreFile.js';
import { flipBit } from '../bytes.js';
import { startDeployment } from '../helpers/deployment.js';
import { copyDeployment, signatureOf, tamper, withStores } from '../helpers/stores.js';
import { forgedAccountRow } from '../helpers/tamper.js';

let pristine: string;

function copyOfPristine(): Promise<string> {
  return copyDeployment(pristine, 'triledger-tamper-');
}

function keystore(dir: string, name: string) {
  const loaded = loadKeystoreFile(join(dir, `${name}.keystore.json`), passphraseOf(dir), {
    environment: systemEnvironment,
  });
  if (!loaded.ok) throw new Error(loaded.message);
  return loaded.value;
}

/** The audit of the stores as they are on disk (or in PostgreSQL), the devices stopped. */
async function auditFiles(dir: string): Promise<AuditReport> {
  const keys = verifyingKeysOf(dir, systemEnvironment);
  if (!keys.ok) throw new Error(keys.message);
  return withStores(dir, (stores) => auditStores(keys.value, stores));
}

const summary = (report: AuditReport) =>
  report.findings.map((f) => `${f.device} ${f.store} ${f.key} ${f.kind}`).sort();

beforeAll(async () => {
  const deployment = await startDeployment();
  const one = deployment.client(deployment.wallet(1n));
  const two = deployment.client(deployment.wallet(2n));
  // Blocks: 1-6 and 7-12 open accounts 1 and 2, 13-18 issue units 1-3, 19-24 and 25-30 remittances.
  expect(
    (
      await one.remit({
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 500n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + 1,
      })
    ).ok,
  ).toBe(true);
  expect(
    (
      await two.remit({
        sourceAccount: 2n,
        destinationAccount: 1n,
        amount: 200n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + 2,
      })
    ).ok,
  ).toBe(true);
  await deployment.stop();
  pristine = deployment.dir;
}, 90_000);

afterAll(() => undefined);

describe('audit of an untampered ledger', () => {
  it('is clean and checks every record of every copy and every row', async () => {
    const report = await auditFiles(await copyOfPristine());
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({
      clean: true,
      operations: 5,
      recordsChecked: 3 * (4 + 4 + 6 + 6 + 6),
      rowsChecked: 2 + 5,
    });
  });
});

describe.each(['transaction', 'account', 'currency'] as const)('%s copy of A', (device) => {
  it('row modified: found, with what is there and what is correct', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, device, [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    const report = await auditFiles(dir);
    expect(summary(report)).toEqual([`${device} A 22 modified`]);
    expect(report.findings[0]).toMatchObject({
      found: { amount: '5000' },
      expected: { amount: '500' },
    });
  });

  it('row deleted', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, device, ['DELETE FROM transactions WHERE transaction_number = 21']);
    expect(summary(await auditFiles(dir))).toEqual([`${device} A 21 deleted`]);
  });

  it('row inserted', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, device, [
      'INSERT INTO transactions SELECT 40, remittance_id, transaction_type, source_account, destination_account, amount, currency_type, outcome, detail, date_time, signer_key_number, signature FROM transactions WHERE transaction_number = 19',
    ]);
    expect(summary(await auditFiles(dir))).toEqual([`${device} A 40 inserted`]);
  });

  it('rows reordered (transaction numbers swapped)', async () => {
    const dir = await copyOfPristine();
    await tamper(
      dir,
      device,
      ['UPDATE transactions SET transaction_number = -1 WHERE transaction_number = 20'],
      ['UPDATE transactions SET transaction_number = 20 WHERE transaction_number = 22'],
      ['UPDATE transactions SET transaction_number = 22 WHERE transaction_number = -1'],
    );
    expect(summary(await auditFiles(dir))).toEqual([
      `${device} A 20 reordered`,
      `${device} A 22 reordered`,
    ]);
  });

  it('copy truncated', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, device, ['DELETE FROM transactions WHERE transaction_number >= 25']);
    const report = await auditFiles(dir);
    expect(summary(report)).toContain(`${device} A 25-30 truncated`);
    expect(summary(report).filter((f) => f.endsWith('deleted'))).toHaveLength(6);
    expect(report.findings.every((f) => f.device === device)).toBe(true);
  });

  it('signature changed', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, device, [
      'UPDATE transactions SET signature = ? WHERE transaction_number = 23',
      flipBit(await signatureOf(dir, device, 23), 7),
    ]);
    expect(summary(await auditFiles(dir))).toEqual([`${device} A 23 signature`]);
  });

  it('a row that fits no record: an unknown transaction type, an overlong signature', async () => {
    const dir = await copyOfPristine();
    await tamper(
      dir,
      device,
      ["UPDATE transactions SET transaction_type = 'bogus' WHERE transaction_number = 22"],
      [
        'UPDATE transactions SET signature = ? WHERE transaction_number = 26',
        Buffer.alloc(70_000, 1),
      ],
    );
    expect(summary(await auditFiles(dir))).toEqual([
      `${device} A 22 modified`,
      `${device} A 26 modified`,
    ]);
  });
});

describe('more than one copy of A', () => {
  it('two of three copies changed (signed mode): both found; the third, whose signatures verify, is correct', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, 'transaction', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    await tamper(dir, 'account', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    const report = await auditFiles(dir);
    expect(summary(report)).toEqual(['account A 22 modified', 'transaction A 22 modified']);
    expect(report.findings.every((f) => f.expected?.['amount'] === '500')).toBe(true);
  });

  it('all three copies changed differently: reported as unrecoverable, nothing claimed correct', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, 'transaction', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    await tamper(dir, 'account', [
      'UPDATE transactions SET amount = 6000 WHERE transaction_number = 22',
    ]);
    await tamper(dir, 'currency', [
      'UPDATE transactions SET amount = 7000 WHERE transaction_number = 22',
    ]);
    const report = await auditFiles(dir);
    expect(summary(report).filter((f) => f.includes(' A '))).toEqual([
      'account A 19-24 unrecoverable',
      'currency A 19-24 unrecoverable',
      'transaction A 19-24 unrecoverable',
    ]);
    expect(
      report.findings
        .filter((f) => f.kind === 'unrecoverable')
        .every((f) => f.expected === undefined),
    ).toBe(true);
  });
});

describe('B, the account information', () => {
  it('row modified (its signature no longer verifies)', async () => {
    const dir = await copyOfPristine();
    await tamper(dir, 'account', ['UPDATE accounts SET balance = 999999 WHERE account_number = 2']);
    const report = await auditFiles(dir);
    expect(summary(report)).toEqual(['account B 2 modified']);
    expect(report.findings[0]).toMatchObject({
      found: { balance: '999999' },
      expected: { balance: '300' },
    });
  });

  it('row modified and re-signed with the account key: the signature verifies, the content disagrees with A', async () => {
    const dir = await copyOfPristine();
    const forged = forgedAccountRow(keystore(dir, 'account'), 999_999n, 0n);
    await tamper(dir, 'account', [
      'UPDATE accounts SET balance = 999999, last_update = 0, signature = ? WHERE account_number = 2',
      forged.signature,
    ]);
    const report = await auditFiles(dir);
    expect(summary(report)).toEqual(['account B 2 modified']);
    expect(report.findings[0]!.message).toContain('its signature verifies');
  });

  it('row deleted, row inserted, signature changed', async () => {
    const dir = await copyOfPristine();
    await tamper(
      dir,
      'account',
      ['DELETE FROM accounts WHERE account_number = 1'],
      ["INSERT INTO accounts VALUES (99, 'JPY', 100, 0, 'open', 0, 2, ?)", Buffer.from([0])],
      ['UPDATE accounts SET signature = ? WHERE account_number = 2', Buffer.from([1, 2])],
    );
    expect(summary(await auditFiles(dir))).toEqual([
      'account B 1 deleted',
      'account B 2 signature',
      'account B 99 inserted',
    ]);
  });
});

describe('C, the currency information', () => {
  it('owner changed, row deleted, row inserted, signature changed', async () => {
    const dir = await copyOfPristine();
    await tamper(
      dir,
      'currency',
      ['UPDATE currency_units SET owner_account = 2 WHERE currency_number = 1'],
      ['DELETE FROM currency_units WHERE currency_number = 2'],
      [
        "INSERT INTO currency_units VALUES (77, 'JPY', 1000, 2, 'active', 0, 3, ?)",
        Buffer.from([0]),
      ],
      ['UPDATE currency_units SET signature = ? WHERE currency_number = 4', Buffer.from([1, 2])],
    );
    const report = await auditFiles(dir);
    expect(summary(report)).toEqual([
      'currency C 1 modified',
      'currency C 2 deleted',
      'currency C 4 signature',
      'currency C 77 inserted',
    ]);
    expect(report.findings.find((f) => f.key === '1')).toMatchObject({
      found: { ownerAccount: '2' },
      expected: { ownerAccount: '1' },
    });
  });
});
