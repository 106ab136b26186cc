// HTTP routes of the account device: the internal exchange and settlement, and signed account rows.
import { accountRowToWire } from '../../protocol/rowWire.js';
import { by } from '../access.js';
import { type HttpServer, sendFailure } from '../http.js';
import {
  AccountNumberParam,
  notFound,
  PageQuery,
  pageSizeMax,
  registerInternalRoutes,
} from '../internalRoutes.js';
import type { DeviceMetrics } from '../metrics.js';
import type { AccountService } from './service.js';

export function registerAccountRoutes(
  server: HttpServer,
  service: AccountService,
  /** What the device adds to its health: the continuous audit's last result. */
  health: () => Record<string, unknown>,
  metrics: DeviceMetrics,
): void {
  registerInternalRoutes(server, service, metrics);
  server.get(
    '/internal/v1/accounts/:accountNumber',
    { ...by('transaction-device'), schema: { params: AccountNumberParam, hide: true } },
    async (request, reply) => {
      const row = await service.account(BigInt(request.params.accountNumber));
      if (!row) return sendFailure(reply, notFound(`account ${request.params.accountNumber}`));
      return { account: accountRowToWire(row) };
    },
  );
  server.get(
    '/internal/v1/accounts',
    { ...by('transaction-device'), schema: { querystring: PageQuery, hide: true } },
    async (request) => {
      const rows = await service.accountsAfter(
        BigInt(request.query.after ?? '0'),
        Number(request.query.limit ?? pageSizeMax),
      );
      return { accounts: rows.map(accountRowToWire) };
    },
  );
  server.get('/health', by('anyone'), async () => ({
    device: 'account',
    status: 'ok',
    ...health(),
  }));
}
