// Recovery at one device: what the audit found wrong goes into quarantine, what is correct goes in.
//
// The transaction device sends each device batches of repairs it derived from a full audit
// (audit/recovery.ts): records of A to remove and to put, and for `account` and `currency` rows
// of B or C. A batch is one database transaction: it applies entirely or not at all. Rows put
// into B or C are signed here, by the device's own key, exactly as given (the replay of A decided
// their content, lastUpdate included), and only when the device's own replay of its copy of A gives
// that very row (unjustifiedPut): a stolen transaction key cannot have a row signed that A does not
// justify. Repairs are taken only while the transaction device runs a recovery (RepairWindow). Records put into A carry their original signatures: a record
// whose signature does not verify is never made valid, because nothing here signs records.

import { replayCopy } from '../audit/replay.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import type { LedgerTx, Store } from '../store/types.js';

/** The most removals plus puts in one repair request. */
export const repairBatchSizeMax = 500;
/** A recovery window the transaction device opened closes by itself after this long. */
export const repairWindowMsMax = 3_600_000;

/**
 * Whether the transaction device has said that a recovery runs (it enters maintenance first, and
 * tells account and currency when it begins and ends); repairs outside it are refused.
 */
export class RepairWindow {
  #openUntilMs = 0;

  open(nowMs: number): void {
    this.#openUntilMs = nowMs + repairWindowMsMax;
  }

  close(): void {
    this.#openUntilMs = 0;
  }

  refusal(nowMs: number): Failure | undefined {
    return nowMs < this.#openUntilMs
      ? undefined
      : fail(
          'AuthorityDenied',
          'repairs are taken only while the transaction device runs a recovery',
        );
  }
}

/**
 * The first row to put that the device's own replay of its copy of A (`replay`, run only when
 * there are rows to put) does not give byte for byte, as a refusal; every row is refused when the
 * copy contradicts itself (undefined).
 */
async function unjustifiedPut<Content>(
  puts: readonly Content[],
  replay: () => Promise<ReadonlyMap<bigint, Content> | undefined>,
  keyOf: (content: Content) => bigint,
  bytesOf: (content: Content) => Buffer,
): Promise<Failure | undefined> {
  if (puts.length === 0) return undefined;
  const replayed = await replay();
  if (!replayed)
    return fail('RepairUnjustified', "this device's copy of A contradicts itself: no row is put");
  for (const content of puts) {
    const expected = replayed.get(keyOf(content));
    if (!expected || !bytesOf(expected).equals(bytesOf(content)))
      return fail(
        'RepairUnjustified',
        `row ${keyOf(content)} is not what this device's copy of A gives; nothing was changed`,
      );
  }
  return undefined;
}

/** How long a replay of the own copy is kept after it was last asked for. */
export const replayKeptMsMax = 60_000;

/**
 * The replay of the device's own copy of A that unjustifiedPut checks rows against, kept between
 * the repair batches of one recovery: replayed again only when the copy may have changed (a batch
 * that put or removed records, a commit by another connection, another record count or last
 * number), and dropped replayKeptMsMax after its last use. Replaying the whole copy for each batch
 * made recovering B or C quadratic in the size of the ledger (100,000 remittances: 274 s).
 */
export class OwnCopyReplay {
  #kept: { mark: string; usedAtMs: number; replay: ReturnType<typeof replayCopy> } | undefined;

  constructor(
    private readonly store: Store<LedgerTx>,
    private readonly nowMs: () => number,
  ) {}

  async replay(): ReturnType<typeof replayCopy> {
    const mark = await this.#mark();
    const now = this.nowMs();
    const kept = this.#kept;
    if (kept === undefined || kept.mark !== mark || now - kept.usedAtMs > replayKeptMsMax)
      this.#kept = { mark, usedAtMs: now, replay: replayCopy(this.store.exportRecordPages()) };
    else kept.usedAtMs = now;
    return this.#kept!.replay;
  }

  /** After a batch that changed the copy of A. */
  forget(): void {
    this.#kept = undefined;
  }

  async #mark(): Promise<string> {
    const [count, last] = await this.store.transact(async (tx) => [
      await tx.recordCount(),
      await tx.lastRecordNumber(),
    ]);
    return `${count}/${last}/${await this.store.externalChangeMark()}`;
  }
}

/** Whether a repair batch changes the copy of A (a kept replay of it is then stale). */
function changesRecords(batch: RepairBatch<unknown>): boolean {
  return batch.records.put.length > 0 || batch.records.remove.length > 0;
}

/** The rows a device keeps besides A (account: B, currency: C), as a recovery repairs them. */
export interface RowsOfCopy<Tx, Content> extends RowRepairer<Tx, Content> {
  /** What the replay of the own copy of A gives for these rows. */
  readonly replayed: (
    replay: NonNullable<Awaited<ReturnType<typeof replayCopy>>>,
  ) => ReadonlyMap<bigint, Content>;
  readonly keyOf: (content: Content) => bigint;
  readonly bytesOf: (content: Content) => Buffer;
}

/**
 * A repair batch at account or currency: every row to put checked against the kept replay of the
 * own copy of A (unjustifiedPut), then the batch applied in one transaction; the replay is
 * forgotten when the batch changed records.
 */
export async function repairFromOwnCopy<Tx extends LedgerTx, Content>(
  store: Store<Tx>,
  ownCopy: OwnCopyReplay,
  batch: RepairBatch<Content>,
  atMs: bigint,
  rows: RowsOfCopy<Tx, Content>,
  deriveTables?: (tx: Tx, put: readonly SignedRecord[]) => Promise<void>,
): Promise<Result<RepairCounts>> {
  const unjustified = await unjustifiedPut(
    batch.rows.put,
    async () => {
      const replay = await ownCopy.replay();
      return replay && rows.replayed(replay);
    },
    rows.keyOf,
    rows.bytesOf,
  );
  if (unjustified) return unjustified;
  const applied = await store.transact((tx) => applyRepairs(tx, batch, atMs, rows, deriveTables));
  if (changesRecords(batch)) ownCopy.forget();
  return applied;
}

export interface Removal {
  readonly key: bigint;
  /** What the audit found (a FindingKind): kept with the row in quarantine. */
  readonly kind: string;
}

export interface RepairBatch<Content> {
  readonly records: { readonly remove: readonly Removal[]; readonly put: readonly SignedRecord[] };
  readonly rows: { readonly remove: readonly Removal[]; readonly put: readonly Content[] };
}

export interface RepairCounts {
  readonly recordsRemoved: number;
  readonly recordsPut: number;
  readonly rowsRemoved: number;
  readonly rowsPut: number;
}

export interface RowRepairer<Tx, Content> {
  quarantine(tx: Tx, key: bigint, reason: string, atMs: bigint): Promise<unknown>;
  /** Sign the content with the device's key and store it (replacing nothing: removals come first). */
  putSigned(tx: Tx, content: Content): Promise<void>;
}

export function batchSize(batch: RepairBatch<unknown>): number {
  return (
    batch.records.remove.length +
    batch.records.put.length +
    batch.rows.remove.length +
    batch.rows.put.length
  );
}

/**
 * Apply one batch inside the caller's transaction; a conflict returns a Failure (rolled back).
 * `deriveTables`: the device's tables derived from A, brought in line with the records put
 * (devices/derivedTables.ts), in the same transaction.
 */
export async function applyRepairs<Tx extends LedgerTx, Content>(
  tx: Tx,
  batch: RepairBatch<Content>,
  atMs: bigint,
  rows: RowRepairer<Tx, Content> | undefined,
  deriveTables?: (tx: Tx, put: readonly SignedRecord[]) => Promise<void>,
): Promise<Result<RepairCounts>> {
  if (batchSize(batch) > repairBatchSizeMax)
    return fail('InvalidInput', `a repair batch holds at most ${repairBatchSizeMax} changes`);
  if (!rows && (batch.rows.remove.length > 0 || batch.rows.put.length > 0))
    return fail('InvalidInput', 'this device keeps no rows besides A');
  let recordsRemoved = 0;
  for (const { key, kind } of batch.records.remove)
    if (await tx.quarantineRecord(key, `recovery: ${kind}`, atMs)) recordsRemoved += 1;
  if (!(await tx.appendRecords(batch.records.put)))
    return fail('RecordConflict', 'a record to put conflicts with one that is stored');
  await deriveTables?.(tx, batch.records.put);
  let rowsRemoved = 0;
  for (const { key, kind } of batch.rows.remove)
    if (await rows?.quarantine(tx, key, `recovery: ${kind}`, atMs)) rowsRemoved += 1;
  for (const content of batch.rows.put) await rows?.putSigned(tx, content);
  return ok({
    recordsRemoved,
    recordsPut: batch.records.put.length,
    rowsRemoved,
    rowsPut: batch.rows.put.length,
  });
}
