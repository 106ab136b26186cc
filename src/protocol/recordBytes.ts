// A transaction record's shape and the bytes its signature covers, with nothing else: no keys, no
// crypto, so that the browser wallet (src/console) encodes requests and checks receipts with the
// very code the devices use. protocol/records.ts adds signing and verification.

import { assert } from '../model/assert.js';
import { decodeRecord, encodeRecord, encodingHeaderBytes } from '../model/encoding.js';
import { transactionRecordType } from '../model/records.js';
import { isTransactionType, stepOf, type TransactionType } from './transactionTypes.js';

// A type, not an interface: its fields are the encoder's values as they are, without a copy.
export type TransactionRecord = {
  readonly transactionNumber: bigint;
  readonly remittanceId: string;
  readonly transactionType: TransactionType;
  readonly sourceAccount?: bigint;
  readonly destinationAccount?: bigint;
  readonly amount?: bigint;
  readonly currencyType?: string;
  readonly outcome?: string;
  readonly detail?: string;
  /** Milliseconds since the Unix epoch, UTC. */
  readonly dateTime: bigint;
  readonly signerKeyNumber: number;
};

export interface SignedRecord {
  readonly record: TransactionRecord;
  readonly signature: Buffer;
}

/** The bytes a record's signature covers (before chaining). */
// Records are immutable, and a device or an audit encodes each one several times (its identity,
// its block digest, its signature check, a message to a peer): the bytes are computed once per
// record object and kept on it, under a symbol, as a property neither enumerable (a spread or
// `Object.assign` of a record never copies it onto a record with other fields, and an equality of
// records never sees it) nor writable. A WeakMap from record to bytes did the same for about 1 us
// more per record (an encoding, a few reads and the signing bytes: 4.5-5.5 us against 3.3-4.2 in a
// throwaway loop of 400,000 records, the collector's work on the map's entries included). Callers
// never change the returned bytes.
const storedBytesKey = Symbol('triledger.storedBytes');
const requestSigningBytesKey = Symbol('triledger.requestSigningBytes');
type KeptBytes = {
  readonly [storedBytesKey]?: Buffer;
  readonly [requestSigningBytesKey]?: Buffer;
};

function keepBytes(record: TransactionRecord, key: keyof KeptBytes, bytes: Buffer): Buffer {
  Object.defineProperty(record, key, { value: bytes });
  return bytes;
}

/** A record's encoding as stored: every field, its transaction number included. */
export function recordBytes(record: TransactionRecord): Buffer {
  return (
    (record as KeptBytes)[storedBytesKey] ??
    keepBytes(record, storedBytesKey, storedEncoding(record))
  );
}

/** The same bytes, not kept: for a record read to be encoded once (a device hashing its copy). */
export function storedEncoding(record: TransactionRecord): Buffer {
  return encodeRecord(transactionRecordType, record);
}

/**
 * A record decoded from its stored encoding, which it keeps as its encoding (the decoder accepts one
 * encoding per record, so encoding it again would give the same bytes); undefined when the bytes
 * are not a record of a known transaction type. Its fields are not checked further.
 */
export function decodedRecord(bytes: Uint8Array): TransactionRecord | undefined {
  const values = decodeRecord(transactionRecordType, bytes);
  if (values === undefined || !isTransactionType(values['transactionType'] as string))
    return undefined;
  // The decoder leaves absent fields out: its values are the record's fields as they are.
  const decoded = values as unknown as TransactionRecord;
  keepBytes(decoded, storedBytesKey, Buffer.from(bytes));
  return decoded;
}

/**
 * What a record's signature covers: its encoding, with transaction number 0 for a request (step 1),
 * which its requester signs before the number is given.
 */
export function signingBytes(record: TransactionRecord): Buffer {
  if (stepOf(record.transactionType) !== 1 || record.transactionNumber === 0n)
    return recordBytes(record);
  return (
    (record as KeptBytes)[requestSigningBytesKey] ??
    keepBytes(record, requestSigningBytesKey, withTransactionNumberZero(recordBytes(record)))
  );
}

// The transaction number is a record's first field, a u64 right after the header
// (docs/encoding.md): a request's signing bytes are its stored encoding with those eight bytes
// zeroed, the very bytes encoding it with number 0 gives (test/protocol/recordBytes.test.ts),
// without a second encoding (1.1 us against 0.12, a throwaway loop): a request read from a peer
// keeps its stored encoding (decodedRecord), and the audit encodes one read from its store anyway.
const [firstField] = transactionRecordType.fields;
assert(
  firstField?.name === 'transactionNumber' && firstField.type === 'u64' && !firstField.optional,
  'a record opens with its transaction number, always present, eight bytes',
);
const transactionNumberEnd = encodingHeaderBytes + 8;

function withTransactionNumberZero(stored: Buffer): Buffer {
  const bytes = Buffer.from(stored);
  bytes.fill(0, encodingHeaderBytes, transactionNumberEnd);
  return bytes;
}

/** The fields sameFieldsBesideNumber compares: every field the encoding covers but the first. */
const fieldsBesideNumber = [
  'remittanceId',
  'transactionType',
  'sourceAccount',
  'destinationAccount',
  'amount',
  'currencyType',
  'outcome',
  'detail',
  'dateTime',
  'signerKeyNumber',
] as const satisfies readonly (keyof TransactionRecord)[];
assert(
  transactionRecordType.fields.map((field) => field.name).join() ===
    ['transactionNumber', ...fieldsBesideNumber].join(),
  "a record's fields are compared one by one as its encoding lists them",
);

/**
 * Same content, compared as canonical bytes (every field, in one order) and signature. Records
 * whose encoded fields are equal one by one have equal bytes: they are not encoded to say so. A
 * device compares each record it receives again with its stored copy, read from the store as a new
 * object (heldPrefixLength), and encoding that copy took about 5.5 us a record, comparing the fields
 * 0.15 (a throwaway loop); records whose fields differ are compared by their bytes, as before.
 */
export function sameRecord(a: SignedRecord, b: SignedRecord): boolean {
  if (!a.signature.equals(b.signature)) return false;
  return (
    sameEncodedFields(a.record, b.record) || recordBytes(a.record).equals(recordBytes(b.record))
  );
}

function sameEncodedFields(a: TransactionRecord, b: TransactionRecord): boolean {
  return a.transactionNumber === b.transactionNumber && sameFieldsBesideNumber(a, b);
}

/** Field by field, written out: a loop over their names took 1.2 us a record under load. */
function sameFieldsBesideNumber(a: TransactionRecord, b: TransactionRecord): boolean {
  return (
    a.remittanceId === b.remittanceId &&
    a.transactionType === b.transactionType &&
    a.sourceAccount === b.sourceAccount &&
    a.destinationAccount === b.destinationAccount &&
    a.amount === b.amount &&
    a.currencyType === b.currencyType &&
    a.outcome === b.outcome &&
    a.detail === b.detail &&
    a.dateTime === b.dateTime &&
    a.signerKeyNumber === b.signerKeyNumber
  );
}

/**
 * Whether two records' fields that their signatures cover are equal one by one: every field, but a
 * request's transaction number (signingBytes). Equal, their signing bytes are equal; records whose
 * fields differ are reported different without being encoded, so a record that has no encoding (a
 * row changed in a store) is compared without failing: no two records with valid fields that differ
 * encode alike (a text field must be well-formed, each number has one encoding).
 */
export function sameSignedFields(a: TransactionRecord, b: TransactionRecord): boolean {
  if (!sameFieldsBesideNumber(a, b)) return false;
  if (a.transactionNumber === b.transactionNumber) return true;
  return isTransactionType(a.transactionType) && stepOf(a.transactionType) === 1;
}
