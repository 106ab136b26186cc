// The transaction device's rules (A, FIG. 1E) as a pure machine: what an operation does next, read
// from its stored records alone (the device's write-ahead log), and what the records it signs say.
//
// The driver (devices/transaction/service.ts) does the I/O around it, a batch of operations at a
// time: it verifies signatures, reads the facts a decision needs (the next account number, whether
// a key already holds an account), stores in one transaction what `advanceOperation` returns for
// each operation of the batch (a peer's answer and the record signed after it), carries exchanges
// to the peers, and answers. After a crash it reads an open operation's records and asks the
// machine again: the answer is the step the operation was at, so it goes on exactly where the store
// says. No I/O, no clock (the time comes in as an argument), no randomness; the signer is passed
// in (a signature is a pure function of the key and the bytes).

import { assert } from '../model/assert.js';
import { type Failure, fail } from '../model/errors.js';
import { accountIssuingDetail, parseDetail } from '../protocol/details.js';
import { numberOfStep, type SignedRecord, type TransactionRecord } from '../protocol/records.js';
import {
  exchangeTypes,
  involvesCurrency,
  type OperationKind,
  operationOf,
  outcomeOk,
  type ProtocolMode,
  responseTypeOf,
  stepOf,
  type TransactionType,
} from '../protocol/transactionTypes.js';

/**
 * The fields of a record the machine asks the driver to sign next (number and signer are the
 * driver's; the time too, unless the machine names it: a4 is signed at a3's time).
 */
export type RecordFields = Partial<TransactionRecord> & Pick<TransactionRecord, 'transactionType'>;

/** What an open operation does next. */
export type NextAction =
  /** S102 / S104: send the records to `peer` (`expired`: past the time limit, to be refused unless answered). */
  | { readonly kind: 'exchange'; readonly peer: 'account' | 'currency'; readonly expired: boolean }
  /** S104 / S106: sign and store the next record (a4, or the response a6). */
  | { readonly kind: 'sign'; readonly fields: RecordFields }
  /** a6 is stored: the operation is decided, with this outcome (and the new account's number). */
  | { readonly kind: 'decided'; readonly outcome: string; readonly newAccount?: bigint };

export interface Limits {
  readonly nowMs: number;
  /** Past this age (from a2, on this device's clock) an operation is refused by the next device to answer. */
  readonly operationTimeoutMs: number;
  readonly mode: ProtocolMode;
}

/** The key number base of accounts with their own (Ed25519) key: account N signs as base + N. */
export interface AccountNumbering {
  readonly accountKeyNumberBase: number;
  readonly accountNumberMax: bigint;
}

/**
 * What an operation's response a6 decided (its outcome, and an opened account's number), from its
 * records in step order; undefined while it is open (no a6).
 */
export function decisionOf(
  records: readonly TransactionRecord[],
): { readonly outcome: string; readonly newAccount?: bigint } | undefined {
  const last = records.at(-1);
  if (last === undefined || stepOf(last.transactionType) !== 6) return undefined;
  const outcome = last.outcome ?? 'InvalidInput';
  const newAccount = newAccountOf(kindOf(records), records, outcome);
  return { outcome, ...(newAccount === undefined ? {} : { newAccount }) };
}

/**
 * Whether an open operation's stored records are its steps in order, each at its step's number of
 * the operation's block (steps 1..n at base..base+n-1): the machine decides only on such records.
 * The driver checks what it reads back from its store; a gap (a record lost or removed by hand)
 * leaves the operation open, undecided, until an audit repairs the copy.
 */
export function stepsInOrder(records: readonly TransactionRecord[], base: bigint): boolean {
  return (
    records.length > 0 &&
    records.every(
      (record, k) =>
        stepOf(record.transactionType) === k + 1 &&
        record.transactionNumber === numberOfStep(base, k + 1),
    )
  );
}

/** The next step of an operation from its records (its request, a2, and what followed, in step order). */
export function nextAction(records: readonly TransactionRecord[], limits: Limits): NextAction {
  assert(records.length >= 2, 'an open operation holds its request and a2');
  assert(stepOf(records[0]!.transactionType) === 1, 'an operation starts with its request');
  const kind = kindOf(records);
  const last = records.at(-1)!;
  const step = stepOf(last.transactionType);
  const decision = decisionOf(records);
  if (decision) return { kind: 'decided', ...decision };
  if (step === 2 || step === 4) {
    const openedAtMs = Number(records[1]!.dateTime);
    return {
      kind: 'exchange',
      peer: step === 2 ? 'account' : 'currency',
      expired: limits.nowMs - openedAtMs > limits.operationTimeoutMs,
    };
  }
  if (step === 3 && last.outcome === outcomeOk && involvesCurrency(kind)) {
    const fields = requestFields(
      records[0]!,
      exchangeTypes(kind === 'remittance' ? limits.mode : 'update').currencyRequest,
      // At a3's time, so that a4 is a function of a1-a3 alone: it goes to currency before it is
      // stored, and after a crash the same a4 is signed again (devices/transaction/service.ts).
      last.dateTime,
    );
    return { kind: 'sign', fields };
  }
  return { kind: 'sign', fields: responseFields(records, undefined) };
}

/** Signs the next record of an operation with the device's key, number and time (the driver's). */
export type RecordSigner = (records: readonly SignedRecord[], fields: RecordFields) => SignedRecord;

/** Where an operation stops in a turn: waiting for a peer's answer, or decided. */
export type TurnEnd = Exclude<NextAction, { kind: 'sign' }>;

/** What one operation's turn leaves: the records to store (signed here), and where it stops. */
export interface Turn {
  readonly signed: SignedRecord[];
  readonly end: TurnEnd;
}

/**
 * One operation's turn in a batch: take it as far as it goes without a peer. `records` are its
 * records so far, a verified answer of a peer included; `refusal` is the code a peer gave instead
 * of an answer. The record to sign next (a4, or a6) is signed, and the turn ends at the next
 * exchange or at the decision. The driver stores the answer and `signed` in one transaction, so a
 * peer's answer never waits alone for a commit.
 */
export function advanceOperation(
  records: readonly SignedRecord[],
  refusal: string | undefined,
  limits: Limits,
  sign: RecordSigner,
): Turn {
  assert(records.length >= 2, 'an open operation holds its request and a2');
  const all = [...records];
  const fieldsOfAll = () => all.map((r) => r.record);
  if (refusal !== undefined) all.push(sign(all, responseFields(fieldsOfAll(), refusal)));
  let action = nextAction(fieldsOfAll(), limits);
  while (action.kind === 'sign') {
    all.push(sign(all, action.fields));
    action = nextAction(fieldsOfAll(), limits);
  }
  const signed = all.slice(records.length);
  assert(signed.length <= 1, 'a turn signs at most one record: a4 or the response');
  return { signed, end: action };
}

/**
 * a6: the outcome is the last answer's, or `refusal`, the code a device gave instead of an answer
 * (it stored nothing). An account opened has its number in a6.
 */
export function responseFields(
  records: readonly TransactionRecord[],
  refusal: string | undefined,
): RecordFields {
  const kind = kindOf(records);
  const outcome = refusal ?? records.at(-1)!.outcome ?? 'InvalidInput';
  const newAccount = newAccountOf(kind, records, outcome);
  const fields: RecordFields = {
    transactionType: responseTypeOf(kind),
    outcome,
    ...(newAccount === undefined ? {} : { destinationAccount: newAccount }),
  };
  assert(stepOf(fields.transactionType) === 6, 'a response is step 6');
  return fields;
}

/**
 * a2, the account request: the request's accounts, amount and currency; for an account opening, the
 * number reserved for it and the key it will sign with (its own Ed25519 key, numbered from the
 * account number, or the shared HMAC key that signed the request).
 */
export function accountRequestFields(
  request: TransactionRecord,
  mode: ProtocolMode,
  newAccount: bigint | undefined,
  numbering: AccountNumbering,
): RecordFields {
  const kind = operationOf(request.transactionType);
  assert(kind !== undefined, 'a request names its operation');
  const transactionType = exchangeTypes(kind === 'remittance' ? mode : 'update').accountRequest;
  if (kind !== 'account_issuing') return requestFields(request, transactionType);
  assert(newAccount !== undefined, 'an account opening has its number reserved');
  const selfSigned = request.signerKeyNumber === 0;
  const publicKeyHex = parseDetail(accountIssuingDetail, request.detail)?.publicKeyHex;
  const keyNumber = selfSigned
    ? numbering.accountKeyNumberBase + Number(newAccount)
    : request.signerKeyNumber;
  return {
    transactionType,
    destinationAccount: newAccount,
    ...(request.currencyType === undefined ? {} : { currencyType: request.currencyType }),
    detail: JSON.stringify({
      keyNumber,
      algorithm: selfSigned ? 'ed25519-public' : 'hmac-sha256',
      ...(publicKeyHex ? { publicKeyHex } : {}),
    }),
  };
}

/** What the driver reads before `refusalAtOpening` decides (the prefetch). */
export interface OpeningFacts {
  /** The number the next account opened would get. */
  readonly nextAccountNumber: bigint;
  /** The algorithm of the key that signed the request, when the deployment holds it. */
  readonly signerAlgorithm: string | undefined;
  /** Whether an account was opened with the request's (shared HMAC) key already. */
  readonly signerHoldsAnAccount: boolean;
}

/** The checks the transaction device makes alone, before anything is recorded (S101). */
export function refusalAtOpening(
  request: TransactionRecord,
  facts: OpeningFacts,
  numbering: AccountNumbering,
): Failure | undefined {
  switch (operationOf(request.transactionType)) {
    case 'remittance':
      return request.sourceAccount === request.destinationAccount
        ? fail('SameAccount', 'a remittance needs two different accounts')
        : undefined;
    case 'account_issuing':
      if (facts.nextAccountNumber > numbering.accountNumberMax)
        return fail(
          'InvalidInput',
          `the ledger holds its maximum of ${numbering.accountNumberMax} accounts`,
        );
      if (request.signerKeyNumber === 0) return undefined;
      if (facts.signerAlgorithm !== 'hmac-sha256')
        return fail(
          'WrongSigner',
          `key ${request.signerKeyNumber} is not a shared HMAC key of this deployment`,
        );
      return facts.signerHoldsAnAccount
        ? fail('WrongSigner', `key ${request.signerKeyNumber} already belongs to an account`)
        : undefined;
    default:
      return undefined;
  }
}

function kindOf(records: readonly TransactionRecord[]): OperationKind {
  const kind = operationOf(records[0]!.transactionType);
  assert(kind !== undefined, 'a request names its operation');
  return kind;
}

function newAccountOf(
  kind: OperationKind,
  records: readonly TransactionRecord[],
  outcome: string,
): bigint | undefined {
  if (kind !== 'account_issuing' || outcome !== outcomeOk) return undefined;
  const accountRequest = records.find((r) => stepOf(r.transactionType) === 2);
  return accountRequest?.destinationAccount;
}

/**
 * The request's accounts, amount and currency under the next step's type (and time). Built key by
 * key: V8 in Node.js 20 takes a slow path, about 1 us per key, for an object that opens with a
 * spread and adds keys after it (docs/performance.md).
 */
function requestFields(
  record: TransactionRecord,
  transactionType: TransactionType,
  dateTime?: bigint,
): RecordFields {
  const fields: { -readonly [K in keyof RecordFields]: RecordFields[K] } = { transactionType };
  if (record.sourceAccount !== undefined) fields.sourceAccount = record.sourceAccount;
  if (record.destinationAccount !== undefined)
    fields.destinationAccount = record.destinationAccount;
  if (record.amount !== undefined) fields.amount = record.amount;
  if (record.currencyType !== undefined) fields.currencyType = record.currencyType;
  if (dateTime !== undefined) fields.dateTime = dateTime;
  return fields;
}
