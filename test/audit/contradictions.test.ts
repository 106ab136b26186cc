// Denial of service by forged rows: signed records of A that contradict each other (a device spent
// a unit that A never issued, because it acted on a forged row) are a finding of the audit, never
// an assertion that stops the device running it (audit/replay.ts).

import { describe, expect, it } from 'vitest';
import { AccountReplay, type Contradiction, UnitReplay } from '../../src/audit/replay.js';
import type { TransactionRecord } from '../../src/protocol/records.js';

/** A confirmed remittance of 500 from account 2 to account 1 that moves unit 99. */
function remittanceMovingUnit(unit: string): TransactionRecord[] {
  const common = {
    remittanceId: 'forged-spend',
    sourceAccount: 2n,
    destinationAccount: 1n,
    amount: 500n,
    currencyType: 'JPY',
    signerKeyNumber: 1,
  };
  const plan = JSON.stringify({ sequence: '1', moved: [unit], retired: [], issued: [] });
  return [
    { ...common, transactionNumber: 1n, transactionType: 'remittance_request', dateTime: 1n },
    {
      ...common,
      transactionNumber: 2n,
      transactionType: 'account_confirmation_request',
      dateTime: 2n,
    },
    {
      ...common,
      transactionNumber: 3n,
      transactionType: 'account_confirmation_response',
      outcome: 'ok',
      dateTime: 3n,
    },
    {
      ...common,
      transactionNumber: 4n,
      transactionType: 'currency_confirmation_request',
      dateTime: 4n,
    },
    {
      ...common,
      transactionNumber: 5n,
      transactionType: 'currency_confirmation_response',
      outcome: 'ok',
      detail: plan,
      dateTime: 5n,
    },
    {
      ...common,
      transactionNumber: 6n,
      transactionType: 'remittance_response',
      outcome: 'ok',
      dateTime: 6n,
    },
  ];
}

describe('a log that contradicts itself', () => {
  it('unit 99 changes but A never issued it: reported, skipped, no exception', () => {
    const found: Contradiction[] = [];
    const units = new UnitReplay([], 1n, (c) => found.push(c));
    expect(() => units.apply(remittanceMovingUnit('99'))).not.toThrow();
    expect(units.finish().size).toBe(0);
    expect(found.map((c) => c.message)).toContain('unit 99 changes, but A never issued it');
    expect(found[0]).toMatchObject({ remittanceId: 'forged-spend', transactionNumber: 1n });
  });

  it('accounts 1 and 2 change but A never opened them: reported, skipped, no exception', () => {
    const found: Contradiction[] = [];
    const accounts = new AccountReplay([], (c) => found.push(c));
    expect(() => accounts.apply(remittanceMovingUnit('99'))).not.toThrow();
    expect(accounts.accounts.size).toBe(0);
    expect(found.map((c) => c.message)).toEqual(
      expect.arrayContaining([
        'account 2 changes, but A never opened it',
        'account 1 changes, but A never opened it',
      ]),
    );
  });

  it('an operation without its request is a contradiction, not a crash', () => {
    const found: Contradiction[] = [];
    const accounts = new AccountReplay([], (c) => found.push(c));
    accounts.apply(remittanceMovingUnit('1').slice(1));
    expect(found.map((c) => c.message)).toEqual(['the operation has no request']);
  });
});
