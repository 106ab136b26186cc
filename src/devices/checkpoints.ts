// A device's part in signed checkpoints (audit/checkpoint.ts): it tells the digest of its own copy
// of A up to a number, co-signs a checkpoint only when that digest is the checkpoint's, and keeps
// checkpoints that every device signed.
//
// Hashing a whole copy costs a full read, so the keeper remembers the last digest it computed: the
// export an audit reads chains the block digests as it sends them (digestingBlocks), and the request to
// co-sign the checkpoint that audit leaves then needs no second read. The remembered digest is of
// the copy as that export read it; a change after it is for the next audit to find.

import { blockDigestsOf, type PeerBlock } from '../audit/blockDigests.js';
import {
  type Checkpoint,
  type CheckpointHeader,
  type CheckpointSignatures,
  checkpointBytes,
  checkpointToJson,
  digestOfCopy,
  digestZero,
  headerToJson,
  RecordDigest,
  verifiedNumberOf,
  verifyCheckpoint,
  verifyHeader,
} from '../audit/checkpoint.js';
import { fail, ok, type Result } from '../model/errors.js';
import { baseOfBlock } from '../protocol/records.js';
import type { LedgerTx, Store } from '../store/types.js';
import type { DeviceContext } from './context.js';

/** Stored checkpoints looked at, newest first, for one that verifies. */
export const checkpointsReadMax = 8;

export class CheckpointKeeper {
  /**
   * The digest of this copy up to a checkpoint, and the store's external change mark when it was
   * read: while no other connection has written to the store since (and no repair ran), the copy
   * up to there is as it was, and the digest is not read again.
   */
  #remembered: { upTo: bigint; digest: Buffer; mark: bigint } | undefined;

  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<LedgerTx>,
  ) {}

  /** The digest of this device's copy up to a number: remembered, or read now (and remembered). */
  async digestUpTo(transactionNumber: bigint): Promise<Buffer> {
    const mark = await this.store.externalChangeMark();
    const known = this.#remembered;
    if (known?.upTo === transactionNumber && known.mark === mark) return known.digest;
    const digest = await digestOfCopy(
      blockDigestsOf(this.store.exportRecordPages(0n, transactionNumber)),
      transactionNumber,
    );
    this.#remembered = { upTo: transactionNumber, digest, mark };
    return digest;
  }

  /** The mark to pass to `remember` for a digest computed from what is read from now on. */
  changeMark(): Promise<bigint> {
    return this.store.externalChangeMark();
  }

  /** A digest of this copy computed elsewhere (the audit that made a checkpoint, read after `mark`). */
  remember(upTo: bigint, digest: Buffer, mark: bigint): void {
    this.#remembered = { upTo, digest, mark };
  }

  /** After a repair of this store: its copy is read again next time. */
  forget(): void {
    this.#remembered = undefined;
  }

  /**
   * The block digests of the copy after `after` (what the audit compares copies by), chained on the
   * way up to `upTo` into the digest of A, continuing the digest remembered at `after` (or from the
   * start): the digest at `upTo` is remembered when the export passes it.
   */
  async *digestingBlocks(after: bigint, upTo: bigint): AsyncGenerator<PeerBlock> {
    const start =
      after === 0n
        ? digestZero
        : this.#remembered?.upTo === after
          ? this.#remembered.digest
          : undefined;
    const digest = start ? new RecordDigest(start) : undefined;
    const mark = await this.store.externalChangeMark();
    let passed = digest === undefined;
    for await (const entry of blockDigestsOf(this.store.exportRecordPages(after))) {
      if (!passed && baseOfBlock(entry.block) > upTo) {
        this.#remembered = { upTo, digest: digest!.value, mark };
        passed = true;
      }
      if (!passed) digest!.addBlock(entry);
      yield entry;
    }
    if (!passed) this.#remembered = { upTo, digest: digest!.value, mark };
  }

  /** This device's signature over a checkpoint's header, if its own copy agrees with the digest of A. */
  async sign(header: CheckpointHeader): Promise<Result<Buffer>> {
    const n = header.transactionNumber;
    const own = await this.digestUpTo(n);
    if (!own.equals(header.digestA))
      return fail(
        'RecordConflict',
        `the ${this.context.device} copy of A up to ${n} differs from the checkpoint's`,
      );
    return this.context.signatures.sign(this.context.signingKeyNumber, checkpointBytes(header));
  }

  /**
   * The newest stored checkpoint whose signatures verify (0 when none): a number written into the
   * table by hand is not one.
   */
  async newestVerifiedNumber(): Promise<bigint> {
    const stored = await this.store.transact((tx) => tx.checkpoints(checkpointsReadMax));
    for (const json of stored) {
      const number = verifiedNumberOf(this.context, json);
      if (number !== undefined) return number;
    }
    return 0n;
  }

  /** Keep a checkpoint's header that all three devices signed. */
  async keepHeader(
    header: CheckpointHeader,
    signatures: CheckpointSignatures,
  ): Promise<Result<undefined>> {
    const verified = verifyHeader(this.context, header, signatures);
    if (!verified.ok) return verified;
    await this.store.transact((tx) =>
      tx.putCheckpoint(header.transactionNumber, JSON.stringify(headerToJson(header, signatures))),
    );
    return ok(undefined);
  }

  /** Keep a whole checkpoint, snapshot included (the transaction device, which audits). */
  async keep(checkpoint: Checkpoint): Promise<Result<undefined>> {
    const verified = verifyCheckpoint(this.context, checkpoint);
    if (!verified.ok) return verified;
    await this.store.transact((tx) =>
      tx.putCheckpoint(checkpoint.transactionNumber, checkpointToJson(checkpoint)),
    );
    return ok(undefined);
  }
}
