// Streaming exports of a device's own SQLite store, for the audit.
//
// Each export opens its own read-only connection (WAL lets it read a consistent snapshot while the
// device keeps writing through its main connection) and yields rows one at a time in key order,
// so an export of any size runs in constant memory.

import Database from 'better-sqlite3';
import type { SignedRecord } from '../protocol/records.js';
import { type DumpRow, type DumpValue, dumpTables, dumpValue } from './dump.js';
import {
  accountColumns,
  accountFromRow,
  type Row,
  recordColumns,
  recordFromValues,
  unitColumns,
  unitFromRow,
} from './rows.js';
import { selectedColumns } from './sqliteColumns.js';
import type { AccountRow, CurrencyRow, DeviceKind } from './types.js';

/**
 * The page cache of an export's connection, KiB. An export reads each page once, in key order, so
 * the cache only needs the B-tree's upper pages; with the build's default (16 MiB, like the device's
 * own connection) every export of an audit filled it with pages read once (the audit benchmark's
 * transaction device peaked 27 MiB higher, docs/performance.md).
 */
export const exportCacheKiB = 2048;

/** Rows read by `read` from one read-only snapshot of the store, yielded one at a time. */
async function* inSnapshot<T>(
  path: string,
  read: (db: Database.Database) => Iterable<T>,
): AsyncGenerator<T> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  db.pragma(`cache_size = ${-exportCacheKiB}`);
  try {
    db.exec('BEGIN');
    yield* read(db);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

function* converted<T>(rows: Iterable<unknown>, convert: (row: Row) => T): Generator<T> {
  for (const row of rows as Iterable<Row>) yield convert(row);
}

/** Transaction numbers fit in a signed 64-bit integer: the default upper bound of an export. */
export const transactionNumberMax = 2n ** 63n - 1n;

/** Records per page of an export of A. */
export const exportPageRecordsMax = 256;

/**
 * A in ascending transaction number, after `afterNumber` and up to `upToNumber` (inclusive), in
 * pages. Read as raw rows (arrays of column values), the cheapest form better-sqlite3 gives: an
 * audit reads every record of every copy.
 */
export function exportRecordPages(
  path: string,
  afterNumber = 0n,
  upToNumber = transactionNumberMax,
): AsyncGenerator<SignedRecord[]> {
  return inSnapshot(path, function* (db) {
    const select = db
      .prepare(
        `SELECT ${selectedColumns(recordColumns)} FROM transactions
         WHERE transaction_number > ? AND transaction_number <= ? ORDER BY transaction_number`,
      )
      .raw(true);
    let page: SignedRecord[] = [];
    for (const values of select.iterate(afterNumber, upToNumber) as Iterable<unknown[]>) {
      page.push(recordFromValues(values));
      if (page.length === exportPageRecordsMax) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  });
}

export function exportAccounts(path: string, afterAccount = 0n): AsyncGenerator<AccountRow> {
  return inSnapshot(path, (db) =>
    converted(
      db
        .prepare(
          `SELECT ${selectedColumns(accountColumns)} FROM accounts WHERE account_number > ?
           ORDER BY account_number`,
        )
        .iterate(afterAccount),
      accountFromRow,
    ),
  );
}

export function exportUnits(path: string, afterUnit = 0n): AsyncGenerator<CurrencyRow> {
  return inSnapshot(path, (db) =>
    converted(
      db
        .prepare(
          `SELECT ${selectedColumns(unitColumns)} FROM currency_units WHERE currency_number > ?
           ORDER BY currency_number`,
        )
        .iterate(afterUnit),
      unitFromRow,
    ),
  );
}

/** Every table of the store in one snapshot (store/dump.ts); arrival order is SQLite's rowid. */
export function dumpRows(path: string, kind: DeviceKind): AsyncGenerator<DumpRow> {
  return inSnapshot(path, function* (db) {
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
  });
}
