// Issuance and redemption (issuer key only), and the FIG. 1H split rule on a redemption.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TerminalClient } from '../../src/client/terminal.js';
import { issuerKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';

let deployment: TestDeployment;
let issuer: TerminalClient;

async function units(account: number) {
  const answer = await deployment.read(`/v1/accounts/${account}/currency`);
  if (!answer.ok) throw new Error(answer.message);
  return (answer.value['units'] as Record<string, string>[]).map((u) => [
    u['currencyNumber'],
    u['value'],
  ]);
}

beforeAll(async () => {
  deployment = await startDeployment({ scheme: 'ed25519' });
  issuer = deployment.client(deployment.keystore('issuer'));
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

describe('issuance and redemption', () => {
  it('redeeming 700 of units 1-3 (500 each) retires unit 3 whole, splits unit 2 and returns 300 as change', async () => {
    const redeemed = await issuer.redeem({
      sourceAccount: 1n,
      currencyType: 'JPY',
      amount: 700n,
      issuerKeyNumber,
    });
    expect(redeemed.ok).toBe(true);
    expect(await units(1)).toEqual([
      ['1', '500'],
      ['4', '300'],
    ]);
    const account = await deployment.read('/v1/accounts/1');
    expect(account.ok && account.value['balance']).toBe('800');
  });

  it('issuance adds numbered units with the given values', async () => {
    const issued = await issuer.issue({
      destinationAccount: 2n,
      currencyType: 'JPY',
      values: [100n, 25n],
      issuerKeyNumber,
    });
    expect(issued.ok).toBe(true);
    expect(await units(2)).toEqual([
      ['5', '100'],
      ['6', '25'],
    ]);
  });

  it("an account's own key cannot issue: 403 WrongSigner, nothing recorded", async () => {
    const account1 = deployment.client(deployment.wallet(1n));
    const result = await account1.issue({
      destinationAccount: 1n,
      currencyType: 'JPY',
      values: [1_000_000n],
      issuerKeyNumber: accountKeyNumberBase + 1,
    });
    expect(result).toMatchObject({ ok: false, code: 'WrongSigner' });
    expect(await units(1)).toEqual([
      ['1', '500'],
      ['4', '300'],
    ]);
  });

  it('a remittance to an account of another currency type is refused: CurrencyMismatch', async () => {
    const wallet = deployment.client(deployment.wallet(1n));
    const result = await wallet.remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 100n,
      currencyType: 'USD',
      keyNumber: accountKeyNumberBase + 1,
    });
    expect(result).toMatchObject({ ok: false, code: 'CurrencyMismatch' });
  });

  it('closing an account: only empty, only by its own key; a closed account neither sends nor receives', async () => {
    const wallet1 = deployment.client(deployment.wallet(1n));
    const wallet2 = deployment.client(deployment.wallet(2n));
    expect(
      await wallet1.closeAccount({ accountNumber: 1n, keyNumber: accountKeyNumberBase + 1 }),
    ).toMatchObject({ ok: false, code: 'AccountNotEmpty' });
    expect(
      await wallet1.closeAccount({ accountNumber: 2n, keyNumber: accountKeyNumberBase + 1 }),
    ).toMatchObject({ ok: false, code: 'WrongSigner' });

    const redeemed = await issuer.redeem({
      sourceAccount: 2n,
      currencyType: 'JPY',
      amount: 125n,
      issuerKeyNumber,
    });
    expect(redeemed.ok).toBe(true);
    const closed = await wallet2.closeAccount({
      accountNumber: 2n,
      keyNumber: accountKeyNumberBase + 2,
    });
    expect(closed.ok).toBe(true);
    expect(closed.ok && closed.records.map((r) => r.record.transactionType)).toEqual([
      'account_closing_request',
      'account_update_request',
      'account_update_response',
      'account_closing_response',
    ]);

    const toClosed = await wallet1.remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 100n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 1,
    });
    expect(toClosed).toMatchObject({ ok: false, code: 'AccountClosed' });
    expect((toClosed as { records?: unknown[] }).records).toHaveLength(4);
    const fromClosed = await wallet2.remit({
      sourceAccount: 2n,
      destinationAccount: 1n,
      amount: 1n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 2,
    });
    expect(fromClosed).toMatchObject({ ok: false, code: 'AccountClosed' });
    expect(
      await wallet2.closeAccount({ accountNumber: 2n, keyNumber: accountKeyNumberBase + 2 }),
    ).toMatchObject({ ok: false, code: 'AccountClosed' });
    const account = await deployment.read('/v1/accounts/2');
    expect(account.ok && account.value).toMatchObject({ status: 'closed', balance: '0' });
  });
});
