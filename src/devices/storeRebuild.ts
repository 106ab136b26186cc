// A damaged store set aside at a recovery's request (issue 18), so that `triledger recover` (and the
// console's Recover) rebuilds a fenced device without an operator stopping it by hand, whether the
// damage was met while it ran or when it started (startFenced).
//
// The transaction device, recovering, asks each peer fenced on a damaged store to set it aside
// (POST /internal/v1/store/set-aside, the transaction device's key; refused when the store is not
// damaged). The peer answers, stops serving, closes its store, sets it aside exactly as `triledger
// set-aside` does (renamed, never deleted: store/setAside.ts) and exits with exitCodes.restart;
// its supervisor (`triledger up`, or systemd) starts it again, on a new, empty store, which the
// recovery then rebuilds from the other two devices.
//
// The transaction device runs the recovery, so on its own damaged store it cannot: an operator's
// recovery (POST /v1/admin/recover) is then answered with one line, `rebuilding`, and the device
// sets its store aside and exits the same way. The operator's client waits for it to answer again
// on its new store and asks for the recovery once more, which rebuilds that store from the copies
// of A at the peers (client/operator.ts).

import type { FastifyReply } from 'fastify';
import { exportContentType } from '../audit/exportLines.js';
import { assert } from '../model/assert.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { StoreLocation } from '../store/open.js';
import { setAsideStore } from '../store/setAside.js';
import { by, guardRoutes } from './access.js';
import type { DeviceConfig } from './config.js';
import type { DeviceContext } from './context.js';
import {
  createHttpServer,
  type HttpServer,
  internalBodyBytesMax,
  recoverRoute,
  StoreFence,
  sendFailure,
  setAsideRoute,
} from './http.js';
import type { RunningDevice } from './start.js';
import { type DeviceTls, serverFactory } from './tls.js';
import type { AdminEvent } from './transaction/admin.js';

/** A device's wish to set its store aside and be started again, once its answer is sent. */
export class SetAsideRequest {
  #requested!: () => void;
  /** Resolved when the transaction device asked for it (the answer then has been sent). */
  readonly requested = new Promise<void>((resolve) => {
    this.#requested = resolve;
  });

  register(server: HttpServer, fence: StoreFence): void {
    server.post(
      setAsideRoute,
      { ...by('transaction-device'), schema: { hide: true } },
      async (request, reply) => {
        const damage = fence.damage;
        if (damage === undefined)
          return sendFailure(
            reply,
            fail('InvalidInput', "this device's store is not damaged: it is not set aside"),
          );
        request.log.warn(
          { damage },
          "setting the damaged store aside at a recovery's request; restarting",
        );
        reply.raw.once('finish', () => this.#requested());
        return { settingAside: true, damage };
      },
    );
  }

  /**
   * The transaction device's answer to a recovery while its own store is damaged: one line of the
   * admin stream saying so; once it is sent, the device sets the store aside and starts again.
   */
  answerRecovery(reply: FastifyReply, damage: string): FastifyReply {
    reply.log.warn(
      { damage },
      "setting this device's damaged store aside to rebuild it; restarting",
    );
    reply.raw.once('finish', () => this.#requested());
    return reply
      .type(exportContentType)
      .send(`${JSON.stringify({ event: 'rebuilding', damage } satisfies AdminEvent)}\n`);
  }
}

/**
 * A device whose store is found damaged as it starts: it does not open that store, and serves
 * nothing but its health (naming the damage) and what sets the store aside (a peer: a recovery's
 * request; the transaction device: an operator's recovery), so that `triledger recover` rebuilds
 * it as it rebuilds one damaged while running.
 */
export async function startFenced(
  config: DeviceConfig,
  context: DeviceContext,
  tls: DeviceTls | undefined,
  location: StoreLocation,
  damage: string,
): Promise<Result<RunningDevice>> {
  assert(damage.length > 0, 'a fenced device names its damage');
  const fence = new StoreFence();
  fence.found(damage);
  const server = createHttpServer({
    storeFence: fence,
    bodyBytesMax: internalBodyBytesMax,
    logLevel: config.logLevel,
    serverFactory: serverFactory(tls, true, config.rateLimits.connectionsPerClientMax),
    newRequestId: () => context.environment.randomBytes(16).toString('hex'),
  });
  guardRoutes(server, {
    context,
    operatorKeyNumbers: config.operatorKeyNumbers,
    clientCertificates: tls !== undefined,
  });
  server.get('/health', by('anyone'), async () => ({
    device: config.device,
    status: 'damaged',
    storeDamage: damage,
  }));
  server.get('/ready', { ...by('operator'), schema: { hide: true } }, async (_request, reply) =>
    reply.status(503).send({ ready: false, checks: { store: false, storeDamage: damage } }),
  );
  const setAside = new SetAsideRequest();
  if (config.device === 'transaction')
    server.post(recoverRoute, { ...by('operator'), schema: { hide: true } }, async (_r, reply) =>
      setAside.answerRecovery(reply, damage),
    );
  else setAside.register(server, fence);
  assert(fence.damage === damage, 'the fence holds the damage found at start');
  server.log.error(
    { damage },
    'the store is damaged; it is not opened, and this device serves nothing until `triledger recover` rebuilds it',
  );
  const url = await server.listen({ host: config.host, port: config.port });
  return ok({
    url,
    setAsideRequested: setAside.requested,
    setStoreAside: () => setAsideStore(location, context.environment.nowMs()),
    close: () => server.close(),
  });
}
