// How `account` and `currency` run a batch of protocol steps: in one store transaction, through
// their machine's commit (core/account.ts, core/currency.ts). A batch that meets a row failing its
// signature, a contradiction or a conflict is refused whole (nothing of it is written); its steps
// then run one by one, each a batch of one, so that only the step that meets it is refused, as
// when every step had its own transaction.

import { assert } from '../model/assert.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import type { Store } from '../store/types.js';
import { refusingUnverifiedRows, UnverifiedRow } from './context.js';
import { peerBatchSizeMax } from './peerClient.js';

/** One exchange of a batch: the records so far, and whether the operation is past its time limit. */
export interface ExchangeStep {
  readonly records: readonly SignedRecord[];
  readonly expired: boolean;
}

export async function inOneTransaction<Tx, Step, Answer>(
  store: Store<Tx>,
  steps: readonly Step[],
  work: (tx: Tx) => Promise<Result<Answer>[]>,
  alone: (step: Step) => Promise<Result<Answer>[]>,
  afterCommit: () => void,
): Promise<Result<Answer>[]> {
  assert(steps.length > 0 && steps.length <= peerBatchSizeMax, 'a batch holds 1 to max steps');
  const answers = await refusingUnverifiedRows(async () =>
    ok(await store.transact(async (tx) => ok(await work(tx)))),
  );
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
    throw new UnverifiedRow(fail('RecordConflict', 'an operation appears twice in one batch'));
}

/** Every step of a batch answered, in order. */
export function allAnswered<T>(answers: readonly (T | undefined)[]): T[] {
  return answers.map((answer) => {
    assert(answer !== undefined, 'every step of a batch is answered');
    return answer;
  });
}
