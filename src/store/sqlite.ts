// The SQLite implementation of the device stores (better-sqlite3, one file per device).
//
// WAL journal with synchronous=FULL: a transaction whose commit has returned is on disk (a group of
// lazy works alone commits with synchronous=NORMAL: no sync; the next synced commit's covers it).
// Works run one at a time (an async queue in front of the connection), so statements of two
// requests never interleave, and those that queued up during one COMMIT share the next (group
// commit, in savepoints; SqliteStore). Integers come back as bigint (safeIntegers).
// The SQL is plain enough to port as is: INTEGER, TEXT, BLOB, ON CONFLICT DO NOTHING.

import Database from 'better-sqlite3';
import { assert } from '../model/assert.js';
import { itemsOfPages } from '../model/pages.js';
import { nextTurn } from '../model/turns.js';
import { blockSize, type SignedRecord, sameRecord } from '../protocol/records.js';
import { accountNamingTypes, accountNamingTypesSql, stepOf } from '../protocol/transactionTypes.js';
import { damageFindingsMax, damageOf, isStoreDamage, StoreDamaged } from './damage.js';
import { type DumpRow, dumpTableOf, dumpTables } from './dump.js';
import {
  accountColumns,
  accountFromRow,
  foundAmong,
  isFailure,
  operationFromRow,
  quarantineJson,
  type Row,
  recordColumns,
  recordFromRow,
  recordFromValues,
  recordValues,
  unitColumns,
  unitFromRow,
  unitFromValues,
} from './rows.js';
import { selectedColumns } from './sqliteColumns.js';
import { dumpRows, exportAccounts, exportRecordPages, exportUnits } from './sqliteExport.js';
import {
  type AccountStore,
  type AccountTx,
  accountHistoryBatchMax,
  type CommitListener,
  type CounterName,
  type CurrencyStore,
  type CurrencyTx,
  type DeviceKind,
  type Durability,
  type HoldRow,
  type LedgerTx,
  type Store,
  settledEverywhere,
  type TransactionTx,
  type UnitPlanRow,
} from './types.js';

const ledgerSchema = `
CREATE TABLE IF NOT EXISTS transactions (
  transaction_number INTEGER PRIMARY KEY,
  remittance_id TEXT NOT NULL,
  transaction_type TEXT NOT NULL,
  source_account INTEGER,
  destination_account INTEGER,
  amount INTEGER,
  currency_type TEXT,
  outcome TEXT,
  detail TEXT,
  date_time INTEGER NOT NULL,
  signer_key_number INTEGER NOT NULL,
  signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_remittance ON transactions (remittance_id, transaction_number);
CREATE TABLE IF NOT EXISTS account_keys (
  account_number INTEGER PRIMARY KEY,
  key_number INTEGER NOT NULL,
  algorithm TEXT NOT NULL,
  public_key BLOB
);`;

const schemas: Record<DeviceKind, string> = {
  transaction: `${ledgerSchema}
CREATE TABLE IF NOT EXISTS operations (
  remittance_id TEXT PRIMARY KEY,
  request_digest BLOB NOT NULL,
  base_number INTEGER NOT NULL UNIQUE,
  state TEXT NOT NULL,
  response_json TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  account: `${ledgerSchema}
CREATE TABLE IF NOT EXISTS accounts (
  account_number INTEGER PRIMARY KEY,
  currency_type TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0),
  held INTEGER NOT NULL CHECK (held >= 0 AND held <= balance),
  status TEXT NOT NULL,
  last_update INTEGER NOT NULL,
  signer_key_number INTEGER NOT NULL,
  signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS holds (
  remittance_id TEXT PRIMARY KEY,
  account_number INTEGER NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0)
);`,
  currency: `${ledgerSchema}
CREATE TABLE IF NOT EXISTS currency_units (
  currency_number INTEGER PRIMARY KEY,
  currency_type TEXT NOT NULL,
  value INTEGER NOT NULL CHECK (value > 0),
  owner_account INTEGER NOT NULL,
  status TEXT NOT NULL,
  last_update INTEGER NOT NULL,
  signer_key_number INTEGER NOT NULL,
  signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS currency_units_by_owner ON currency_units (owner_account, currency_type, status);
CREATE TABLE IF NOT EXISTS unit_plans (remittance_id TEXT PRIMARY KEY, plan_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
};

/** What recovery removes is kept here, never just deleted (one table in every device's store). */
const quarantineSchema = `
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY,
  quarantined_at INTEGER NOT NULL,
  table_name TEXT NOT NULL,
  row_key TEXT NOT NULL,
  row_json TEXT NOT NULL,
  reason TEXT NOT NULL
);`;

/** Signed checkpoints (audit/checkpoint.ts), kept by every device. */
const checkpointSchema = `
CREATE TABLE IF NOT EXISTS checkpoints (
  transaction_number INTEGER PRIMARY KEY,
  checkpoint_json TEXT NOT NULL
);`;

/**
 * Which peers hold an operation's settlement (bit 1: account, bit 2: currency), so that a
 * settlement that did not arrive is sent again (issue 5). Operations finished before this
 * migration were settled when they finished (the audit finds any that were not).
 */
const settlementSchema = `
ALTER TABLE operations ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
UPDATE operations SET settled = 3 WHERE state = 'done';
CREATE INDEX IF NOT EXISTS operations_pending ON operations (state, settled, base_number);`;

/**
 * Account keys are read from the records of each account's opening (indexed here), verified like
 * any operation (devices/accountKeys.ts); the table that copied them is dropped.
 */
const accountOpeningsSchema = `
DROP TABLE IF EXISTS account_keys;
CREATE INDEX IF NOT EXISTS transactions_opening_account ON transactions (destination_account)
  WHERE transaction_type = 'account_issuing_response';`;

/** The transaction device also finds whether a shared HMAC key opened an account already. */
const openingKeysSchema = `
CREATE INDEX IF NOT EXISTS transactions_by_opening_key ON transactions (signer_key_number)
  WHERE transaction_type = 'account_issuing_request';`;

/**
 * A payer's active units in the order a payment walks them (CurrencyTx.unitsToPay); it serves the
 * reads by owner and status too, so the older index goes.
 */
const unitsToPaySchema = `
CREATE INDEX IF NOT EXISTS currency_units_to_pay
  ON currency_units (owner_account, currency_type, status, value DESC, currency_number DESC);
DROP INDEX IF EXISTS currency_units_by_owner;`;

/**
 * An account's history is found by the records that name its accounts (accountNamingTypes: one or
 * two of an operation's six), so only those are indexed by account: the indexes of every record by
 * source and destination, written on every record at random places, go.
 */
const accountHistorySchema = `
DROP INDEX IF EXISTS transactions_by_source;
DROP INDEX IF EXISTS transactions_by_destination;
CREATE INDEX IF NOT EXISTS transactions_naming_source ON transactions (source_account, transaction_number)
  WHERE transaction_type IN (${accountNamingTypesSql});
CREATE INDEX IF NOT EXISTS transactions_naming_destination ON transactions (destination_account, transaction_number)
  WHERE transaction_type IN (${accountNamingTypesSql});`;

/**
 * The account history index off the hot path: the records that name an operation's accounts as
 * it is asked for (its request, stored with its block's first number when the operation opens)
 * are indexed by account in batches, after they are stored (TransactionTx.indexAccountHistory),
 * instead of by an index every remittance writes at random places. An opening is found by its
 * response, through the index of openings by account.
 */
const accountHistoryTableSchema = `
DROP INDEX IF EXISTS transactions_naming_source;
DROP INDEX IF EXISTS transactions_naming_destination;
CREATE TABLE IF NOT EXISTS account_history (
  account_number INTEGER NOT NULL,
  transaction_number INTEGER NOT NULL,
  remittance_id TEXT NOT NULL,
  PRIMARY KEY (account_number, transaction_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_history_indexed (up_to INTEGER NOT NULL);
INSERT INTO account_history_indexed (up_to) VALUES (0);`;

/** Versioned migrations: migrations[kind][v - 1] brings a store from version v - 1 to v. */
const migrations: Record<DeviceKind, readonly string[]> = {
  transaction: [
    schemas.transaction,
    quarantineSchema,
    checkpointSchema,
    settlementSchema,
    accountOpeningsSchema + openingKeysSchema,
    accountHistorySchema,
    accountHistoryTableSchema,
  ],
  account: [schemas.account, quarantineSchema, checkpointSchema, accountOpeningsSchema],
  currency: [
    schemas.currency,
    quarantineSchema,
    checkpointSchema,
    accountOpeningsSchema,
    unitsToPaySchema,
  ],
};

/**
 * Open a device's SQLite store, check it and bring its schema forward. A file whose pages do not
 * hold together (SQLite's quick_check, or an error that reports damage while opening) is refused
 * with StoreDamaged (store/damage.ts) and left exactly as it was.
 */
export function openSqliteDatabase(path: string, kind: DeviceKind): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    const damage = damageOf(
      (db.pragma(`quick_check(${damageFindingsMax})`) as { quick_check: string }[]).map(
        (row) => row.quick_check,
      ),
    );
    if (damage) throw new StoreDamaged(`${path} is damaged: ${damage}`);
    const opened = migrated(db, path, kind);
    const missing = missingSchemaObjects(opened, kind);
    if (missing.length > 0)
      throw new StoreDamaged(`${path} is damaged: missing from its schema: ${missing.join(', ')}`);
    return opened;
  } catch (error) {
    db?.close();
    if (isStoreDamage(error) && !(error instanceof StoreDamaged))
      throw new StoreDamaged(`${path} is damaged: ${(error as Error).message}`);
    throw error;
  }
}

/** The tables and indexes a device's store is made with: its migrations run on an empty database. */
const schemaObjectsOf = new Map<DeviceKind, readonly string[]>();

function schemaObjectNames(db: Database.Database): string[] {
  return db
    .prepare(
      "SELECT type || ' ' || name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .pluck()
    .all() as string[];
}

/**
 * The tables and indexes the device's migrations made that the store no longer has (dropped
 * behind the device's back): a store without them is damaged, not merely old.
 */
function missingSchemaObjects(db: Database.Database, kind: DeviceKind): string[] {
  let expected = schemaObjectsOf.get(kind);
  if (expected === undefined) {
    const empty = migrated(new Database(':memory:'), ':memory:', kind);
    expected = schemaObjectNames(empty);
    empty.close();
    schemaObjectsOf.set(kind, expected);
  }
  assert(expected.length > 0, 'a device store has tables');
  const present = new Set(schemaObjectNames(db));
  return expected.filter((name) => !present.has(name));
}

/**
 * The page cache of a device's own connection, KiB: better-sqlite3's build default, made a named
 * limit. It fills as the store grows (a minute or two under load) and then stays; an export's
 * connection keeps less (sqliteExport.ts exportCacheKiB).
 */
export const storePageCacheKiB = 16_000;

function migrated(db: Database.Database, path: string, kind: DeviceKind): Database.Database {
  db.defaultSafeIntegers(true);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  // Statement journals and sorts in memory: on disk SQLite created, wrote and unlinked a temporary
  // file for them (/var/tmp/etilqs_*) several times a second under load, each a few system calls.
  db.pragma('temp_store = MEMORY');
  db.pragma(`cache_size = ${-storePageCacheKiB}`);
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, device TEXT NOT NULL)',
  );
  const applied = db
    .prepare('SELECT version, device FROM schema_migrations ORDER BY version')
    .all() as Row[];
  const other = applied.find((row) => row['device'] !== kind);
  if (other) {
    throw new Error(
      `${path} holds the store of the ${String(other['device'])} device, not ${kind}`,
    );
  }
  migrations[kind].forEach((sql, index) => {
    const version = BigInt(index + 1);
    if (applied.some((row) => row['version'] === version)) return;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, device) VALUES (?, ?)').run(
        version,
        kind,
      );
    })();
  });
  return db;
}

/** `PRAGMA synchronous` at NORMAL: in WAL mode a commit syncs nothing (a checkpoint still does). */
const synchronousNormal = 1n;
/** `PRAGMA synchronous` at FULL: every commit synced, as a device's store opens. */
const synchronousFull = 2n;

/** Device transactions committed together at most (group commit; see SqliteStore). */
export const groupCommitSizeMax = 64;

interface QueuedWork<Tx> {
  readonly work: (tx: Tx) => Promise<unknown>;
  readonly durability: Durability;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One connection; device transactions run one at a time, in arrival order, and are committed in
 * groups. A COMMIT waits for the disk (fsync) with the event loop stopped, and the requests that
 * arrive meanwhile queue their works; the next group takes all of them (up to
 * `groupCommitSizeMax`): they run one after another inside one database transaction, each in its
 * own savepoint, and one COMMIT makes them all durable. Nothing waits to fill a group: under light
 * load a group holds one work. A work that refuses or throws is rolled back to its savepoint alone;
 * its caller, like every other, hears back only after the group's COMMIT returned.
 */
class SqliteStore<Tx> implements Store<Tx> {
  readonly transactionsCommittedTogetherMax = groupCommitSizeMax;
  #queued: QueuedWork<Tx>[] = [];
  #draining: Promise<void> | undefined;
  #commitListener: CommitListener | undefined;
  /** The statements that open, mark and close transactions, prepared once (they run on every work). */
  readonly #control: Record<
    | 'begin'
    | 'commit'
    | 'rollback'
    | 'savepoint'
    | 'rollbackTo'
    | 'release'
    | 'totalChanges'
    | 'synchronous',
    Database.Statement
  >;

  constructor(
    readonly db: Database.Database,
    private readonly kind: DeviceKind,
    private readonly tx: Tx,
  ) {
    this.#control = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT work'),
      rollbackTo: db.prepare('ROLLBACK TO work'),
      release: db.prepare('RELEASE work'),
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      // The sync level, read (a lazy group sets it with a pragma call each time, below).
      synchronous: db.prepare('PRAGMA synchronous').pluck(),
    };
    // A statement that sets the level is never kept: SQLite applies `PRAGMA synchronous = ...` when
    // it compiles one as well as when it runs (a NORMAL prepared here would leave every commit
    // unsynced).
    assert(
      this.#control.synchronous.get() === synchronousFull,
      'a device store syncs every commit',
    );
  }

  transact<T>(work: (tx: Tx) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queued.push({ work, durability, resolve: resolve as (value: unknown) => void, reject });
      this.#draining ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    for (;;) {
      // Let the network deliver what arrived during the last COMMIT: it joins this group.
      await nextTurn();
      // Finding the queue empty and ending the drain is one synchronous step: a work queued after
      // it starts a new drain, never waits on one that has ended.
      if (this.#queued.length === 0) {
        this.#draining = undefined;
        return;
      }
      await this.#commitGroup(this.#queued.splice(0, groupCommitSizeMax));
    }
  }

  observeCommits(listener: CommitListener): void {
    assert(this.#commitListener === undefined, 'one commit listener per store');
    this.#commitListener = listener;
  }

  async #commitGroup(group: QueuedWork<Tx>[]): Promise<void> {
    const answers: (() => void)[] = [];
    const startedMs = performance.now();
    // A group of lazy works alone is not synced: the next synced commit syncs the WAL with it.
    const synced = group.some((queued) => queued.durability === 'synced');
    let levelBefore: bigint | undefined;
    try {
      if (!synced) levelBefore = this.#syncLazily();
      const changesBefore = this.#control.totalChanges.get();
      this.#control.begin.run();
      for (const queued of group) answers.push(await this.#runInSavepoint(queued));
      this.#control.commit.run();
      // A group that only read (a turn carrying a3 and a4 on), or synced nothing, is not a commit
      // to count.
      if (synced && this.#control.totalChanges.get() !== changesBefore)
        this.#commitListener?.(group.length, (performance.now() - startedMs) / 1000);
    } catch (error) {
      // The group could not be committed (the disk, the database): nothing of it is durable.
      if (this.db.inTransaction) this.#control.rollback.run();
      for (const queued of group) queued.reject(error);
      return;
    } finally {
      if (levelBefore !== undefined) this.#syncAgainAt(levelBefore);
    }
    for (const answer of answers) answer();
  }

  /**
   * Lower the connection's sync level to NORMAL for a lazy group's commit (set between
   * transactions: SQLite refuses inside one); returns the level to put back, or undefined when it
   * syncs no commit already (a store its owner set to NORMAL or OFF, as the audit benchmark does
   * while it builds a ledger).
   */
  #syncLazily(): bigint | undefined {
    const level = this.#control.synchronous.get() as bigint;
    if (level <= synchronousNormal) return undefined;
    this.db.pragma(`synchronous = ${synchronousNormal}`);
    assert(this.#control.synchronous.get() === synchronousNormal, 'a lazy group commits unsynced');
    return level;
  }

  #syncAgainAt(level: bigint): void {
    this.db.pragma(`synchronous = ${level}`);
    assert(this.#control.synchronous.get() === level, 'a lazy group puts the sync level back');
  }

  /** Run one work in a savepoint; returns how to answer its caller once the group commits. */
  async #runInSavepoint(queued: QueuedWork<Tx>): Promise<() => void> {
    this.#control.savepoint.run();
    try {
      const result = await queued.work(this.tx);
      // A refusal changes nothing: whatever the work wrote before it refused is undone.
      if (isFailure(result)) this.#control.rollbackTo.run();
      this.#control.release.run();
      return () => queued.resolve(result);
    } catch (error) {
      this.#control.rollbackTo.run();
      this.#control.release.run();
      return () => queued.reject(error);
    }
  }

  async close(): Promise<void> {
    while (this.#draining) await this.#draining;
    this.db.close();
  }

  async externalChangeMark(): Promise<bigint> {
    return BigInt(this.db.pragma('data_version', { simple: true }) as bigint);
  }

  exportRecordPages(afterNumber?: bigint, upToNumber?: bigint): AsyncIterable<SignedRecord[]> {
    return exportRecordPages(this.db.name, afterNumber, upToNumber);
  }

  exportRecords(afterNumber?: bigint, upToNumber?: bigint): AsyncIterable<SignedRecord> {
    return itemsOfPages(this.exportRecordPages(afterNumber, upToNumber));
  }

  dumpRows(): AsyncIterable<DumpRow> {
    return dumpRows(this.db.name, this.kind);
  }

  async isEmpty(): Promise<boolean> {
    return dumpTables[this.kind].every(
      (table) => this.db.prepare(`SELECT 1 FROM ${table.name} LIMIT 1`).get() === undefined,
    );
  }

  loadRows(rows: AsyncIterable<DumpRow>): Promise<number> {
    return this.transact(async () => {
      const inserts = new Map<string, Database.Statement>();
      let loaded = 0;
      for await (const dumped of rows) {
        const table = dumpTableOf(this.kind, dumped);
        assert(table, 'an import loads only rows checked against the dump tables');
        let insert = inserts.get(table.name);
        if (!insert) {
          const columns = table.columns.join(', ');
          const values = table.columns.map(() => '?').join(', ');
          insert = this.db.prepare(`INSERT INTO ${table.name} (${columns}) VALUES (${values})`);
          inserts.set(table.name, insert);
        }
        insert.run(...table.columns.map((column) => dumped.row[column]));
        loaded += 1;
      }
      return loaded;
    });
  }
}

function quarantiner(db: Database.Database, table: string, keyColumn: string) {
  const read = db.prepare(`SELECT * FROM ${table} WHERE ${keyColumn} = ?`);
  const remove = db.prepare(`DELETE FROM ${table} WHERE ${keyColumn} = ?`);
  const keep = db.prepare(
    'INSERT INTO quarantine (quarantined_at, table_name, row_key, row_json, reason) VALUES (?, ?, ?, ?, ?)',
  );
  /** Move one row into the quarantine table; returns it converted, or undefined when absent. */
  return <T extends object>(
    key: bigint,
    reason: string,
    atMs: bigint,
    convert: (row: Row) => T,
  ): T | undefined => {
    const row = read.get(key) as Row | undefined;
    if (!row) return undefined;
    const converted = convert(row);
    keep.run(atMs, table, key.toString(), quarantineJson(converted), reason);
    assert(remove.run(key).changes === 1, 'the quarantined row is removed');
    return converted;
  };
}

function ledgerTx(db: Database.Database): LedgerTx {
  const insert =
    db.prepare(`INSERT INTO transactions (transaction_number, remittance_id, transaction_type,
    source_account, destination_account, amount, currency_type, outcome, detail, date_time, signer_key_number, signature)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transaction_number) DO NOTHING`);
  const byNumber = db.prepare(
    `SELECT ${selectedColumns(recordColumns)} FROM transactions WHERE transaction_number = ?`,
  );
  const removeByNumber = db.prepare('DELETE FROM transactions WHERE transaction_number = ?');
  // An operation's records as raw rows in recordColumns order: read on every step at every device,
  // they skip the object of column names better-sqlite3 would build for each row.
  const byRemittance = db
    .prepare(
      `SELECT ${selectedColumns(recordColumns)} FROM transactions WHERE remittance_id = ?
       ORDER BY transaction_number`,
    )
    .raw(true);
  const recordsOf = (remittanceId: unknown): SignedRecord[] =>
    (byRemittance.all(remittanceId) as unknown[][]).map(recordFromValues);
  const openingOf = db.prepare(`SELECT remittance_id, transaction_number FROM transactions
    WHERE transaction_type = 'account_issuing_response' AND outcome = 'ok' AND destination_account = ?
    ORDER BY transaction_number LIMIT 1`);
  const quarantineRow = quarantiner(db, 'transactions', 'transaction_number');
  const countRecords = db.prepare(
    'SELECT count(*) AS n FROM transactions WHERE transaction_number > ?',
  );
  const lastRecord = db.prepare('SELECT max(transaction_number) AS n FROM transactions');
  const putCheckpoint = db.prepare(
    'INSERT INTO checkpoints (transaction_number, checkpoint_json) VALUES (?, ?) ON CONFLICT (transaction_number) DO UPDATE SET checkpoint_json = excluded.checkpoint_json',
  );
  const newestCheckpoints = limitedStatement(
    db,
    (limit) =>
      `SELECT checkpoint_json FROM checkpoints ORDER BY transaction_number DESC LIMIT ${limit}`,
  );
  return {
    async appendRecords(records) {
      const insertedNumbers: bigint[] = [];
      for (const signed of records) {
        const inserted = insert.run(...recordValues(signed));
        // A number already taken: the stored record must be this one (a repeat), else it conflicts
        // and what this call inserted goes again. A fresh insert is not read back on the hot path
        // (the audit reads every record back).
        if (inserted.changes === 1) {
          insertedNumbers.push(signed.record.transactionNumber);
          continue;
        }
        assert(inserted.changes === 0, 'a record is inserted once');
        const stored = recordFromRow(byNumber.get(signed.record.transactionNumber) as Row);
        if (sameRecord(stored, signed)) continue;
        for (const number of insertedNumbers)
          assert(removeByNumber.run(number).changes === 1, 'a record just inserted is removed');
        return false;
      }
      return true;
    },
    async recordsOfOperation(remittanceId) {
      return recordsOf(remittanceId);
    },
    async recordsOfOperations(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const records = recordsOf(remittanceId);
        return records.length === 0 ? undefined : records;
      });
    },
    async accountOpening(accountNumber) {
      const opening = openingOf.get(accountNumber) as Row | undefined;
      if (!opening) return [];
      return recordsOf(opening['remittance_id']);
    },
    async accountsOpenedAt(accountNumbers) {
      return foundAmong(
        accountNumbers,
        (accountNumber) =>
          (openingOf.get(accountNumber) as Row | undefined)?.['transaction_number'] as
            | bigint
            | undefined,
      );
    },
    async putCheckpoint(transactionNumber, json) {
      putCheckpoint.run(transactionNumber, json);
    },
    async checkpoints(limit) {
      return (newestCheckpoints(limit).all() as Row[]).map(
        (row) => row['checkpoint_json'] as string,
      );
    },
    async recordCount(afterNumber = 0n) {
      return (countRecords.get(afterNumber) as Row)['n'] as bigint;
    },
    async lastRecordNumber() {
      return ((lastRecord.get() as Row)['n'] as bigint | null) ?? 0n;
    },
    async quarantineRecord(transactionNumber, reason, atMs) {
      return quarantineRow(transactionNumber, reason, atMs, recordFromRow);
    },
  };
}

/** Counters that only go up: `raise` makes a counter's next value at least the one given. */
function raiser(db: Database.Database) {
  const raise = db.prepare(
    'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)',
  );
  return async (name: CounterName, next: bigint): Promise<void> => {
    raise.run(name, next);
  };
}

/** Statements kept per text with a limit written in (each caller uses one limit or a few). */
const limitedStatementsMax = 8;

/**
 * A statement whose LIMIT is written into its text, prepared once per limit and kept. SQLite (as
 * better-sqlite3 12 builds it) plans a `LIMIT ?` with the value bound to it, so every binding marks
 * the statement to be compiled again before it runs: 2 to 5 us more on each run here, where currency
 * lists a payer's units once per remittance (docs/performance.md). A limit is a whole number, never
 * text from outside, so writing it in is safe.
 */
function limitedStatement(
  db: Database.Database,
  sqlOf: (limit: number) => string,
  shape: (statement: Database.Statement) => Database.Statement = (statement) => statement,
): (limit: number) => Database.Statement {
  const prepared = new Map<number, Database.Statement>();
  return (limit) => {
    assert(Number.isSafeInteger(limit) && limit >= 0, 'a limit is a whole number');
    let statement = prepared.get(limit);
    if (statement === undefined) {
      const oldest = prepared.keys().next();
      if (prepared.size >= limitedStatementsMax && !oldest.done) prepared.delete(oldest.value);
      statement = shape(db.prepare(sqlOf(limit)));
      prepared.set(limit, statement);
    }
    assert(prepared.size <= limitedStatementsMax, 'limited statements are kept within their bound');
    return statement;
  };
}

function counter(db: Database.Database) {
  const read = db.prepare('SELECT value FROM counters WHERE name = ?');
  const write = db.prepare(
    'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  );
  /** Advance the named counter by `count`; returns the first value of the reserved range. */
  return (name: string, count: bigint, start: bigint): bigint => {
    const row = read.get(name) as Row | undefined;
    const first = row ? (row['value'] as bigint) : start;
    write.run(name, first + count);
    return first;
  };
}

/** The request types the account history indexes (an opening is found by its response). */
const historyRequestTypes: ReadonlySet<string> = new Set(
  accountNamingTypes.filter((type) => stepOf(type) === 1),
);

/**
 * The transaction device's account history (accountHistoryTableSchema): requests indexed by
 * account after they are stored, in number order, up to `account_history_indexed.up_to`. A request
 * is always stored when its operation opens, with its block's first number, so what lies below
 * that mark never changes, except by a recovery putting records back: a request stored at or below
 * the mark moves the mark back before it (`stored`).
 */
function accountHistory(db: Database.Database) {
  const indexedUpTo = db.prepare('SELECT up_to FROM account_history_indexed').pluck();
  const setIndexedUpTo = db.prepare('UPDATE account_history_indexed SET up_to = ?');
  // The mark is derived from A: a store that lost it indexes again from the start.
  const startIndexing = db.prepare('INSERT INTO account_history_indexed (up_to) VALUES (0)');
  const lowerIndexedUpTo = db.prepare(
    'UPDATE account_history_indexed SET up_to = ? - 1 WHERE up_to >= ?',
  );
  const recordsAfter = limitedStatement(
    db,
    (limit) => `SELECT transaction_number, remittance_id, transaction_type, source_account,
      destination_account FROM transactions WHERE transaction_number > ?
      ORDER BY transaction_number LIMIT ${limit}`,
    (statement) => statement.raw(),
  );
  const put = db.prepare(
    'INSERT OR IGNORE INTO account_history (account_number, transaction_number, remittance_id) VALUES (?, ?, ?)',
  );
  // The first `limit` of each side, in number order, then merged: a page costs its size.
  const ofAccount = limitedStatement(
    db,
    (limit) => `SELECT remittance_id FROM (
        SELECT * FROM (SELECT remittance_id, transaction_number FROM account_history
          WHERE account_number = ? AND transaction_number > ? ORDER BY transaction_number LIMIT ${limit})
        UNION
        SELECT * FROM (SELECT remittance_id, transaction_number FROM transactions
          WHERE destination_account = ? AND transaction_type = 'account_issuing_response'
            AND transaction_number > ? ORDER BY transaction_number LIMIT ${limit}))
      ORDER BY transaction_number LIMIT ${limit}`,
    (statement) => statement.pluck(),
  );
  return {
    stored(records: readonly SignedRecord[]): void {
      for (const { record } of records)
        if (historyRequestTypes.has(record.transactionType))
          lowerIndexedUpTo.run(record.transactionNumber, record.transactionNumber);
    },
    /** Index the next records stored (at most recordsMax); how many were read. */
    index(recordsMax: number): number {
      let upTo = indexedUpTo.get() as bigint | undefined;
      if (upTo === undefined) {
        startIndexing.run();
        upTo = 0n;
      }
      const rows = recordsAfter(recordsMax).all(upTo) as unknown[][];
      for (const [number, remittanceId, type, source, destination] of rows) {
        if (!historyRequestTypes.has(type as string)) continue;
        if (source !== null) put.run(source, number, remittanceId);
        if (destination !== null) put.run(destination, number, remittanceId);
      }
      const last = rows.at(-1)?.[0];
      if (last !== undefined) setIndexedUpTo.run(last);
      assert(rows.length <= recordsMax, 'a batch of the history holds at most its limit');
      return rows.length;
    },
    operationsOf(accountNumber: bigint, afterNumber: bigint, limit: number): string[] {
      return ofAccount(limit).all(
        accountNumber,
        afterNumber,
        accountNumber,
        afterNumber,
      ) as string[];
    },
  };
}

export function openTransactionStore(
  path: string,
): Store<TransactionTx> & { db: Database.Database } {
  const db = openSqliteDatabase(path, 'transaction');
  const advance = counter(db);
  const getOperation = db.prepare('SELECT * FROM operations WHERE remittance_id = ?');
  const insertOperation = db.prepare(
    "INSERT INTO operations (remittance_id, request_digest, base_number, state) VALUES (?, ?, ?, 'open')",
  );
  const finish = db.prepare(
    "UPDATE operations SET state = 'done', response_json = NULL WHERE remittance_id = ?",
  );
  const restoreOperation = db.prepare(
    `INSERT INTO operations (remittance_id, request_digest, base_number, state, response_json, settled)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (remittance_id) DO UPDATE SET
     request_digest = excluded.request_digest, base_number = excluded.base_number, state = excluded.state,
     response_json = excluded.response_json, settled = excluded.settled`,
  );
  const markSettled = db.prepare(
    "UPDATE operations SET settled = settled | ? WHERE remittance_id = ? AND state = 'done'",
  );
  // Each part an index range of operations_pending (a plain OR would scan every operation).
  const oldestPending = db.prepare(
    `SELECT min(base) AS base FROM (
       SELECT min(base_number) AS base FROM operations WHERE state = 'open'
       UNION ALL SELECT min(base_number) FROM operations WHERE state = 'done' AND settled < ${settledEverywhere}
       UNION ALL SELECT min(base_number) FROM operations WHERE state = 'done' AND settled > ${settledEverywhere})`,
  );
  const newestSettled = db.prepare(
    'SELECT max(base_number) AS base FROM operations WHERE base_number < ?',
  );
  const newestOfAll = db.prepare('SELECT max(base_number) AS base FROM operations');
  const openedWithKey = db.prepare(`SELECT 1 FROM transactions request
    JOIN transactions response ON response.remittance_id = request.remittance_id
      AND response.transaction_type = 'account_issuing_response' AND response.outcome = 'ok'
    WHERE request.transaction_type = 'account_issuing_request' AND request.signer_key_number = ?
    LIMIT 1`);
  const openOperations = limitedStatement(
    db,
    (limit) =>
      `SELECT remittance_id FROM operations WHERE state = 'open' ORDER BY base_number LIMIT ${limit}`,
  );
  const unsettledOperations = limitedStatement(
    db,
    (limit) => `SELECT remittance_id, settled FROM operations
     WHERE state = 'done' AND (settled < ${settledEverywhere} OR settled > ${settledEverywhere})
     ORDER BY base_number LIMIT ${limit}`,
  );
  const countPending = db.prepare(
    `SELECT sum(state = 'open') AS open, sum(state = 'done' AND settled != ${settledEverywhere}) AS unsettled
     FROM operations WHERE state = 'open' OR settled != ${settledEverywhere}`,
  );
  const history = accountHistory(db);
  const ledger = ledgerTx(db);
  const insertReserved = db.prepare(
    `INSERT INTO transactions (${recordColumns.join(', ')}) VALUES (${recordColumns.map(() => '?').join(', ')})`,
  );
  const tx: TransactionTx = {
    ...ledger,
    async appendRecords(records) {
      if (!(await ledger.appendRecords(records))) return false;
      history.stored(records);
      return true;
    },
    async appendReserved(records) {
      // No ON CONFLICT: a number already taken, even by the same record, is an error (as on PostgreSQL).
      for (const signed of records)
        assert(
          insertReserved.run(...recordValues(signed)).changes === 1,
          'a reserved number is new',
        );
      history.stored(records);
    },
    async operation(remittanceId) {
      const row = getOperation.get(remittanceId) as Row | undefined;
      return row ? operationFromRow(row) : undefined;
    },
    raiseCounter: raiser(db),
    async restoreOperation(row) {
      restoreOperation.run(
        row.remittanceId,
        row.requestDigest,
        row.baseNumber,
        row.state,
        row.responseJson ?? null,
        BigInt(row.settled),
      );
    },
    async operations(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = getOperation.get(remittanceId) as Row | undefined;
        return row ? operationFromRow(row) : undefined;
      });
    },
    async reserveOperations(opened) {
      const first = advance('transaction_number', blockSize * BigInt(opened.length), 1n);
      return opened.map(({ remittanceId, requestDigest }, i) => {
        const base = first + blockSize * BigInt(i);
        insertOperation.run(remittanceId, requestDigest, base);
        return base;
      });
    },
    async finishOperations(remittanceIds) {
      for (const remittanceId of remittanceIds) {
        const changed = finish.run(remittanceId).changes;
        assert(changed === 1, 'the operation being finished exists');
      }
    },
    async markSettled(settlements) {
      for (const { remittanceId, peers } of settlements) {
        assert(peers > 0 && peers <= settledEverywhere, 'settlement bits name account or currency');
        markSettled.run(BigInt(peers), remittanceId);
      }
    },
    async settledUpTo() {
      const pending = (oldestPending.get() as Row)['base'] as bigint | null;
      const row = (pending === null ? newestOfAll.get() : newestSettled.get(pending)) as Row;
      const base = row['base'] as bigint | null;
      return base === null ? 0n : base + blockSize - 1n;
    },
    async openOperations(limit) {
      return (openOperations(limit).all() as Row[]).map((row) => row['remittance_id'] as string);
    },
    async unsettledOperations(limit) {
      return (unsettledOperations(limit).all() as Row[]).map((row) => ({
        remittanceId: row['remittance_id'] as string,
        settled: Number(row['settled']),
      }));
    },
    async pendingCounts() {
      const row = countPending.get() as Row;
      return { open: Number(row['open'] ?? 0), unsettled: Number(row['unsettled'] ?? 0) };
    },
    async accountOpenedWithKey(keyNumber) {
      return openedWithKey.get(keyNumber) !== undefined;
    },
    async nextTransactionNumber() {
      return advance('transaction_number', 0n, 1n);
    },
    async nextAccountNumber({ reserve }) {
      return advance('account_number', reserve ? 1n : 0n, 1n);
    },
    async operationsOfAccount(accountNumber, afterNumber, limit) {
      while (history.index(accountHistoryBatchMax) === accountHistoryBatchMax);
      return history.operationsOf(accountNumber, afterNumber, limit);
    },
    async indexAccountHistory(recordsMax) {
      return history.index(recordsMax);
    },
  };
  return Object.assign(new SqliteStore(db, 'transaction', tx), { db });
}

export function openAccountStore(path: string): AccountStore & { db: Database.Database } {
  const db = openSqliteDatabase(path, 'account');
  const quarantineRow = quarantiner(db, 'accounts', 'account_number');
  const getAccount = db.prepare(
    `SELECT ${selectedColumns(accountColumns)} FROM accounts WHERE account_number = ?`,
  );
  const upsertAccount =
    db.prepare(`INSERT INTO accounts (account_number, currency_type, balance, held, status,
    last_update, signer_key_number, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (account_number) DO UPDATE SET currency_type = excluded.currency_type, balance = excluded.balance,
    held = excluded.held, status = excluded.status, last_update = excluded.last_update,
    signer_key_number = excluded.signer_key_number, signature = excluded.signature`);
  const getHold = db.prepare('SELECT * FROM holds WHERE remittance_id = ?');
  const insertHold = db.prepare(
    'INSERT INTO holds (remittance_id, account_number, amount) VALUES (?, ?, ?)',
  );
  const removeHold = db.prepare('DELETE FROM holds WHERE remittance_id = ?');
  const heldIds = limitedStatement(
    db,
    (limit) => `SELECT remittance_id FROM holds ORDER BY rowid LIMIT ${limit}`,
  );
  const tx: AccountTx = {
    ...ledgerTx(db),
    async heldRemittanceIds(limit) {
      return (heldIds(limit).all() as Row[]).map((row) => row['remittance_id'] as string);
    },
    async account(accountNumber) {
      const row = getAccount.get(accountNumber) as Row | undefined;
      return row ? accountFromRow(row) : undefined;
    },
    async accounts(accountNumbers) {
      return foundAmong(accountNumbers, (accountNumber) => {
        const row = getAccount.get(accountNumber) as Row | undefined;
        return row ? accountFromRow(row) : undefined;
      });
    },
    async putAccount(row) {
      upsertAccount.run(
        row.accountNumber,
        row.currencyType,
        row.balance,
        row.held,
        row.status,
        row.lastUpdate,
        row.signerKeyNumber,
        row.signature,
      );
    },
    async holds(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = getHold.get(remittanceId) as Row | undefined;
        if (!row) return undefined;
        const hold: HoldRow = {
          remittanceId,
          accountNumber: row['account_number'] as bigint,
          amount: row['amount'] as bigint,
        };
        return hold;
      });
    },
    async putHold(row) {
      insertHold.run(row.remittanceId, row.accountNumber, row.amount);
    },
    async deleteHolds(remittanceIds) {
      for (const remittanceId of remittanceIds) removeHold.run(remittanceId);
    },
    async quarantineAccount(accountNumber, reason, atMs) {
      return quarantineRow(accountNumber, reason, atMs, accountFromRow);
    },
  };
  return Object.assign(new SqliteStore(db, 'account', tx), {
    db,
    exportAccounts: (afterAccount?: bigint) => exportAccounts(path, afterAccount),
  });
}

export function openCurrencyStore(path: string): CurrencyStore & { db: Database.Database } {
  const db = openSqliteDatabase(path, 'currency');
  const quarantineRow = quarantiner(db, 'currency_units', 'currency_number');
  const advance = counter(db);
  // Units are read as raw rows in unitColumns order (no object of column names per row).
  const columns = selectedColumns(unitColumns);
  const getUnit = db
    .prepare(`SELECT ${columns} FROM currency_units WHERE currency_number = ?`)
    .raw(true);
  const highestUnit = db
    .prepare('SELECT coalesce(max(currency_number), 0) FROM currency_units')
    .pluck();
  const unitsOf = db
    .prepare(
      `SELECT ${columns} FROM currency_units WHERE owner_account = ? AND currency_type = ? AND status = ?
       ORDER BY currency_number`,
    )
    .raw(true);
  const unitsToPay = limitedStatement(
    db,
    (limit) => `SELECT ${columns} FROM currency_units WHERE owner_account = ? AND currency_type = ?
     AND status = 'active' ORDER BY value DESC, currency_number DESC LIMIT ${limit}`,
    (statement) => statement.raw(true),
  );
  const upsertUnit =
    db.prepare(`INSERT INTO currency_units (currency_number, currency_type, value, owner_account,
    status, last_update, signer_key_number, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (currency_number) DO UPDATE SET currency_type = excluded.currency_type, value = excluded.value,
    owner_account = excluded.owner_account, status = excluded.status, last_update = excluded.last_update,
    signer_key_number = excluded.signer_key_number, signature = excluded.signature`);
  const getPlan = db.prepare('SELECT * FROM unit_plans WHERE remittance_id = ?');
  const insertPlan = db.prepare('INSERT INTO unit_plans (remittance_id, plan_json) VALUES (?, ?)');
  const removePlan = db.prepare('DELETE FROM unit_plans WHERE remittance_id = ?');
  const plannedIds = limitedStatement(
    db,
    (limit) => `SELECT remittance_id FROM unit_plans ORDER BY rowid LIMIT ${limit}`,
  );
  const tx: CurrencyTx = {
    ...ledgerTx(db),
    async heldRemittanceIds(limit) {
      return (plannedIds(limit).all() as Row[]).map((row) => row['remittance_id'] as string);
    },
    async unit(currencyNumber) {
      const values = getUnit.get(currencyNumber) as unknown[] | undefined;
      return values ? unitFromValues(values) : undefined;
    },
    async units(currencyNumbers) {
      return foundAmong(currencyNumbers, (currencyNumber) => {
        const values = getUnit.get(currencyNumber) as unknown[] | undefined;
        return values ? unitFromValues(values) : undefined;
      });
    },
    async highestUnitNumber() {
      return highestUnit.get() as bigint;
    },
    async unitsOf(ownerAccount, currencyType, status) {
      return (unitsOf.all(ownerAccount, currencyType, status) as unknown[][]).map(unitFromValues);
    },
    async unitsToPay(payers, limit) {
      const listing = unitsToPay(limit);
      return payers.map(({ ownerAccount, currencyType }) =>
        (listing.all(ownerAccount, currencyType) as unknown[][]).map(unitFromValues),
      );
    },
    async putUnit(row) {
      upsertUnit.run(
        row.currencyNumber,
        row.currencyType,
        row.value,
        row.ownerAccount,
        row.status,
        row.lastUpdate,
        row.signerKeyNumber,
        row.signature,
      );
    },
    raiseCounter: raiser(db),
    async reservePlanSequences(count) {
      return advance('plan_sequence', BigInt(count), 1n);
    },
    async reserveUnitNumbers(count) {
      return advance('currency_number', BigInt(count), 1n);
    },
    async plans(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = getPlan.get(remittanceId) as Row | undefined;
        if (!row) return undefined;
        const plan: UnitPlanRow = { remittanceId, planJson: row['plan_json'] as string };
        return plan;
      });
    },
    async putPlan(row) {
      insertPlan.run(row.remittanceId, row.planJson);
    },
    async deletePlans(remittanceIds) {
      for (const remittanceId of remittanceIds) removePlan.run(remittanceId);
    },
    async quarantineUnit(currencyNumber, reason, atMs) {
      return quarantineRow(currencyNumber, reason, atMs, unitFromRow);
    },
  };
  return Object.assign(new SqliteStore(db, 'currency', tx), {
    db,
    exportUnits: (afterUnit?: bigint) => exportUnits(path, afterUnit),
  });
}
