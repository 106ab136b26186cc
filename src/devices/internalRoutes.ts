// The routes `account` and `currency` serve to the transaction device, and nobody else.
//
// Every request must carry the transaction device's envelope signature (protocol/envelope.ts),
// checked on the raw bytes before the body is validated. exchange answers a request with the next
// signed record (a3 or a5), or, when the operation is past its time limit and this device has not
// answered it yet, refuses it (OperationExpired) without deciding; settle stores the six records
// and applies them.

import Type from 'typebox';
import { fail, type Result } from '../model/errors.js';
import { verifyEnvelope } from '../protocol/envelope.js';
import type { SignedRecord } from '../protocol/records.js';
import { recordsFromWire, recordToWire, WireRecord } from '../protocol/wire.js';
import type { DeviceContext } from './context.js';
import { type HttpServer, sendFailure } from './http.js';

export const envelopeSkewMsMax = 60_000;

const RecordsBody = Type.Object(
  { records: Type.Array(WireRecord, { minItems: 1, maxItems: 6 }) },
  { additionalProperties: false },
);

const ExchangeBody = Type.Object(
  {
    records: Type.Array(WireRecord, { minItems: 1, maxItems: 6 }),
    /** The operation is past its time limit: refuse it (OperationExpired) unless already answered. */
    expired: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export interface ExchangeOptions {
  readonly expired?: boolean;
}

export interface ExchangeService {
  exchange(
    records: readonly SignedRecord[],
    options?: ExchangeOptions,
  ): Promise<Result<SignedRecord>>;
  settle(records: readonly SignedRecord[]): Promise<Result<undefined>>;
}

/**
 * Every request under /internal/ must carry the envelope signature of one of `senderKeyNumbers`,
 * checked on the raw bytes before the body is validated.
 */
export function requireEnvelope(
  server: HttpServer,
  context: DeviceContext,
  senderKeyNumbers: readonly number[],
): void {
  server.addHook('preValidation', async (request, reply) => {
    if (!request.url.startsWith('/internal/')) return;
    const refused = verifyEnvelope(
      context.signatures,
      senderKeyNumbers,
      request.headers['triledger-signature'] as string | undefined,
      { method: request.method, path: request.url, body: request.rawBody ?? Buffer.alloc(0) },
      context.environment.nowMs(),
      envelopeSkewMsMax,
    );
    if (refused) return sendFailure(reply, refused);
  });
}

export function registerInternalRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: ExchangeService,
): void {
  requireEnvelope(server, context, [context.deviceKeys.transaction]);

  server.post(
    '/internal/v1/exchange',
    { schema: { body: ExchangeBody, hide: true } },
    async (request, reply) => {
      const records = recordsFromWire(request.body.records);
      if (!records.ok) return sendFailure(reply, records);
      const answer = await service.exchange(records.value, {
        expired: request.body.expired === true,
      });
      if (!answer.ok) return sendFailure(reply, answer);
      return { record: recordToWire(answer.value) };
    },
  );

  server.post(
    '/internal/v1/settle',
    { schema: { body: RecordsBody, hide: true } },
    async (request, reply) => {
      const records = recordsFromWire(request.body.records);
      if (!records.ok) return sendFailure(reply, records);
      const settled = await service.settle(records.value);
      if (!settled.ok) return sendFailure(reply, settled);
      return { settled: true };
    },
  );
}

export const AccountNumberParam = Type.Object(
  { accountNumber: Type.String({ pattern: '^[1-9][0-9]{0,18}$' }) },
  { additionalProperties: false },
);

export function notFound(what: string) {
  return fail('UnknownAccount', `${what} does not exist`);
}
