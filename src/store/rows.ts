// Rows as the device stores hold them, converted to and from the objects device logic uses.
//
// Both backends (sqlite.ts, postgres.ts) name their columns alike and return integers as bigint
// and bytes as Buffer (SQLite its signatures as hex text: sqliteColumns.ts), so one set of
// conversions serves both. A NULL column is an absent field.

import { assert } from '../model/assert.js';
import type { SignedRecord, TransactionRecord } from '../protocol/records.js';
import type { TransactionType } from '../protocol/transactionTypes.js';
import type { AccountRow, CurrencyRow, OperationRow } from './types.js';

export type Row = Record<string, unknown>;

function bytesOf(value: unknown): Buffer {
  // SQLite selects signatures as hex text (sqliteColumns.ts); PostgreSQL and memory hold bytes.
  if (typeof value === 'string') {
    const decoded = Buffer.from(value, 'hex');
    assert(decoded.length * 2 === value.length, 'a signature read as text is whole hex');
    return decoded;
  }
  const bytes = value as Uint8Array;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

function optionalBigint(value: unknown): bigint | undefined {
  return value === null || value === undefined ? undefined : (value as bigint);
}

function optionalText(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : (value as string);
}

/** The columns of a stored record, in the order recordFromValues reads them. */
export const recordColumns = [
  'transaction_number',
  'remittance_id',
  'transaction_type',
  'source_account',
  'destination_account',
  'amount',
  'currency_type',
  'outcome',
  'detail',
  'date_time',
  'signer_key_number',
  'signature',
] as const;

/** A record's column values in recordColumns order, an absent field as NULL (what a store inserts). */
export function recordValues({ record: r, signature }: SignedRecord): unknown[] {
  return [
    r.transactionNumber,
    r.remittanceId,
    r.transactionType,
    r.sourceAccount ?? null,
    r.destinationAccount ?? null,
    r.amount ?? null,
    r.currencyType ?? null,
    r.outcome ?? null,
    r.detail ?? null,
    r.dateTime,
    r.signerKeyNumber,
    signature,
  ];
}

/** A stored row as a record; a NULL column is an absent field. */
export function recordFromRow(row: Row): SignedRecord {
  return recordFromValues(recordColumns.map((column) => row[column]));
}

/**
 * A stored row as a record, from its column values in recordColumns order: how an audit reads its
 * copy (SQLite's raw rows, without an object of column names per row, for every record checked).
 */
export function recordFromValues(values: readonly unknown[]): SignedRecord {
  const record: { -readonly [K in keyof TransactionRecord]: TransactionRecord[K] } = {
    transactionNumber: values[0] as bigint,
    remittanceId: values[1] as string,
    transactionType: values[2] as TransactionType,
    dateTime: values[9] as bigint,
    signerKeyNumber: Number(values[10]),
  };
  const sourceAccount = optionalBigint(values[3]);
  if (sourceAccount !== undefined) record.sourceAccount = sourceAccount;
  const destinationAccount = optionalBigint(values[4]);
  if (destinationAccount !== undefined) record.destinationAccount = destinationAccount;
  const amount = optionalBigint(values[5]);
  if (amount !== undefined) record.amount = amount;
  const currencyType = optionalText(values[6]);
  if (currencyType !== undefined) record.currencyType = currencyType;
  const outcome = optionalText(values[7]);
  if (outcome !== undefined) record.outcome = outcome;
  const detail = optionalText(values[8]);
  if (detail !== undefined) record.detail = detail;
  return { record, signature: bytesOf(values[11]) };
}

export function isFailure(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

/** The columns of a stored account (accountFromRow reads them by name). */
export const accountColumns = [
  'account_number',
  'currency_type',
  'balance',
  'held',
  'status',
  'last_update',
  'signer_key_number',
  'signature',
] as const;

export function accountFromRow(row: Row): AccountRow {
  return {
    accountNumber: row['account_number'] as bigint,
    currencyType: row['currency_type'] as string,
    balance: row['balance'] as bigint,
    held: row['held'] as bigint,
    status: row['status'] as AccountRow['status'],
    lastUpdate: row['last_update'] as bigint,
    signerKeyNumber: Number(row['signer_key_number']),
    signature: bytesOf(row['signature']),
  };
}

/** A stored operation (the transaction device's table of operations in flight and done). */
export function operationFromRow(row: Row): OperationRow {
  return {
    remittanceId: row['remittance_id'] as string,
    requestDigest: bytesOf(row['request_digest']),
    baseNumber: row['base_number'] as bigint,
    state: row['state'] as OperationRow['state'],
    settled: Number(row['settled'] ?? 0),
    ...(row['response_json'] === null ? {} : { responseJson: row['response_json'] as string }),
  };
}

/** The columns of a stored unit, in the order unitFromValues reads them. */
export const unitColumns = [
  'currency_number',
  'currency_type',
  'value',
  'owner_account',
  'status',
  'last_update',
  'signer_key_number',
  'signature',
] as const;

export function unitFromRow(row: Row): CurrencyRow {
  return unitFromValues(unitColumns.map((column) => row[column]));
}

/**
 * A stored unit from its column values in unitColumns order: how currency reads a payer's units on
 * every remittance (SQLite's raw rows, without an object of column names per row).
 */
export function unitFromValues(values: readonly unknown[]): CurrencyRow {
  return {
    currencyNumber: values[0] as bigint,
    currencyType: values[1] as string,
    value: values[2] as bigint,
    ownerAccount: values[3] as bigint,
    status: values[4] as CurrencyRow['status'],
    lastUpdate: values[5] as bigint,
    signerKeyNumber: Number(values[6]),
    signature: bytesOf(values[7]),
  };
}

/** A row as JSON for the quarantine table: integers as decimal strings, bytes as hex. */
export function quarantineJson(row: object): string {
  return JSON.stringify(row, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer')
      return Buffer.from((value as { data: number[] }).data).toString('hex');
    return value;
  });
}

/**
 * What a store that reads one key at a time (SQLite, memory) answers to a batch read: each key
 * read once, the found ones by key (`read` answers undefined for a key it does not hold).
 */
export function foundAmong<Key, Value>(
  keys: readonly Key[],
  read: (key: Key) => Value | undefined,
): Map<Key, Value> {
  const found = new Map<Key, Value>();
  for (const key of keys) {
    if (found.has(key)) continue;
    const value = read(key);
    if (value !== undefined) found.set(key, value);
  }
  return found;
}
