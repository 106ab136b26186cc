// An operation in a line: what it was (its kind, accounts, amount, currency), how it ended and when,
// from its records. One rule for every place that lists operations to a reader: an account's
// history (GET /v1/accounts/{n}/transactions) and the event stream (events.ts).

import type { SignedRecord } from '../../protocol/records.js';
import { operationOf, stepOf } from '../../protocol/transactionTypes.js';

export interface OperationSummary {
  readonly remittanceId: string;
  readonly operation?: string;
  readonly firstTransactionNumber?: string;
  readonly sourceAccount?: string;
  readonly destinationAccount?: string;
  readonly amount?: string;
  readonly currencyType?: string;
  /** "ok", the error code that refused it, or "in_progress". */
  readonly outcome: string;
  readonly dateTime?: string;
}

export function operationSummary(
  remittanceId: string,
  records: readonly SignedRecord[],
): OperationSummary {
  const request = records.find((r) => stepOf(r.record.transactionType) === 1)?.record;
  const response = records.find((r) => stepOf(r.record.transactionType) === 6)?.record;
  const described =
    records.find((r) => r.record.amount !== undefined || r.record.destinationAccount !== undefined)
      ?.record ?? request;
  const fields = {
    remittanceId,
    operation: request ? operationOf(request.transactionType) : undefined,
    firstTransactionNumber: records[0]?.record.transactionNumber.toString(),
    sourceAccount: described?.sourceAccount?.toString(),
    destinationAccount: (response?.destinationAccount ?? described?.destinationAccount)?.toString(),
    amount: described?.amount?.toString(),
    currencyType: described?.currencyType,
    outcome: response?.outcome ?? 'in_progress',
    dateTime: request ? new Date(Number(request.dateTime)).toISOString() : undefined,
  };
  // Absent fields are left out, not sent as undefined.
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as unknown as OperationSummary;
}
