// The tables a device keeps beside its copy of A, derived again from A when recovery puts records
// back (issue 18).
//
// A and the signed rows of B and C are what the audit compares and repairs. The other tables are
// the device's own bookkeeping, and each is a function of A: the transaction device's operations
// (request digest, numbers, state, the kept answer, which peers hold the settlement) and its
// counters of transaction and account numbers; the currency device's counters of unit numbers and
// plan sequences. A store rebuilt from the other devices' copies (a damaged file set aside, the
// device started on an empty store, `triledger recover`) would otherwise hold A without them: a
// repeat of an old request id would run again, and the next issuance would take a unit number
// that is already given. The transaction device derives its tables from its whole copy of A once
// recovery has repaired it (so an emptied table of operations comes back even where A needed no
// repair); the currency device in each repair batch that puts records, in the same database
// transaction (devices/repair.ts). The account device's holds are not derived: recovery runs in
// maintenance, with no operation in flight to hold anything for.

import { decisionOf } from '../core/transaction.js';
import { assert } from '../model/assert.js';
import { parseDetail, unitPlan } from '../protocol/details.js';
import { blockSize, requestDigestOf, type SignedRecord } from '../protocol/records.js';
import { operationOf, outcomeOk, stepOf } from '../protocol/transactionTypes.js';
import {
  type CurrencyTx,
  type OperationRow,
  settledEverywhere,
  type TransactionTx,
} from '../store/types.js';
import { type Reply, replyFor } from './transaction/replies.js';

/**
 * The operation row its records give (in step order, from its request), or undefined while its
 * request and a2 are not both there. A decided operation is settled everywhere: recovery leaves all
 * three copies of A equal, and B and C as their replay of A.
 */
export function operationRowOf(records: readonly SignedRecord[]): OperationRow | undefined {
  const [request, accountRequest] = records;
  if (!request || !accountRequest || stepOf(request.record.transactionType) !== 1) return undefined;
  if (stepOf(accountRequest.record.transactionType) !== 2) return undefined;
  const remittanceId = request.record.remittanceId;
  assert(
    records.every((signed) => signed.record.remittanceId === remittanceId),
    'the records of one operation',
  );
  const digest = requestDigestOf(request);
  const decision = decisionOf(records.map((signed) => signed.record));
  const opened = {
    remittanceId,
    requestDigest: digest,
    baseNumber: request.record.transactionNumber,
  };
  if (!decision) return { ...opened, state: 'open', settled: 0 };
  return { ...opened, state: 'done', settled: settledEverywhere };
}

/**
 * The answer to a done operation, from its records (its outcome, and an opened account's number):
 * what a repeat of its request gets. Undefined while the records do not decide it.
 */
export function decidedReplyOf(records: readonly SignedRecord[]): Reply | undefined {
  const request = records[0];
  const decision = decisionOf(records.map((signed) => signed.record));
  return request && decision
    ? replyFor(decision.outcome, request.record.remittanceId, records, decision.newAccount)
    : undefined;
}

/**
 * The transaction device, for the operations of some records of its A: each operation's row as its
 * records give it (a row that agrees on its state is left as it is), and counters past every number
 * they hold.
 */
export async function deriveTransactionTables(
  tx: TransactionTx,
  records: readonly SignedRecord[],
): Promise<void> {
  for (const remittanceId of new Set(records.map((signed) => signed.record.remittanceId))) {
    const operation = await tx.recordsOfOperation(remittanceId);
    const derived = operationRowOf(operation);
    if (!derived) continue; // no request, or no a2: nothing was ever opened under this id here
    const stored = await tx.operation(remittanceId);
    const agrees =
      stored !== undefined &&
      stored.state === derived.state &&
      stored.baseNumber === derived.baseNumber &&
      stored.requestDigest.equals(derived.requestDigest);
    if (!agrees) await tx.restoreOperation(derived);
    await tx.raiseCounter('transaction_number', derived.baseNumber + blockSize);
    const opening = operation[1]!.record;
    if (operationOf(operation[0]!.record.transactionType) === 'account_issuing') {
      assert(opening.destinationAccount !== undefined, 'an opening reserves its account number');
      await tx.raiseCounter('account_number', opening.destinationAccount + 1n);
    }
  }
}

/** The currency device, after records were put: counters past every unit and plan they name. */
export async function deriveCurrencyTables(
  tx: CurrencyTx,
  put: readonly SignedRecord[],
): Promise<void> {
  for (const { record } of put) {
    if (stepOf(record.transactionType) !== 5 || record.outcome !== outcomeOk) continue;
    const plan = parseDetail(unitPlan, record.detail);
    if (!plan) continue; // no plan, no numbers: the audit's replay reports such a record
    await tx.raiseCounter('plan_sequence', BigInt(plan.sequence) + 1n);
    for (const unit of plan.issued)
      await tx.raiseCounter('currency_number', BigInt(unit.currencyNumber) + 1n);
  }
}
