// The currency machine's commit over a batch (core/currency.ts: commitCurrencyBatch): each step
// plans over C as the steps before it in the batch left it (a unit held by one payment is not
// spent again by the next), and new unit numbers and plan sequences are taken in order from the
// first free ones, exactly as many as the batch reports taken.
import { describe, expect, it } from 'vitest';
import {
  type CurrencyBatch,
  type CurrencyDecision,
  commitCurrencyBatch,
} from '../../src/core/currency.js';
import type { TransactionRecord } from '../../src/protocol/records.js';
import type { CurrencyRowContent } from '../../src/protocol/rows.js';

const unit = (currencyNumber: bigint, value: bigint, ownerAccount: bigint): CurrencyRowContent => ({
  currencyNumber,
  currencyType: 'JPY',
  value,
  ownerAccount,
  status: 'active',
  lastUpdate: 1n,
});

function payment(id: string, amount: bigint) {
  const common = {
    remittanceId: id,
    dateTime: 50n,
    signerKeyNumber: 1,
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount,
    currencyType: 'JPY',
  };
  const request: TransactionRecord = {
    ...common,
    transactionNumber: 6n,
    transactionType: 'remittance_request',
  };
  const currencyRequest: TransactionRecord = {
    ...common,
    transactionNumber: 9n,
    transactionType: 'currency_confirmation_request',
  };
  return { kind: 'decide' as const, request, currencyRequest };
}

describe('the currency machine over a batch', () => {
  it('a later payment does not spend the units an earlier one holds; numbers are taken in order', () => {
    const c = [unit(1n, 500n, 1n), unit(2n, 500n, 1n), unit(3n, 100n, 1n)];
    const before = {
      read: (n: bigint) => c.find((u) => u.currencyNumber === n),
      activeOf: (payer: bigint) => c.filter((u) => u.ownerAccount === payer),
    };
    const batch = commitCurrencyBatch({ ...before }, { unit: 4n, sequence: 7n }, [
      payment('a', 500n),
      payment('b', 550n),
      payment('c', 500n),
    ]);
    const [a, b, c3] = batch.results as CurrencyDecision[];
    expect(a).toMatchObject({ outcome: 'ok', plan: { sequence: '7', moved: ['2'] } });
    // b: 500 (unit 1) and 50 of unit 3, split: two new numbers, 4 and 5.
    expect(b).toMatchObject({
      outcome: 'ok',
      plan: { sequence: '8', moved: ['1'], retired: ['3'] },
    });
    expect(b!.plan!.issued.map((u) => u.currencyNumber)).toEqual(['4', '5']);
    // c: nothing active is left but the change of b (held until b settles): refused.
    expect(c3).toEqual({ outcome: 'InsufficientBalance' });
    expect(batch).toMatchObject({ unitNumbersTaken: 2, planSequencesTaken: 2 });
    expect(batch.rows.map((u) => [u.currencyNumber, u.status])).toEqual([
      [2n, 'held'],
      [1n, 'held'],
      [3n, 'held'],
    ]);
  });

  it('planned from the first units listed: a batch they do not decide names its payers and does not stand', () => {
    const c = [unit(1n, 500n, 1n), unit(2n, 500n, 1n), unit(3n, 100n, 1n)];
    const listed = c.slice(0, 2); // payment order: unit 2, then unit 1 (equal values: higher first)
    const before = {
      read: (n: bigint) => c.find((u) => u.currencyNumber === n),
      activeOf: () => listed,
      listedUpTo: () => c[0],
    };
    const first = { unit: 4n, sequence: 7n };
    // 500 is paid by unit 2 alone: the listed units decide, as all of them would.
    const decided = commitCurrencyBatch(before, first, [payment('a', 500n)]);
    const withAll = commitCurrencyBatch({ read: before.read, activeOf: () => c }, first, [
      payment('a', 500n),
    ]);
    expect(decided).toEqual(withAll);
    // 1050 also needs the 50 of unit 3, which is not listed: the batch does not stand.
    expect(commitCurrencyBatch(before, first, [payment('a', 500n), payment('b', 550n)])).toEqual({
      unlisted: [{ payer: 1n, currencyType: 'JPY' }],
    });
    const rerun = commitCurrencyBatch({ read: before.read, activeOf: () => c }, first, [
      payment('a', 500n),
      payment('b', 550n),
    ]) satisfies CurrencyBatch;
    expect(rerun.results[1]).toMatchObject({ outcome: 'ok' });
  });
});
