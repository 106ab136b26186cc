// How the audit reads each copy of A: block by block (one operation's six transaction numbers),
// in ascending order. The own copy and copies read from files come as records; the peers' copies
// as block digests, a block fetched in full only when its digest differs from the own block's. A
// run of differing blocks (an own copy restored from an older backup, or set aside and empty) is
// fetched in ranges that double in length, not block by block: one request per block would make
// the rebuild of a store a request per operation.

import { assert } from '../model/assert.js';
import { fail } from '../model/errors.js';
import { blockOf, type SignedRecord } from '../protocol/records.js';
import type { CopyName } from './audit.js';
import { blockDigest, type PeerBlock } from './blockDigests.js';
import { StreamFailure } from './exportLines.js';

/**
 * A peer's copy of A read by block digests (./blockDigests.ts): a block whose digest equals the
 * transaction device's own is that block; any other is fetched in full.
 */
export interface DigestedCopy {
  /** One entry per block the copy holds, in ascending block order, in pages. */
  readonly blocks: AsyncIterable<readonly PeerBlock[]>;
  /** The copy's records of blocks `first` to `last`, in ascending transaction number. */
  fetchBlocks(first: bigint, last: bigint): Promise<SignedRecord[]>;
}

/** The longest range of blocks fetched at once (1,536 records). */
export const blocksFetchedAtOnceMax = 256n;

/** One copy of A as the audit reads it: block by block. */
export interface CopyReader {
  start(): Promise<void>;
  /** The next block the copy holds, or undefined at its end. */
  nextBlock(): bigint | undefined;
  /** The copy's records of `block` ([] when it holds none); `own`: the own copy's, to compare. */
  take(block: bigint, own: readonly SignedRecord[]): Promise<SignedRecord[]>;
}

/** Items read from a stream of pages, one at a time: an await per page, not per item. */
class PageCursor<T> {
  readonly #pages: AsyncIterator<readonly T[]>;
  #page: readonly T[] = [];
  #index = 0;

  constructor(pages: AsyncIterable<readonly T[]>) {
    this.#pages = pages[Symbol.asyncIterator]();
  }

  /** The current item; undefined at the end. */
  get head(): T | undefined {
    return this.#page[this.#index];
  }

  start(): Promise<void> {
    return this.#nextPage();
  }

  /** Moves on to the next item; a promise only when the next page must be read (await it). */
  advance(): Promise<void> | undefined {
    this.#index += 1;
    return this.#index === this.#page.length ? this.#nextPage() : undefined;
  }

  /** The next page that holds an item; none at the end. */
  async #nextPage(): Promise<void> {
    this.#index = 0;
    for (;;) {
      const next = await this.#pages.next();
      this.#page = next.done ? [] : next.value;
      if (next.done || this.#page.length > 0) return;
    }
  }
}

/** A copy read as records, in pages (a store's export). */
export class RecordReader implements CopyReader {
  readonly #records: PageCursor<SignedRecord>;

  constructor(pages: AsyncIterable<readonly SignedRecord[]>) {
    this.#records = new PageCursor(pages);
  }

  start(): Promise<void> {
    return this.#records.start();
  }

  nextBlock(): bigint | undefined {
    const head = this.#records.head;
    return head && blockOf(head.record.transactionNumber);
  }

  async take(block: bigint): Promise<SignedRecord[]> {
    const version: SignedRecord[] = [];
    for (let head = this.#records.head; head; head = this.#records.head) {
      if (blockOf(head.record.transactionNumber) !== block) break;
      version.push(head);
      const reading = this.#records.advance();
      if (reading) await reading;
    }
    return version;
  }
}

/**
 * The digest of the block last asked for, computed once: the own copy's block is compared with
 * both peers' digests and, when it is the correct one, chained into the digest of A.
 */
export class LastBlockDigest {
  #records: readonly SignedRecord[] | undefined;
  #digest: Buffer = Buffer.alloc(0);

  of(records: readonly SignedRecord[]): Buffer {
    if (this.#records !== records) {
      this.#records = records;
      this.#digest = blockDigest(records);
    }
    return this.#digest;
  }
}

export class DigestReader implements CopyReader {
  readonly #blocks: PageCursor<PeerBlock>;
  /** Blocks fetched ahead of the one asked for, each until it is taken or passed. */
  readonly #fetched = new Map<bigint, SignedRecord[]>();
  /** The last block of the last range fetched; the next range is longer when it follows it. */
  #fetchedUpTo = -2n;
  #rangeBlocks = 1n;

  constructor(
    private readonly name: CopyName,
    private readonly copy: DigestedCopy,
    private readonly blockDigests: LastBlockDigest,
  ) {
    this.#blocks = new PageCursor(copy.blocks);
  }

  start(): Promise<void> {
    return this.#blocks.start();
  }

  nextBlock(): bigint | undefined {
    return this.#blocks.head?.block;
  }

  async take(block: bigint, own: readonly SignedRecord[]): Promise<SignedRecord[]> {
    const head = this.#blocks.head;
    if (head?.block !== block) return [];
    const reading = this.#blocks.advance();
    if (reading) await reading;
    // Equal digests: the very same bytes as the own block (the usual case), so the very same
    // record objects (decideBlock then sees at once that the copies agree).
    if (head.digest && own.length > 0 && head.digest.equals(this.blockDigests.of(own)))
      return [...own];
    return this.#fetchedBlock(block);
  }

  /** A differing block's records: from the range fetched before, or in a new range from it. */
  async #fetchedBlock(block: bigint): Promise<SignedRecord[]> {
    for (const passed of this.#fetched.keys()) if (passed < block) this.#fetched.delete(passed);
    if (block > this.#fetchedUpTo) {
      const follows = block === this.#fetchedUpTo + 1n;
      this.#rangeBlocks = follows ? min(this.#rangeBlocks * 2n, blocksFetchedAtOnceMax) : 1n;
      const last = block + this.#rangeBlocks - 1n;
      for (const signed of await this.copy.fetchBlocks(block, last)) {
        const of = blockOf(signed.record.transactionNumber);
        if (of < block || of > last)
          throw new StreamFailure(
            fail(
              'PeerUnavailable',
              `${this.name} answered records outside blocks ${block}-${last}`,
            ),
          );
        const held = this.#fetched.get(of);
        if (held) held.push(signed);
        else this.#fetched.set(of, [signed]);
      }
      this.#fetchedUpTo = last;
    }
    const records = this.#fetched.get(block) ?? [];
    this.#fetched.delete(block);
    assert(this.#fetched.size <= Number(blocksFetchedAtOnceMax), 'a bounded range held');
    return records;
  }
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
