// The one route `transaction` serves to the other devices: the outcome of an operation, asked for
// by `account` or `currency` when a hold they keep for it outlived holdTimeoutMs (../holdExpiry.ts).
// Every request must carry the envelope signature of the account or currency device.

import Type from 'typebox';
import { RequestId, recordToWire } from '../../protocol/wire.js';
import type { DeviceContext } from '../context.js';
import { type HttpServer, sendFailure } from '../http.js';
import { requireEnvelope } from '../internalRoutes.js';
import type { TransactionService } from './service.js';

const OutcomeBody = Type.Object({ remittanceId: RequestId }, { additionalProperties: false });

export function registerTransactionInternalRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: TransactionService,
): void {
  requireEnvelope(server, context, [context.deviceKeys.account, context.deviceKeys.currency]);

  server.post(
    '/internal/v1/outcome',
    { schema: { body: OutcomeBody, hide: true } },
    async (request, reply) => {
      const records = await service.outcomeOf(request.body.remittanceId);
      if (!records.ok) return sendFailure(reply, records);
      return { records: records.value.map(recordToWire) };
    },
  );
}
