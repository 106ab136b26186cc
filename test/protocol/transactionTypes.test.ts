// What a settlement carries to each peer (the records it lacks) and how the peer makes it whole
// again from its own records; a peer that lost them says so instead of guessing.
import { describe, expect, it } from 'vitest';
import {
  recordsLackedBy,
  settlementWithHeld,
  type TransactionType,
} from '../../src/protocol/transactionTypes.js';

const record = (transactionType: TransactionType) => ({ record: { transactionType } });
const remittance = [
  record('remittance_request'),
  record('account_confirmation_request'),
  record('account_confirmation_response'),
  record('currency_confirmation_request'),
  record('currency_confirmation_response'),
  record('remittance_response'),
];
/** A remittance account refused: currency was never asked (steps 4 and 5 skipped). */
const refusedAtAccount = [...remittance.slice(0, 3), remittance[5]!];

describe('recordsLackedBy', () => {
  it('leaves out the records up to the peer’s own answer', () => {
    expect(recordsLackedBy('account', remittance)).toEqual(remittance.slice(3));
    expect(recordsLackedBy('currency', remittance)).toEqual(remittance.slice(5));
    expect(recordsLackedBy('account', refusedAtAccount)).toEqual([remittance[5]]);
  });

  it('sends everything to a peer whose answer the operation does not hold', () => {
    expect(recordsLackedBy('currency', refusedAtAccount)).toEqual(refusedAtAccount);
    const unanswered = [...remittance.slice(0, 2), remittance[5]!];
    expect(recordsLackedBy('account', unanswered)).toEqual(unanswered);
  });
});

describe('settlementWithHeld', () => {
  it('puts the stored records before the received ones', () => {
    for (const [peer, operation] of [
      ['account', remittance],
      ['currency', remittance],
      ['account', refusedAtAccount],
    ] as const) {
      const received = recordsLackedBy(peer, operation);
      const storedAtExchange = operation.slice(0, operation.length - received.length);
      expect(settlementWithHeld(peer, received, storedAtExchange)).toEqual(operation);
      // A repeat, after the settlement stored everything: the same operation.
      expect(settlementWithHeld(peer, received, operation)).toEqual(operation);
    }
  });

  it('takes a whole operation as it is', () => {
    expect(settlementWithHeld('currency', refusedAtAccount, [])).toEqual(refusedAtAccount);
  });

  it('is undefined when the peer lacks a record the settlement left out', () => {
    expect(settlementWithHeld('account', remittance.slice(3), [])).toBeUndefined();
    expect(
      settlementWithHeld('account', remittance.slice(3), remittance.slice(0, 2)),
    ).toBeUndefined();
    expect(
      settlementWithHeld('currency', remittance.slice(5), remittance.slice(0, 3)),
    ).toBeUndefined();
  });
});
