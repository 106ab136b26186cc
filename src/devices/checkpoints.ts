// A device's part in signed checkpoints (audit/checkpoint.ts): it tells the digest of its own copy
// of A up to a number, co-signs a checkpoint only when that digest is the checkpoint's, and keeps
// checkpoints that every device signed.
//
// Account and currency co-sign only what they can vouch for themselves: the state their own copy
// of A gives at the checkpoint (B at account, C at currency, replayed here by the same replay the
// audit runs) must be the checkpoint's, so a stolen transaction key cannot have a made-up snapshot
// signed; and only within checkpointSignWindowMsMax of reading their copy up to that number for an
// audit, so that a request to sign never starts a read of the whole copy.
//
// Hashing a whole copy costs a full read, so the keeper remembers the last digest it computed: the
// export an audit reads chains the block digests as it sends them (digestingBlocks), and the request to
// co-sign the checkpoint that audit leaves then needs no second read. The remembered digest is of
// the copy as that export read it; a change after it is for the next audit to find.

import { blockDigestsOf, type PeerBlock } from '../audit/blockDigests.js';
import {
  accountStateDigest,
  type Checkpoint,
  type CheckpointHeader,
  type CheckpointSignatures,
  checkpointBytes,
  checkpointToJson,
  currencyStateDigest,
  digestOfCopy,
  digestZero,
  headerToJson,
  RecordDigest,
  verifiedNumberOf,
  verifyCheckpoint,
  verifyHeader,
} from '../audit/checkpoint.js';
import { CopyReplay, sortedKeyEntries } from '../audit/replay.js';
import { fail, ok, type Result } from '../model/errors.js';
import { nextTurn } from '../model/turns.js';
import { baseOfBlock, blockSize } from '../protocol/records.js';
import type { LedgerTx, Store } from '../store/types.js';
import type { DeviceContext } from './context.js';

/** Stored checkpoints looked at, newest first, for one that verifies. */
export const checkpointsReadMax = 8;
/** A checkpoint is co-signed only this soon after this device read its copy up to it. */
export const checkpointSignWindowMsMax = 600_000;

/** The state a device vouches for in a checkpoint besides A: B at account, C at currency. */
export type VouchedState = 'B' | 'C' | undefined;

export class CheckpointKeeper {
  /**
   * The digest of this copy up to a checkpoint, and the store's external change mark when it was
   * read: while no other connection has written to the store since (and no repair ran), the copy
   * up to there is as it was, and the digest is not read again.
   */
  #remembered: { upTo: bigint; digest: Buffer; mark: bigint; atMs: number } | undefined;
  /** The replay of this copy up to a checkpoint, continued by the next (same mark, as above). */
  #replayed: { upTo: bigint; replay: CopyReplay; mark: bigint } | undefined;
  /** The replay running or last run (#stateDigestUpTo runs one at a time). */
  #replaying: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<LedgerTx>,
    private readonly vouches: VouchedState = undefined,
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
    this.#remembered = { upTo: transactionNumber, digest, mark, atMs: this.#nowMs() };
    return digest;
  }

  /** The mark to pass to `remember` for a digest computed from what is read from now on. */
  changeMark(): Promise<bigint> {
    return this.store.externalChangeMark();
  }

  /** A digest of this copy computed elsewhere (the audit that made a checkpoint, read after `mark`). */
  remember(upTo: bigint, digest: Buffer, mark: bigint): void {
    this.#remembered = { upTo, digest, mark, atMs: this.#nowMs() };
  }

  /** After a repair of this store: its copy is read again next time. */
  forget(): void {
    this.#remembered = undefined;
    this.#replayed = undefined;
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
        this.remember(upTo, digest!.value, mark);
        passed = true;
      }
      if (!passed) digest!.addBlock(entry);
      yield entry;
    }
    if (!passed) this.remember(upTo, digest!.value, mark);
  }

  /**
   * This device's signature over a checkpoint's header: only soon after it read its copy up to the
   * checkpoint for an audit, when that copy gives the header's digest of A and, at account and
   * currency, the header's digest of B or C.
   */
  async sign(header: CheckpointHeader): Promise<Result<Buffer>> {
    const n = header.transactionNumber;
    if (n <= 0n || n % blockSize !== 0n)
      return fail('InvalidInput', `a checkpoint sits at the end of a block, not at ${n}`);
    const read = this.#remembered;
    if (read?.upTo !== n || this.#nowMs() - read.atMs > checkpointSignWindowMsMax)
      return fail(
        'AuthorityDenied',
        `a checkpoint at ${n} is signed only within ${checkpointSignWindowMsMax / 1000} s of an audit reading this copy up to it`,
      );
    const own = await this.digestUpTo(n);
    if (!own.equals(header.digestA))
      return fail(
        'RecordConflict',
        `the ${this.context.device} copy of A up to ${n} differs from the checkpoint's`,
      );
    const state = await this.#stateDigestUpTo(n);
    const claimed = this.vouches === 'B' ? header.digestB : header.digestC;
    if (this.vouches !== undefined && !state?.equals(claimed))
      return fail(
        'RecordConflict',
        `${this.vouches} as the ${this.context.device} copy of A gives it at ${n} differs from the checkpoint's`,
      );
    return this.context.signatures.sign(this.context.signingKeyNumber, checkpointBytes(header));
  }

  /**
   * The digest of the state this device vouches for, as the replay of its own copy up to `n` gives
   * it (continuing the replay kept from the last checkpoint while the copy up to it is unchanged);
   * undefined when the copy contradicts itself or a unit plan is missing at `n`.
   */
  #stateDigestUpTo(n: bigint): Promise<Buffer | undefined> {
    // One replay at a time: the replay gives the device turns between pages, and a second request
    // meanwhile (a retried signature) would continue the very replay the first is adding to.
    const replayed = this.#replaying.then(() => this.#replayUpTo(n));
    this.#replaying = replayed.catch(() => undefined);
    return replayed;
  }

  async #replayUpTo(n: bigint): Promise<Buffer | undefined> {
    const mark = await this.store.externalChangeMark();
    const kept = this.#replayed;
    const continued = kept && kept.mark === mark && kept.upTo <= n;
    const replay = continued ? kept.replay : new CopyReplay();
    for await (const page of this.store.exportRecordPages(continued ? kept.upTo : 0n, n)) {
      for (const { record } of page) replay.add(record);
      // A page is read and replayed synchronously: the device's requests get a turn between pages
      // (a whole copy replayed at once held the device for 100-160 ms at a time).
      await nextTurn();
    }
    replay.flush();
    this.#replayed = { upTo: n, replay, mark };
    if (replay.contradictions > 0) return undefined;
    if (this.vouches === 'B')
      return accountStateDigest(replay.accounts.snapshot(), sortedKeyEntries(replay.accountKeys));
    const units = replay.units.snapshot();
    return units && currencyStateDigest(units.units, units.nextPlanSequence);
  }

  #nowMs(): number {
    return this.context.environment.nowMs();
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
