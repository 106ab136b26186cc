// The account machine's commit over a batch (core/account.ts: commitAccountBatch): each step sees
// B as the steps before it in the batch left it, so a batch decides exactly as the same steps one
// after another would, and each changed row comes out once, in its last version.
import { describe, expect, it } from 'vitest';
import {
  type AccountBatch,
  commitAccountBatch,
  decideAccountRequest,
} from '../../src/core/account.js';
import type { TransactionRecord } from '../../src/protocol/records.js';
import { openAccountRow } from '../helpers/rows.js';

/** a1 and a2 of a confirm-mode remittance. */
function remittance(id: string, base: bigint, from: bigint, to: bigint, amount: bigint) {
  const common = {
    remittanceId: id,
    dateTime: 100n + base,
    signerKeyNumber: 1,
    sourceAccount: from,
    destinationAccount: to,
    amount,
    currencyType: 'JPY',
  };
  const request: TransactionRecord = {
    ...common,
    transactionNumber: base,
    transactionType: 'remittance_request',
  };
  const accountRequest: TransactionRecord = {
    ...common,
    transactionNumber: base + 1n,
    transactionType: 'account_confirmation_request',
  };
  return { kind: 'decide' as const, request, accountRequest, exists: () => true };
}

/** Each step's outcome, or 'contradiction'. */
function outcomesOf(batch: AccountBatch): string[] {
  return batch.results.map((r) => ('outcome' in r ? r.outcome : 'contradiction'));
}

describe('the account machine over a batch', () => {
  it('a later step sees the holds of earlier ones: no overdraft within a batch', () => {
    const b = new Map([
      [1n, openAccountRow(1n, 1_000n)],
      [2n, openAccountRow(2n, 0n)],
    ]);
    const steps = [
      remittance('a', 6n, 1n, 2n, 600n),
      remittance('b', 12n, 1n, 2n, 600n),
      remittance('c', 18n, 1n, 2n, 400n),
    ];
    const batch = commitAccountBatch((n) => b.get(n), steps);
    expect(outcomesOf(batch)).toEqual(['ok', 'InsufficientBalance', 'ok']);
    // One row per account changed, in its last version.
    expect(batch.rows).toEqual([{ ...openAccountRow(1n, 1_000n), held: 1_000n, lastUpdate: 118n }]);
  });

  it('decides as the same steps one after another would', () => {
    const b = new Map([
      [1n, openAccountRow(1n, 700n)],
      [2n, openAccountRow(2n, 300n)],
    ]);
    const steps = [
      remittance('a', 6n, 1n, 2n, 500n),
      remittance('b', 12n, 2n, 1n, 300n),
      remittance('c', 18n, 1n, 2n, 300n),
    ];
    const batch = commitAccountBatch((n) => b.get(n), steps);
    const oneByOne = new Map(b);
    const outcomes = steps.map((step) => {
      const decision = decideAccountRequest(
        (n) => oneByOne.get(n),
        step.request,
        step.accountRequest,
      );
      if ('effect' in decision && decision.effect)
        for (const changed of decision.effect.rows) oneByOne.set(changed.accountNumber, changed);
      return 'outcome' in decision ? decision.outcome : 'contradiction';
    });
    expect(outcomesOf(batch)).toEqual(outcomes);
    for (const changed of batch.rows) expect(oneByOne.get(changed.accountNumber)).toEqual(changed);
  });
});
