// A device's part in signed checkpoints (audit/checkpoint.ts): it tells the digest of its own copy
// of A up to a number, co-signs a checkpoint only when that digest is the checkpoint's, and keeps
// checkpoints that every device signed.

import {
  type Checkpoint,
  type CheckpointBody,
  checkpointBytes,
  checkpointToJson,
  digestOfCopy,
  verifyCheckpoint,
} from '../audit/checkpoint.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { LedgerTx, Store } from '../store/types.js';
import type { DeviceContext } from './context.js';

export class CheckpointKeeper {
  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<LedgerTx>,
  ) {}

  digestUpTo(transactionNumber: bigint): Promise<Buffer> {
    return digestOfCopy(this.store.exportRecords(), transactionNumber);
  }

  /** This device's signature over the checkpoint, if its own copy agrees with the digest of A. */
  async sign(body: CheckpointBody): Promise<Result<Buffer>> {
    const own = await this.digestUpTo(body.transactionNumber);
    if (!own.equals(body.digestA))
      return fail(
        'RecordConflict',
        `the ${this.context.device} copy of A up to ${body.transactionNumber} differs from the checkpoint's`,
      );
    return this.context.signatures.sign(this.context.signingKeyNumber, checkpointBytes(body));
  }

  /** Keep a checkpoint that all three devices signed. */
  async keep(checkpoint: Checkpoint): Promise<Result<undefined>> {
    const verified = verifyCheckpoint(this.context, checkpoint);
    if (!verified.ok) return verified;
    await this.store.transact((tx) =>
      tx.putCheckpoint(checkpoint.transactionNumber, JSON.stringify(checkpointToJson(checkpoint))),
    );
    return ok(undefined);
  }
}
