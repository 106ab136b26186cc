// HTTP routes of the currency device: the internal exchange and settlement, and signed unit rows.
import Type from 'typebox';
import { CurrencyType, isoOf } from '../../protocol/wire.js';
import type { CurrencyRow } from '../../store/types.js';
import type { DeviceContext } from '../context.js';
import type { HttpServer } from '../http.js';
import { AccountNumberParam, registerInternalRoutes } from '../internalRoutes.js';
import type { CurrencyService } from './service.js';

export function currencyRowToWire(row: CurrencyRow) {
  return {
    currencyNumber: row.currencyNumber.toString(),
    currencyType: row.currencyType,
    value: row.value.toString(),
    ownerAccount: row.ownerAccount.toString(),
    status: row.status,
    lastUpdate: isoOf(row.lastUpdate),
    signerKeyNumber: row.signerKeyNumber,
    signature: row.signature.toString('hex'),
  };
}

export const WireCurrencyRow = Type.Object({
  currencyNumber: Type.String(),
  currencyType: Type.String(),
  value: Type.String(),
  ownerAccount: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('held'), Type.Literal('retired')]),
  lastUpdate: Type.String(),
  signerKeyNumber: Type.Integer(),
  signature: Type.String(),
});

export function registerCurrencyRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: CurrencyService,
): void {
  registerInternalRoutes(server, context, service);
  server.get(
    '/internal/v1/accounts/:accountNumber/units',
    {
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
  server.get('/health', async () => ({ device: 'currency', status: 'ok' }));
}
