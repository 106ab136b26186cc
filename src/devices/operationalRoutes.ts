// What an operator's tools ask every device: `GET /metrics` (Prometheus text, devices/metrics.ts)
// and `GET /ready`, which a load balancer or an orchestrator uses to send traffic only to a device
// that can serve it. (`GET /health` is liveness: the process answers.)
//
// Both are the operator's: on the device's own listener they answer only an operator-signed request
// (`operator`); a deployment that names `operationsListen` serves them there instead, to anyone who
// can reach that address (keep it on a private network: a load balancer cannot sign).
//
// Ready means: the store answers (and has not been found damaged: StoreFence), the device is not
// held until a recovery (a store that lost its tail), every peer this device calls answers its
// /health without naming damage in its store, and the last audit of this device's own stores (the continuous audit; at transaction
// also the last full audit) found nothing. Each check is reported on its own; a check that cannot finish within
// readyCheckMsMax counts as failed. Not ready is 503 with the same body.

import type { Store } from '../store/types.js';
import { by, type Callers } from './access.js';
import type { HttpServer, StoreFence } from './http.js';
import type { PrometheusMetrics } from './metrics.js';
import type { PeerClient } from './peerClient.js';
import { ReadyReply } from './transaction/replySchemas.js';

/** How long one readiness check may take before it counts as failed. */
export const readyCheckMsMax = 2_000;

export interface Readiness {
  readonly store: Pick<Store<unknown>, 'isEmpty'>;
  /** Damage met in the store while the device runs: it is then not ready, whatever else holds. */
  readonly storeFence: StoreFence;
  readonly peers: readonly PeerClient[];
  /** The last audits of this device's own stores, by kind; undefined before the first. */
  readonly audits: () => Record<string, { clean: boolean } | undefined>;
  /** Why the device takes no operation until a recovery (at transaction: transaction/tails.ts). */
  readonly heldForRecovery?: () => string | undefined;
}

async function within<T>(work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), readyCheckMsMax);
  });
  try {
    return await Promise.race([work.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerOperationalRoutes(
  server: HttpServer,
  metrics: PrometheusMetrics,
  readiness: Readiness,
  callers: Extract<Callers, 'operator' | 'anyone'>,
): void {
  server.get('/metrics', { ...by(callers), schema: { hide: true } }, async (_request, reply) => {
    void reply.header('content-type', metrics.contentType);
    return metrics.render();
  });

  server.get(
    '/ready',
    {
      ...by(callers),
      schema: {
        summary: 'Whether this device can serve: store, peers, last audits',
        response: { 200: ReadyReply, 503: ReadyReply },
      },
    },
    async (_request, reply) => {
      const [store, ...peers] = await Promise.all([
        within(
          readiness.store.isEmpty().then(() => true),
          false,
        ),
        ...readiness.peers.map((peer) =>
          within(
            // A peer fenced on a damaged store answers its health, but serves nothing else.
            peer
              .get('/health', readyCheckMsMax)
              .then(
                (answer) =>
                  answer.ok &&
                  (answer.value as { storeDamage?: unknown } | undefined)?.storeDamage ===
                    undefined,
              ),
            false,
          ),
        ),
      ]);
      const audits = readiness.audits();
      const damage = readiness.storeFence.damage;
      const held = readiness.heldForRecovery?.();
      const checks = {
        store: store && damage === undefined,
        ...(damage === undefined ? {} : { storeDamage: damage }),
        peers: Object.fromEntries(readiness.peers.map((peer, i) => [peer.name, peers[i]!])),
        audits: Object.fromEntries(
          Object.entries(audits).map(([kind, last]) => [kind, last ? last.clean : 'not run yet']),
        ),
        ...(held === undefined ? {} : { heldForRecovery: held }),
      };
      const ready =
        held === undefined &&
        checks.store &&
        peers.every(Boolean) &&
        Object.values(audits).every((last) => last === undefined || last.clean);
      return reply.status(ready ? 200 : 503).send({ ready, checks });
    },
  );
}
