// The full integrity check (store/integrity.ts), in its worker thread: it finds what the quick
// check at open does not, an index that no longer matches its table (rows changed while the index
// was hidden from SQLite, as a bad write to an index page would leave them).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSqliteIntegrity } from '../../src/store/integrity.js';
import { openSqliteDatabase } from '../../src/store/sqlite.js';
import { leaveUnitIndexStale } from '../helpers/sqliteDamage.js';

function storeWithUnits(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'triledger-integrity-')), 'currency.sqlite');
  const db = openSqliteDatabase(path, 'currency');
  const insert = db.prepare(
    `INSERT INTO currency_units (currency_number, currency_type, value, owner_account, status,
     last_update, signer_key_number, signature) VALUES (?, 'JPY', 1, 1, 'active', 1, 3, x'00')`,
  );
  for (let n = 1; n <= 50; n++) insert.run(n);
  db.close();
  return path;
}

describe('the full integrity check', () => {
  it('finds a sound store sound', async () => {
    expect(await checkSqliteIntegrity(storeWithUnits())).toEqual({ kind: 'sound' });
  });

  it('finds an index that no longer matches its table, which the quick check at open passes', async () => {
    const path = storeWithUnits();
    leaveUnitIndexStale(path);
    openSqliteDatabase(path, 'currency').close(); // the quick check does not compare indexes
    const result = await checkSqliteIntegrity(path);
    expect(result).toMatchObject({ kind: 'damaged' });
    expect(result.kind === 'damaged' && result.damage).toMatch(/currency_units_to_pay/);
  });

  it('says so when it cannot run', async () => {
    const result = await checkSqliteIntegrity(join(tmpdir(), 'no-such-store.sqlite'));
    expect(result).toMatchObject({ kind: 'not run' });
  });
});
