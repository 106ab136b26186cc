// How the audit reads each copy of A: block by block (one operation's six transaction numbers),
// in ascending order. The own copy and copies read from files come as records; the peers' copies
// as block digests, a block fetched in full only when its digest differs from the own block's.

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
  /** One entry per block the copy holds, in ascending block order. */
  readonly blocks: AsyncIterable<PeerBlock>;
  /** The copy's records of one block, in ascending transaction number. */
  fetchBlock(block: bigint): Promise<SignedRecord[]>;
}

/** One copy of A as the audit reads it: block by block. */
export interface CopyReader {
  start(): Promise<void>;
  /** The next block the copy holds, or undefined at its end. */
  nextBlock(): bigint | undefined;
  /** The copy's records of `block` ([] when it holds none); `own`: the own copy's, to compare. */
  take(block: bigint, own: readonly SignedRecord[]): Promise<SignedRecord[]>;
}

/** A copy read as records, in pages (a store's export): no await per record. */
export class RecordReader implements CopyReader {
  readonly #pages: AsyncIterator<readonly SignedRecord[]>;
  #page: readonly SignedRecord[] = [];
  #index = 0;

  constructor(pages: AsyncIterable<readonly SignedRecord[]>) {
    this.#pages = pages[Symbol.asyncIterator]();
  }

  async start(): Promise<void> {
    await this.#nextPage();
  }

  nextBlock(): bigint | undefined {
    const head = this.#page[this.#index];
    return head && blockOf(head.record.transactionNumber);
  }

  async take(block: bigint): Promise<SignedRecord[]> {
    const version: SignedRecord[] = [];
    for (;;) {
      const head = this.#page[this.#index];
      if (!head || blockOf(head.record.transactionNumber) !== block) return version;
      version.push(head);
      this.#index += 1;
      if (this.#index === this.#page.length) await this.#nextPage();
    }
  }

  /** The next page that holds a record; none at the end. */
  async #nextPage(): Promise<void> {
    this.#index = 0;
    do {
      const next = await this.#pages.next();
      this.#page = next.done ? [] : next.value;
      if (next.done) return;
    } while (this.#page.length === 0);
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
  readonly #blocks: AsyncIterator<PeerBlock>;
  #head: PeerBlock | undefined;

  constructor(
    private readonly name: CopyName,
    private readonly copy: DigestedCopy,
    private readonly blockDigests: LastBlockDigest,
  ) {
    this.#blocks = copy.blocks[Symbol.asyncIterator]();
  }

  async start(): Promise<void> {
    this.#head = (await this.#blocks.next()).value;
  }

  nextBlock(): bigint | undefined {
    return this.#head?.block;
  }

  async take(block: bigint, own: readonly SignedRecord[]): Promise<SignedRecord[]> {
    if (this.#head?.block !== block) return [];
    const { digest } = this.#head;
    this.#head = (await this.#blocks.next()).value;
    // Equal digests: the very same bytes as the own block (the usual case), so the very same
    // record objects (decideBlock then sees at once that the copies agree).
    if (digest && own.length > 0 && digest.equals(this.blockDigests.of(own))) return [...own];
    const fetched = await this.copy.fetchBlock(block);
    if (fetched.some((signed) => blockOf(signed.record.transactionNumber) !== block))
      throw new StreamFailure(
        fail('PeerUnavailable', `${this.name} answered records of another block than ${block}`),
      );
    return fetched;
  }
}
