// The transaction device's answers (Reply): what the HTTP layer sends back for an operation, kept
// with the operation once it is decided so that a repeat of its request gets the very same answer.
// A decided operation's answer is a function of its records alone (replyFor): a store rebuilt from
// the other devices' copies of A derives it again (devices/transaction/derived.ts).

import {
  type ErrorCode,
  errorCatalogue,
  type Failure,
  fail,
  httpStatusOf,
} from '../../model/errors.js';
import type { SignedRecord } from '../../protocol/records.js';
import { outcomeOk } from '../../protocol/transactionTypes.js';
import { recordToWire } from '../../protocol/wire.js';

/** What the HTTP layer sends back: a status and a JSON body. Stored, so a repeat gets the same. */
export interface Reply {
  readonly httpStatus: number;
  readonly body: Record<string, unknown>;
}

export function failureReply(failure: Failure, extra: Record<string, unknown> = {}): Reply {
  return {
    httpStatus: httpStatusOf(failure.code),
    body: { error: { code: failure.code, message: failure.message }, ...extra },
  };
}

/** The error code of a refusing Reply (made by failureReply), or undefined for an answer. */
export function refusalCodeOf(reply: Reply): ErrorCode | undefined {
  // A stored Reply is read back from the store: it is checked here, not trusted.
  const code = (reply.body['error'] as { code?: unknown } | undefined)?.code;
  return reply.httpStatus >= 400 && typeof code === 'string' && Object.hasOwn(errorCatalogue, code)
    ? (code as ErrorCode)
    : undefined;
}

/** `ok`, or the error code an answer carries. */
export function outcomeOfReply(reply: Reply): string {
  return refusalCodeOf(reply) ?? String(reply.body['outcome'] ?? 'unknown');
}

/** The answer to a decided operation, from its records (its outcome, and an opened account's number). */
export function replyFor(
  outcome: string,
  remittanceId: string,
  records: readonly SignedRecord[],
  newAccount: bigint | undefined,
): Reply {
  const body = {
    remittanceId,
    outcome,
    ...(newAccount === undefined ? {} : { accountNumber: newAccount.toString() }),
    records: records.map(recordToWire),
  };
  if (outcome === outcomeOk) return { httpStatus: 200, body };
  const code: ErrorCode = Object.hasOwn(errorCatalogue, outcome)
    ? (outcome as ErrorCode)
    : 'InvalidInput';
  return failureReply(fail(code, messageFor(code, records)), body);
}

function messageFor(code: ErrorCode, records: readonly SignedRecord[]): string {
  const request = records[0]!.record;
  return `${request.transactionType} ${request.remittanceId} refused: ${errorCatalogue[code].description}`;
}
