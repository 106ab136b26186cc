// Streaming exports of a device's own SQLite store, for the audit.
//
// Each export opens its own read-only connection (WAL lets it read a consistent snapshot while the
// device keeps writing through its main connection) and yields rows one at a time in key order,
// so an export of any size runs in constant memory.

import Database from 'better-sqlite3';
import type { SignedRecord } from '../protocol/records.js';
import { type DumpRow, type DumpValue, dumpTables, dumpValue } from './dump.js';
import { accountFromRow, type Row, recordFromRow, unitFromRow } from './rows.js';
import type { AccountRow, CurrencyRow, DeviceKind } from './types.js';

async function* rowsOf<T>(
  path: string,
  sql: string,
  convert: (row: Row) => T,
  ...parameters: unknown[]
): AsyncGenerator<T> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    db.exec('BEGIN');
    for (const row of db.prepare(sql).iterate(...parameters) as IterableIterator<Row>)
      yield convert(row);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

/** Transaction numbers fit in a signed 64-bit integer: the default upper bound of an export. */
export const transactionNumberMax = 2n ** 63n - 1n;

/** A in ascending transaction number, after `afterNumber` and up to `upToNumber` (inclusive). */
export function exportRecords(
  path: string,
  afterNumber = 0n,
  upToNumber = transactionNumberMax,
): AsyncGenerator<SignedRecord> {
  return rowsOf(
    path,
    `SELECT * FROM transactions WHERE transaction_number > ? AND transaction_number <= ?
     ORDER BY transaction_number`,
    recordFromRow,
    afterNumber,
    upToNumber,
  );
}

export function exportAccounts(path: string): AsyncGenerator<AccountRow> {
  return rowsOf(path, 'SELECT * FROM accounts ORDER BY account_number', accountFromRow);
}

export function exportUnits(path: string): AsyncGenerator<CurrencyRow> {
  return rowsOf(path, 'SELECT * FROM currency_units ORDER BY currency_number', unitFromRow);
}

/** Every table of the store in one snapshot (store/dump.ts); arrival order is SQLite's rowid. */
export async function* dumpRows(path: string, kind: DeviceKind): AsyncGenerator<DumpRow> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    db.exec('BEGIN');
    for (const table of dumpTables[kind]) {
      const order = table.orderBy === 'arrival' ? 'rowid' : table.orderBy;
      const select = db.prepare(
        `SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${order}`,
      );
      for (const stored of select.iterate() as IterableIterator<Row>) {
        const row: Record<string, DumpValue> = {};
        for (const column of table.columns) row[column] = dumpValue(stored[column]);
        yield { table: table.name, row };
      }
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}
