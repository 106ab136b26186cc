// The machine's PostgreSQL for tests: whether it is there, fresh schemas, and direct access as an
// attacker (or an auditor) with database access would have it.
//
// On a machine without PostgreSQL its tests skip with a visible notice; in CI (CI=true) a missing
// PostgreSQL fails the run instead, so the PostgreSQL store is never silently untested.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { parseStoreLocation } from '../../src/store/open.js';
import { bigintTypes } from '../../src/store/postgres.js';
import type { DeviceKind } from '../../src/store/types.js';

export const postgresUrl =
  process.env['TRILEDGER_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let availability: Promise<boolean> | undefined;

/** Whether PostgreSQL answers; throws in CI when it does not. */
export function postgresAvailable(): Promise<boolean> {
  availability ??= (async () => {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (process.env['CI'] === 'true')
        throw new Error(
          `PostgreSQL is required in CI and is not reachable at ${postgresUrl}: ${reason}`,
        );
      process.stderr.write(
        `\nNOTICE: PostgreSQL is not reachable at ${postgresUrl} (${reason}): its tests are skipped.\n\n`,
      );
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return availability;
}

/** The schemas of one test run start with this; test/globalSetup.ts drops them at the end. */
export function runSchemaPrefix(): string {
  return `t_${process.env['TRILEDGER_TEST_RUN'] ?? 'adhoc'}`;
}

/** A fresh schema name prefix for one test: nothing is shared between tests or runs. */
export function freshSchemaPrefix(): string {
  return `${runSchemaPrefix()}_${randomBytes(5).toString('hex')}`;
}

/** The store setting of one device in a fresh deployment. */
export function postgresStoreSpec(schema: string): string {
  return `${postgresUrl}?schema=${schema}`;
}

/** Run statements on the server directly (another connection than the device's), in one schema. */
export async function onPostgres<T>(
  schema: string,
  work: (
    query: (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>,
  ) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: postgresUrl,
    options: `-c search_path=${schema}`,
    types: bigintTypes,
  });
  await client.connect();
  try {
    return await work(async (sql, values) => (await client.query(sql, values)).rows);
  } finally {
    await client.end();
  }
}

/** Drop every schema whose name starts with the prefix. */
export async function dropSchemas(prefix: string): Promise<void> {
  await onPostgres('public', async (query) => {
    const schemas = await query('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
      `${prefix}%`,
    ]);
    for (const row of schemas) await query(`DROP SCHEMA ${String(row['nspname'])} CASCADE`);
  });
}

/**
 * Copy a device's schema: `create` makes the new schema as the device would (tables, triggers),
 * then every row is copied and the identity counters moved past the copied rows.
 */
export async function cloneSchema(
  from: string,
  to: string,
  create: (spec: string) => Promise<void>,
): Promise<void> {
  await create(postgresStoreSpec(to));
  await onPostgres('public', async (query) => {
    const tables = await query(
      "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename NOT IN ('schema_migrations', 'change_marks')",
      [from],
    );
    for (const { tablename } of tables)
      await query(
        `INSERT INTO ${to}.${String(tablename)} OVERRIDING SYSTEM VALUE SELECT * FROM ${from}.${String(tablename)}`,
      );
    const identities = await query(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES'",
      [to],
    );
    for (const { table_name: table, column_name: column } of identities)
      await query(
        `SELECT setval(pg_get_serial_sequence('${to}.${String(table)}', '${String(column)}'),
           (SELECT coalesce(max(${String(column)}), 0) + 1 FROM ${to}.${String(table)}), false)`,
      );
  });
}

/**
 * How many writes the process's sockets made while `work` ran (a write of several buffers at once
 * counted once): what wakes the server's process.
 */
export async function socketWrites(work: () => Promise<unknown>): Promise<number> {
  const prototype = net.Socket.prototype as unknown as Record<
    '_write' | '_writev',
    (...args: unknown[]) => unknown
  >;
  const { _write: write, _writev: writev } = prototype;
  let writes = 0;
  prototype._write = function (this: unknown, ...args: unknown[]) {
    writes += 1;
    return write.apply(this, args);
  };
  prototype._writev = function (this: unknown, ...args: unknown[]) {
    writes += 1;
    return writev.apply(this, args);
  };
  try {
    await work();
  } finally {
    Object.assign(prototype, { _write: write, _writev: writev });
  }
  return writes;
}

/**
 * The round trips of the transactions `work` runs: the statements sent, each tagged with how many
 * statements had answered when it was sent (statements sent together share a tag).
 */
export async function roundTrips(work: () => Promise<unknown>): Promise<string[][]> {
  const sent: { statement: string; answeredBefore: number }[] = [];
  let answered = 0;
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
    const text = typeof config === 'string' ? config : (config as { text: string }).text;
    sent.push({
      statement: text.trim().split(/\s+/).slice(0, 2).join(' '),
      answeredBefore: answered,
    });
    const result = (query as (...args: unknown[]) => Promise<unknown>).call(this, config, ...rest);
    // Counted whether it answers or fails (a failure is its caller's to meet, not this count's).
    const counted = () => {
      answered += 1;
    };
    void result.then(counted, counted);
    return result;
  } as typeof query;
  try {
    await work();
  } finally {
    pg.Client.prototype.query = query;
  }
  const trips = new Map<number, string[]>();
  for (const { statement, answeredBefore } of sent)
    trips.set(answeredBefore, [...(trips.get(answeredBefore) ?? []), statement]);
  return [...trips.values()];
}

/** A fresh schema for one device, and its location. */
export function freshStoreLocation(kind: DeviceKind) {
  const schema = `${freshSchemaPrefix()}_${kind}`;
  const location = parseStoreLocation(postgresStoreSpec(schema), kind);
  if (!location.ok) throw new Error(location.message);
  return { schema, location: location.value };
}
