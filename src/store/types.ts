// The storage interfaces of the three devices.
//
// Device logic talks only to these interfaces, never to SQL, so the same logic runs on SQLite
// (./sqlite.ts, the default), PostgreSQL (./postgres.ts) and memory (./memory.ts). Every change
// happens inside `transact`, one database transaction: it commits entirely (durably, before the
// promise resolves, unless it is marked lazy: Durability) or not at all. Work that throws, or
// returns a Failure (`{ ok: false }`), is rolled back: a refused request leaves no partial write
// behind. Methods are async so that a networked database fits behind them.

import type { SignedRecord } from '../protocol/records.js';
import type { AccountRowContent, CurrencyRowContent } from '../protocol/rows.js';
import type { DumpRow } from './dump.js';

/** Which device a store belongs to: a store refuses to open as another device's. */
export type DeviceKind = 'transaction' | 'account' | 'currency';

/** A (transaction information): kept by every device. */
export interface LedgerTx {
  /**
   * Insert records; a record already stored with identical content is skipped. Returns false when
   * one conflicts with a stored record, and then has stored none of them: a caller that goes on in
   * the same transaction (the transaction device refusing one answer of a batch) never keeps a
   * later record of an operation without the earlier one that conflicted.
   */
  appendRecords(records: readonly SignedRecord[]): Promise<boolean>;
  recordsOfOperation(remittanceId: string): Promise<SignedRecord[]>;
  /**
   * The records of each of these operations that has any, in number order: what a batch of steps
   * reads before it decides (one read on PostgreSQL).
   */
  recordsOfOperations(remittanceIds: readonly string[]): Promise<Map<string, SignedRecord[]>>;
  /**
   * The records of the accepted account issuing that opened an account (the first stored response
   * that names it), in step order; none when there is none. Who signs for an account is read from
   * these signed records, never from a table of their own (devices/accountKeys.ts).
   */
  accountOpening(accountNumber: bigint): Promise<SignedRecord[]>;
  /**
   * Where those openings stand in A: the transaction number of each one's response (the last of its
   * block), read from the index alone; accounts with none left out. For the rule that an account
   * must predate a request (devices/account/service.ts), on every batch of exchanges (one read).
   */
  accountsOpenedAt(accountNumbers: readonly bigint[]): Promise<Map<bigint, bigint>>;
  /** Keep a signed checkpoint (audit/checkpoint.ts, as JSON); one per transaction number. */
  putCheckpoint(transactionNumber: bigint, json: string): Promise<void>;
  /** The newest checkpoints first, as JSON: each is verified by whoever reads it. */
  checkpoints(limit: number): Promise<string[]>;
  /** The highest transaction number this store holds a record at (0 when it holds none). */
  lastRecordNumber(): Promise<bigint>;
  /** How many records of A this store holds after a transaction number (default 0: all). */
  recordCount(afterNumber?: bigint): Promise<bigint>;
  /** Recovery: move the record at this number into the quarantine table; returns what was there. */
  quarantineRecord(
    transactionNumber: bigint,
    reason: string,
    atMs: bigint,
  ): Promise<SignedRecord | undefined>;
}

/** A peer's acknowledgement of a done operation's settlement (TransactionTx.markSettled). */
export interface Settlement {
  readonly remittanceId: string;
  /** settledAtAccount, settledAtCurrency or both. */
  readonly peers: number;
}

export interface OperationRow {
  readonly remittanceId: string;
  readonly requestDigest: Buffer;
  readonly baseNumber: bigint;
  /** `open` while in flight; `done` once the response is stored. */
  readonly state: 'open' | 'done';
  /**
   * The answer kept by earlier versions (JSON); a done operation's answer is now derived from its
   * records when it is asked again (devices/derivedTables.ts decidedReplyOf), never stored.
   */
  readonly responseJson?: string;
  /** Which peers acknowledged its settlement (settledAtAccount | settledAtCurrency). */
  readonly settled: number;
}

/** Settlement bits of an operation: which peers have stored and applied its records. */
export const settledAtAccount = 1;
export const settledAtCurrency = 2;
export const settledEverywhere = settledAtAccount | settledAtCurrency;

/** The numbers a device gives out, each counter holding the next one free. */
export type CounterName =
  | 'transaction_number'
  | 'account_number'
  | 'currency_number'
  | 'plan_sequence';

/** A device that gives out numbers (transaction, currency). */
export interface CountingTx {
  /**
   * Recovery: make the counter's next number at least `next`, so that it never gives out a number
   * the rebuilt A already holds (a counter never goes back).
   */
  raiseCounter(name: CounterName, next: bigint): Promise<void>;
}

/** Records indexed by account at most per batch (indexAccountHistory). */
export const accountHistoryBatchMax = 16_384;

export interface TransactionTx extends LedgerTx, CountingTx {
  /**
   * Insert records this device signed at numbers it reserved (a new block's request, its next
   * step): never stored before, so a number already taken is an error, not a refusal. A store may
   * write them together later in the transaction (before its next read and its commit).
   */
  appendReserved(records: readonly SignedRecord[]): Promise<void>;
  operation(remittanceId: string): Promise<OperationRow | undefined>;
  /** The stored operations among these remittance ids (one read for a batch of openings). */
  operations(remittanceIds: readonly string[]): Promise<Map<string, OperationRow>>;
  /**
   * Recovery: store an operation's row as its records give it (devices/transaction/derived.ts),
   * replacing the one stored under its remittance id.
   */
  restoreOperation(row: OperationRow): Promise<void>;
  /**
   * Reserve the next block of six transaction numbers for each new operation, in order, and record
   * each as open: the first number of each block. A store may write the rows together later in the
   * transaction (before its next read and its commit).
   */
  reserveOperations(
    opened: readonly { remittanceId: string; requestDigest: Buffer }[],
  ): Promise<bigint[]>;
  /**
   * Record each operation as done: its answer follows from its records (a6 stored with it). Every
   * one must be stored (an error otherwise); a batch's operations in one statement on PostgreSQL.
   */
  finishOperations(remittanceIds: readonly string[]): Promise<void>;
  /**
   * Record that peers (settledAtAccount | settledAtCurrency) hold each done operation's settlement;
   * an operation still open is left as it is (its bits wait for its response). An operation named
   * twice gets both its bits. A batch's acknowledgements in one statement on PostgreSQL.
   */
  markSettled(settlements: readonly Settlement[]): Promise<void>;
  /**
   * The end of the last block such that every operation up to it is done and settled at both
   * peers (0 when none).
   */
  settledUpTo(): Promise<bigint>;
  /** Operations still open (in flight or cut off by a crash), oldest first. */
  openOperations(limit: number): Promise<string[]>;
  /** Done operations that a peer has not yet acknowledged, oldest first, with their bits. */
  unsettledOperations(limit: number): Promise<{ remittanceId: string; settled: number }[]>;
  pendingCounts(): Promise<{ open: number; unsettled: number }>;
  /** Whether an accepted account issuing was signed with this key (a shared HMAC key serves one account). */
  accountOpenedWithKey(keyNumber: number): Promise<boolean>;
  /** The first number of the next block of six it would give out (only read): 1 on a new store. */
  nextTransactionNumber(): Promise<bigint>;
  /** The next account number; `reserve` takes it, otherwise it is only read. */
  nextAccountNumber(options: { reserve: boolean }): Promise<bigint>;
  /**
   * The operations that touch an account, by the number of the record that names it
   * (accountNamingTypes), after `afterNumber`, in number order, at most `limit`: their ids.
   */
  operationsOfAccount(accountNumber: bigint, afterNumber: bigint, limit: number): Promise<string[]>;
  /**
   * Index by account the records stored since the last call, at most `recordsMax`; how many were
   * read. A store that indexes them as it writes them reads none (0); one that indexes them later,
   * off the hot path (SQLite), is called by the device in the background, and indexes what is left
   * before it answers operationsOfAccount.
   */
  indexAccountHistory(recordsMax: number): Promise<number>;
}

/** A row of B (FIG. 4): the signed content and its signature by the account device. */
export interface AccountRow extends AccountRowContent {
  readonly signerKeyNumber: number;
  readonly signature: Buffer;
}

export interface HoldRow {
  readonly remittanceId: string;
  readonly accountNumber: bigint;
  readonly amount: bigint;
}

/** A device that holds money or units for operations in flight (confirm mode): account, currency. */
export interface HoldingTx extends LedgerTx {
  /** Remittance ids of the operations this store holds something for, at most `limit`. */
  heldRemittanceIds(limit: number): Promise<string[]>;
}

export interface AccountTx extends HoldingTx {
  account(accountNumber: bigint): Promise<AccountRow | undefined>;
  /** The stored rows among these account numbers (a batch's rows, one read on PostgreSQL). */
  accounts(accountNumbers: readonly bigint[]): Promise<Map<bigint, AccountRow>>;
  putAccount(row: AccountRow): Promise<void>;
  /** The holds stored among these remittance ids (a batch's settlements, one read). */
  holds(remittanceIds: readonly string[]): Promise<Map<string, HoldRow>>;
  putHold(row: HoldRow): Promise<void>;
  /** Remove the holds of these remittance ids (one statement); an id without a hold is skipped. */
  deleteHolds(remittanceIds: readonly string[]): Promise<void>;
  /** Recovery: move the row into the quarantine table; returns what was there. */
  quarantineAccount(
    accountNumber: bigint,
    reason: string,
    atMs: bigint,
  ): Promise<AccountRow | undefined>;
}

/** A row of C (FIG. 5): the signed content and its signature by the currency device. */
export interface CurrencyRow extends CurrencyRowContent {
  readonly signerKeyNumber: number;
  readonly signature: Buffer;
}

export interface UnitPlanRow {
  readonly remittanceId: string;
  readonly planJson: string;
}

/** Whose units, of which currency: a payer of a batch (CurrencyTx.unitsToPay). */
export interface UnitOwner {
  readonly ownerAccount: bigint;
  readonly currencyType: string;
}

export interface CurrencyTx extends HoldingTx, CountingTx {
  unit(currencyNumber: bigint): Promise<CurrencyRow | undefined>;
  /** The stored units among these numbers (a batch's units, one read on PostgreSQL). */
  units(currencyNumbers: readonly bigint[]): Promise<Map<bigint, CurrencyRow>>;
  /**
   * The highest number of a stored unit (0: none). Every unit is issued at a number the counter
   * (reserveUnitNumbers) handed out, so in a sound store it is below the counter's next.
   */
  highestUnitNumber(): Promise<bigint>;
  unitsOf(
    ownerAccount: bigint,
    currencyType: string,
    status: CurrencyRow['status'],
  ): Promise<CurrencyRow[]>;
  /**
   * Each payer's active units in the order a payment walks them (protocol/units.ts: largest value
   * first, then highest number), at most `limit` each, one list per payer in the order given (a
   * batch's payers, one read on PostgreSQL): the planning of a payment reads only what it may
   * take, never every unit an account holds.
   */
  unitsToPay(payers: readonly UnitOwner[], limit: number): Promise<CurrencyRow[][]>;
  putUnit(row: CurrencyRow): Promise<void>;
  /**
   * Reserve `count` numbers in the order of unit plans (see protocol/details.ts); returns the
   * first. With 0, the next free one, reserving nothing.
   */
  reservePlanSequences(count: number): Promise<bigint>;
  /** Reserve `count` new currency numbers; returns the first. With 0, the next free one. */
  reserveUnitNumbers(count: number): Promise<bigint>;
  /** The plans stored among these remittance ids (a batch's settlements, one read). */
  plans(remittanceIds: readonly string[]): Promise<Map<string, UnitPlanRow>>;
  putPlan(row: UnitPlanRow): Promise<void>;
  /** Remove the plans of these remittance ids (one statement); an id without a plan is skipped. */
  deletePlans(remittanceIds: readonly string[]): Promise<void>;
  /** Recovery: move the row into the quarantine table; returns what was there. */
  quarantineUnit(
    currencyNumber: bigint,
    reason: string,
    atMs: bigint,
  ): Promise<CurrencyRow | undefined>;
}

/**
 * Told of each commit: how many device transactions it made durable, and how long it took. A group
 * that only read, or whose works are all lazy, syncs nothing, and a store may leave it out (SQLite
 * does).
 */
export type CommitListener = (works: number, seconds: number) => void;

/**
 * How a transaction's commit reaches the disk. `synced` (the default): on disk before `transact`
 * returns. `lazy`: committed, and seen by every transaction after it, but on disk only with the next
 * synced commit (SQLite's WAL synced, PostgreSQL's WAL flushed): a crash before that may lose it, and
 * nothing after it. Only for writes whose loss the protocol repairs by doing them again: the
 * transaction device's marks of settlements acknowledged (lost, the resumer sends the settlement
 * again and the peer applies nothing twice, as when the peer's answer is lost on the way).
 */
export type Durability = 'synced' | 'lazy';

export interface Store<Tx> {
  transact<T>(work: (tx: Tx) => Promise<T>, durability?: Durability): Promise<T>;
  /**
   * How many device transactions waiting in `transact`'s queue one commit takes together at most:
   * SQLite's group commit takes them all (up to a limit); PostgreSQL and the memory store commit
   * each alone. More batches in flight than this only wait in the store's queue, split small,
   * where the work that arrives meanwhile cannot join them (devices/transaction/service.ts).
   */
  readonly transactionsCommittedTogetherMax: number;
  close(): Promise<void>;
  /** Time commits (devices/metrics.ts); one listener, set once. */
  observeCommits(listener: CommitListener): void;
  /**
   * A consistent snapshot of A in ascending transaction number (after `afterNumber`, default 0, up
   * to `upToNumber`), streamed in pages (constant memory) while the device keeps writing: what the
   * audit reads, a page at a time (no await per record).
   */
  exportRecordPages(
    afterNumber?: bigint,
    upToNumber?: bigint,
  ): AsyncIterable<readonly SignedRecord[]>;
  /** The same, a record at a time. */
  exportRecords(afterNumber?: bigint, upToNumber?: bigint): AsyncIterable<SignedRecord>;
  /**
   * A mark that changes whenever another connection (another process, a hand edit with a database
   * tool) commits to this store, and never for this store's own writes (SQLite: data_version).
   */
  externalChangeMark(): Promise<bigint>;
  /** Every row of every table (store/dump.ts), table by table, as one snapshot: what an archive holds. */
  dumpRows(): AsyncIterable<DumpRow>;
  /** Whether the store holds no row at all (an import writes only into an empty store). */
  isEmpty(): Promise<boolean>;
  /** Import: write dumped rows (checked with dumpTableOf) in one transaction; returns how many. */
  loadRows(rows: AsyncIterable<DumpRow>): Promise<number>;
}

export interface AccountStore extends Store<AccountTx> {
  /** B in ascending account number (after `afterAccount`: the rows past it), streamed like exportRecords. */
  exportAccounts(afterAccount?: bigint): AsyncIterable<AccountRow>;
}

export interface CurrencyStore extends Store<CurrencyTx> {
  /** C in ascending currency number (after `afterUnit`: the rows past it), streamed like exportRecords. */
  exportUnits(afterUnit?: bigint): AsyncIterable<CurrencyRow>;
}
