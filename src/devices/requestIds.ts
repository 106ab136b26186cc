// The id that follows one user request through the three devices' logs (issue 19).
//
// The gateway takes the caller's `x-request-id` when it is a plain token, or the trace id of a W3C
// `traceparent` header, and otherwise makes a new one; fastify puts it on every log line of the
// request (`reqId`), the answer carries it back (`x-request-id`), and the transaction device sends
// it with each protocol step of that operation to account and currency (`traceId`), which log it
// beside the remittance id. An operation resumed after a restart has none: its steps go without.

import type { IncomingMessage } from 'node:http';

/** What an incoming request id may be: a token, short enough for every log line. */
export const requestIdPattern = '^[A-Za-z0-9._:-]{1,128}$';
const requestIdExpression = new RegExp(requestIdPattern);
/** version 00, a trace id and a parent id (not all zeros), flags. */
const traceparentExpression = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** The request id of an incoming request: the caller's, or `fresh()`. */
export function requestIdOf(request: IncomingMessage, fresh: () => string): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && requestIdExpression.test(given)) return given;
  const traceparent = request.headers['traceparent'];
  const trace = typeof traceparent === 'string' ? traceparentExpression.exec(traceparent) : null;
  if (trace && !/^0+$/.test(trace[1]!) && !/^0+$/.test(trace[2]!)) return trace[1]!;
  return fresh();
}
