// The PostgreSQL implementation of the device stores (node-postgres), for a device on its own host.
//
// Each device owns one schema (`?schema=` in the store URL, default `triledger_<device>`), created
// and migrated at start. The interfaces and their meaning are those of ./types.ts, exactly as the
// SQLite store implements them; one conformance suite (test/store) runs against both.
//
// Isolation, per operation (docs/deploy.md):
// - a device is the only writer of its schema, so its transactions run one at a time in the
//   process, in arrival order, exactly as on SQLite: the device's read-then-write work (a balance,
//   a counter, a hold) never races itself, and a hot row (the transaction counter) never makes
//   transactions fail each other. Measured: letting them run concurrently under SERIALIZABLE
//   turned most concurrent remittances into serialization failures on the counter row.
// - each still runs SERIALIZABLE on the server, against any other writer (an operator's tool, a
//   second process started on the same schema by mistake): when PostgreSQL refuses a commit to
//   keep that promise (serialization failure 40001, deadlock 40P01), the whole work runs again
//   from the start, with jittered backoff, at most `transactAttemptsMax` times. Work is re-runnable
//   by construction: it reads everything it decides from `tx`.
// - a lazy transaction (types.ts Durability) commits with `synchronous_commit` off: the server
//   answers before its WAL is flushed, and flushes it in order with the next one that waits.
// - exports (what the audit reads) run in a REPEATABLE READ READ ONLY snapshot, page by page in key
//   order (keyset pagination), so any size streams in constant memory while the device writes.
// - counters (transaction, account and currency numbers) are rows updated in the transaction that
//   uses them, never sequences: a sequence skips numbers on rollback and A has no gaps.
// The SQL is kept to what PostgreSQL-compatible distributed databases also run, with one
// exception, named in the docs: `externalChangeMark` is kept by a PL/pgSQL statement trigger.

import type { Socket } from 'node:net';
import pg from 'pg';
import { assert } from '../model/assert.js';
import { itemsOfPages } from '../model/pages.js';
import { blockSize, type SignedRecord, sameRecord } from '../protocol/records.js';
import { accountNamingTypesSql } from '../protocol/transactionTypes.js';
import {
  type DumpRow,
  type DumpTable,
  type DumpValue,
  dumpTableOf,
  dumpTables,
  dumpValue,
} from './dump.js';
import {
  accountFromRow,
  isFailure,
  operationFromRow,
  quarantineJson,
  type Row,
  recordFromRow,
  recordValues,
  unitFromRow,
} from './rows.js';
import { transactionNumberMax } from './sqliteExport.js';
import {
  type AccountRow,
  type AccountStore,
  type AccountTx,
  type CommitListener,
  type CounterName,
  type CurrencyRow,
  type CurrencyStore,
  type CurrencyTx,
  type DeviceKind,
  type Durability,
  type LedgerTx,
  type Store,
  settledEverywhere,
  type TransactionTx,
} from './types.js';

/** Connections one device keeps open: one for its transactions, the rest for exports (the audit) and reads. */
export const connectionsMax = 10;
/** How often one transaction's work is run before a serialization failure is given up on. */
export const transactAttemptsMax = 12;
/** Rows an export reads per query. */
export const exportPageRowsMax = 2_000;
/** Rows an import writes per statement. */
export const loadBatchRowsMax = 500;
/** Waiting for a connection from the pool, and for a new connection to open. */
export const connectTimeoutMs = 10_000;
/** Longest any statement may run; far above any the devices make. */
export const statementTimeoutMs = 60_000;

export interface PostgresLocation {
  /** The connection URL without the `schema` parameter. */
  readonly url: string;
  /** The schema this device owns (lower-case letters, digits, underscores). */
  readonly schema: string;
}

export const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** int8 columns come back as bigint (node-postgres gives strings by default); nothing else changes. */
export const bigintTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (text: string) => BigInt(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

// ---- Schema ---------------------------------------------------------------------------------

const ledgerSchema = `
CREATE TABLE transactions (
  transaction_number BIGINT PRIMARY KEY,
  remittance_id TEXT NOT NULL,
  transaction_type TEXT NOT NULL,
  source_account BIGINT,
  destination_account BIGINT,
  amount BIGINT,
  currency_type TEXT,
  outcome TEXT,
  detail TEXT,
  date_time BIGINT NOT NULL,
  signer_key_number BIGINT NOT NULL,
  signature BYTEA NOT NULL
);
CREATE INDEX transactions_by_remittance ON transactions (remittance_id, transaction_number);
CREATE TABLE account_keys (
  account_number BIGINT PRIMARY KEY,
  key_number BIGINT NOT NULL,
  algorithm TEXT NOT NULL,
  public_key BYTEA
);
CREATE TABLE quarantine (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  quarantined_at BIGINT NOT NULL,
  table_name TEXT NOT NULL,
  row_key TEXT NOT NULL,
  row_json TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE checkpoints (
  transaction_number BIGINT PRIMARY KEY,
  checkpoint_json TEXT NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE change_marks (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO change_marks (name, value) VALUES ('transactions', 0);
-- PostgreSQL-only: counts the statements that change A from a connection that is not the device's
-- own (the device's connections set triledger.device_writer), so that a remembered digest of A is
-- trusted only while nobody else wrote (devices/checkpoints.ts).
CREATE FUNCTION note_external_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF current_setting('triledger.device_writer', true) IS DISTINCT FROM 'on' THEN
    UPDATE change_marks SET value = value + 1 WHERE name = 'transactions';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER transactions_changed AFTER INSERT OR UPDATE OR DELETE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION note_external_change();
CREATE TRIGGER transactions_truncated AFTER TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION note_external_change();`;

const schemas: Record<DeviceKind, string> = {
  transaction: `${ledgerSchema}
CREATE INDEX transactions_by_source ON transactions (source_account, transaction_number);
CREATE INDEX transactions_by_destination ON transactions (destination_account, transaction_number);
CREATE TABLE operations (
  remittance_id TEXT PRIMARY KEY,
  request_digest BYTEA NOT NULL,
  base_number BIGINT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  response_json TEXT,
  settled BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX operations_pending ON operations (state, settled, base_number);`,
  account: `${ledgerSchema}
CREATE TABLE accounts (
  account_number BIGINT PRIMARY KEY,
  currency_type TEXT NOT NULL,
  balance BIGINT NOT NULL CHECK (balance >= 0),
  held BIGINT NOT NULL CHECK (held >= 0 AND held <= balance),
  status TEXT NOT NULL,
  last_update BIGINT NOT NULL,
  signer_key_number BIGINT NOT NULL,
  signature BYTEA NOT NULL
);
CREATE TABLE holds (
  remittance_id TEXT PRIMARY KEY,
  account_number BIGINT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);`,
  currency: `${ledgerSchema}
CREATE TABLE currency_units (
  currency_number BIGINT PRIMARY KEY,
  currency_type TEXT NOT NULL,
  value BIGINT NOT NULL CHECK (value > 0),
  owner_account BIGINT NOT NULL,
  status TEXT NOT NULL,
  last_update BIGINT NOT NULL,
  signer_key_number BIGINT NOT NULL,
  signature BYTEA NOT NULL
);
CREATE INDEX currency_units_by_owner ON currency_units (owner_account, currency_type, status);
CREATE TABLE unit_plans (
  remittance_id TEXT PRIMARY KEY,
  plan_json TEXT NOT NULL,
  position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);`,
};

/** Versioned migrations: migrations[kind][v - 1] brings a schema from version v - 1 to v. */
/**
 * Version 2: account keys are read from the records of each account's opening (indexed here); the
 * table that copied them is dropped.
 */
const accountOpenings = `
DROP TABLE account_keys;
CREATE INDEX transactions_opening_account ON transactions (destination_account)
  WHERE transaction_type = 'account_issuing_response';`;

const migrations: Record<DeviceKind, readonly string[]> = {
  transaction: [
    schemas.transaction,
    `${accountOpenings}
CREATE INDEX transactions_by_opening_key ON transactions (signer_key_number)
  WHERE transaction_type = 'account_issuing_request';`,
    // Version 3: an account's history is found by the records that name its accounts alone
    // (accountNamingTypes), so only those are indexed by account.
    `DROP INDEX transactions_by_source;
DROP INDEX transactions_by_destination;
CREATE INDEX transactions_naming_source ON transactions (source_account, transaction_number)
  WHERE transaction_type IN (${accountNamingTypesSql});
CREATE INDEX transactions_naming_destination ON transactions (destination_account, transaction_number)
  WHERE transaction_type IN (${accountNamingTypesSql});`,
  ],
  account: [schemas.account, accountOpenings],
  currency: [
    schemas.currency,
    accountOpenings,
    // A payer's active units in the order a payment walks them (CurrencyTx.unitsToPay).
    `CREATE INDEX currency_units_to_pay
  ON currency_units (owner_account, currency_type, status, value DESC, currency_number DESC);
DROP INDEX currency_units_by_owner;`,
  ],
};

const uniqueViolation = '23505';

/** The identity columns that keep arrival order where SQLite has its rowid (store/dump.ts). */
const arrivalColumns: Record<string, string> = {
  quarantine: 'id',
  holds: 'position',
  unit_plans: 'position',
};

/**
 * Create the schema when it is new and run the migrations it has not seen, each in its own
 * transaction with its version row: two devices starting at once cannot both apply one.
 */
async function migrate(pool: pg.Pool, location: PostgresLocation, kind: DeviceKind) {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${location.schema}`);
  await pool.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, device TEXT NOT NULL)',
  );
  const applied = (await pool.query('SELECT version, device FROM schema_migrations')).rows as Row[];
  const other = applied.find((row) => row['device'] !== kind);
  if (other)
    throw new Error(
      `schema ${location.schema} holds the store of the ${String(other['device'])} device, not ${kind}`,
    );
  for (const [index, sql] of migrations[kind].entries()) {
    const version = BigInt(index + 1);
    if (applied.some((row) => row['version'] === version)) continue;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO schema_migrations (version, device) VALUES ($1, $2)', [
        version,
        kind,
      ]);
      await client.query(sql);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      // Another process applied this version first: the schema is as it should be.
      if (!isUniqueViolation(error)) throw error;
    } finally {
      client.release();
    }
  }
}

function openPool(location: PostgresLocation): pg.Pool {
  assert(schemaNamePattern.test(location.schema), 'the schema name was checked when parsed');
  const pool = new pg.Pool({
    connectionString: location.url,
    max: connectionsMax,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    types: bigintTypes,
    options: `-c search_path=${location.schema} -c triledger.device_writer=on`,
    // A statement goes out as soon as it is made, not after the one before has answered (pg 8's
    // pipeline mode): a transaction's BEGIN travels with its first read (afterBegin).
    pipeline: true,
  });
  // A connection that breaks while idle is dropped by the pool and replaced on the next request;
  // the error reaches whoever uses a connection when it breaks.
  pool.on('error', () => undefined);
  return pool;
}

// ---- Queries --------------------------------------------------------------------------------

/** One query on the connection of the current transaction; statements are prepared once per connection. */
type Query = (text: string, values?: readonly unknown[]) => Promise<pg.QueryResult<Row>>;

const statementNames = new Map<string, string>();

function queryOn(client: pg.ClientBase): Query {
  return (text, values = []) => {
    let name = statementNames.get(text);
    if (name === undefined) {
      name = `triledger_${statementNames.size + 1}`;
      statementNames.set(text, name);
    }
    sentTogether(client);
    return client.query<Row>({ name, text, values: values as unknown[] });
  };
}

/**
 * The statements a transaction makes in one turn (its reads together, its held writes and the
 * COMMIT behind them) go out in one write: the connection's socket is corked until the turn's
 * promises have run (the next tick after them). Each write wakes the server's process, and on a
 * busy machine the process woken takes the core from the device, once per write; node-postgres
 * corks each statement's own messages, not the statements of a round trip together.
 */
function sentTogether(client: pg.ClientBase): void {
  const stream = (client as unknown as { connection?: { stream?: Socket } }).connection?.stream;
  assert(stream !== undefined, "a connected client's socket is node-postgres's connection.stream");
  if (stream.writableCorked > 0) return;
  stream.cork();
  process.nextTick(() => stream.uncork());
}

/**
 * A transaction's statements after its BEGIN (`begun`, sent and not yet answered): the reads it
 * opens with go out at once, in the same round trip as the BEGIN, and answer once both have; every
 * statement from its first other one on, made before the BEGIN has answered, waits for that answer
 * first (in the order they were made), so that a write never runs outside its transaction (a BEGIN
 * that failed would leave it to commit alone) and no read overtakes a write made before it. One
 * round trip fewer per transaction that opens with reads: the transaction device's batches read
 * their operations, and the transaction counter with them (transactionTx), first.
 */
function afterBegin(query: Query, begun: Promise<unknown>): Query {
  let answered = false;
  begun.then(
    () => {
      answered = true;
    },
    () => undefined, // met where `begun` is awaited
  );
  let leading = true;
  return async (text, values) => {
    leading &&= /^\s*SELECT\b/i.test(text);
    if (answered) return query(text, values);
    if (!leading) {
      await begun;
      return query(text, values);
    }
    const [, result] = await Promise.all([begun, query(text, values)]);
    return result;
  };
}

async function rowsOf(query: Query, text: string, values?: readonly unknown[]): Promise<Row[]> {
  return (await query(text, values)).rows;
}

async function rowOf(
  query: Query,
  text: string,
  values?: readonly unknown[],
): Promise<Row | undefined> {
  return (await query(text, values)).rows[0];
}

const recordColumns = `transaction_number, remittance_id, transaction_type, source_account,
  destination_account, amount, currency_type, outcome, detail, date_time, signer_key_number, signature`;
const recordColumnCount = 12;

/** Move one row into the quarantine table; returns it converted, or undefined when absent. */
async function quarantine<T extends object>(
  query: Query,
  table: string,
  keyColumn: string,
  key: bigint,
  reason: string,
  atMs: bigint,
  convert: (row: Row) => T,
): Promise<T | undefined> {
  const row = await rowOf(query, `DELETE FROM ${table} WHERE ${keyColumn} = $1 RETURNING *`, [key]);
  if (!row) return undefined;
  const converted = convert(row);
  await query(
    'INSERT INTO quarantine (quarantined_at, table_name, row_key, row_json, reason) VALUES ($1, $2, $3, $4, $5)',
    [atMs, table, key.toString(), quarantineJson(converted), reason],
  );
  return converted;
}

/** Make the named counter's next value at least `next` (counters only go up). */
async function raise(query: Query, name: CounterName, next: bigint): Promise<void> {
  await query(
    `INSERT INTO counters (name, value) VALUES ($1, $2::bigint)
     ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, excluded.value)`,
    [name, next],
  );
}

/** Advance the named counter by `count`; returns the first value of the reserved range. */
async function advance(query: Query, name: string, count: bigint, start: bigint): Promise<bigint> {
  if (count === 0n) {
    const row = await rowOf(query, 'SELECT value FROM counters WHERE name = $1', [name]);
    return row ? (row['value'] as bigint) : start;
  }
  const row = await rowOf(
    query,
    `INSERT INTO counters (name, value) VALUES ($1, $2::bigint + $3::bigint)
     ON CONFLICT (name) DO UPDATE SET value = counters.value + $3::bigint
     RETURNING value - $3::bigint AS first`,
    [name, start, count],
  );
  return row!['first'] as bigint;
}

/**
 * How a transaction appends records (LedgerTx.appendRecords). `held`: as plain inserts held back
 * with its other writes, no round trip of their own; a number already taken, by a repeat or a
 * conflicting record, then fails the transaction on the server (unique_violation), and the store
 * runs it again from the start with `checked` appends (PostgresStore.#attempt). `checked`: each
 * call inserts at once what is free and reads what is taken, to tell a repeat from a conflict.
 * Repeats and conflicts are rare (a step sent again after a lost answer, a damaged copy): the
 * common batch pays one round trip fewer.
 */
type Appends = 'held' | 'checked';

/** Records one held append takes at most; a larger call (a recovery's) appends `checked`. */
const appendHeldRecordsMax = 1_024;

/**
 * Records inserted as plain inserts, held back and written with the transaction's other held
 * writes (holdingWrites): a number taken fails the transaction on the server.
 */
async function insertHeld(query: Query, records: readonly SignedRecord[]): Promise<void> {
  for (const signed of records) await query(insertReservedRecord, recordValues(signed));
}

function ledgerTx(query: Query, appends: Appends): LedgerTx {
  /** The numbers this transaction's held appends took (a number twice: appended checked). */
  const heldNumbers = new Set<bigint>();
  return {
    async appendRecords(records) {
      if (records.length === 0) return true;
      const numbers = records.map((signed) => signed.record.transactionNumber);
      if (
        appends === 'held' &&
        records.length <= appendHeldRecordsMax &&
        numbers.every((n) => !heldNumbers.has(n))
      ) {
        for (const n of numbers) heldNumbers.add(n);
        await insertHeld(query, records);
        return true;
      }
      const inserted = await rowsOf(query, appendRecordsSql, columnArraysOf(records));
      const insertedNumbers = new Set(inserted.map((row) => row['transaction_number'] as bigint));
      assert(insertedNumbers.size <= records.length, 'an insert returns only what it was given');
      // A number already taken: the stored record must be this one (a repeat), else it conflicts.
      // A fresh insert is not read back on the hot path (the audit reads every record back), as on
      // SQLite.
      const taken = records.filter(
        (signed) => !insertedNumbers.has(signed.record.transactionNumber),
      );
      if (taken.length === 0) return true;
      const stored = new Map(
        (
          await rowsOf(
            query,
            `SELECT * FROM transactions WHERE transaction_number = ANY($1::bigint[])`,
            [taken.map((signed) => signed.record.transactionNumber)],
          )
        ).map((row) => {
          const signed = recordFromRow(row);
          return [signed.record.transactionNumber, signed];
        }),
      );
      const repeats = taken.every((signed) => {
        const kept = stored.get(signed.record.transactionNumber);
        assert(kept, 'a record not inserted is one already stored');
        return sameRecord(kept, signed);
      });
      // A conflict stores none of them: what this call inserted goes again.
      if (!repeats && insertedNumbers.size > 0) {
        const removed = await query('DELETE FROM transactions WHERE transaction_number = ANY($1)', [
          [...insertedNumbers],
        ]);
        assert(removed.rowCount === insertedNumbers.size, 'the records just inserted are removed');
      }
      return repeats;
    },
    async recordsOfOperation(remittanceId) {
      const rows = await rowsOf(
        query,
        'SELECT * FROM transactions WHERE remittance_id = $1 ORDER BY transaction_number',
        [remittanceId],
      );
      return rows.map(recordFromRow);
    },
    async recordsOfOperations(remittanceIds) {
      // One index lookup per id, whatever the statistics say: without them (a new store, or
      // autovacuum off) the planner takes `remittance_id = ANY($1)` for a large share of the table
      // and scans all of it (12 ms at 16,000 records against 0.2 ms). OFFSET 0 keeps the
      // subquery a nested loop over the ids.
      const rows = await rowsOf(
        query,
        `SELECT t.* FROM unnest($1::text[]) AS ids(id) CROSS JOIN LATERAL
           (SELECT * FROM transactions WHERE remittance_id = ids.id OFFSET 0) AS t
         ORDER BY t.transaction_number`,
        [[...new Set(remittanceIds)]],
      );
      const found = new Map<string, SignedRecord[]>();
      for (const signed of rows.map(recordFromRow)) {
        const id = signed.record.remittanceId;
        const records = found.get(id) ?? [];
        found.set(id, records);
        records.push(signed);
      }
      return found;
    },
    async accountsOpenedAt(accountNumbers) {
      // Each account's first accepted opening through its own index lookup (the single-account
      // query of before, in a nested loop over the numbers), whatever the statistics say.
      const rows = await rowsOf(
        query,
        `SELECT ids.account, opening.transaction_number FROM unnest($1::bigint[]) AS ids(account)
         CROSS JOIN LATERAL (SELECT transaction_number FROM transactions
           WHERE transaction_type = 'account_issuing_response' AND outcome = 'ok'
             AND destination_account = ids.account
           ORDER BY transaction_number LIMIT 1) AS opening`,
        [[...new Set(accountNumbers)]],
      );
      return new Map(
        rows.map((row) => [row['account'] as bigint, row['transaction_number'] as bigint]),
      );
    },
    async accountOpening(accountNumber) {
      const rows = await rowsOf(
        query,
        `SELECT * FROM transactions WHERE remittance_id = (
           SELECT remittance_id FROM transactions
           WHERE transaction_type = 'account_issuing_response' AND outcome = 'ok'
             AND destination_account = $1
           ORDER BY transaction_number LIMIT 1)
         ORDER BY transaction_number`,
        [accountNumber],
      );
      return rows.map(recordFromRow);
    },
    async putCheckpoint(transactionNumber, json) {
      await query(
        `INSERT INTO checkpoints (transaction_number, checkpoint_json) VALUES ($1, $2)
         ON CONFLICT (transaction_number) DO UPDATE SET checkpoint_json = excluded.checkpoint_json`,
        [transactionNumber, json],
      );
    },
    async checkpoints(limit) {
      const rows = await rowsOf(
        query,
        'SELECT checkpoint_json FROM checkpoints ORDER BY transaction_number DESC LIMIT $1',
        [limit],
      );
      return rows.map((row) => row['checkpoint_json'] as string);
    },
    async lastRecordNumber() {
      const row = await rowOf(query, 'SELECT max(transaction_number) AS n FROM transactions', []);
      return (row?.['n'] as bigint | null | undefined) ?? 0n;
    },
    async recordCount(afterNumber = 0n) {
      const row = await rowOf(
        query,
        'SELECT count(*) AS n FROM transactions WHERE transaction_number > $1',
        [afterNumber],
      );
      return row!['n'] as bigint;
    },
    async quarantineRecord(transactionNumber, reason, atMs) {
      return quarantine(
        query,
        'transactions',
        'transaction_number',
        transactionNumber,
        reason,
        atMs,
        recordFromRow,
      );
    },
  };
}

/**
 * The transaction device's transaction. Its counter of transaction numbers is read with the
 * transaction's first read of operations (the same round trip: pipeline mode, afterBegin), so that
 * numbering the batch's new operations (reserveOperations) takes no round trip of its own: the
 * advance is a held-back write (advanceCounterHeld), which writes short, and so fails the whole
 * transaction, unless the counter still holds what was read. Without that read (another first
 * statement, a counter raised since, none stored yet), and for a second advance in the same
 * transaction, the counter is advanced as every other is.
 */
function transactionTx(query: Query, appends: Appends): TransactionTx {
  let counterRead: Promise<Row | undefined> | undefined;
  const reserveNumbers = async (count: bigint): Promise<bigint> => {
    const read = await counterRead;
    // Read once: a later advance in this transaction starts from what this one wrote.
    counterRead = Promise.resolve(undefined);
    // Nothing to number (an empty batch) writes nothing: the counter is only read, as before.
    if (read === undefined || count === 0n) return advance(query, 'transaction_number', count, 1n);
    const first = read['value'] as bigint;
    assert(count > 0n && first >= 1n, 'a reservation advances a counter that starts at 1');
    await query(advanceCounterHeld, ['transaction_number', first, first + count]);
    return first;
  };
  return {
    ...ledgerTx(query, appends),
    async appendReserved(records) {
      await insertHeld(query, records);
    },
    async operation(remittanceId) {
      const row = await rowOf(query, 'SELECT * FROM operations WHERE remittance_id = $1', [
        remittanceId,
      ]);
      return row ? operationFromRow(row) : undefined;
    },
    async raiseCounter(name, next) {
      // Past this, the counter read with the first read is not what it holds.
      if (name === 'transaction_number') counterRead = Promise.resolve(undefined);
      await raise(query, name, next);
    },
    async restoreOperation(row) {
      await query(
        `INSERT INTO operations (remittance_id, request_digest, base_number, state, response_json, settled)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (remittance_id) DO UPDATE SET
         request_digest = excluded.request_digest, base_number = excluded.base_number,
         state = excluded.state, response_json = excluded.response_json, settled = excluded.settled`,
        [
          row.remittanceId,
          row.requestDigest,
          row.baseNumber,
          row.state,
          row.responseJson ?? null,
          row.settled,
        ],
      );
    },
    async operations(remittanceIds) {
      // Made first, so that it leads the transaction's statements (afterBegin) with this read.
      if (counterRead === undefined) {
        counterRead = rowOf(query, 'SELECT value FROM counters WHERE name = $1', [
          'transaction_number',
        ]);
        counterRead.catch(() => undefined); // met where it is awaited, if the batch numbers any
      }
      const rows = await rowsOf(query, 'SELECT * FROM operations WHERE remittance_id = ANY($1)', [
        remittanceIds,
      ]);
      return new Map(rows.map((row) => [row['remittance_id'] as string, operationFromRow(row)]));
    },
    async reserveOperations(opened) {
      const first = await reserveNumbers(blockSize * BigInt(opened.length));
      return Promise.all(
        opened.map(async ({ remittanceId, requestDigest }, i) => {
          const base = first + blockSize * BigInt(i);
          // Held back and written with the transaction's other held rows (holdingWrites).
          await query(insertOperation, [remittanceId, requestDigest, base]);
          return base;
        }),
      );
    },
    async finishOperations(remittanceIds) {
      if (remittanceIds.length === 0) return;
      const result = await query(
        `UPDATE operations SET state = 'done', response_json = NULL
         WHERE remittance_id = ANY($1::text[])`,
        [remittanceIds],
      );
      assert(
        result.rowCount === new Set(remittanceIds).size,
        'the operation being finished exists',
      );
    },
    async markSettled(settlements) {
      // One statement changes a row once: an operation named twice gets its bits together.
      const bits = new Map<string, number>();
      for (const { remittanceId, peers } of settlements) {
        assert(peers > 0 && peers <= settledEverywhere, 'settlement bits name account or currency');
        bits.set(remittanceId, (bits.get(remittanceId) ?? 0) | peers);
      }
      // One statement per set of bits (three at most), found by the primary key alone: with
      // `state = 'done'` in its WHERE the planner scanned every done operation through
      // operations_pending (3 ms for 40 ids at 9,000 done); an open one is left as it is.
      for (const peers of new Set(bits.values()))
        await query(
          `UPDATE operations
           SET settled = CASE WHEN state = 'done' THEN settled | $1::bigint ELSE settled END
           WHERE remittance_id = ANY($2::text[])`,
          [peers, [...bits].filter(([, each]) => each === peers).map(([id]) => id)],
        );
    },
    async settledUpTo() {
      const pending = await rowOf(
        query,
        `SELECT min(base_number) AS base FROM operations
         WHERE state = 'open' OR settled <> ${settledEverywhere}`,
      );
      const pendingBase = pending!['base'] as bigint | null;
      const row =
        pendingBase === null
          ? await rowOf(query, 'SELECT max(base_number) AS base FROM operations')
          : await rowOf(
              query,
              'SELECT max(base_number) AS base FROM operations WHERE base_number < $1',
              [pendingBase],
            );
      const base = row!['base'] as bigint | null;
      return base === null ? 0n : base + blockSize - 1n;
    },
    async openOperations(limit) {
      const rows = await rowsOf(
        query,
        "SELECT remittance_id FROM operations WHERE state = 'open' ORDER BY base_number LIMIT $1",
        [limit],
      );
      return rows.map((row) => row['remittance_id'] as string);
    },
    async unsettledOperations(limit) {
      const rows = await rowsOf(
        query,
        `SELECT remittance_id, settled FROM operations
         WHERE state = 'done' AND settled <> ${settledEverywhere} ORDER BY base_number LIMIT $1`,
        [limit],
      );
      return rows.map((row) => ({
        remittanceId: row['remittance_id'] as string,
        settled: Number(row['settled']),
      }));
    },
    async pendingCounts() {
      const row = await rowOf(
        query,
        `SELECT count(CASE WHEN state = 'open' THEN 1 END) AS open,
                count(CASE WHEN state = 'done' AND settled <> ${settledEverywhere} THEN 1 END) AS unsettled
         FROM operations WHERE state = 'open' OR settled <> ${settledEverywhere}`,
      );
      return { open: Number(row!['open']), unsettled: Number(row!['unsettled']) };
    },
    async accountOpenedWithKey(keyNumber) {
      const row = await rowOf(
        query,
        `SELECT 1 AS opened FROM transactions request
         JOIN transactions response ON response.remittance_id = request.remittance_id
           AND response.transaction_type = 'account_issuing_response' AND response.outcome = 'ok'
         WHERE request.transaction_type = 'account_issuing_request' AND request.signer_key_number = $1
         LIMIT 1`,
        [keyNumber],
      );
      return row !== undefined;
    },
    async nextTransactionNumber() {
      return advance(query, 'transaction_number', 0n, 1n);
    },
    async nextAccountNumber({ reserve }) {
      return advance(query, 'account_number', reserve ? 1n : 0n, 1n);
    },
    async indexAccountHistory() {
      return 0; // indexed as it is written
    },
    async operationsOfAccount(accountNumber, afterNumber, limit) {
      // The first `limit` of each side, read in order through its partial index (the type list
      // as the index has it), then merged: a page costs its size, however long the history.
      const side = (column: string) => `(SELECT remittance_id, transaction_number FROM transactions
        WHERE ${column} = $1 AND transaction_number > $2
          AND transaction_type IN (${accountNamingTypesSql})
        ORDER BY transaction_number LIMIT $3)`;
      const rows = await rowsOf(
        query,
        `SELECT remittance_id FROM (${side('source_account')} UNION ${side('destination_account')}) AS naming
         ORDER BY transaction_number LIMIT $3`,
        [accountNumber, afterNumber, limit],
      );
      return rows.map((row) => row['remittance_id'] as string);
    },
  };
}

/** Insert a signed row of B or C, or replace the one with its key (the first column). */
function upsertSql(table: DumpTable): string {
  const [key, ...others] = table.columns;
  const placeholders = table.columns.map((_, i) => `$${i + 1}`).join(', ');
  return `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES (${placeholders})
    ON CONFLICT (${key}) DO UPDATE SET ${others.map((c) => `${c} = excluded.${c}`).join(', ')}`;
}

const tableOf = (kind: DeviceKind, name: string) =>
  dumpTables[kind].find((table) => table.name === name)!;
const upsertAccount = upsertSql(tableOf('account', 'accounts'));
const upsertUnit = upsertSql(tableOf('currency', 'currency_units'));

/** The same upsert for many rows in one statement: one array per column (unnest). */
function upsertManySql(table: DumpTable, columnTypes: readonly string[]): string {
  assert(columnTypes.length === table.columns.length, 'one type per column');
  const [key, ...others] = table.columns;
  const arrays = columnTypes.map((type, i) => `$${i + 1}::${type}[]`).join(', ');
  return `INSERT INTO ${table.name} (${table.columns.join(', ')}) SELECT * FROM unnest(${arrays})
    ON CONFLICT (${key}) DO UPDATE SET ${others.map((c) => `${c} = excluded.${c}`).join(', ')}`;
}

/** The column types of the rows of B and C, as their tables declare them. */
const signedRowTypes = ['bigint', 'text', 'bigint', 'bigint', 'text', 'bigint', 'bigint', 'bytea'];

/** A record at a number the device reserved (TransactionTx.appendReserved): never a conflict. */
const insertReservedRecord = `INSERT INTO transactions (${recordColumns})
  VALUES (${Array.from({ length: recordColumnCount }, (_, i) => `$${i + 1}`).join(', ')})`;
/** A hold a3 placed (AccountTx.putHold) and a plan a5 accepted (CurrencyTx.putPlan). */
const insertHold = 'INSERT INTO holds (remittance_id, account_number, amount) VALUES ($1, $2, $3)';
const insertPlan = 'INSERT INTO unit_plans (remittance_id, plan_json) VALUES ($1, $2)';
/** A hold a settlement ends (AccountTx.deleteHolds) and a plan it carries out (CurrencyTx.deletePlans). */
const deleteHold = 'DELETE FROM holds WHERE remittance_id = $1';
const deletePlan = 'DELETE FROM unit_plans WHERE remittance_id = $1';
/**
 * A counter advanced from the value a transaction read (transactionTx), held back: it writes
 * nothing, and so writes short, if the counter no longer holds that value.
 */
const advanceCounterHeld = 'UPDATE counters SET value = $3 WHERE name = $1 AND value = $2';
/** An operation opened at a block the device reserved (TransactionTx.reserveOperations). */
const insertOperation = `INSERT INTO operations (remittance_id, request_digest, base_number, state)
  VALUES ($1, $2, $3, 'open')`;
const recordTypes = [
  ...['bigint', 'text', 'text', 'bigint', 'bigint', 'bigint'],
  ...['text', 'text', 'text', 'bigint', 'bigint', 'bytea'],
].map((type, i) => `$${i + 1}::${type}[]`);

/** Records appended where their numbers are free (LedgerTx.appendRecords): one array per column. */
const appendRecordsSql = `INSERT INTO transactions (${recordColumns})
  SELECT * FROM unnest(${recordTypes.join(', ')})
  ON CONFLICT (transaction_number) DO NOTHING RETURNING transaction_number`;

function columnArraysOf(records: readonly SignedRecord[]): unknown[][] {
  const rows = records.map(recordValues);
  return recordTypes.map((_, c) => rows.map((values) => values[c]));
}

/**
 * The writes a transaction holds back (their callers read nothing from them), each with the
 * statement that writes many at once: upserts of rows of B and C, records at reserved numbers,
 * operations opened at reserved blocks, holds and plans (in the order they were held: their
 * positions keep arrival order).
 */
const writesHeldBack = new Map([
  [
    advanceCounterHeld,
    `UPDATE counters SET value = t.next
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(name, stored, next)
     WHERE counters.name = t.name AND counters.value = t.stored`,
  ],
  [upsertAccount, upsertManySql(tableOf('account', 'accounts'), signedRowTypes)],
  [upsertUnit, upsertManySql(tableOf('currency', 'currency_units'), signedRowTypes)],
  [
    insertReservedRecord,
    `INSERT INTO transactions (${recordColumns}) SELECT * FROM unnest(${recordTypes.join(', ')})`,
  ],
  [
    insertOperation,
    `INSERT INTO operations (remittance_id, request_digest, base_number, state)
     SELECT id, digest, base, 'open' FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS t(id, digest, base)`,
  ],
  [
    insertHold,
    `INSERT INTO holds (remittance_id, account_number, amount)
     SELECT id, account, amount
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(id, account, amount, i)
     ORDER BY i`,
  ],
  [
    insertPlan,
    `INSERT INTO unit_plans (remittance_id, plan_json)
     SELECT id, plan FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(id, plan, i) ORDER BY i`,
  ],
  [deleteHold, 'DELETE FROM holds WHERE remittance_id = ANY($1::text[])'],
  [deletePlan, 'DELETE FROM unit_plans WHERE remittance_id = ANY($1::text[])'],
]);

/**
 * Held writes to the same table, never written in one statement (writtenTogether), where neither
 * would see the other: the one held second waits for the first to be written (holdingWrites). A
 * batch places holds and plans (an exchange) or ends them (a settlement), so this does not happen
 * on the hot path.
 */
const heldApart = new Map([
  [insertHold, deleteHold],
  [deleteHold, insertHold],
  [insertPlan, deletePlan],
  [deletePlan, insertPlan],
]);

/** A held delete skips a key not stored (as the stores' deletes do): it writes at most its count. */
function deletes(sql: string): boolean {
  return /^\s*DELETE\b/i.test(sql);
}

/** Held-back inserts: each key (a record's number, an operation's or a hold's id) is taken once. */
const insertsHeldBack = new Set([insertReservedRecord, insertOperation, insertHold, insertPlan]);

/** A transaction's queries, with some writes held back until `flush`. */
type HoldingQuery = Query & { flush(): Promise<void> };

/**
 * A transaction's statements with its held-back writes (writesHeldBack) written together, one
 * statement for all the kinds held (writtenTogether), right before the transaction's next other
 * statement (a read sees them; both in one round trip: afterFlush) or its COMMIT: a batch that
 * changes many rows in several tables pays no round trip of its own for them. A later upsert of a
 * row replaces an earlier one (one statement changes a row once); an inserted key is taken once.
 */
function holdingWrites(query: Query): HoldingQuery {
  const held = new Map<string, Map<unknown, readonly unknown[]>>();
  const flush = async () => {
    if (held.size === 0) return;
    const writes = [...held].map(([write, rows]) => {
      const columns = [...rows.values()];
      const arrays = columns[0]!.map((_, c) => columns.map((values) => values[c]));
      return { sql: writesHeldBack.get(write)!, arrays, rowCount: rows.size };
    });
    held.clear();
    const rowCounts = writes.map((write) => write.rowCount);
    const [counts] = (
      await query(writtenTogether(writes.map((write) => write.sql)), [
        ...writes.flatMap((write) => write.arrays),
        ...rowCounts,
      ])
    ).rows;
    for (const [w, { sql, rowCount }] of writes.entries()) {
      const written = counts?.[`w${w}`] as number | undefined;
      assert(
        deletes(sql) ? written !== undefined && written <= rowCount : written === rowCount,
        'every row held back is written',
      );
    }
  };
  const holding = async (text: string, values: readonly unknown[] = []) => {
    if (!writesHeldBack.has(text)) return afterFlush(flush(), query(text, values));
    const rows = held.get(text) ?? new Map<unknown, readonly unknown[]>();
    assert(!insertsHeldBack.has(text) || !rows.has(values[0]), 'an inserted key is held once');
    // A write to a table another held write changes goes in the next statement, not this one.
    if (held.has(heldApart.get(text) ?? '')) await flush();
    held.set(text, rows.set(values[0], values));
    return heldResult;
  };
  return Object.assign(holding, { flush });
}

/**
 * A statement's answer, sent right behind the held-back writes' statement (`flushed`) without
 * waiting for its answer: pipeline mode sends them in order, in one round trip, and the server runs
 * them in order, so the statement sees the writes. Writes that fail, or write short, abort the
 * transaction, and the statement then fails too: their own failure is the one reported.
 */
async function afterFlush(
  flushed: Promise<void>,
  answer: Promise<pg.QueryResult<Row>>,
): Promise<pg.QueryResult<Row>> {
  const [written, answered] = await Promise.allSettled([flushed, answer]);
  if (written.status === 'rejected') throw written.reason;
  if (answered.status === 'rejected') throw answered.reason;
  return answered.value;
}

/**
 * The held-back writes as one statement, one round trip (each a data-modifying WITH, its
 * parameters numbered on after the one before, then the count each must write): they write to
 * different tables (writesHeldBack has one statement per table, and two on one table are written
 * apart: heldApart), so running them together changes nothing of what each writes. It answers one
 * row, the count each wrote (`w0`, `w1`...), and fails (division by zero) unless each wrote its
 * count (a delete, at most its count), so that its transaction cannot commit with a
 * write short: the COMMIT goes out right behind it, before its answer is read (#attempt).
 */
export function writtenTogether(statements: readonly string[]): string {
  const key = statements.join('\n;\n');
  let together = statementsTogether.get(key);
  if (together === undefined) {
    together = joinedWrites(statements);
    statementsTogether.set(key, together);
    assert(
      statementsTogether.size <= 2 ** writesHeldBack.size,
      'one statement per subset of writes',
    );
  }
  return together;
}

/** writtenTogether's statements, by the writes they join (at most one per subset of writesHeldBack). */
const statementsTogether = new Map<string, string>();

function joinedWrites(statements: readonly string[]): string {
  let offset = 0;
  const parts = statements.map((sql, w) => {
    const numbers = [...sql.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]));
    assert(
      numbers.length > 0 && !/RETURNING/i.test(sql),
      'a held write takes arrays, returns none',
    );
    const renumbered = sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
    offset += Math.max(...numbers);
    return `w${w} AS (${renumbered} RETURNING 1)`;
  });
  const counts = statements.map((_, w) => `(SELECT count(*)::int FROM w${w}) AS w${w}`);
  const allWritten = statements
    .map((sql, w) => `w${w} ${deletes(sql) ? '<=' : '='} $${offset + w + 1}::int`)
    .join(' AND ');
  return `WITH ${parts.join(', ')}, counts AS (SELECT ${counts.join(', ')})
    SELECT *, 1 / (CASE WHEN ${allWritten} THEN 1 ELSE 0 END) AS all_written FROM counts`;
}

/** What a held-back write answers at once (its callers read nothing from it). */
const heldResult = {
  rows: [],
  rowCount: 0,
  command: 'INSERT',
  oid: 0,
  fields: [],
} as pg.QueryResult<Row>;

function accountTx(query: Query, appends: Appends): AccountTx {
  return {
    ...ledgerTx(query, appends),
    async heldRemittanceIds(limit) {
      const rows = await rowsOf(
        query,
        'SELECT remittance_id FROM holds ORDER BY position LIMIT $1',
        [limit],
      );
      return rows.map((row) => row['remittance_id'] as string);
    },
    async account(accountNumber) {
      const row = await rowOf(query, 'SELECT * FROM accounts WHERE account_number = $1', [
        accountNumber,
      ]);
      return row ? accountFromRow(row) : undefined;
    },
    async accounts(accountNumbers) {
      const rows = await rowsOf(query, 'SELECT * FROM accounts WHERE account_number = ANY($1)', [
        accountNumbers,
      ]);
      return new Map(rows.map((row) => [row['account_number'] as bigint, accountFromRow(row)]));
    },
    async putAccount(row) {
      await query(upsertAccount, [
        row.accountNumber,
        row.currencyType,
        row.balance,
        row.held,
        row.status,
        row.lastUpdate,
        row.signerKeyNumber,
        row.signature,
      ]);
    },
    async holds(remittanceIds) {
      if (remittanceIds.length === 0) return new Map();
      const rows = await rowsOf(
        query,
        'SELECT * FROM holds WHERE remittance_id = ANY($1::text[])',
        [remittanceIds],
      );
      return new Map(
        rows.map((row) => {
          const remittanceId = row['remittance_id'] as string;
          const accountNumber = row['account_number'] as bigint;
          return [remittanceId, { remittanceId, accountNumber, amount: row['amount'] as bigint }];
        }),
      );
    },
    async putHold(row) {
      await query(insertHold, [row.remittanceId, row.accountNumber, row.amount]);
    },
    async deleteHolds(remittanceIds) {
      // Held back and written with the transaction's other writes (holdingWrites).
      for (const remittanceId of remittanceIds) await query(deleteHold, [remittanceId]);
    },
    async quarantineAccount(accountNumber, reason, atMs) {
      return quarantine(
        query,
        'accounts',
        'account_number',
        accountNumber,
        reason,
        atMs,
        accountFromRow,
      );
    },
  };
}

/**
 * The currency device's transaction. A batch reads its counters first (reserve with 0, with its
 * other first reads) and advances them once it is decided: that advance is a held-back write from
 * the value read (advanceCounterHeld; it writes short, and so fails the transaction, unless the
 * counter still holds it), so reserving the numbers takes no round trip of its own. A counter not
 * read in this transaction, or advanced already, is advanced as every other is.
 */
function currencyTx(query: Query, appends: Appends): CurrencyTx {
  /** Each counter's value as this transaction read it (stored, or its start), until it advances it. */
  const counterReads = new Map<CounterName, { readonly value: bigint; readonly stored: boolean }>();
  const reserve = async (name: CounterName, count: bigint): Promise<bigint> => {
    const read = counterReads.get(name);
    if (read !== undefined && count === 0n) return read.value;
    counterReads.delete(name);
    if (read?.stored) {
      await query(advanceCounterHeld, [name, read.value, read.value + count]);
      return read.value;
    }
    if (count > 0n) return advance(query, name, count, 1n);
    const row = await rowOf(query, 'SELECT value FROM counters WHERE name = $1', [name]);
    const value = row ? (row['value'] as bigint) : 1n;
    counterReads.set(name, { value, stored: row !== undefined });
    return value;
  };
  return {
    ...ledgerTx(query, appends),
    async heldRemittanceIds(limit) {
      const rows = await rowsOf(
        query,
        'SELECT remittance_id FROM unit_plans ORDER BY position LIMIT $1',
        [limit],
      );
      return rows.map((row) => row['remittance_id'] as string);
    },
    async unit(currencyNumber) {
      const row = await rowOf(query, 'SELECT * FROM currency_units WHERE currency_number = $1', [
        currencyNumber,
      ]);
      return row ? unitFromRow(row) : undefined;
    },
    async units(currencyNumbers) {
      const rows = await rowsOf(
        query,
        'SELECT * FROM currency_units WHERE currency_number = ANY($1)',
        [currencyNumbers],
      );
      return new Map(rows.map((row) => [row['currency_number'] as bigint, unitFromRow(row)]));
    },
    async highestUnitNumber() {
      const row = await rowOf(
        query,
        'SELECT coalesce(max(currency_number), 0)::bigint AS highest FROM currency_units',
      );
      return row!['highest'] as bigint;
    },
    async unitsOf(ownerAccount, currencyType, status) {
      const rows = await rowsOf(
        query,
        `SELECT * FROM currency_units WHERE owner_account = $1 AND currency_type = $2 AND status = $3
         ORDER BY currency_number`,
        [ownerAccount, currencyType, status],
      );
      return rows.map(unitFromRow);
    },
    async unitsToPay(payers, limit) {
      if (payers.length === 0) return [];
      // One index walk per payer (the LATERAL's ORDER BY ... LIMIT), in one statement.
      const rows = await rowsOf(
        query,
        `SELECT payer.i, unit.* FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY
           AS payer(owner, currency, i)
         CROSS JOIN LATERAL (SELECT * FROM currency_units
           WHERE owner_account = payer.owner AND currency_type = payer.currency AND status = 'active'
           ORDER BY value DESC, currency_number DESC LIMIT $3) AS unit
         ORDER BY payer.i, unit.value DESC, unit.currency_number DESC`,
        [payers.map((p) => p.ownerAccount), payers.map((p) => p.currencyType), limit],
      );
      const lists = payers.map((): CurrencyRow[] => []);
      for (const row of rows) lists[Number(row['i']) - 1]!.push(unitFromRow(row));
      return lists;
    },
    async putUnit(row) {
      await query(upsertUnit, [
        row.currencyNumber,
        row.currencyType,
        row.value,
        row.ownerAccount,
        row.status,
        row.lastUpdate,
        row.signerKeyNumber,
        row.signature,
      ]);
    },
    async raiseCounter(name, next) {
      counterReads.delete(name);
      await raise(query, name, next);
    },
    reservePlanSequences: (count) => reserve('plan_sequence', BigInt(count)),
    reserveUnitNumbers: (count) => reserve('currency_number', BigInt(count)),
    async plans(remittanceIds) {
      if (remittanceIds.length === 0) return new Map();
      const rows = await rowsOf(
        query,
        'SELECT remittance_id, plan_json FROM unit_plans WHERE remittance_id = ANY($1::text[])',
        [remittanceIds],
      );
      return new Map(
        rows.map((row) => {
          const remittanceId = row['remittance_id'] as string;
          return [remittanceId, { remittanceId, planJson: row['plan_json'] as string }];
        }),
      );
    },
    async putPlan(row) {
      await query(insertPlan, [row.remittanceId, row.planJson]);
    },
    async deletePlans(remittanceIds) {
      // Held back and written with the transaction's other writes (holdingWrites).
      for (const remittanceId of remittanceIds) await query(deletePlan, [remittanceId]);
    },
    async quarantineUnit(currencyNumber, reason, atMs) {
      return quarantine(
        query,
        'currency_units',
        'currency_number',
        currencyNumber,
        reason,
        atMs,
        unitFromRow,
      );
    },
  };
}

// ---- Stores ---------------------------------------------------------------------------------

const retryableCodes = new Set(['40001', '40P01']);

function isRetryable(error: unknown): boolean {
  return retryableCodes.has((error as { code?: string }).code ?? '');
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === uniqueViolation;
}

export interface PostgresOptions {
  /** Jitter for the backoff between attempts (tests pass their own). */
  readonly random?: () => number;
}

/**
 * A transaction's held-back writes and its COMMIT in one round trip: the writes' statement is made
 * first, so it goes out first (afterBegin keeps the order of the statements that wait for the BEGIN,
 * and the client sends in the order made), and the COMMIT right behind it, without waiting for its
 * answer. A write that fails, or writes short (its statement then fails: joinedWrites), aborts the
 * transaction, and PostgreSQL answers the COMMIT with ROLLBACK: nothing of it is kept.
 */
async function committedWithHeldWrites(
  client: pg.PoolClient,
  query: HoldingQuery,
  begun: Promise<unknown>,
): Promise<void> {
  const flushed = query.flush();
  const committed = begun.then(() => {
    sentTogether(client);
    return client.query('COMMIT');
  });
  const [flush, commit] = await Promise.allSettled([flushed, committed]);
  if (flush.status === 'rejected') throw flush.reason;
  if (commit.status === 'rejected') throw commit.reason;
  assert(commit.value.command === 'COMMIT', 'a transaction whose writes all answered commits');
}

/** A lazy transaction's opening (types.ts Durability), two statements in one simple query. */
const beginLazy = 'BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL synchronous_commit = off';

class PostgresStore<Tx> implements Store<Tx> {
  /** Each transaction is its own, on the server (see the opening comment). */
  readonly transactionsCommittedTogetherMax = 1;

  constructor(
    readonly pool: pg.Pool,
    private readonly kind: DeviceKind,
    private readonly txOn: (query: Query, appends: Appends) => Tx,
    private readonly random: () => number,
  ) {}

  /** Device transactions run one at a time, in arrival order (see the opening comment). */
  #queue: Promise<unknown> = Promise.resolve();
  #commitListener: CommitListener | undefined;

  observeCommits(listener: CommitListener): void {
    assert(this.#commitListener === undefined, 'one commit listener per store');
    this.#commitListener = listener;
  }

  transact<T>(work: (tx: Tx) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    const run = () => this.#attempt(work, durability);
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #attempt<T>(work: (tx: Tx) => Promise<T>, durability: Durability): Promise<T> {
    let appends: Appends = 'held';
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      const startedMs = performance.now();
      try {
        // A lazy one's setting travels with its BEGIN: one round trip, as a synced one's. Not
        // awaited here: it goes out with the first read (afterBegin), and is awaited by then.
        sentTogether(client);
        const begun = client.query(
          durability === 'lazy' ? beginLazy : 'BEGIN ISOLATION LEVEL SERIALIZABLE',
        );
        const query = holdingWrites(afterBegin(queryOn(client), begun));
        const result = await work(this.txOn(query, appends));
        if (isFailure(result)) {
          // A refusal changes nothing: whatever the work wrote before it refused is undone.
          await begun;
          await client.query('ROLLBACK');
        } else await committedWithHeldWrites(client, query, begun);
        if (durability === 'synced')
          this.#commitListener?.(1, (performance.now() - startedMs) / 1000);
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        // A held append that met a number taken (a repeat or a conflict): the work runs again at
        // once, its appends checked, which tell the two apart (Appends). A unique violation of
        // another write (a reserved number taken) fails the checked run again, and is thrown.
        if (appends === 'held' && isUniqueViolation(error)) {
          appends = 'checked';
          continue;
        }
        if (!isRetryable(error) || attempt >= transactAttemptsMax) throw error;
      } finally {
        // A connection that could not roll back is closed, never handed to the next transaction.
        client.release(broken);
      }
      const backoffMs = Math.min(100, 2 ** attempt) * this.random();
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
  }

  async *dumpRows(): AsyncGenerator<DumpRow> {
    const client = await this.pool.connect();
    let finished = false;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      for (const table of dumpTables[this.kind]) {
        const order = table.orderBy === 'arrival' ? arrivalColumns[table.name] : table.orderBy;
        assert(order, 'every table dumped in arrival order has its arrival column');
        await client.query(
          `DECLARE dumped NO SCROLL CURSOR FOR SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${order}`,
        );
        for (;;) {
          const page = (await client.query<Row>(`FETCH ${exportPageRowsMax} FROM dumped`)).rows;
          for (const stored of page) {
            const row: Record<string, DumpValue> = {};
            for (const column of table.columns) row[column] = dumpValue(stored[column]);
            yield { table: table.name, row };
          }
          if (page.length < exportPageRowsMax) break;
        }
        await client.query('CLOSE dumped');
      }
      await client.query('COMMIT');
      finished = true;
    } finally {
      if (!finished)
        await client.query('ROLLBACK').catch((error: Error) => {
          broken = error;
        });
      client.release(broken);
    }
  }

  async isEmpty(): Promise<boolean> {
    for (const table of dumpTables[this.kind]) {
      const found = await this.pool.query(`SELECT 1 FROM ${table.name} LIMIT 1`);
      if (found.rows.length > 0) return false;
    }
    return true;
  }

  loadRows(rows: AsyncIterable<DumpRow>): Promise<number> {
    // One attempt, no retry: the rows are a stream that cannot be read twice, and nobody else
    // writes to a store being imported into.
    const run = () => this.#load(rows);
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #load(rows: AsyncIterable<DumpRow>): Promise<number> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    let pending: DumpRow[] = [];
    let loaded = 0;
    const flush = async () => {
      const first = pending[0];
      if (!first) return;
      const table = tableOf(this.kind, first.table);
      const width = table.columns.length;
      const tuples = pending.map(
        (_, r) => `(${table.columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`,
      );
      await client.query(
        `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES ${tuples.join(', ')}`,
        pending.flatMap((dumped) => table.columns.map((column) => dumped.row[column])),
      );
      loaded += pending.length;
      pending = [];
    };
    try {
      await client.query('BEGIN');
      for await (const dumped of rows) {
        assert(
          dumpTableOf(this.kind, dumped),
          'an import loads only rows checked against the dump tables',
        );
        if (pending.length >= loadBatchRowsMax || pending[0]?.table !== dumped.table) await flush();
        pending.push(dumped);
      }
      await flush();
      await client.query('COMMIT');
      return loaded;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.pool.end();
  }

  async externalChangeMark(): Promise<bigint> {
    const result = await this.pool.query<Row>(
      "SELECT value FROM change_marks WHERE name = 'transactions'",
    );
    const mark = result.rows[0]?.['value'];
    assert(typeof mark === 'bigint', 'the change mark row exists from the first migration');
    return mark;
  }

  exportRecordPages(
    afterNumber = 0n,
    upToNumber = transactionNumberMax,
  ): AsyncIterable<SignedRecord[]> {
    return rowPages(
      this.pool,
      'transactions',
      'transaction_number',
      recordFromRow,
      afterNumber,
      upToNumber,
    );
  }

  exportRecords(afterNumber?: bigint, upToNumber?: bigint): AsyncIterable<SignedRecord> {
    return itemsOfPages(this.exportRecordPages(afterNumber, upToNumber));
  }
}

/** The lowest and highest keys a BIGINT column holds: the bounds of an export of a whole table. */
const keyMin = -(2n ** 63n);
const keyMax = transactionNumberMax;

/** A table in key order, a row at a time (rowPages). */
function pagedRows<T>(
  pool: pg.Pool,
  table: string,
  keyColumn: string,
  convert: (row: Row) => T,
  afterKey = keyMin,
): AsyncIterable<T> {
  return itemsOfPages(rowPages(pool, table, keyColumn, convert, afterKey));
}

/**
 * A table in key order (keys in (afterKey, upToKey]), read in pages within one REPEATABLE READ
 * snapshot: constant memory for any size, consistent while the device writes.
 */
async function* rowPages<T>(
  pool: pg.Pool,
  table: string,
  keyColumn: string,
  convert: (row: Row) => T,
  afterKey = keyMin,
  upToKey = keyMax,
): AsyncGenerator<T[]> {
  const client = await pool.connect();
  const query = queryOn(client);
  let finished = false;
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (let after = afterKey; ; ) {
      const page = await rowsOf(
        query,
        `SELECT * FROM ${table} WHERE ${keyColumn} > $1 AND ${keyColumn} <= $2
         ORDER BY ${keyColumn} LIMIT $3`,
        [after, upToKey, exportPageRowsMax],
      );
      if (page.length > 0) yield page.map(convert);
      if (page.length < exportPageRowsMax) break;
      after = page.at(-1)![keyColumn] as bigint;
    }
    await client.query('COMMIT');
    finished = true;
  } finally {
    // Also when the reader stopped early: the snapshot ends before the connection goes back.
    if (!finished)
      await client.query('ROLLBACK').catch((error: Error) => {
        broken = error;
      });
    client.release(broken);
  }
}

async function openPostgresStore<Tx>(
  location: PostgresLocation,
  kind: DeviceKind,
  txOn: (query: Query, appends: Appends) => Tx,
  options: PostgresOptions,
): Promise<PostgresStore<Tx>> {
  const pool = openPool(location);
  try {
    await migrate(pool, location, kind);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresStore(pool, kind, txOn, options.random ?? Math.random);
}

export function openPostgresTransactionStore(
  location: PostgresLocation,
  options: PostgresOptions = {},
): Promise<Store<TransactionTx>> {
  return openPostgresStore(location, 'transaction', transactionTx, options);
}

export async function openPostgresAccountStore(
  location: PostgresLocation,
  options: PostgresOptions = {},
): Promise<AccountStore> {
  const store = await openPostgresStore(location, 'account', accountTx, options);
  return Object.assign(store, {
    exportAccounts: (afterAccount?: bigint): AsyncIterable<AccountRow> =>
      pagedRows(store.pool, 'accounts', 'account_number', accountFromRow, afterAccount),
  });
}

export async function openPostgresCurrencyStore(
  location: PostgresLocation,
  options: PostgresOptions = {},
): Promise<CurrencyStore> {
  const store = await openPostgresStore(location, 'currency', currencyTx, options);
  return Object.assign(store, {
    exportUnits: (afterUnit?: bigint): AsyncIterable<CurrencyRow> =>
      pagedRows(store.pool, 'currency_units', 'currency_number', unitFromRow, afterUnit),
  });
}
