// Damage to a PostgreSQL store made on demand (issue 18): a page of a device's table, or of its
// index of operations, overwritten in the database's own files, as a failing disk would. The store is
// built in a scratch database and copied file by file (CREATE DATABASE ... STRATEGY FILE_COPY), so
// the copy's pages are in no buffer and the next read comes from the damaged file. What must hold:
// the integrity check (`triledger check-store`, the devices' schedule) names the damage, and a read
// that meets it is a storage fault (StoreDamaged), never an outage or a peer's absence.
// Needs a PostgreSQL on this machine whose data directory this process may write (root, as in CI);
// without it the tests skip with a visible notice, and in CI they must run.
import { accessSync, closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStoreDamage } from '../../src/store/damage.js';
import { openPostgresTransactionStore } from '../../src/store/postgres.js';
import { checkPostgresIntegrity } from '../../src/store/postgresIntegrity.js';
import { freshSchemaPrefix, postgresAvailable, postgresUrl } from '../helpers/postgres.js';
import { remittanceRequestAt } from '../helpers/records.js';

const schema = 'transaction_store';
const suffix = freshSchemaPrefix().slice(-10);
const source = `triledger_damage_source_${suffix}`;
const pageBytes = 8192;

const urlOf = (database: string) => {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

async function query<T extends pg.QueryResultRow>(sql: string, database?: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: database ? urlOf(database) : postgresUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The data directory, when PostgreSQL runs here and this process may write its files. */
async function writableDataDirectory(): Promise<string | undefined> {
  if (!(await postgresAvailable())) return undefined;
  const [row] = await query<{ data_directory: string }>('SHOW data_directory');
  try {
    accessSync(row!.data_directory, constants.W_OK);
    return row!.data_directory;
  } catch {
    if (process.env['CI'] === 'true')
      throw new Error(`CI needs write access to PostgreSQL's files (${row!.data_directory})`);
    process.stderr.write(
      `\nNOTICE: PostgreSQL's files (${row!.data_directory}) are not writable here: the PostgreSQL damage tests are skipped.\n\n`,
    );
    return undefined;
  }
}

const dataDirectory = await writableDataDirectory();
const copies: string[] = [];

/**
 * A copy of the source store whose pages no buffer holds, with page 1 overwritten of its table of
 * records or of the index operations are looked up by (remittance id).
 */
async function damagedCopy(relation: 'table' | 'index'): Promise<string> {
  const copy = `triledger_damage_${relation}_${suffix}`;
  copies.push(copy);
  await query(`CREATE DATABASE ${copy} TEMPLATE ${source} STRATEGY FILE_COPY`);
  const [row] = await query<{ path: string }>(
    relation === 'table'
      ? `SELECT pg_relation_filepath('${schema}.transactions') AS path`
      : `SELECT pg_relation_filepath('${schema}.transactions_by_remittance') AS path`,
    copy,
  );
  // Page 1's header overwritten: PostgreSQL refuses the page when it reads it ("invalid page").
  const file = openSync(join(dataDirectory!, row!.path), 'r+');
  try {
    writeSync(file, Buffer.alloc(24, 0xff), 0, 24, pageBytes);
  } finally {
    closeSync(file);
  }
  return copy;
}

/** What `work` throws on the device's store in `database` (undefined when nothing). */
async function errorOnStore(
  database: string,
  work: (store: Awaited<ReturnType<typeof openPostgresTransactionStore>>) => Promise<void>,
): Promise<unknown> {
  const store = await openPostgresTransactionStore({ url: urlOf(database), schema });
  try {
    await work(store);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  if (!dataDirectory) return;
  await query(`CREATE DATABASE ${source}`);
  const store = await openPostgresTransactionStore({ url: urlOf(source), schema });
  try {
    // Enough records for several pages of the table and of its primary key index.
    const records = Array.from({ length: 600 }, (_, k) => remittanceRequestAt(6n * BigInt(k + 1)));
    await store.transact(async (tx) => {
      expect(await tx.appendRecords(records)).toBe(true);
    });
  } finally {
    await store.close();
  }
}, 60_000);

afterAll(async () => {
  if (!dataDirectory) return;
  for (const database of [...copies, source])
    await query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

describe.skipIf(!dataDirectory)('a PostgreSQL store damaged in its files', () => {
  it('a table page: the integrity check names it, and a read that meets it is StoreDamaged', async () => {
    const copy = await damagedCopy('table');
    const result = await checkPostgresIntegrity({ url: urlOf(copy), schema });
    expect(result).toMatchObject({ kind: 'damaged' });
    expect(result.kind === 'damaged' && result.damage).toMatch(/invalid page in block 1/);

    const error = await errorOnStore(copy, async (store) => {
      for await (const _ of store.exportRecords());
    });
    expect(isStoreDamage(error)).toBe(true);
  });

  it('an index page: a lookup through it is StoreDamaged, and the check names it', async () => {
    const copy = await damagedCopy('index');
    await query('CREATE EXTENSION IF NOT EXISTS amcheck', copy);
    const result = await checkPostgresIntegrity({ url: urlOf(copy), schema });
    expect(result).toMatchObject({ kind: 'damaged' });
    // Every lookup of an operation goes through that index, page 1 among its pages.
    const error = await errorOnStore(copy, async (store) => {
      for (let k = 1; k <= 600; k++) await store.transact((tx) => tx.recordsOfOperation(`r-${k}`));
    });
    expect(isStoreDamage(error)).toBe(true);
  });
});

describe.skipIf(!dataDirectory)('a PostgreSQL store whose table was dropped behind it', () => {
  it('a statement that needs the table is StoreDamaged, never an outage', async () => {
    const copy = `triledger_damage_dropped_${suffix}`;
    copies.push(copy);
    await query(`CREATE DATABASE ${copy} TEMPLATE ${source} STRATEGY FILE_COPY`);
    await query(`DROP TABLE ${schema}.transactions`, copy);
    const error = await errorOnStore(copy, async (store) => {
      for await (const _ of store.exportRecords());
    });
    expect((error as { code?: string }).code).toBe('42P01');
    expect(isStoreDamage(error)).toBe(true);
  });
});
