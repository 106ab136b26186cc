// Many parallel remittances from one account whose balance covers only some of them, and a refusal
// by the currency device after the account device agreed: holds released (confirm mode) or the
// update compensated (update mode). Invariants 1-3 of docs/design.md hold after each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  OperationRefusal,
  OperationResult,
  TerminalClient,
} from '../../src/client/terminal.js';
import { issuerKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';

type Row = Record<string, bigint | string>;

async function checkInvariants(deployment: TestDeployment) {
  const accounts = await deployment.rows<Row>(
    'account',
    'SELECT * FROM accounts ORDER BY account_number',
  );
  const units = await deployment.rows<Row>(
    'currency',
    "SELECT * FROM currency_units WHERE status != 'retired' ORDER BY currency_number",
  );
  for (const account of accounts) {
    const balance = account['balance'] as bigint;
    const held = account['held'] as bigint;
    expect(balance >= 0n && held >= 0n && held <= balance, 'invariant 3').toBe(true);
    const owned = units
      .filter((u) => u['owner_account'] === account['account_number'])
      .reduce((sum, u) => sum + (u['value'] as bigint), 0n);
    expect(owned, `invariant 1 for account ${account['account_number']}`).toBe(balance);
  }
  const supply = units.reduce((sum, u) => sum + (u['value'] as bigint), 0n);
  expect(
    accounts.reduce((sum, a) => sum + (a['balance'] as bigint), 0n),
    'invariant 2: balances add up to the supply',
  ).toBe(supply);
  return { accounts, supply };
}

describe.each(['confirm', 'update'] as const)('%s mode', (mode) => {
  let deployment: TestDeployment;
  let client1: TerminalClient;

  beforeAll(async () => {
    deployment = await startDeployment({ mode });
    client1 = deployment.client(deployment.wallet(1n));
  }, 90_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('twelve parallel remittances of 400 from 1500: exactly three succeed, none overdraws', async () => {
    const attempts = Array.from({ length: 12 }, () =>
      client1.remit({
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 400n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + 1,
      }),
    );
    const results: (OperationResult | OperationRefusal)[] = await Promise.all(attempts);
    const succeeded = results.filter((r) => r.ok);
    const refused = results.filter((r): r is OperationRefusal => !r.ok);
    expect(succeeded).toHaveLength(3);
    expect(refused.map((r) => r.code)).toEqual(Array(9).fill('InsufficientBalance'));
    const { accounts, supply } = await checkInvariants(deployment);
    expect(accounts.map((a) => [a['account_number'], a['balance'], a['held']])).toEqual([
      [1n, 300n, 0n],
      [2n, 1200n, 0n],
    ]);
    expect(supply).toBe(1500n);
  });

  it('currency refuses after account agreed (too many units): nothing moves, and the refusal is recorded', async () => {
    // 300 units of 1 JPY to account 1: paying 300 would touch more units than an operation may.
    const issuer = deployment.client(deployment.keystore('issuer'));
    for (let batch = 0; batch < 2; batch++) {
      const issued = await issuer.issue({
        destinationAccount: 1n,
        currencyType: 'JPY',
        values: Array(150).fill(1n),
        issuerKeyNumber,
      });
      expect(issued.ok).toBe(true);
    }
    const before = await checkInvariants(deployment);
    // Account 1 now holds three units of 100 (change from above) and 300 of 1: paying 599 takes 302 units.
    const result = await client1.remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 599n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 1,
    });
    expect(result).toMatchObject({ ok: false, code: 'UnitsFragmented' });
    const records = (result as OperationRefusal).records!;
    expect(records.map((r) => [r.record.transactionType, r.record.outcome])).toEqual([
      ['remittance_request', undefined],
      [`account_${mode === 'confirm' ? 'confirmation' : 'update'}_request`, undefined],
      [`account_${mode === 'confirm' ? 'confirmation' : 'update'}_response`, 'ok'],
      [`currency_${mode === 'confirm' ? 'confirmation' : 'update'}_request`, undefined],
      [`currency_${mode === 'confirm' ? 'confirmation' : 'update'}_response`, 'UnitsFragmented'],
      ['remittance_response', 'UnitsFragmented'],
    ]);
    const after = await checkInvariants(deployment);
    expect(after.accounts.map((a) => [a['balance'], a['held']])).toEqual(
      before.accounts.map((a) => [a['balance'], a['held']]),
    );
  });
});
