// The line format of the streaming exports the audit reads (one JSON object per line, NDJSON).
//
// A device writes each stored row as it is, through the wire shapes of protocol/wire.ts and
// protocol/rowWire.ts. What an attacker wrote may fit no shape at all (text in a number column, a
// time out of range): such a row becomes an `unreadable` line with its key, and reads back as a
// placeholder whose signature can never verify, so the audit reports it like any other changed row
// and recovery replaces it. A line is never dropped and never stops the export.

import { Compile } from 'typebox/compile';
import { isWellFormed } from '../model/encoding.js';
import { type Failure, fail } from '../model/errors.js';
import { recordBytes, type SignedRecord } from '../protocol/records.js';
import {
  accountRowFromWire,
  accountRowToWire,
  currencyRowFromWire,
  currencyRowToWire,
  WireAccountRow,
  WireCurrencyRow,
} from '../protocol/rowWire.js';
import { isTransactionType } from '../protocol/transactionTypes.js';
import { recordFromWire, recordToWire, signatureBytesMax, WireRecord } from '../protocol/wire.js';
import type { AccountRow, CurrencyRow } from '../store/types.js';

export const exportLineBytesMax = 64 * 1024;
export const exportContentType = 'application/x-ndjson';

const unreadableMark = Buffer.from('unreadable');
// Compiled once: an export is checked line by line, millions of lines in an audit.
const recordShape = Compile(WireRecord);
const accountShape = Compile(WireAccountRow);
const unitShape = Compile(WireCurrencyRow);

/** The wire shape of a stored row, or the `unreadable` mark when it has none. */
function wireOf(convert: () => unknown, keyName: string, key: unknown): unknown {
  try {
    return convert();
  } catch {
    return { [keyName]: String(key), unreadable: true };
  }
}

function line(wire: unknown, keyName: string, key: unknown): string {
  const text = JSON.stringify(wire);
  return text.length <= exportLineBytesMax
    ? text
    : JSON.stringify({ [keyName]: String(key), unreadable: true });
}

const recordWire = (signed: SignedRecord) =>
  wireOf(() => recordToWire(signed), 'transactionNumber', signed.record.transactionNumber);

export const recordLine = (signed: SignedRecord): string =>
  line(recordWire(signed), 'transactionNumber', signed.record.transactionNumber);

export const accountLine = (row: AccountRow): string =>
  line(
    wireOf(() => accountRowToWire(row), 'accountNumber', row.accountNumber),
    'accountNumber',
    row.accountNumber,
  );

export const unitLine = (row: CurrencyRow): string =>
  line(
    wireOf(() => currencyRowToWire(row), 'currencyNumber', row.currencyNumber),
    'currencyNumber',
    row.currencyNumber,
  );

/**
 * A device's own copy, straight from its store, a page at a time: a stored row that does not fit a
 * record (a field that cannot be encoded, an unknown transaction type, a signature longer than any
 * key makes) becomes the same `unreadable` placeholder a peer's export line would.
 */
export async function* ownRecordPages(
  pages: AsyncIterable<readonly SignedRecord[]>,
): AsyncGenerator<SignedRecord[]> {
  for await (const page of pages) yield page.map(readableRecord);
}

/**
 * A device's own copy as its continuous audit reads it (./continuous.ts): a stored row of no known
 * transaction type becomes the `unreadable` placeholder here, as in ownRecordPages; the rest of the
 * fit, which encodes the record, is asked (`readableRecord`) only of a record that differs from the
 * device's copy of what it verified: one equal to it fits.
 */
export async function* typedRecordPages(
  pages: AsyncIterable<readonly SignedRecord[]>,
): AsyncGenerator<SignedRecord[]> {
  for await (const page of pages)
    yield page.map((signed) =>
      isTransactionType(signed.record.transactionType)
        ? signed
        : unreadableRecord(signed.record.transactionNumber),
    );
}

/** A stored record as it is when it fits a record, else the `unreadable` placeholder. */
export function readableRecord(signed: SignedRecord): SignedRecord {
  return fitsRecord(signed) ? signed : unreadableRecord(signed.record.transactionNumber);
}

function fitsRecord({ record, signature }: SignedRecord): boolean {
  if (!isTransactionType(record.transactionType) || signature.length > signatureBytesMax)
    return false;
  if (!isWellFormed(record.detail ?? '')) return false;
  try {
    recordBytes(record);
    return true;
  } catch {
    return false;
  }
}

/** A peer's records of A, line by line; a line without even a transaction number ends the stream. */
export function peerRecords(
  lines: AsyncIterable<string>,
  source: string,
): AsyncGenerator<SignedRecord> {
  return readLines(lines, recordOfLine, source);
}

function parseLine(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StreamFailure(fail('PeerUnavailable', `${source}: a line is not JSON`));
  }
}

/** Export lines to typed rows; a line without even a key ends the stream. */
export async function* readLines<T extends object>(
  lines: AsyncIterable<string>,
  read: (value: unknown) => LineResult<T>,
  source: string,
): AsyncGenerator<T> {
  for await (const text of lines) {
    const row = read(parseLine(text, source));
    if ('broken' in row)
      throw new StreamFailure(fail('PeerUnavailable', `${source}: ${row.broken}`));
    yield row;
  }
}

/** Ends a stream that cannot go on; carries the failure to report. */
export class StreamFailure extends Error {
  override readonly name = 'StreamFailure';
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/** The key of a line, or undefined when even that is unusable (then the export itself is broken). */
function keyOf(value: unknown, keyName: string): bigint | undefined {
  const text = (value as Record<string, unknown> | null)?.[keyName];
  return typeof text === 'string' && /^[0-9]{1,20}$/.test(text) ? BigInt(text) : undefined;
}

export type LineResult<T> = T | { readonly broken: string };

export function recordOfLine(value: unknown): LineResult<SignedRecord> {
  if (recordShape.Check(value)) {
    const parsed = recordFromWire(value);
    // A detail with a lone surrogate has no encoding: unreadable like any other malformed field.
    if (parsed.ok && isWellFormed(parsed.value.record.detail ?? '')) return parsed.value;
  }
  const transactionNumber = keyOf(value, 'transactionNumber');
  if (transactionNumber === undefined) return { broken: 'a line without a transaction number' };
  return unreadableRecord(transactionNumber);
}

/** What a row that fits no shape reads as: its number, and a signature that can never verify. */
function unreadableRecord(transactionNumber: bigint): SignedRecord {
  return {
    record: {
      transactionNumber,
      remittanceId: 'unreadable',
      transactionType: 'remittance_request',
      dateTime: 0n,
      signerKeyNumber: 0,
    },
    signature: unreadableMark,
  };
}

export function accountOfLine(value: unknown): LineResult<AccountRow> {
  if (accountShape.Check(value)) {
    const parsed = accountRowFromWire(value);
    if (parsed.ok) return parsed.value;
  }
  const accountNumber = keyOf(value, 'accountNumber');
  if (accountNumber === undefined) return { broken: 'a line without an account number' };
  return {
    accountNumber,
    currencyType: 'unreadable',
    balance: 0n,
    held: 0n,
    status: 'closed',
    lastUpdate: 0n,
    signerKeyNumber: 0,
    signature: unreadableMark,
  };
}

export function unitOfLine(value: unknown): LineResult<CurrencyRow> {
  if (unitShape.Check(value)) {
    const parsed = currencyRowFromWire(value);
    if (parsed.ok) return parsed.value;
  }
  const currencyNumber = keyOf(value, 'currencyNumber');
  if (currencyNumber === undefined) return { broken: 'a line without a currency number' };
  return {
    currencyNumber,
    currencyType: 'unreadable',
    value: 1n,
    ownerAccount: 0n,
    status: 'retired',
    lastUpdate: 0n,
    signerKeyNumber: 0,
    signature: unreadableMark,
  };
}
