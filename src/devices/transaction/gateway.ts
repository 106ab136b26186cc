// Every route the transaction device serves on its own listener, registered in one place: the
// running device (devices/start.ts) and the API document (./openapi.ts, docs/openapi.json) take
// the same list, so the document cannot leave out a route the gateway serves. (`/metrics` and
// `/ready`, which every device serves, are registered with the device's operations listener.)

import type { DeviceContext } from '../context.js';
import type { HttpServer } from '../http.js';
import type { RateLimits } from '../rateLimits.js';
import { type AdminService, type OwnStoreRebuild, registerAdminRoutes } from './admin.js';
import { registerAdminReadRoutes } from './adminReads.js';
import { registerConsoleRoutes } from './consoleRoutes.js';
import { registerEventRoutes } from './events.js';
import { registerTransactionInternalRoutes } from './internalRoutes.js';
import { registerTransactionRoutes } from './routes.js';
import type { Peers, TransactionService } from './service.js';

export interface GatewayParts {
  readonly context: DeviceContext;
  readonly service: TransactionService;
  readonly peers: Peers;
  readonly admin: AdminService;
  /** What the device adds to its health: the continuous audit's last result. */
  readonly health?: () => Record<string, unknown>;
  readonly rateLimits?: RateLimits;
  /** What sets the device's own store aside when a recovery finds it damaged (none in the API document). */
  readonly ownStore?: OwnStoreRebuild;
}

export async function registerGatewayRoutes(
  server: HttpServer,
  parts: GatewayParts,
): Promise<void> {
  const { context, service, peers, admin } = parts;
  await registerTransactionRoutes(
    server,
    context,
    service,
    peers,
    admin,
    parts.health,
    parts.rateLimits,
  );
  registerAdminRoutes(server, context, service, admin, parts.ownStore);
  registerAdminReadRoutes(server, context, service, peers);
  registerEventRoutes(server, service);
  registerConsoleRoutes(server);
  registerTransactionInternalRoutes(server, service);
}
