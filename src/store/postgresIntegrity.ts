// The full integrity check of a device's PostgreSQL store (issue 18), the counterpart of SQLite's
// `integrity_check` (./integrity.ts): every row of every table of the device's schema is read in
// full (a sequential scan, each row turned to text, so that every heap page and every TOASTed
// value is touched: a damaged page answers data_corrupted), and where the database has the
// `amcheck` extension installed, every B-tree index is compared with its table
// (`bt_index_check(index, heapallindexed => true)`: an index entry missing or pointing nowhere
// answers index_corrupted). The check only reads; it never installs the extension, which is the
// database administrator's choice (`CREATE EXTENSION amcheck`).

import pg from 'pg';
import { isStoreDamage } from './damage.js';
import type { IntegrityResult } from './integrity.js';
import type { PostgresLocation } from './postgres.js';

/** How the indexes were checked: with amcheck, or not (the tables were read in full either way). */
export type PostgresIndexCheck = 'amcheck' | 'not checked: amcheck is not installed';

export async function checkPostgresIntegrity(
  location: PostgresLocation,
): Promise<IntegrityResult & { readonly indexes?: PostgresIndexCheck }> {
  const client = new pg.Client({ connectionString: location.url });
  try {
    await client.connect();
    const tables = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
      [location.schema],
    );
    if (tables.rowCount === 0)
      return { kind: 'not run', reason: `there is no store in schema ${location.schema}` };
    await readEveryRow(
      client,
      tables.rows.map((row) => row.name),
    );
    const amcheck = await client.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_extension e
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'`,
    );
    const amcheckSchema = amcheck.rows[0]?.schema;
    if (amcheckSchema === undefined)
      return { kind: 'sound', indexes: 'not checked: amcheck is not installed' };
    await client.query(
      `SELECT ${client.escapeIdentifier(amcheckSchema)}.bt_index_check(i.indexrelid, true)
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_am a ON a.oid = c.relam
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND a.amname = 'btree'`,
      [location.schema],
    );
    return { kind: 'sound', indexes: 'amcheck' };
  } catch (error) {
    const message = (error as Error).message;
    return isStoreDamage(error)
      ? { kind: 'damaged', damage: `schema ${location.schema} is damaged: ${message}` }
      : { kind: 'not run', reason: `PostgreSQL: ${message}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every row of each table, through its heap: the planner may use no index to answer. */
async function readEveryRow(client: pg.Client, tables: readonly string[]): Promise<void> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(
      'SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off',
    );
    for (const table of tables) await client.query(`SELECT count(t::text) FROM ${table} AS t`);
  } finally {
    await client.query('ROLLBACK');
  }
}
