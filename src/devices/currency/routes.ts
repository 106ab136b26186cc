// HTTP routes of the currency device: the internal exchange and settlement, and signed unit rows.
import Type from 'typebox';
import { currencyRowToWire } from '../../protocol/rowWire.js';
import { CurrencyType } from '../../protocol/wire.js';
import { by } from '../access.js';
import type { HttpServer } from '../http.js';
import { AccountNumberParam, registerInternalRoutes } from '../internalRoutes.js';
import type { DeviceMetrics } from '../metrics.js';
import type { CurrencyService } from './service.js';

export function registerCurrencyRoutes(
  server: HttpServer,
  service: CurrencyService,
  /** What the device adds to its health: the continuous audit's last result. */
  health: () => Record<string, unknown>,
  metrics: DeviceMetrics,
): void {
  registerInternalRoutes(server, service, metrics);
  server.get(
    '/internal/v1/accounts/:accountNumber/units',
    {
      ...by('transaction-device'),
      schema: {
        params: AccountNumberParam,
        querystring: Type.Object({ currencyType: CurrencyType }),
        hide: true,
      },
    },
    async (request) => {
      const units = await service.unitsOf(
        BigInt(request.params.accountNumber),
        request.query.currencyType,
      );
      return { units: units.map(currencyRowToWire) };
    },
  );
  server.get('/health', by('anyone'), async () => ({
    device: 'currency',
    status: 'ok',
    ...health(),
  }));
}
