// Holds that outlive their time limit (docs/design.md section 7), at `account` (held amounts) and
// `currency` (held units), confirm mode.
//
// A hold is released or applied only by the operation's response a6, which `transaction` signs.
// When a hold is older than holdTimeoutMs (counted from the request that made it, a2 or a4), this
// device asks `transaction` for the operation's outcome; `transaction` drives the operation to its
// end if it can (past operationTimeoutMs a device that has not yet answered refuses it), and
// answers with its records, which this device then settles like any settlement. While
// `transaction` cannot be reached or has not decided, the hold stays: an outcome is never guessed.

import { fail, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import { stepOf } from '../protocol/transactionTypes.js';
import { recordsFromWire, type WireRecord } from '../protocol/wire.js';
import type { HoldingTx, Store } from '../store/types.js';
import type { DeviceContext } from './context.js';

/** Holds looked at per pass, oldest first. */
export const holdsCheckedMax = 256;

export class HoldExpiry {
  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<HoldingTx>,
    /** The step of the request that made the hold here: 2 (account) or 4 (currency). */
    private readonly holdingStep: 2 | 4,
    /** Asks `transaction` for an operation's outcome (POST /internal/v1/outcome): `{ records }`. */
    private readonly askOutcome: (remittanceId: string) => Promise<Result<unknown>>,
    private readonly settle: (records: readonly SignedRecord[]) => Promise<Result<undefined>>,
    private readonly holdTimeoutMs: number,
    private readonly log: (message: string) => void,
  ) {}

  /** One pass: settle every expired hold whose outcome `transaction` gives. Returns how many. */
  async settleExpired(): Promise<number> {
    const nowMs = this.context.environment.nowMs();
    const held = await this.store.transact(async (tx) => {
      const expired: string[] = [];
      for (const remittanceId of await tx.heldRemittanceIds(holdsCheckedMax)) {
        const request = (await tx.recordsOfOperation(remittanceId)).find(
          (r) => stepOf(r.record.transactionType) === this.holdingStep,
        );
        if (request && nowMs - Number(request.record.dateTime) > this.holdTimeoutMs)
          expired.push(remittanceId);
      }
      return expired;
    });
    let settled = 0;
    for (const remittanceId of held) {
      const records = await this.#outcome(remittanceId);
      if (!records.ok) {
        this.log(
          `hold of ${remittanceId} expired; its outcome is not known yet: ${records.message}`,
        );
        continue;
      }
      const done = await this.settle(records.value);
      if (done.ok) settled += 1;
      else
        this.log(
          `hold of ${remittanceId}: the outcome transaction gave does not settle: ${done.message}`,
        );
    }
    return settled;
  }

  async #outcome(remittanceId: string): Promise<Result<SignedRecord[]>> {
    const answer = await this.askOutcome(remittanceId);
    if (!answer.ok) return answer;
    const wire = (answer.value as { records?: WireRecord[] }).records;
    if (!Array.isArray(wire)) return fail('PeerUnavailable', 'transaction answered no records');
    const records = recordsFromWire(wire);
    if (records.ok && records.value.some((r) => r.record.remittanceId !== remittanceId))
      return fail('PeerUnavailable', `transaction answered records of another operation`);
    return records;
  }
}
