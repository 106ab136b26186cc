// A store made before account keys were read from A (schema versions up to 4 at transaction, 3 at
// account and currency) is brought forward when it opens: its account_keys table is dropped and
// the openings are indexed; a new store ends the same way.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../src/store/sqlite.js';

const objects = (db: Database.Database) =>
  (
    db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')").all() as {
      name: string;
    }[]
  ).map((row) => row.name);

describe('the SQLite migration to account openings', () => {
  it.each([
    ['transaction', 5n],
    ['account', 4n],
    ['currency', 4n],
  ] as const)('%s: an older store loses account_keys and gains the index', (kind, version) => {
    const path = join(mkdtempSync(join(tmpdir(), 'triledger-migration-')), `${kind}.sqlite`);
    const fresh = openSqliteDatabase(path, kind);
    expect(objects(fresh)).not.toContain('account_keys');
    expect(objects(fresh)).toContain('transactions_opening_account');
    // Made as an older version left it: the table there, the index not, the version not applied.
    fresh.exec(`DROP INDEX transactions_opening_account;
      CREATE TABLE account_keys (account_number INTEGER PRIMARY KEY, key_number INTEGER NOT NULL,
        algorithm TEXT NOT NULL, public_key BLOB)`);
    fresh.prepare('DELETE FROM schema_migrations WHERE version = ?').run(version);
    fresh.close();
    const upgraded = openSqliteDatabase(path, kind);
    expect(objects(upgraded)).not.toContain('account_keys');
    expect(objects(upgraded)).toContain('transactions_opening_account');
    upgraded.close();
  });
});

describe('the SQLite migration to planning payments by index', () => {
  it('an older currency store gains the index of units in payment order and loses the older one', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'triledger-migration-')), 'currency.sqlite');
    const fresh = openSqliteDatabase(path, 'currency');
    expect(objects(fresh)).toContain('currency_units_to_pay');
    expect(objects(fresh)).not.toContain('currency_units_by_owner');
    fresh.exec(`DROP INDEX currency_units_to_pay;
      CREATE INDEX currency_units_by_owner ON currency_units (owner_account, currency_type, status)`);
    fresh.prepare('DELETE FROM schema_migrations WHERE version = 5').run();
    fresh.close();
    const upgraded = openSqliteDatabase(path, 'currency');
    expect(objects(upgraded)).toContain('currency_units_to_pay');
    expect(objects(upgraded)).not.toContain('currency_units_by_owner');
    upgraded.close();
  });
});
