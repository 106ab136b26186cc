// The one route `transaction` serves to the other devices: the outcome of an operation, asked for
// by `account` or `currency` when a hold they keep for it outlived holdTimeoutMs (../holdExpiry.ts).
// Only the account or currency device may call it (access.ts checks their envelope signature).

import Type from 'typebox';
import { RequestId, recordToWire } from '../../protocol/wire.js';
import { by } from '../access.js';
import { type HttpServer, sendFailure } from '../http.js';
import type { TransactionService } from './service.js';

const OutcomeBody = Type.Object({ remittanceId: RequestId }, { additionalProperties: false });

export function registerTransactionInternalRoutes(
  server: HttpServer,
  service: TransactionService,
): void {
  server.post(
    '/internal/v1/outcome',
    { ...by('peer-device'), schema: { body: OutcomeBody, hide: true } },
    async (request, reply) => {
      const records = await service.outcomeOf(request.body.remittanceId);
      if (!records.ok) return sendFailure(reply, records);
      return { records: records.value.map(recordToWire) };
    },
  );
}
