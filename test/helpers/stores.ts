// A deployment's stores as an attacker or an auditor with database access sees them: SQLite files
// or PostgreSQL schemas, whichever each device's configuration names, read and edited directly,
// never through the devices. Statements use `?` placeholders on both backends.
import {
  closeSync,
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CopyName } from '../../src/audit/audit.js';
import {
  type DeploymentStores,
  storeLocationsOf,
  withDeploymentStores,
} from '../../src/audit/offline.js';
import {
  openAccountStoreAt,
  openCurrencyStoreAt,
  openTransactionStoreAt,
  parseStoreLocation,
  type StoreLocation,
} from '../../src/store/open.js';
import type { DeviceKind } from '../../src/store/types.js';
import { cloneSchema, freshSchemaPrefix, onPostgres, postgresStoreSpec } from './postgres.js';

export type Statement = [string, ...unknown[]];
type Row = Record<string, unknown>;

const deviceKinds: readonly DeviceKind[] = ['transaction', 'account', 'currency'];

/** Where a device of the deployment in `dir` keeps its store (its configuration says). */
export function storeLocationOf(dir: string, device: DeviceKind): StoreLocation {
  const locations = storeLocationsOf(dir);
  if (!locations.ok) throw new Error(locations.message);
  return locations.value[device];
}

/** Run statements on one device's store, each committed on its own, as a database tool would. */
export async function tamper(dir: string, device: CopyName, ...statements: Statement[]) {
  await onStore(dir, device, async (run) => {
    for (const [sql, ...parameters] of statements) await run(sql, parameters);
  });
}

export async function readRows<T>(
  dir: string,
  device: CopyName,
  sql: string,
  ...parameters: unknown[]
): Promise<T[]> {
  return (await onStore(dir, device, (run) => run(sql, parameters))) as T[];
}

export async function readRow<T>(
  dir: string,
  device: CopyName,
  sql: string,
  ...parameters: unknown[]
): Promise<T> {
  const [row] = await readRows<T>(dir, device, sql, ...parameters);
  if (row === undefined) throw new Error(`no row: ${sql}`);
  return row;
}

export async function signatureOf(
  dir: string,
  device: CopyName,
  transactionNumber: number,
): Promise<Buffer> {
  const row = await readRow<{ signature: Buffer }>(
    dir,
    device,
    'SELECT signature FROM transactions WHERE transaction_number = ?',
    transactionNumber,
  );
  return Buffer.from(row.signature);
}

async function onStore<T>(
  dir: string,
  device: DeviceKind,
  work: (run: (sql: string, parameters: unknown[]) => Promise<Row[]>) => Promise<T>,
): Promise<T> {
  const location = storeLocationOf(dir, device);
  if (location.backend === 'postgres') {
    return onPostgres(location.schema, (query) =>
      work((sql, parameters) => {
        let index = 0;
        return query(
          sql.replace(/\?/g, () => `$${++index}`),
          parameters,
        );
      }),
    );
  }
  const db = new Database(location.path);
  db.defaultSafeIntegers(true);
  try {
    return await work(async (sql, parameters) => {
      const statement = db.prepare(sql);
      if (statement.reader) return statement.all(...parameters) as Row[];
      statement.run(...parameters);
      return [];
    });
  } finally {
    db.close();
  }
}

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const row of rows) all.push(row);
  return all;
}

/** The three stores of a stopped deployment, opened through the store interface for `work`. */
export async function withStores<T>(
  dir: string,
  work: (stores: DeploymentStores) => Promise<T>,
): Promise<T> {
  const locations = storeLocationsOf(dir);
  if (!locations.ok) throw new Error(locations.message);
  const done = await withDeploymentStores(locations.value, work);
  if (!done.ok) throw new Error(done.message);
  return done.value;
}

/** The five stores of a stopped deployment, as comparable values. */
export function storeContents(dir: string) {
  return withStores(dir, async ({ transaction, account, currency }) => ({
    transaction: await collect(transaction.exportRecords()),
    account: await collect(account.exportRecords()),
    currency: await collect(currency.exportRecords()),
    accounts: await collect(account.exportAccounts()),
    units: await collect(currency.exportUnits()),
  }));
}

/**
 * A copy of a stopped deployment in a new folder: its files, and on PostgreSQL its schemas under
 * new names (the copied configurations point at them).
 */
export async function copyDeployment(from: string, prefix = 'triledger-copy-'): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), prefix)), 'data');
  cpSync(from, dir, { recursive: true });
  const schemaPrefix = freshSchemaPrefix();
  for (const device of deviceKinds) {
    const location = storeLocationOf(from, device);
    if (location.backend !== 'postgres') continue;
    const schema = `${schemaPrefix}_${device}`;
    await cloneSchema(location.schema, schema, (url) => openStoreForClone(device, url));
    const path = join(dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...config, store: postgresStoreSpec(schema) }, null, 2));
  }
  return dir;
}

/**
 * A copy of one device's store as it is now (its devices stopped), and how to put it back later
 * over what the store holds then, as restoring an older backup would: a SQLite file (its -wal and
 * -shm gone with it), or a PostgreSQL schema dropped and the copy renamed into its place.
 */
export async function keepOlderCopy(dir: string, device: DeviceKind): Promise<() => Promise<void>> {
  const location = storeLocationOf(dir, device);
  if (location.backend === 'sqlite') {
    const older = `${location.path}.older`;
    cpSync(location.path, older);
    return async () => {
      for (const suffix of ['-wal', '-shm'])
        if (existsSync(location.path + suffix)) rmSync(location.path + suffix);
      cpSync(older, location.path);
    };
  }
  const older = `${location.schema}_older`;
  await cloneSchema(location.schema, older, (url) => openStoreForClone(device, url));
  return () =>
    onPostgres('public', async (query) => {
      await query(`DROP SCHEMA ${location.schema} CASCADE`);
      await query(`ALTER SCHEMA ${older} RENAME TO ${location.schema}`);
    });
}

/** Create and migrate an empty store (tables, triggers) for a clone to be filled. */
async function openStoreForClone(device: DeviceKind, spec: string): Promise<void> {
  const location = parseStoreLocation(spec, device);
  if (!location.ok) throw new Error(location.message);
  const open = {
    transaction: openTransactionStoreAt,
    account: openAccountStoreAt,
    currency: openCurrencyStoreAt,
  }[device];
  await (await open(location.value)).close();
}

/**
 * Overwrite the root page of `table` in a running device's SQLite file, then write through another
 * connection, which makes the device read its pages afresh (as after a hand outside it).
 */
export function damageRootPage(
  dir: string,
  device: 'transaction' | 'account',
  table: string,
): void {
  const path = join(dir, `${device}.sqlite`);
  const other = new Database(path);
  other.pragma('wal_checkpoint(TRUNCATE)'); // everything into the main file first
  const pageSize = Number(other.pragma('page_size', { simple: true }));
  const { rootpage } = other
    .prepare('SELECT rootpage FROM sqlite_master WHERE name = ?')
    .get(table) as { rootpage: number };
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, (rootpage - 1) * pageSize);
  closeSync(fd);
  other.exec("CREATE TABLE IF NOT EXISTS touched (at TEXT); INSERT INTO touched VALUES ('now')");
  other.close();
}
