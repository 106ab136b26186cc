// A store damaged behind SQLite's back (issue 18: a failing disk, a bad write) is found when it
// opens, refused with StoreDamaged, and left exactly as it was (a rebuild may still need it); a
// sound store opens as before. The damage is written into the closed file, as a disk would.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { damageOf, isStoreDamage, StoreDamaged } from '../../src/store/damage.js';
import { openSqliteDatabase } from '../../src/store/sqlite.js';

/** A closed currency store with enough units to fill several pages; its file's path. */
function soundStore(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'triledger-damage-')), 'currency.sqlite');
  const db = openSqliteDatabase(path, 'currency');
  const insert = db.prepare(
    `INSERT INTO currency_units (currency_number, currency_type, value, owner_account, status,
     last_update, signer_key_number, signature) VALUES (?, 'JPY', 1, 1, 'active', 1, 3, ?)`,
  );
  db.transaction(() => {
    for (let n = 1; n <= 2_000; n++) insert.run(n, Buffer.alloc(32, n % 251));
  })();
  db.close();
  return path;
}

const digestOf = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Overwrite `length` bytes at the start of the table's root page with 0xff, as a bad write would. */
function damageRootPage(path: string, table: string): void {
  const db = openSqliteDatabase(path, 'currency');
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const root = Number(
    (
      db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as {
        rootpage: bigint;
      }
    ).rootpage,
  );
  db.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, (root - 1) * pageSize);
  closeSync(fd);
}

describe('a damaged SQLite store', () => {
  it('opens when sound', () => {
    const db = openSqliteDatabase(soundStore(), 'currency');
    expect(db.prepare('SELECT count(*) AS n FROM currency_units').get()).toEqual({ n: 2_000n });
    db.close();
  });

  it('a data page overwritten: refused with StoreDamaged, the file untouched', () => {
    const path = soundStore();
    damageRootPage(path, 'currency_units');
    const before = digestOf(path);
    expect(() => openSqliteDatabase(path, 'currency')).toThrow(StoreDamaged);
    expect(digestOf(path)).toBe(before);
  });

  it('an index page overwritten: refused with StoreDamaged', () => {
    const path = soundStore();
    damageRootPage(path, 'currency_units_to_pay');
    expect(() => openSqliteDatabase(path, 'currency')).toThrow(StoreDamaged);
  });

  it('a file replaced by zeros: refused with StoreDamaged, naming the file', () => {
    const path = soundStore();
    writeFileSync(path, Buffer.alloc(readFileSync(path).length));
    expect(() => openSqliteDatabase(path, 'currency')).toThrow(`${path} is damaged`);
  });

  it('a truncated file: refused with StoreDamaged', () => {
    const path = soundStore();
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2 / 4096) * 4096));
    expect(() => openSqliteDatabase(path, 'currency')).toThrow(StoreDamaged);
  });

  it('a WAL cut inside a frame: opens sound with every commit before the cut, none after', () => {
    // Commits left in the WAL (no checkpoint), as a process killed mid-run leaves them.
    const path = join(mkdtempSync(join(tmpdir(), 'triledger-damage-')), 'currency.sqlite');
    const db = openSqliteDatabase(path, 'currency');
    db.pragma('wal_autocheckpoint = 0');
    const insert = db.prepare(
      `INSERT INTO currency_units (currency_number, currency_type, value, owner_account, status,
       last_update, signer_key_number, signature) VALUES (?, 'JPY', 1, 1, 'active', 1, 3, x'00')`,
    );
    const walSizes: number[] = [];
    for (let n = 1; n <= 4; n++) {
      insert.run(n);
      walSizes.push(readFileSync(`${path}-wal`).length);
    }
    const copy = join(mkdtempSync(join(tmpdir(), 'triledger-damage-')), 'currency.sqlite');
    writeFileSync(copy, readFileSync(path));
    // The WAL as a crash during the fourth commit would leave it: its last frame torn.
    const wal = readFileSync(`${path}-wal`);
    writeFileSync(`${copy}-wal`, wal.subarray(0, walSizes[2]! + 100));
    db.close();
    const reopened = openSqliteDatabase(copy, 'currency');
    const units = reopened
      .prepare('SELECT currency_number FROM currency_units ORDER BY currency_number')
      .pluck()
      .all();
    reopened.close();
    expect(units).toEqual([1n, 2n, 3n]);
  });

  it.each([
    ['a table', 'DROP TABLE unit_plans', 'table unit_plans'],
    ['an index', 'DROP INDEX currency_units_to_pay', 'index currency_units_to_pay'],
  ])('%s dropped behind the device: refused with StoreDamaged, naming it', (_what, drop, named) => {
    const path = soundStore();
    const db = new Database(path);
    db.exec(drop);
    db.close();
    expect(() => openSqliteDatabase(path, 'currency')).toThrow(
      `${path} is damaged: missing from its schema: ${named}`,
    );
  });

  it('tells damage from an outage by the database error codes', () => {
    expect(isStoreDamage({ code: 'SQLITE_ERROR', message: 'no such table: accounts' })).toBe(true);
    expect(isStoreDamage({ code: 'SQLITE_ERROR', message: 'near "x": syntax error' })).toBe(false);
    expect(isStoreDamage({ code: '42P01' })).toBe(true);
    expect(isStoreDamage({ code: 'SQLITE_CORRUPT_INDEX' })).toBe(true);
    expect(isStoreDamage({ code: 'SQLITE_NOTADB' })).toBe(true);
    expect(isStoreDamage({ code: 'XX001' })).toBe(true);
    expect(isStoreDamage({ code: 'SQLITE_BUSY' })).toBe(false);
    expect(isStoreDamage({ code: 'ECONNREFUSED' })).toBe(false);
    expect(damageOf(['ok'])).toBeUndefined();
    expect(damageOf(['a', 'b', 'c', 'd', 'e', 'f', 'g'])).toBe('a; b; c; d; e; and 2 more');
  });
});
