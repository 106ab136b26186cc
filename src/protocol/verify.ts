// The check every reader of an operation makes: each device before it acts, the terminal on a
// reply, the audit on every stored copy.
//
// An operation's records verify when every signature and chain link from signature 0 holds and
// each record was signed by the party its step belongs to: the requester (the source account's key,
// an issuer key, or the new account's own key) for step 1, the transaction device for steps 2, 4
// and 6, the account device for step 3, the currency device for step 5.

import { type Failure, fail } from '../model/errors.js';
import type { ChainVerification } from '../signature/chain.js';
import type { SignatureDevice } from '../signature/device.js';
import {
  type SignedRecord,
  sameRecord,
  selfSignedVerifier,
  type TransactionRecord,
  verifyOperationChain,
} from './records.js';
import { stepOf, transactionTypes } from './transactionTypes.js';

export interface VerifyingKeys {
  /** Holds every key that may sign a record, with verify. */
  readonly signatures: SignatureDevice;
  readonly deviceKeys: {
    readonly transaction: number;
    readonly account: number;
    readonly currency: number;
  };
  readonly issuerKeyNumbers: readonly number[];
  readonly signatureZero: Buffer;
}

/**
 * `sourceAccountKeyNumber` is the key number of the request's source account, when it names one
 * (remittances, closings): who is allowed to sign for that account. `trustedCount`: how many of the
 * first records the caller verified before and holds byte for byte (verifyOperationChain); their
 * signers are still checked.
 */
export function checkOperation(
  keys: VerifyingKeys,
  records: readonly SignedRecord[],
  sourceAccountKeyNumber: number | undefined,
  trustedCount = 0,
): Failure | undefined {
  const first = records[0];
  if (!first || stepOf(first.record.transactionType) !== 1)
    return fail('InvalidInput', 'an operation starts with its request');
  const chain = verifyOperationLinks(keys, records, trustedCount);
  if (!chain.ok) return fail(chain.code, chain.message);
  for (const { record } of records) {
    const refused = checkSigner(keys, record, first.record, sourceAccountKeyNumber);
    if (refused) return refused;
  }
  return undefined;
}

/**
 * Every signature and chain link of one operation's records (which start with its request), from
 * signature 0, each with the key its record names; a new account's self-signed request with the
 * public key it carries. Who may sign each step is checkOperation's part.
 */
export function verifyOperationLinks(
  keys: Pick<VerifyingKeys, 'signatures' | 'signatureZero'>,
  records: readonly SignedRecord[],
  trustedCount = 0,
): ChainVerification | Failure {
  const first = records[0]!.record;
  const selfSigned =
    trustedCount === 0 &&
    first.transactionType === 'account_issuing_request' &&
    first.signerKeyNumber === 0;
  const applicantVerifier = selfSigned ? selfSignedVerifier(first) : undefined;
  if (selfSigned && !applicantVerifier)
    return fail('InvalidInput', 'the account issuing request carries no usable public key');
  return verifyOperationChain(
    keys.signatures,
    records,
    keys.signatureZero,
    (record) => (record === first && applicantVerifier ? applicantVerifier : keys.signatures),
    trustedCount,
  );
}

/**
 * How many of the first `records` equal, signature and every signed byte, a record in `held`: the
 * records a device stored (after verifying them) and now receives again.
 */
export function heldPrefixLength(
  records: readonly SignedRecord[],
  held: readonly SignedRecord[],
): number {
  let count = 0;
  while (count < records.length && held.some((h) => sameRecord(h, records[count]!))) count += 1;
  return count;
}

/**
 * A stored operation as the audits read it back: its records belong to one operation, each sits at
 * its step's number in the block that starts at `base`, and the operation verifies.
 */
export function checkStoredBlock(
  keys: VerifyingKeys,
  base: bigint,
  records: readonly SignedRecord[],
  sourceAccountKeyNumber: number | undefined,
  trustedCount = 0,
): Failure | undefined {
  const remittanceId = records[0]?.record.remittanceId;
  for (const { record } of records) {
    if (record.remittanceId !== remittanceId)
      return fail('RecordConflict', 'records of two operations share a block');
    if (record.transactionNumber !== base + BigInt(stepOf(record.transactionType) - 1))
      return fail(
        'RecordConflict',
        `record ${record.transactionNumber} is not at its step's number`,
      );
  }
  return checkOperation(keys, records, sourceAccountKeyNumber, trustedCount);
}

function checkSigner(
  keys: VerifyingKeys,
  record: TransactionRecord,
  request: TransactionRecord,
  sourceAccountKeyNumber: number | undefined,
): Failure | undefined {
  const signer = transactionTypes[record.transactionType].signer;
  if (signer !== 'requester') {
    return record.signerKeyNumber === keys.deviceKeys[signer]
      ? undefined
      : wrongSigner(record, `the ${signer} device`);
  }
  if (record !== request) return wrongSigner(record, 'the requester of the first record');
  switch (record.transactionType) {
    case 'account_issuing_request':
      // Self-signed (Ed25519, key 0) or a shared HMAC key the keystores hold and no account uses yet.
      return undefined;
    case 'issuance_request':
    case 'redemption_request':
      return keys.issuerKeyNumbers.includes(record.signerKeyNumber)
        ? undefined
        : wrongSigner(record, 'an issuer key');
    default:
      if (record.sourceAccount === undefined)
        return fail('InvalidInput', 'the request names no source account');
      if (sourceAccountKeyNumber === undefined)
        return fail('UnknownAccount', `account ${record.sourceAccount} does not exist`);
      return sourceAccountKeyNumber === record.signerKeyNumber
        ? undefined
        : wrongSigner(record, `the key of account ${record.sourceAccount}`);
  }
}

function wrongSigner(record: TransactionRecord, expected: string): Failure {
  return fail(
    'WrongSigner',
    `${record.transactionType} must be signed by ${expected}, not key ${record.signerKeyNumber}`,
  );
}
