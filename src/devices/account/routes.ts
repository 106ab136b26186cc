// HTTP routes of the account device: the internal exchange and settlement, and signed account rows.
import Type from 'typebox';
import { isoOf } from '../../protocol/wire.js';
import type { AccountRow } from '../../store/types.js';
import type { DeviceContext } from '../context.js';
import { type HttpServer, sendFailure } from '../http.js';
import { AccountNumberParam, notFound, registerInternalRoutes } from '../internalRoutes.js';
import type { AccountService } from './service.js';

export function accountRowToWire(row: AccountRow) {
  return {
    accountNumber: row.accountNumber.toString(),
    currencyType: row.currencyType,
    balance: row.balance.toString(),
    held: row.held.toString(),
    status: row.status,
    lastUpdate: isoOf(row.lastUpdate),
    signerKeyNumber: row.signerKeyNumber,
    signature: row.signature.toString('hex'),
  };
}

export const WireAccountRow = Type.Object({
  accountNumber: Type.String(),
  currencyType: Type.String(),
  balance: Type.String(),
  held: Type.String(),
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  lastUpdate: Type.String(),
  signerKeyNumber: Type.Integer(),
  signature: Type.String(),
});

export function registerAccountRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: AccountService,
): void {
  registerInternalRoutes(server, context, service);
  server.get(
    '/internal/v1/accounts/:accountNumber',
    { schema: { params: AccountNumberParam, hide: true } },
    async (request, reply) => {
      const row = await service.account(BigInt(request.params.accountNumber));
      if (!row) return sendFailure(reply, notFound(`account ${request.params.accountNumber}`));
      return { account: accountRowToWire(row) };
    },
  );
  server.get('/health', async () => ({ device: 'account', status: 'ok' }));
}
