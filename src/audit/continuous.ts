// The continuous audit: every running device checks its own stores as records and rows arrive.
//
// At each tick a device verifies, in its own copy of A, the operations that arrived since the last
// tick: every signature and chain link, every signer in its role, every record at its step's
// number. An operation still in flight (no response yet) is checked once it is complete. Ticks
// come every `intervalMs` or every operationsTickMsMax, whichever is sooner, so that what arrives
// is checked within about a second, a little at a time, not in a burst after every interval (with
// a 30 s interval a busy device caught up on 30 s of operations at once, and a benchmark window
// between two ticks saw none of the audit's cost). It also verifies the signatures of the rows of B
// or C it keeps: rows change in place, so it walks them all, in key order, again and again, at the
// interval's pace: a tick walks them only once their walk last went on an interval ago. A tick
// does a bounded share of either (blocksPerTickMax, rowsPerTickMax) and the next goes on where it
// stopped, so that the audit never takes a burst of the device's time however large the stores
// grow; while operations remain past a tick's share, the next tick follows after a short pause.
// Within a tick it gives the device's other work a turn of the event loop after every slice
// (blocksPerSliceMax, rowsPerSliceMax): its reads and checks are synchronous underneath, and a
// whole tick at once held every request the device was serving for its length (about 100 ms under
// load, the benchmark's p99.9; docs/performance.md). It can only see its own copy: comparing copies
// and deciding what is correct is the full audit's work (./audit.ts), which the operator runs with
// `triledger audit`. Findings go to the device's log at error level and the last result is in
// `GET /health`.

import { assert } from '../model/assert.js';
import type { Failure } from '../model/errors.js';
import { nextTurn } from '../model/turns.js';
import { baseOfBlock, blockOf, blockSize, type SignedRecord } from '../protocol/records.js';
import { stepOf } from '../protocol/transactionTypes.js';
import { checkStoredBlock, type VerifyingKeys } from '../protocol/verify.js';
import { isStoreDamage } from '../store/damage.js';
import { readableRecord } from './exportLines.js';
import type { VerifiedRecords } from './verifiedRecords.js';

/** Findings listed in one result; more are counted. */
export const continuousFindingsMax = 20;
/**
 * How many blocks a tick waits behind an operation still in flight before it stops waiting for it
 * (one stuck by a crash would otherwise have every later tick check everything after it again);
 * the full audit still covers it.
 */
export const inFlightWaitBlocksMax = 1_024n;

/** Operations (blocks of A) one tick checks at most; the next tick goes on after them. */
export const blocksPerTickMax = 2_048;
/** Rows of B or C one tick checks at most; the next tick goes on after them, then from the first. */
export const rowsPerTickMax = 8_192;
/** Operations checked in a row before the device's other work gets a turn (about 1 ms of work). */
export const blocksPerSliceMax = 32;
/** Rows checked in a row before the device's other work gets a turn (about 1 ms of work). */
export const rowsPerSliceMax = 256;

/**
 * While operations remain past a tick's share, the next tick follows after a pause this many times
 * the tick's own length (not after the whole interval), so that the audit keeps up with any rate
 * the ledger carries while taking at most a fifth of the device's time.
 */
export const catchUpPauseRatio = 4;
/** The shortest pause between two ticks that catch up. */
export const catchUpPauseMsMin = 10;
/** The longest a caught-up audit waits before it checks the operations that arrived since. */
export const operationsTickMsMax = 1_000;
/** Ticks with findings kept for the results of the interval after them (the oldest go first). */
export const findingTicksKeptMax = 1_024;

export interface SignedRow {
  readonly key: bigint;
  readonly bytes: Buffer;
  readonly signerKeyNumber: number;
  readonly signature: Buffer;
}

export interface OwnStores {
  /**
   * The records of A after `afterNumber`, in transaction number order, a page at a time: the audit
   * reads every record a device stores, and an async generator's step per record made a promise, a
   * result object and a turn of the microtask queue for each. A record of no known transaction type
   * comes as the `unreadable` placeholder (exportLines.ts typedRecordPages); the audit asks whether
   * any other fits a record.
   */
  recordPages(afterNumber: bigint): AsyncIterable<readonly SignedRecord[]>;
  /** The rows of B or C this device signs, if it keeps any, in key order after `afterKey`. */
  rows?(afterKey: bigint): AsyncIterable<SignedRow>;
  /** The key number of an account (who may sign its requests). */
  accountKeyNumber(accountNumber: bigint): Promise<number | undefined>;
  /** Where the first tick starts: the newest checkpoint this device co-signed (0: none). */
  checkpointedUpTo(): Promise<bigint>;
}

/**
 * A tick's result. Its findings are those of this tick and of every tick within the last interval:
 * a finding stays in `GET /health` and in the clean gauge for an interval (as when ticks came on the
 * interval alone), whatever the ticks in between find, so that a poll or a scrape does not miss it.
 */
export interface ContinuousAuditResult {
  readonly at: string;
  /** No finding in this tick, nor in any tick within the last interval. */
  readonly clean: boolean;
  /** Records of A checked in this tick (the new ones). */
  readonly recordsChecked: number;
  /**
   * Rows of B or C checked in this tick (up to rowsPerTickMax, on from where the last stopped; none
   * when it catches up on operations before the rows are due).
   */
  readonly rowsChecked: number;
  /** Every complete operation up to this transaction number has been checked. */
  readonly checkedUpTo: string;
  /** The first continuousFindingsMax findings of those ticks, oldest first. */
  readonly findings: readonly string[];
  readonly findingsCount: number;
  /** More complete operations wait past this tick's share: the next tick follows soon. */
  readonly behind: boolean;
}

interface KeptFindings {
  readonly atMs: number;
  readonly findings: readonly string[];
  readonly count: number;
}

export class ContinuousAudit {
  #checkedUpTo = 0n;
  /** The ticks with findings within the last interval, oldest first (#keptFindings). */
  readonly #findingTicks: KeptFindings[] = [];
  /**
   * Complete operations past #checkedUpTo already checked: the next tick reads again from before
   * an operation still in flight, and checks only what it has not (each operation once).
   */
  readonly #checkedAhead = new Set<bigint>();
  /** Where the walk over the rows goes on at the next tick (0: from the first). */
  #rowsAfter = 0n;
  #last: ContinuousAuditResult | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  /** The interval it was started with (undefined: ticked by hand, every tick walks the rows). */
  #intervalMs: number | undefined;
  /** When the walk over the rows last went on. */
  #rowsWalkedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    /** The keys, and the copies of what this process verified, if it keeps them. */
    private readonly keys: VerifyingKeys & { readonly verifiedRecords?: VerifiedRecords },
    /** The key this device signs its rows with. */
    private readonly rowSignerKeyNumber: number,
    private readonly stores: OwnStores,
    private readonly nowMs: () => number,
    /** Each tick's result, and how many findings that tick made itself (0: only earlier ones). */
    private readonly onResult: (result: ContinuousAuditResult, foundNow: number) => void,
    /** Between slices of a tick (the simulator, which runs promises alone, passes a resolved one). */
    private readonly betweenSlices: () => Promise<void> = nextTurn,
  ) {}

  get last(): ContinuousAuditResult | undefined {
    return this.#last;
  }

  /**
   * Tick every `intervalMs` or operationsTickMsMax, whichever is sooner, and sooner still while
   * behind (nextTickInMs); the rows are walked every `intervalMs`. 0: never. A tick that meets
   * damage in the device's store (store/damage.ts) stops the audit and hands the damage to
   * `onStoreDamage`: the device fences itself, as when a request meets it. Any other failure of a
   * tick stops the process, as an unexpected failure does.
   */
  start(intervalMs: number, onStoreDamage: (damage: Error) => void): void {
    if (intervalMs <= 0) return;
    this.#intervalMs = intervalMs;
    const schedule = (delayMs: number) => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        const startedMs = this.nowMs();
        // The next tick is scheduled whatever this one meets (a clock set back counts as no time).
        void this.tick()
          .catch((error: unknown) => {
            if (!isStoreDamage(error)) throw error;
            this.stop();
            onStoreDamage(error as Error);
          })
          .finally(() => {
            const tickMs = Math.max(0, this.nowMs() - startedMs);
            schedule(this.nextTickInMs(intervalMs, tickMs));
          });
      }, delayMs);
      this.#timer.unref();
    };
    schedule(Math.min(intervalMs, operationsTickMsMax));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * When the next tick starts after one that took `tickMs`: once caught up, after the interval or
   * operationsTickMsMax, whichever is sooner; while behind, after catchUpPauseRatio times the
   * tick's length (at least catchUpPauseMsMin).
   */
  nextTickInMs(intervalMs: number, tickMs: number): number {
    assert(intervalMs > 0 && tickMs >= 0, 'a tick takes no negative time');
    const caughtUpMs = Math.min(intervalMs, operationsTickMsMax);
    if (this.#last?.behind !== true) return caughtUpMs;
    return Math.min(caughtUpMs, Math.max(catchUpPauseMsMin, tickMs * catchUpPauseRatio));
  }

  /** One check of what arrived since the last; a tick still running is not started twice. */
  async tick(): Promise<ContinuousAuditResult | undefined> {
    if (this.#running) return undefined;
    this.#running = true;
    try {
      const { result, foundNow } = await this.#check();
      this.#last = result;
      this.onResult(result, foundNow);
      return result;
    } finally {
      this.#running = false;
    }
  }

  async #check(): Promise<{ result: ContinuousAuditResult; foundNow: number }> {
    // What a checkpoint covers was checked by the full audit that made it (and will be by the next
    // audit): the first tick after a start begins there, not at the first record.
    if (this.#checkedUpTo === 0n) this.#checkedUpTo = await this.stores.checkpointedUpTo();
    const findings: string[] = [];
    const found = (text: string) => findings.push(text);
    let recordsChecked = 0;
    let blocksSeen = 0;
    let resumeAfter: bigint | undefined;
    let behind = false;
    let lastComplete = this.#checkedUpTo;
    let block: SignedRecord[] = [];
    const finishBlock = async () => {
      if (block.length === 0) return;
      blocksSeen += 1;
      const base = baseOfBlock(blockOf(block[0]!.record.transactionNumber));
      const complete = block.some((r) => stepOf(r.record.transactionType) === 6);
      if (!complete) {
        // In flight: checked once it completes; the next tick resumes before it.
        resumeAfter ??= base - 1n;
      } else if (this.#checkedAhead.has(base)) {
        lastComplete = base + blockSize - 1n; // read again after one in flight, checked once
      } else {
        recordsChecked += block.length;
        const problem = await this.#checkBlock(base, block);
        if (problem) found(`A transactions ${base}-${base + blockSize - 1n}: ${problem.message}`);
        lastComplete = base + blockSize - 1n;
        if (resumeAfter !== undefined) this.#checkedAhead.add(base);
      }
      block = [];
    };
    pages: for await (const page of this.stores.recordPages(this.#checkedUpTo)) {
      for (let index = 0; index < page.length; index++) {
        const signed = page[index]!;
        const first = block[0];
        if (
          first &&
          blockOf(first.record.transactionNumber) !== blockOf(signed.record.transactionNumber)
        ) {
          await finishBlock();
          if (blocksSeen === blocksPerTickMax) {
            behind = true; // the next tick goes on from here, soon
            break pages;
          }
          if (blocksSeen % blocksPerSliceMax === 0) await this.betweenSlices();
        }
        block.push(signed);
      }
    }
    await finishBlock();
    this.#advanceCheckedUpTo(resumeAfter, lastComplete);

    const rowsChecked = this.#rowsDue() ? await this.#checkRows(found) : 0;
    const recent = this.#keptFindings(findings);
    const result = {
      at: new Date(this.nowMs()).toISOString(),
      clean: recent.length === 0,
      recordsChecked,
      rowsChecked,
      checkedUpTo: this.#checkedUpTo.toString(),
      findings: recent.flatMap((kept) => kept.findings).slice(0, continuousFindingsMax),
      findingsCount: recent.reduce((sum, kept) => sum + kept.count, 0),
      behind,
    };
    return { result, foundNow: findings.length };
  }

  /**
   * Where the next tick reads from: before the first operation this one found in flight, unless it
   * has waited for it past inFlightWaitBlocksMax (then the full audit covers it); else after the
   * last complete one. The operations checked ahead of that point stay marked until it passes them.
   */
  #advanceCheckedUpTo(resumeAfter: bigint | undefined, lastComplete: bigint): void {
    const waitedTooLong =
      resumeAfter !== undefined && lastComplete - resumeAfter > inFlightWaitBlocksMax * blockSize;
    const next = resumeAfter === undefined || waitedTooLong ? lastComplete : resumeAfter;
    assert(next >= this.#checkedUpTo, 'the checked mark never goes back');
    this.#checkedUpTo = next;
    for (const base of this.#checkedAhead) if (base <= next) this.#checkedAhead.delete(base);
    assert(
      this.#checkedAhead.size <= Number(inFlightWaitBlocksMax) + blocksPerTickMax,
      'the blocks checked ahead lie within the wait for one in flight',
    );
  }

  /**
   * This tick's findings kept with those of the ticks within the last interval (ticks run by hand:
   * this tick's alone), at most findingTicksKeptMax ticks.
   */
  #keptFindings(findings: readonly string[]): readonly KeptFindings[] {
    const nowMs = this.nowMs();
    const keptAfterMs = this.#intervalMs === undefined ? Infinity : nowMs - this.#intervalMs;
    const firstKept = this.#findingTicks.findIndex((kept) => kept.atMs > keptAfterMs);
    this.#findingTicks.splice(0, firstKept === -1 ? this.#findingTicks.length : firstKept);
    if (findings.length > 0)
      this.#findingTicks.push({
        atMs: nowMs,
        findings: findings.slice(0, continuousFindingsMax),
        count: findings.length,
      });
    if (this.#findingTicks.length > findingTicksKeptMax) this.#findingTicks.shift();
    assert(this.#findingTicks.length <= findingTicksKeptMax, 'finding ticks kept are bounded');
    return this.#findingTicks;
  }

  /**
   * Whether this tick walks the rows: once their walk last went on an interval ago (however often
   * ticks check operations, however long the ledger keeps the audit behind). Every tick run by
   * hand walks them.
   */
  #rowsDue(): boolean {
    if (this.#intervalMs === undefined) return true;
    return this.nowMs() - this.#rowsWalkedAtMs >= this.#intervalMs;
  }

  /** The next rowsPerTickMax rows of B or C, from where the last tick stopped (then from the first). */
  async #checkRows(found: (text: string) => void): Promise<number> {
    if (!this.stores.rows) return 0;
    this.#rowsWalkedAtMs = this.nowMs();
    let rowsChecked = 0;
    let last = 0n;
    for await (const row of this.stores.rows(this.#rowsAfter)) {
      assert(row.key > this.#rowsAfter, 'rows come after where the walk stopped');
      rowsChecked += 1;
      last = row.key;
      const valid =
        row.signerKeyNumber === this.rowSignerKeyNumber &&
        this.keys.signatures.verify(this.rowSignerKeyNumber, row.bytes, row.signature).ok;
      if (!valid) found(`row ${row.key}: its signature does not verify`);
      if (rowsChecked === rowsPerTickMax) break;
      if (rowsChecked % rowsPerSliceMax === 0) await this.betweenSlices();
    }
    this.#rowsAfter = rowsChecked === rowsPerTickMax ? last : 0n;
    return rowsChecked;
  }

  /**
   * A complete operation as stored: records that equal this process's copies of what it verified
   * or signed are compared, not verified again (./verifiedRecords.ts); every other check runs.
   */
  async #checkBlock(base: bigint, block: SignedRecord[]): Promise<Failure | undefined> {
    // A row changed in the store may hold anything: only an account number is looked up.
    const source = block[0]!.record.sourceAccount;
    const keyNumber =
      typeof source === 'bigint' ? await this.stores.accountKeyNumber(source) : undefined;
    const copies = this.keys.verifiedRecords;
    const trusted = copies?.trustedPrefix(block, this.keys.signatureZero) ?? 0;
    assert(trusted <= block.length, 'the records compared are of the block');
    // A record equal to its copy fits a record; any other is read as it fits (OwnStores).
    const checked = block.map((signed, index) =>
      index < trusted ? signed : readableRecord(signed),
    );
    const problem = checkStoredBlock(this.keys, base, checked, keyNumber, trusted);
    copies?.forget(block);
    return problem;
  }
}
