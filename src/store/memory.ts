// The in-memory implementation of the device stores: for the seeded simulator and for tests that
// need a store without files, never for a deployment (nothing survives the process).
//
// It keeps the same tables as SQLite and PostgreSQL, with the same column names and values
// (store/dump.ts), so that it dumps, loads, quarantines and converts rows (store/rows.ts) exactly
// as they do, and it passes the same conformance suite (test/store/conformance.test.ts).
// A MemoryDatabase plays the file: stores open on it, and what a committed transaction wrote stays
// in it. Transactions run one at a time in arrival order; each write keeps how to undo it, so a
// work that refuses (returns a Failure) or throws is rolled back whole. `crash()` is a device dying:
// the transaction in flight is rolled back (it never committed), and so are the lazy transactions
// no synced write came after (types.ts Durability: they were never synced), newest first; every
// store open on the database stops answering, and a store opened again afterwards sees exactly what
// a disk would have kept.

import { assert } from '../model/assert.js';
import { blockSize, type SignedRecord, sameRecord } from '../protocol/records.js';
import { accountNamingTypes } from '../protocol/transactionTypes.js';
import { inPaymentOrder } from '../protocol/units.js';
import { type DumpRow, type DumpTable, type DumpValue, dumpTableOf, dumpTables } from './dump.js';
import {
  accountFromRow,
  foundAmong,
  isFailure,
  operationFromRow,
  quarantineJson,
  type Row,
  type recordColumns,
  recordFromRow,
  unitFromRow,
} from './rows.js';
import type {
  AccountRow,
  AccountStore,
  AccountTx,
  CommitListener,
  CounterName,
  CurrencyRow,
  CurrencyStore,
  CurrencyTx,
  DeviceKind,
  Durability,
  LedgerTx,
  Store,
  TransactionTx,
} from './types.js';
import { settledEverywhere } from './types.js';

/** Records per page of an export of A (as SQLite's exports). */
const exportPageRecordsMax = 256;

/** A row as the memory store keeps it: its column values by name. */
export type Columns = Record<string, DumpValue>;
type RecordColumn = (typeof recordColumns)[number];

/** One table: rows by key, in arrival order (what `arrival` orders by in store/dump.ts). */
class Table {
  readonly rows: Rows;
  constructor(readonly definition: DumpTable) {
    this.rows = new Rows(definition.orderBy);
  }
}

/**
 * A table's rows by key, with their sorted order kept up to date once asked for (each change put
 * in place by a binary search: an audit that reads the table in order after every write does not
 * sort it again), and an index (value -> keys) of each column a lookup asked for (`keysWhere`), as
 * SQLite keeps its own.
 */
class Rows extends Map<string, Columns> {
  sorted: Columns[] | undefined;
  readonly #indexes = new Map<string, Map<DumpValue, Set<string>>>();

  constructor(
    /** The column the sorted order follows, or 'arrival' (DumpTable.orderBy). */
    private readonly orderBy: string,
  ) {
    super();
  }

  override set(key: string, row: Columns): this {
    const old = this.get(key);
    if (old !== undefined) this.#unsort(old);
    this.#sort(row);
    for (const [column, index] of this.#indexes) {
      if (old !== undefined) index.get(old[column] ?? null)?.delete(key);
      indexed(index, row[column] ?? null).add(key);
    }
    return super.set(key, row);
  }

  override delete(key: string): boolean {
    const old = this.get(key);
    if (old !== undefined) {
      this.#unsort(old);
      for (const [column, index] of this.#indexes) index.get(old[column] ?? null)?.delete(key);
    }
    return super.delete(key);
  }

  override clear(): void {
    this.sorted = undefined;
    this.#indexes.clear();
    super.clear();
  }

  /** The keys of the rows whose `column` holds `value` (a text or number column). */
  keysWhere(column: string, value: string | bigint): ReadonlySet<string> {
    let index = this.#indexes.get(column);
    if (index === undefined) {
      index = new Map();
      for (const [key, row] of this) indexed(index, row[column] ?? null).add(key);
      this.#indexes.set(column, index);
    }
    return index.get(value) ?? new Set();
  }

  /** Where `row` goes in the sorted order: the first place whose row does not come before it. */
  #place(sorted: readonly Columns[], row: Columns): number {
    const by = this.orderBy;
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compareValues(sorted[middle]![by] ?? null, row[by] ?? null) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #sort(row: Columns): void {
    if (this.sorted === undefined || this.orderBy === 'arrival') return;
    this.sorted.splice(this.#place(this.sorted, row), 0, row);
  }

  /** Take a row out of the sorted order; if it is not where its order says, sort again later. */
  #unsort(row: Columns): void {
    if (this.sorted === undefined || this.orderBy === 'arrival') return;
    const place = this.#place(this.sorted, row);
    if (this.sorted[place] === row) this.sorted.splice(place, 1);
    else this.sorted = undefined;
  }
}

function indexed(index: Map<DumpValue, Set<string>>, value: DumpValue): Set<string> {
  assert(!Buffer.isBuffer(value), 'an index keeps text and number columns');
  const keys = index.get(value) ?? new Set<string>();
  index.set(value, keys);
  return keys;
}

/**
 * What a store of a crashed device throws at its next use: the work of a process that died. (In
 * the simulator, chains of promises of a crashed device run on; they stop at their next read.)
 */
export class StoreLost extends Error {
  override readonly name = 'StoreLost';
  constructor(what = 'the store was lost in a crash') {
    super(what);
  }
}

/** What a store keeps between its openings: the tables, and who opened it first. */
export class MemoryDatabase {
  kind: DeviceKind | undefined;
  readonly tables = new Map<string, Table>();
  /** Bumped by every change made aside (another connection, a hand edit): externalChangeMark. */
  externalChanges = 0n;
  /** Bumped by crash(): stores of an older epoch stop answering. */
  epoch = 0;
  /** How to undo the writes of the transaction in flight, newest last. */
  undo: (() => void)[] | undefined;
  /** How to undo the lazy transactions committed since the last synced write, newest last. */
  #unsynced: (() => void)[] = [];
  #unsyncedTransactions = 0;
  /** Lazy transactions that wrote and that crashes took away, since the database was made. */
  lazyTransactionsLost = 0;
  /** The last arrival number a quarantined row was kept under (SQLite's id). */
  quarantineCount = 0n;

  /**
   * The device dies: the transaction in flight never committed, the lazy ones after the last synced
   * write were never synced, and no store open now answers.
   */
  crash(): void {
    this.#rollback();
    for (const undo of this.#unsynced.reverse()) undo();
    this.lazyTransactionsLost += this.#unsyncedTransactions;
    this.#unsynced = [];
    this.#unsyncedTransactions = 0;
    this.epoch += 1;
  }

  /** Change a committed row from outside the device (as the tamper tests do with SQL). */
  changeAside(table: string, key: string, change: Columns): void {
    const row = this.table(table).rows.get(key);
    assert(row, `a row ${key} of ${table} to change aside`);
    this.table(table).rows.set(key, { ...row, ...change });
    this.externalChanges += 1n;
  }

  /** Delete a committed row from outside the device (a lost write, a hand edit). */
  deleteAside(table: string, key: string): void {
    assert(this.table(table).rows.delete(key), `a row ${key} of ${table} to delete aside`);
    this.externalChanges += 1n;
  }

  /** Insert a row from outside the device (a forged or misplaced write). */
  insertAside(table: string, key: string, row: Columns): void {
    assert(!this.table(table).rows.has(key), `no row ${key} of ${table} before it is inserted`);
    this.table(table).rows.set(key, row);
    this.externalChanges += 1n;
  }

  table(name: string): Table {
    const table = this.tables.get(name);
    assert(table, `the store has a table ${name}`);
    return table;
  }

  /**
   * Open as `kind`: the first opening creates the tables; another device's database is refused.
   * Returns the epoch the opening belongs to.
   */
  openAs(kind: DeviceKind): number {
    if (this.kind !== undefined && this.kind !== kind)
      throw new Error(
        `this memory database holds the store of the ${this.kind} device, not ${kind}`,
      );
    if (this.kind === undefined)
      for (const definition of dumpTables[kind])
        this.tables.set(definition.name, new Table(definition));
    this.kind = kind;
    return this.epoch;
  }

  /** Write a row in the transaction in flight, for a store opened in `epoch` (see crash). */
  put(epoch: number, table: string, key: string, row: Columns): void {
    this.#live(epoch);
    const rows = this.table(table).rows;
    const before = rows.get(key);
    this.undo?.push(() => (before ? rows.set(key, before) : rows.delete(key)));
    rows.set(key, row);
  }

  remove(epoch: number, table: string, key: string): Columns | undefined {
    this.#live(epoch);
    const rows = this.table(table).rows;
    const before = rows.get(key);
    if (!before) return undefined;
    // Put back where it was in arrival order: rebuild the map as it stood.
    const order = [...rows.entries()];
    this.undo?.push(() => {
      rows.clear();
      for (const [k, v] of order) rows.set(k, v);
    });
    rows.delete(key);
    return before;
  }

  /** A work of a store that a crash took away must not write into what came after it. */
  #live(epoch: number): void {
    if (epoch !== this.epoch) throw new StoreLost();
    assert(this.undo !== undefined, 'a memory store writes inside a transaction');
  }

  #rollback(): void {
    for (const undo of (this.undo ?? []).reverse()) undo();
    this.undo = undefined;
  }

  /**
   * Run `work` as one transaction: kept if it returns anything but a Failure, undone otherwise. A
   * synced one that writes syncs every lazy one before it (as a WAL's sync does).
   */
  async transaction<T>(work: () => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    assert(this.undo === undefined, 'one memory transaction at a time');
    const epoch = this.epoch;
    this.undo = [];
    try {
      const result = await work();
      if (epoch !== this.epoch) throw new StoreLost('the device crashed during this transaction');
      if (isFailure(result)) this.#rollback();
      const written = this.undo ?? [];
      if (durability === 'synced' && written.length > 0) {
        this.#unsynced = [];
        this.#unsyncedTransactions = 0;
      } else if (durability === 'lazy' && written.length > 0) {
        this.#unsynced.push(...written);
        this.#unsyncedTransactions += 1;
      }
      this.undo = undefined;
      return result;
    } catch (error) {
      if (epoch === this.epoch) this.#rollback();
      throw error;
    }
  }
}

/** A database as one opening of a store sees it: its writes belong to the epoch it opened in. */
class Opened {
  constructor(
    readonly database: MemoryDatabase,
    readonly epoch: number,
  ) {}

  table(name: string): Table {
    if (this.epoch !== this.database.epoch) throw new StoreLost();
    return this.database.table(name);
  }

  put(table: string, key: string, row: Columns): void {
    this.database.put(this.epoch, table, key, row);
  }

  remove(table: string, key: string): Columns | undefined {
    return this.database.remove(this.epoch, table, key);
  }

  nextQuarantineKey(): string {
    this.database.quarantineCount += 1n;
    return this.database.quarantineCount.toString();
  }
}

const numberKey = (n: bigint) => n.toString();

/**
 * The constraints SQLite and PostgreSQL enforce (CHECK, PRIMARY KEY): a violation throws, as a
 * database would, and the transaction is undone.
 */
function check(condition: boolean, constraint: string): void {
  if (!condition) throw new Error(`constraint failed: ${constraint}`);
}

/** Rows of a table in its dump order: by its key column (numbers numerically), or by arrival. */
function ordered(table: Table): Columns[] {
  const by = table.definition.orderBy;
  if (by === 'arrival') return [...table.rows.values()];
  table.rows.sorted ??= [...table.rows.values()].sort((a, b) =>
    compareValues(a[by] ?? null, b[by] ?? null),
  );
  assert(table.rows.sorted.length === table.rows.size, 'the sorted order holds every row');
  return [...table.rows.sorted];
}

function compareValues(a: DumpValue, b: DumpValue): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function recordRow({ record: r, signature }: SignedRecord): Record<RecordColumn, DumpValue> {
  return {
    transaction_number: r.transactionNumber,
    remittance_id: r.remittanceId,
    transaction_type: r.transactionType,
    source_account: r.sourceAccount ?? null,
    destination_account: r.destinationAccount ?? null,
    amount: r.amount ?? null,
    currency_type: r.currencyType ?? null,
    outcome: r.outcome ?? null,
    detail: r.detail ?? null,
    date_time: r.dateTime,
    signer_key_number: BigInt(r.signerKeyNumber),
    signature,
  };
}

function signedRowColumns(row: AccountRow | CurrencyRow): Columns {
  return {
    status: row.status,
    last_update: row.lastUpdate,
    signer_key_number: BigInt(row.signerKeyNumber),
    signature: row.signature,
  };
}

/** Move one row into the quarantine table, as SQLite does; returns it converted. */
function quarantine<T extends object>(
  db: Opened,
  table: string,
  key: bigint,
  reason: string,
  atMs: bigint,
  convert: (row: Row) => T,
): T | undefined {
  const removed = db.remove(table, numberKey(key));
  if (!removed) return undefined;
  const converted = convert(removed);
  db.put('quarantine', db.nextQuarantineKey(), {
    quarantined_at: atMs,
    table_name: table,
    row_key: key.toString(),
    row_json: quarantineJson(converted),
    reason,
  });
  return converted;
}

function records(db: Opened): Columns[] {
  return ordered(db.table('transactions'));
}

function ledgerTx(db: Opened): LedgerTx {
  // The rows found through an index of the column (Rows.keysWhere), then sorted: no scan, and no
  // sorted copy of the whole table.
  const where = (column: string, value: string | bigint) => {
    const rows = db.table('transactions').rows;
    return [...rows.keysWhere(column, value)]
      .map((key) => rows.get(key)!)
      .sort((a, b) => compareValues(a['transaction_number']!, b['transaction_number']!));
  };
  const ofOperation = (remittanceId: unknown) =>
    typeof remittanceId === 'string' ? where('remittance_id', remittanceId).map(recordFromRow) : [];
  /** The first accepted response of an account's opening, in transaction number order. */
  const openingResponse = (accountNumber: bigint) =>
    where('destination_account', accountNumber).find(
      (row) => row['transaction_type'] === 'account_issuing_response' && row['outcome'] === 'ok',
    );
  return {
    async appendRecords(signed) {
      const inserted: string[] = [];
      for (const one of signed) {
        const key = numberKey(one.record.transactionNumber);
        const stored = db.table('transactions').rows.get(key);
        if (stored === undefined) {
          db.put('transactions', key, recordRow(one));
          const readBack = db.table('transactions').rows.get(key);
          assert(readBack && sameRecord(recordFromRow(readBack), one), 'a record reads back');
          inserted.push(key);
        } else if (!sameRecord(recordFromRow(stored), one)) {
          // A conflict stores none of them: what this call inserted goes again.
          for (const key of inserted) assert(db.remove('transactions', key), 'an insert is undone');
          return false;
        }
      }
      return true;
    },
    async recordsOfOperation(remittanceId) {
      return ofOperation(remittanceId);
    },
    async recordsOfOperations(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const records = ofOperation(remittanceId);
        return records.length === 0 ? undefined : records;
      });
    },
    async accountOpening(accountNumber) {
      const response = openingResponse(accountNumber);
      return response ? ofOperation(response['remittance_id']) : [];
    },
    async accountsOpenedAt(accountNumbers) {
      return foundAmong(
        accountNumbers,
        (accountNumber) =>
          openingResponse(accountNumber)?.['transaction_number'] as bigint | undefined,
      );
    },
    async putCheckpoint(transactionNumber, json) {
      db.put('checkpoints', numberKey(transactionNumber), {
        transaction_number: transactionNumber,
        checkpoint_json: json,
      });
    },
    async checkpoints(limit) {
      return ordered(db.table('checkpoints'))
        .reverse()
        .slice(0, limit)
        .map((row) => row['checkpoint_json'] as string);
    },
    async lastRecordNumber() {
      return (records(db).at(-1)?.['transaction_number'] as bigint | undefined) ?? 0n;
    },
    async recordCount(afterNumber = 0n) {
      return BigInt(
        records(db).filter((row) => (row['transaction_number'] as bigint) > afterNumber).length,
      );
    },
    async quarantineRecord(transactionNumber, reason, atMs) {
      return quarantine(db, 'transactions', transactionNumber, reason, atMs, recordFromRow);
    },
  };
}

/** Make the named counter's next value at least `next` (counters only go up). */
function raise(db: Opened, name: CounterName, next: bigint): void {
  const value = db.table('counters').rows.get(name)?.['value'] as bigint | undefined;
  if (value === undefined || value < next) db.put('counters', name, { name, value: next });
}

/** Advance the named counter by `count`; returns the first value of the reserved range. */
function advance(db: Opened, name: string, count: bigint, start: bigint): bigint {
  const first = (db.table('counters').rows.get(name)?.['value'] as bigint | undefined) ?? start;
  db.put('counters', name, { name, value: first + count });
  return first;
}

/** What every memory store does alike; `kind` picks the tables, `tx` the device's operations. */
class MemoryStore<Tx> implements Store<Tx> {
  readonly transactionsCommittedTogetherMax = 1;
  #tail: Promise<unknown> = Promise.resolve();
  #commitListener: CommitListener | undefined;

  constructor(
    readonly db: Opened,
    private readonly kind: DeviceKind,
    private readonly tx: Tx,
  ) {}

  transact<T>(work: (tx: Tx) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    const run = async () => {
      if (this.db.epoch !== this.db.database.epoch) throw new StoreLost();
      const result = await this.db.database.transaction(() => work(this.tx), durability);
      if (durability === 'synced') this.#commitListener?.(1, 0);
      return result;
    };
    const done = this.#tail.then(run, run);
    this.#tail = done.catch(() => undefined);
    return done;
  }

  async close(): Promise<void> {
    await this.#tail;
  }

  observeCommits(listener: CommitListener): void {
    assert(this.#commitListener === undefined, 'one commit listener per store');
    this.#commitListener = listener;
  }

  async *exportRecordPages(afterNumber = 0n, upToNumber?: bigint): AsyncGenerator<SignedRecord[]> {
    // A snapshot as of now: later writes are not seen, as with a database snapshot.
    const snapshot = records(this.db)
      .filter((row) => {
        const n = row['transaction_number'] as bigint;
        return n > afterNumber && (upToNumber === undefined || n <= upToNumber);
      })
      .map(recordFromRow);
    for (let start = 0; start < snapshot.length; start += exportPageRecordsMax)
      yield snapshot.slice(start, start + exportPageRecordsMax);
  }

  async *exportRecords(afterNumber?: bigint, upToNumber?: bigint): AsyncGenerator<SignedRecord> {
    for await (const page of this.exportRecordPages(afterNumber, upToNumber)) yield* page;
  }

  async externalChangeMark(): Promise<bigint> {
    return this.db.database.externalChanges;
  }

  async *dumpRows(): AsyncGenerator<DumpRow> {
    const snapshot = dumpTables[this.kind].flatMap((definition) =>
      ordered(this.db.table(definition.name)).map((row) => ({
        table: definition.name,
        row: Object.fromEntries(definition.columns.map((c) => [c, row[c] ?? null])),
      })),
    );
    yield* snapshot;
  }

  async isEmpty(): Promise<boolean> {
    return dumpTables[this.kind].every((t) => this.db.table(t.name).rows.size === 0);
  }

  loadRows(rows: AsyncIterable<DumpRow>): Promise<number> {
    return this.transact(async () => {
      let loaded = 0;
      for await (const dumped of rows) {
        const table = dumpTableOf(this.kind, dumped);
        assert(table, 'an import loads only rows checked against the dump tables');
        const key = keyOfDumped(this.db, table, dumped.row);
        this.db.put(table.name, key, { ...dumped.row });
        loaded += 1;
      }
      return loaded;
    });
  }

  /** The rows of a table of signed rows, in key order, converted. */
  protected exportTable<T>(
    name: string,
    convert: (row: Row) => T,
    wanted: (converted: T) => boolean = () => true,
  ): AsyncIterable<T> {
    const snapshot = ordered(this.db.table(name)).map(convert).filter(wanted);
    return (async function* () {
      yield* snapshot;
    })();
  }
}

/** The key a loaded row is kept under: its key column, or a new arrival number. */
function keyOfDumped(db: Opened, table: DumpTable, row: Readonly<Columns>): string {
  if (table.name === 'quarantine') return db.nextQuarantineKey();
  return String(row[keyColumns[table.name] ?? '']);
}

/** The column each table's rows are kept under (the quarantine's rows get an arrival number). */
const keyColumns: Readonly<Record<string, string>> = {
  transactions: 'transaction_number',
  checkpoints: 'transaction_number',
  operations: 'remittance_id',
  counters: 'name',
  accounts: 'account_number',
  holds: 'remittance_id',
  currency_units: 'currency_number',
  unit_plans: 'remittance_id',
};

export function openMemoryTransactionStore(database: MemoryDatabase): Store<TransactionTx> {
  const db = new Opened(database, database.openAs('transaction'));
  const operations = () => ordered(db.table('operations'));
  const settledOf = (row: Columns) => Number(row['settled']);
  const pending = (row: Columns) => row['state'] === 'open' || settledOf(row) !== settledEverywhere;
  const ledger = ledgerTx(db);
  const tx: TransactionTx = {
    ...ledger,
    async appendReserved(records) {
      // A number already taken, even by the same record, is an error (as on SQLite and PostgreSQL).
      for (const signed of records) {
        const key = numberKey(signed.record.transactionNumber);
        assert(!db.table('transactions').rows.has(key), 'a reserved number is new');
      }
      assert(await ledger.appendRecords(records), 'a reserved number is free');
    },
    async operation(remittanceId) {
      const row = db.table('operations').rows.get(remittanceId);
      return row ? operationFromRow(row) : undefined;
    },
    async raiseCounter(name, next) {
      raise(db, name, next);
    },
    async restoreOperation(row) {
      db.put('operations', row.remittanceId, {
        remittance_id: row.remittanceId,
        request_digest: row.requestDigest,
        base_number: row.baseNumber,
        state: row.state,
        response_json: row.responseJson ?? null,
        settled: BigInt(row.settled),
      });
    },
    async operations(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = db.table('operations').rows.get(remittanceId);
        return row ? operationFromRow(row) : undefined;
      });
    },
    async reserveOperations(opened) {
      const first = advance(db, 'transaction_number', blockSize * BigInt(opened.length), 1n);
      return opened.map(({ remittanceId, requestDigest }, i) => {
        check(!db.table('operations').rows.has(remittanceId), 'operations: one per remittance id');
        const base = first + blockSize * BigInt(i);
        db.put('operations', remittanceId, {
          remittance_id: remittanceId,
          request_digest: requestDigest,
          base_number: base,
          state: 'open',
          response_json: null,
          settled: 0n,
        });
        return base;
      });
    },
    async finishOperations(remittanceIds) {
      for (const remittanceId of remittanceIds) {
        const row = db.table('operations').rows.get(remittanceId);
        assert(row, 'the operation being finished exists');
        db.put('operations', remittanceId, { ...row, state: 'done', response_json: null });
      }
    },
    async markSettled(settlements) {
      for (const { remittanceId, peers } of settlements) {
        assert(peers > 0 && peers <= settledEverywhere, 'settlement bits name account or currency');
        const row = db.table('operations').rows.get(remittanceId);
        if (row?.['state'] !== 'done') continue;
        db.put('operations', remittanceId, { ...row, settled: BigInt(settledOf(row) | peers) });
      }
    },
    async settledUpTo() {
      const all = operations();
      const oldest = all.find(pending);
      const settled = oldest
        ? all.filter((row) => (row['base_number'] as bigint) < (oldest['base_number'] as bigint))
        : all;
      const last = settled.at(-1);
      return last ? (last['base_number'] as bigint) + blockSize - 1n : 0n;
    },
    async openOperations(limit) {
      return operations()
        .filter((row) => row['state'] === 'open')
        .slice(0, limit)
        .map((row) => row['remittance_id'] as string);
    },
    async unsettledOperations(limit) {
      return operations()
        .filter((row) => row['state'] === 'done' && settledOf(row) !== settledEverywhere)
        .slice(0, limit)
        .map((row) => ({ remittanceId: row['remittance_id'] as string, settled: settledOf(row) }));
    },
    async pendingCounts() {
      const all = operations();
      return {
        open: all.filter((row) => row['state'] === 'open').length,
        unsettled: all.filter(
          (row) => row['state'] === 'done' && settledOf(row) !== settledEverywhere,
        ).length,
      };
    },
    async accountOpenedWithKey(keyNumber) {
      const all = records(db);
      const accepted = new Set(
        all
          .filter(
            (r) => r['transaction_type'] === 'account_issuing_response' && r['outcome'] === 'ok',
          )
          .map((r) => r['remittance_id']),
      );
      return all.some(
        (r) =>
          r['transaction_type'] === 'account_issuing_request' &&
          r['signer_key_number'] === BigInt(keyNumber) &&
          accepted.has(r['remittance_id']),
      );
    },
    async nextTransactionNumber() {
      return advance(db, 'transaction_number', 0n, 1n);
    },
    async nextAccountNumber({ reserve }) {
      return advance(db, 'account_number', reserve ? 1n : 0n, 1n);
    },
    async indexAccountHistory() {
      return 0; // indexed as it is written
    },
    async operationsOfAccount(accountNumber, afterNumber, limit) {
      const naming: readonly unknown[] = accountNamingTypes;
      return records(db)
        .filter(
          (row) =>
            naming.includes(row['transaction_type']) &&
            (row['source_account'] === accountNumber ||
              row['destination_account'] === accountNumber) &&
            (row['transaction_number'] as bigint) > afterNumber,
        )
        .slice(0, limit)
        .map((row) => row['remittance_id'] as string);
    },
  };
  return new MemoryStore(db, 'transaction', tx);
}

export function openMemoryAccountStore(database: MemoryDatabase): AccountStore {
  const db = new Opened(database, database.openAs('account'));
  const tx: AccountTx = {
    ...ledgerTx(db),
    async heldRemittanceIds(limit) {
      return [...db.table('holds').rows.keys()].slice(0, limit);
    },
    async account(accountNumber) {
      const row = db.table('accounts').rows.get(numberKey(accountNumber));
      return row ? accountFromRow(row) : undefined;
    },
    async accounts(accountNumbers) {
      return foundAmong(accountNumbers, (accountNumber) => {
        const row = db.table('accounts').rows.get(numberKey(accountNumber));
        return row ? accountFromRow(row) : undefined;
      });
    },
    async putAccount(row) {
      check(
        row.balance >= 0n && row.held >= 0n && row.held <= row.balance,
        'accounts: balance and held',
      );
      db.put('accounts', numberKey(row.accountNumber), {
        account_number: row.accountNumber,
        currency_type: row.currencyType,
        balance: row.balance,
        held: row.held,
        ...signedRowColumns(row),
      });
    },
    async holds(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = db.table('holds').rows.get(remittanceId);
        if (!row) return undefined;
        return {
          remittanceId,
          accountNumber: row['account_number'] as bigint,
          amount: row['amount'] as bigint,
        };
      });
    },
    async putHold(row) {
      check(!db.table('holds').rows.has(row.remittanceId), 'holds: one per remittance id');
      check(row.amount > 0n, 'holds: a positive amount');
      db.put('holds', row.remittanceId, {
        remittance_id: row.remittanceId,
        account_number: row.accountNumber,
        amount: row.amount,
      });
    },
    async deleteHolds(remittanceIds) {
      for (const remittanceId of remittanceIds) db.remove('holds', remittanceId);
    },
    async quarantineAccount(accountNumber, reason, atMs) {
      return quarantine(db, 'accounts', accountNumber, reason, atMs, accountFromRow);
    },
  };
  const store = new (class extends MemoryStore<AccountTx> implements AccountStore {
    exportAccounts(afterAccount = 0n): AsyncIterable<AccountRow> {
      return this.exportTable(
        'accounts',
        accountFromRow,
        (row) => row.accountNumber > afterAccount,
      );
    }
  })(db, 'account', tx);
  return store;
}

export function openMemoryCurrencyStore(database: MemoryDatabase): CurrencyStore {
  const db = new Opened(database, database.openAs('currency'));
  const tx: CurrencyTx = {
    ...ledgerTx(db),
    async heldRemittanceIds(limit) {
      return [...db.table('unit_plans').rows.keys()].slice(0, limit);
    },
    async unit(currencyNumber) {
      const row = db.table('currency_units').rows.get(numberKey(currencyNumber));
      return row ? unitFromRow(row) : undefined;
    },
    async units(currencyNumbers) {
      return foundAmong(currencyNumbers, (currencyNumber) => {
        const row = db.table('currency_units').rows.get(numberKey(currencyNumber));
        return row ? unitFromRow(row) : undefined;
      });
    },
    async highestUnitNumber() {
      let highest = 0n;
      for (const row of db.table('currency_units').rows.values()) {
        const currencyNumber = row['currency_number'] as bigint;
        if (currencyNumber > highest) highest = currencyNumber;
      }
      return highest;
    },
    async unitsOf(ownerAccount, currencyType, status) {
      return ordered(db.table('currency_units'))
        .filter(
          (row) =>
            row['owner_account'] === ownerAccount &&
            row['currency_type'] === currencyType &&
            row['status'] === status,
        )
        .map(unitFromRow);
    },
    async unitsToPay(payers, limit) {
      const lists: CurrencyRow[][] = [];
      for (const { ownerAccount, currencyType } of payers) {
        const active = await tx.unitsOf(ownerAccount, currencyType, 'active');
        lists.push(active.sort(inPaymentOrder).slice(0, limit));
      }
      return lists;
    },
    async putUnit(row) {
      check(row.value > 0n, 'currency_units: a positive value');
      db.put('currency_units', numberKey(row.currencyNumber), {
        currency_number: row.currencyNumber,
        currency_type: row.currencyType,
        value: row.value,
        owner_account: row.ownerAccount,
        ...signedRowColumns(row),
      });
    },
    async raiseCounter(name, next) {
      raise(db, name, next);
    },
    async reservePlanSequences(count) {
      return advance(db, 'plan_sequence', BigInt(count), 1n);
    },
    async reserveUnitNumbers(count) {
      return advance(db, 'currency_number', BigInt(count), 1n);
    },
    async plans(remittanceIds) {
      return foundAmong(remittanceIds, (remittanceId) => {
        const row = db.table('unit_plans').rows.get(remittanceId);
        return row ? { remittanceId, planJson: row['plan_json'] as string } : undefined;
      });
    },
    async putPlan(row) {
      check(
        !db.table('unit_plans').rows.has(row.remittanceId),
        'unit_plans: one per remittance id',
      );
      db.put('unit_plans', row.remittanceId, {
        remittance_id: row.remittanceId,
        plan_json: row.planJson,
      });
    },
    async deletePlans(remittanceIds) {
      for (const remittanceId of remittanceIds) db.remove('unit_plans', remittanceId);
    },
    async quarantineUnit(currencyNumber, reason, atMs) {
      return quarantine(db, 'currency_units', currencyNumber, reason, atMs, unitFromRow);
    },
  };
  const store = new (class extends MemoryStore<CurrencyTx> implements CurrencyStore {
    exportUnits(afterUnit = 0n): AsyncIterable<CurrencyRow> {
      return this.exportTable(
        'currency_units',
        unitFromRow,
        (row) => row.currencyNumber > afterUnit,
      );
    }
  })(db, 'currency', tx);
  return store;
}
