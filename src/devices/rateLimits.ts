// Rate limits at the public gateway (@fastify/rate-limit): requests per client address, and a
// tighter limit on opening accounts, the one request that needs no existing key; and per signing
// key (KeyRate), counted only once a request's signature holds, so that nobody can use up another
// account's allowance. A client past a limit gets 429 RateLimited with Retry-After, and nothing is
// done. Calls between devices (routes
// declared for devices, devices/access.ts) are never limited here: they are batched and signed.

import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import { type Failure, fail } from '../model/errors.js';
import { connectionsPerClientMax } from './connectionLimits.js';
import type { HttpServer } from './http.js';

export interface RateLimits {
  /** Requests one client address may make per second. */
  readonly requestsPerClientPerSecond: number;
  /** Accounts one client address may open per minute. */
  readonly accountOpeningsPerClientPerMinute: number;
  /** Requests one account key (or issuer key) may have accepted per second. */
  readonly requestsPerKeyPerSecond: number;
  /** Connections one client address may hold open at once, at every device (connectionLimits.ts). */
  readonly connectionsPerClientMax: number;
}

export const rateLimitsDefault: RateLimits = {
  requestsPerClientPerSecond: 1_000,
  accountOpeningsPerClientPerMinute: 60,
  requestsPerKeyPerSecond: 200,
  connectionsPerClientMax,
};

/**
 * Requests per signing key in the current second (one window for all keys: its memory is the keys
 * seen within one second, which the per-address limit bounds).
 */
export class KeyRate {
  #windowStartMs = Number.NEGATIVE_INFINITY;
  readonly #counts = new Map<number, number>();

  constructor(private readonly perSecondMax: number) {}

  /** Count one request signed by `keyNumber`; a refusal when the key is past its limit. */
  take(keyNumber: number, nowMs: number): Failure | undefined {
    if (nowMs - this.#windowStartMs >= 1_000) {
      this.#counts.clear();
      this.#windowStartMs = nowMs;
    }
    const count = this.#counts.get(keyNumber) ?? 0;
    if (count >= this.perSecondMax)
      return fail(
        'RateLimited',
        `key ${keyNumber} made more than ${this.perSecondMax} requests within a second; retry shortly`,
      );
    this.#counts.set(keyNumber, count + 1);
    return undefined;
  }
}

/** Client addresses tracked at once (least recently seen forgotten first). */
export const rateLimitClientsMax = 100_000;

const fromDevice = (request: FastifyRequest) => {
  const callers = request.routeOptions.config.callers;
  return callers === 'transaction-device' || callers === 'peer-device';
};

export async function limitRequestRates(server: HttpServer, limits: RateLimits): Promise<void> {
  await server.register(rateLimit, {
    global: true,
    max: limits.requestsPerClientPerSecond,
    timeWindow: 1_000,
    cache: rateLimitClientsMax,
    allowList: fromDevice,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      code: 'FST_RATE_LIMITED',
      message: `more than ${context.max} requests in ${context.after}; retry after the number of seconds in Retry-After`,
    }),
  });
}

/** The route option that limits how many accounts one client address opens. */
export function accountOpeningRate(limits: RateLimits) {
  return { max: limits.accountOpeningsPerClientPerMinute, timeWindow: 60_000 };
}
