// Damage written behind SQLite's back, as a failing disk or a bad write to an index page would
// leave a store: the structure of every page stays valid (the quick check at open passes it), but
// an index no longer matches its table, which only the full integrity check compares.
import Database from 'better-sqlite3';

/**
 * Units 1-10 of a currency store moved to another owner while the index by owner was hidden from
 * SQLite: the index still lists them under their old owners.
 */
export function leaveUnitIndexStale(path: string): void {
  const db = new Database(path);
  db.unsafeMode(true); // lets writable_schema edit the schema, as only a hand outside would
  const index = db
    .prepare("SELECT * FROM sqlite_master WHERE name = 'currency_units_to_pay'")
    .get() as { type: string; name: string; tbl_name: string; rootpage: number; sql: string };
  db.pragma('writable_schema = ON');
  db.prepare("DELETE FROM sqlite_master WHERE name = 'currency_units_to_pay'").run();
  db.close();
  const hidden = new Database(path);
  hidden.unsafeMode(true);
  hidden
    .prepare(
      'UPDATE currency_units SET owner_account = owner_account + 1000 WHERE currency_number <= 10',
    )
    .run();
  hidden.pragma('writable_schema = ON');
  hidden
    .prepare(
      'INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, ?, ?)',
    )
    .run(index.type, index.name, index.tbl_name, index.rootpage, index.sql);
  hidden.close();
}
