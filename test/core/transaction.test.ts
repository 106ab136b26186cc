// The transaction device's machine (core/transaction.ts): the next step of an operation is read
// from its records alone, so a driver that crashed anywhere picks up where the store says.
import { describe, expect, it } from 'vitest';
import {
  accountRequestFields,
  advanceOperation,
  nextAction,
  type RecordSigner,
  refusalAtOpening,
  responseFields,
  stepsInOrder,
} from '../../src/core/transaction.js';
import type { SignedRecord, TransactionRecord } from '../../src/protocol/records.js';
import type { TransactionType } from '../../src/protocol/transactionTypes.js';

const numbering = { accountKeyNumberBase: 1_000_000, accountNumberMax: 999n };
const limits = { nowMs: 1_000, operationTimeoutMs: 30_000, mode: 'confirm' as const };

function record(
  step: number,
  type: TransactionType,
  extra: Partial<TransactionRecord> = {},
): TransactionRecord {
  return {
    transactionNumber: 6n + BigInt(step - 1),
    remittanceId: 'r',
    transactionType: type,
    dateTime: 1_000n,
    signerKeyNumber: 1,
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount: 500n,
    currencyType: 'JPY',
    ...extra,
  };
}

const remittance = [record(1, 'remittance_request'), record(2, 'account_confirmation_request')];

const signedOf = (r: TransactionRecord): SignedRecord => ({
  record: r,
  signature: Buffer.alloc(0),
});
/** A stand-in for the device's key: numbers the record in its block, and leaves a mark. */
const sign: RecordSigner = (records, fields) =>
  signedOf({
    ...records.at(-1)!.record,
    ...fields,
    transactionNumber: 6n + BigInt(records.length),
  });

describe('the transaction machine', () => {
  it('a remittance goes to account, then (accepted) to currency, then to its response', () => {
    expect(nextAction(remittance, limits)).toEqual({
      kind: 'exchange',
      peer: 'account',
      expired: false,
    });
    const accepted = [...remittance, record(3, 'account_confirmation_response', { outcome: 'ok' })];
    expect(nextAction(accepted, limits)).toEqual({
      kind: 'sign',
      fields: {
        transactionType: 'currency_confirmation_request',
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 500n,
        currencyType: 'JPY',
        // a4 at a3's time: a function of a1-a3, signed again the same after a crash.
        dateTime: accepted[2]!.dateTime,
      },
    });
    const asked = [...accepted, record(4, 'currency_confirmation_request')];
    expect(nextAction(asked, limits)).toMatchObject({ kind: 'exchange', peer: 'currency' });
    const answered = [...asked, record(5, 'currency_confirmation_response', { outcome: 'ok' })];
    expect(nextAction(answered, limits)).toEqual({
      kind: 'sign',
      fields: { transactionType: 'remittance_response', outcome: 'ok' },
    });
    const done = [...answered, record(6, 'remittance_response', { outcome: 'ok' })];
    expect(nextAction(done, limits)).toEqual({ kind: 'decided', outcome: 'ok' });
  });

  it('decides only on records that are its steps in order, each at its number (no gap)', () => {
    const accepted = [...remittance, record(3, 'account_confirmation_response', { outcome: 'ok' })];
    const answered = record(5, 'currency_confirmation_response', { outcome: 'ok' });
    expect(stepsInOrder(remittance, 6n)).toBe(true);
    expect(stepsInOrder(accepted, 6n)).toBe(true);
    // a5 kept without a3 and a4 (a store that kept part of a refused write): not in order.
    expect(stepsInOrder([...remittance, answered], 6n)).toBe(false);
    // A record of the right step at another number, and records out of order.
    expect(stepsInOrder([...remittance, { ...accepted[2]!, transactionNumber: 9n }], 6n)).toBe(
      false,
    );
    expect(stepsInOrder([remittance[1]!, remittance[0]!], 6n)).toBe(false);
    expect(stepsInOrder([], 6n)).toBe(false);
    // The steps in order, but not in the operation's own block.
    expect(stepsInOrder(remittance, 12n)).toBe(false);
  });

  it('past the time limit an exchange goes out marked expired (the peer refuses unless it answered)', () => {
    expect(nextAction(remittance, { ...limits, nowMs: 1_000 + 30_001 })).toMatchObject({
      kind: 'exchange',
      expired: true,
    });
  });

  it('a refusal at account ends the operation: its response carries the refusal', () => {
    const refused = [
      ...remittance,
      record(3, 'account_confirmation_response', { outcome: 'InsufficientBalance' }),
    ];
    expect(nextAction(refused, limits)).toEqual({
      kind: 'sign',
      fields: { transactionType: 'remittance_response', outcome: 'InsufficientBalance' },
    });
    // A peer that refused instead of answering (it stored nothing): the code is the outcome.
    expect(responseFields(remittance, 'OperationExpired')).toEqual({
      transactionType: 'remittance_response',
      outcome: 'OperationExpired',
    });
  });

  it('an account opening: a2 names the new account and its key; a6 gives its number', () => {
    const request = record(1, 'account_issuing_request', {
      signerKeyNumber: 0,
      sourceAccount: undefined,
      destinationAccount: undefined,
      amount: undefined,
      detail: JSON.stringify({ publicKeyHex: 'ab'.repeat(32) }),
    });
    const fields = accountRequestFields(request, 'confirm', 7n, numbering);
    expect(fields).toEqual({
      transactionType: 'account_update_request',
      destinationAccount: 7n,
      currencyType: 'JPY',
      detail: JSON.stringify({
        keyNumber: 1_000_007,
        algorithm: 'ed25519-public',
        publicKeyHex: 'ab'.repeat(32),
      }),
    });
    const opened = [
      request,
      { ...record(2, 'account_update_request'), ...fields },
      record(3, 'account_update_response', { outcome: 'ok' }),
    ];
    const response = nextAction(opened, limits);
    expect(response).toEqual({
      kind: 'sign',
      fields: {
        transactionType: 'account_issuing_response',
        outcome: 'ok',
        destinationAccount: 7n,
      },
    });
  });

  it('refuses at the door what it can decide alone', () => {
    const facts = {
      nextAccountNumber: 5n,
      signerAlgorithm: 'hmac-sha256',
      signerHoldsAnAccount: false,
    };
    expect(
      refusalAtOpening(
        record(1, 'remittance_request', { destinationAccount: 1n }),
        facts,
        numbering,
      )?.code,
    ).toBe('SameAccount');
    const opening = record(1, 'account_issuing_request', { signerKeyNumber: 9 });
    expect(refusalAtOpening(opening, facts, numbering)).toBeUndefined();
    expect(
      refusalAtOpening(opening, { ...facts, signerHoldsAnAccount: true }, numbering)?.code,
    ).toBe('WrongSigner');
    expect(
      refusalAtOpening(opening, { ...facts, signerAlgorithm: 'ed25519-public' }, numbering)?.code,
    ).toBe('WrongSigner');
    expect(
      refusalAtOpening(opening, { ...facts, nextAccountNumber: 1_000n }, numbering)?.code,
    ).toBe('InvalidInput');
  });

  it("a turn stores a peer's answer with the record signed after it, and ends where a peer must answer", () => {
    const opened = remittance.map(signedOf);
    // Just opened: nothing to sign; the operation waits for account.
    expect(advanceOperation(opened, undefined, limits, sign)).toEqual({
      signed: [],
      end: { kind: 'exchange', peer: 'account', expired: false },
    });
    const accepted = [
      ...opened,
      signedOf(record(3, 'account_confirmation_response', { outcome: 'ok' })),
    ];
    const asked = advanceOperation(accepted, undefined, limits, sign);
    expect(asked.signed.map((s) => s.record.transactionType)).toEqual([
      'currency_confirmation_request',
    ]);
    expect(asked.end).toMatchObject({ kind: 'exchange', peer: 'currency' });
    const answered = [
      ...accepted,
      ...asked.signed,
      signedOf(record(5, 'currency_confirmation_response', { outcome: 'ok' })),
    ];
    const decided = advanceOperation(answered, undefined, limits, sign);
    expect(decided.signed.map((s) => s.record.outcome)).toEqual(['ok']);
    expect(decided.end).toEqual({ kind: 'decided', outcome: 'ok' });
  });

  it("a peer's refusal (it stored nothing) is signed into the response and decides the operation", () => {
    const turn = advanceOperation(remittance.map(signedOf), 'OperationExpired', limits, sign);
    expect(turn.signed.map((s) => [s.record.transactionType, s.record.outcome])).toEqual([
      ['remittance_response', 'OperationExpired'],
    ]);
    expect(turn.end).toEqual({ kind: 'decided', outcome: 'OperationExpired' });
  });
});
