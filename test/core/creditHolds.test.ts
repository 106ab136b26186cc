// Credits held until the settlement (core/account.ts): money an update brings (an issuance, a
// remittance in update mode) cannot be spent before a6 says the operation stands, so a refusal
// after a3 takes back only money that is still there. Found by the simulator (seed 19): an
// update-mode remittance expired after its payee had spent it, and taking it back went below zero.
import { describe, expect, it } from 'vitest';
import {
  type AccountEffect,
  applySettlement,
  decideAccountRequest,
} from '../../src/core/account.js';
import type { TransactionRecord } from '../../src/protocol/records.js';
import type { AccountRowContent } from '../../src/protocol/rows.js';
import type { TransactionType } from '../../src/protocol/transactionTypes.js';
import { openAccountRow } from '../helpers/rows.js';

function operation(
  id: string,
  base: bigint,
  kind: 'remittance' | 'issuance',
  fields: Partial<TransactionRecord>,
): TransactionRecord[] {
  const record = (step: bigint, type: TransactionType, extra: Partial<TransactionRecord> = {}) => ({
    transactionNumber: base + step,
    remittanceId: id,
    transactionType: type,
    dateTime: 10n + step,
    signerKeyNumber: 1,
    currencyType: 'JPY',
    ...fields,
    ...extra,
  });
  return [
    record(0n, `${kind}_request`),
    record(1n, 'account_update_request'),
    record(2n, 'account_update_response', { outcome: 'ok' }),
  ];
}

function settled(records: TransactionRecord[], outcome: string): TransactionRecord[] {
  const request = records[0]!;
  return [
    ...records,
    {
      ...request,
      transactionNumber: request.transactionNumber + 5n,
      transactionType:
        `${request.transactionType.replace('_request', '')}_response` as TransactionType,
      dateTime: 40n,
      outcome,
    },
  ];
}

/** B as a map, changed by an effect. */
function applied(accounts: Map<bigint, AccountRowContent>, effect: AccountEffect | object) {
  expect('contradictions' in effect).toBe(false);
  for (const changed of (effect as AccountEffect).rows)
    accounts.set(changed.accountNumber, changed);
}

describe('credits held until the settlement', () => {
  it('an update-mode remittance: the payee cannot spend it before a6; a refusal takes it back', () => {
    const accounts = new Map([
      [1n, openAccountRow(1n, 500n)],
      [2n, openAccountRow(2n, 0n)],
    ]);
    const paying = operation('pay', 0n, 'remittance', {
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 300n,
    });
    const decision = decideAccountRequest((n) => accounts.get(n), paying[0]!, paying[1]!);
    expect(decision).toMatchObject({
      outcome: 'ok',
      effect: { hold: { accountNumber: 2n, amount: 300n } },
    });
    applied(accounts, (decision as { effect: AccountEffect }).effect);
    expect(accounts.get(2n)).toMatchObject({ balance: 300n, held: 300n });
    // The payee spends it before the settlement: refused.
    const spending = operation('spend', 6n, 'remittance', {
      sourceAccount: 2n,
      destinationAccount: 1n,
      amount: 300n,
    });
    expect(decideAccountRequest((n) => accounts.get(n), spending[0]!, spending[1]!)).toEqual({
      outcome: 'InsufficientBalance',
    });
    // a6 refuses (the operation expired at currency): the money goes back, nothing below zero.
    const refused = applySettlement((n) => accounts.get(n), settled(paying, 'OperationExpired'));
    expect(refused).toMatchObject({ endsHold: { accountNumber: 2n, amount: 300n } });
    applied(accounts, refused);
    expect(accounts.get(1n)).toMatchObject({ balance: 500n, held: 0n });
    expect(accounts.get(2n)).toMatchObject({ balance: 0n, held: 0n });
  });

  it('an issuance: spendable once a6 says ok', () => {
    const accounts = new Map([[1n, openAccountRow(1n, 0n)]]);
    const issuing = operation('issue', 0n, 'issuance', { destinationAccount: 1n, amount: 100n });
    const decision = decideAccountRequest((n) => accounts.get(n), issuing[0]!, issuing[1]!);
    applied(accounts, (decision as { effect: AccountEffect }).effect);
    expect(accounts.get(1n)).toMatchObject({ balance: 100n, held: 100n });
    applied(
      accounts,
      applySettlement((n) => accounts.get(n), settled(issuing, 'ok')),
    );
    expect(accounts.get(1n)).toMatchObject({ balance: 100n, held: 0n, lastUpdate: 40n });
  });
});
