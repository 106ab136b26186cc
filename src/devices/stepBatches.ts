// How `account` and `currency` run a batch of protocol steps: in one store transaction, through
// their machine's commit (core/account.ts, core/currency.ts). A batch that meets a row failing its
// signature, a contradiction or a conflict is refused whole (nothing of it is written); its steps
// then run one by one, each a batch of one, so that only the step that meets it is refused, as
// when every step had its own transaction. A single step is a batch of one.

import { assert } from '../model/assert.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import type { LedgerTx, Store } from '../store/types.js';
import { refusingUnverifiedRows } from './context.js';
import { peerBatchSizeMax } from './peerClient.js';

/** One exchange of a batch: the records so far, and whether the operation is past its time limit. */
export interface ExchangeStep {
  readonly records: readonly SignedRecord[];
  readonly expired: boolean;
}

/** What a device that runs batches of steps serves the transaction device (routes: runBatch). */
export interface BatchService {
  exchangeBatch(steps: readonly ExchangeStep[]): Promise<Result<SignedRecord>[]>;
  settleBatch(operations: readonly (readonly SignedRecord[])[]): Promise<Result<undefined>[]>;
}

/** One settlement, a batch of one (hold expiry settles an operation at a time). */
export async function settleOne(
  service: BatchService,
  records: readonly SignedRecord[],
): Promise<Result<undefined>> {
  const [answer] = await service.settleBatch([records]);
  assert(answer !== undefined, 'a batch of one has one answer');
  return answer;
}

/**
 * Thrown inside a batch's transaction to refuse the whole batch (everything it wrote is rolled
 * back); its steps then run alone, where the one that meets the failure is refused with it.
 */
class BatchRefused extends Error {
  override readonly name = 'BatchRefused';
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/** Store a batch's records, or refuse the batch when any conflicts with a stored one. */
export async function appendOrRefuse(
  tx: LedgerTx,
  records: readonly SignedRecord[],
): Promise<void> {
  if (!(await tx.appendRecords(records)))
    throw new BatchRefused(
      fail(
        'RecordConflict',
        `records of ${records[0]?.record.remittanceId} conflict with stored ones`,
      ),
    );
}

export async function inOneTransaction<Tx, Step, Answer>(
  store: Store<Tx>,
  steps: readonly Step[],
  work: (tx: Tx) => Promise<Result<Answer>[]>,
  alone: (step: Step) => Promise<Result<Answer>[]>,
  afterCommit: () => void,
): Promise<Result<Answer>[]> {
  assert(steps.length > 0 && steps.length <= peerBatchSizeMax, 'a batch holds 1 to max steps');
  const answers = await refusingUnverifiedRows(async () => {
    try {
      return ok(await store.transact(async (tx) => ok(await work(tx))));
    } catch (error) {
      if (error instanceof BatchRefused) return error.failure;
      throw error;
    }
  });
  afterCommit();
  if (!answers.ok) {
    if (steps.length === 1) return [answers];
    const each: Result<Answer>[] = [];
    for (const step of steps) each.push((await alone(step))[0]!);
    return each;
  }
  assert(answers.value.ok, 'a batch that committed answers');
  assert(answers.value.value.length === steps.length, 'one answer per step');
  return answers.value.value;
}

/**
 * The same operation twice in one batch (a duplicated message): the batch runs its steps alone
 * instead, where the second gets the answer the first left.
 */
export function refuseRepeats(remittanceIds: readonly string[]): void {
  if (new Set(remittanceIds).size !== remittanceIds.length)
    throw new BatchRefused(fail('RecordConflict', 'an operation appears twice in one batch'));
}

/** Every step of a batch answered, in order (Array.from visits an index never set; map skips it). */
export function allAnswered<T>(answers: readonly (T | undefined)[]): T[] {
  return Array.from(answers, (answer) => {
    assert(answer !== undefined, 'every step of a batch is answered');
    return answer;
  });
}
