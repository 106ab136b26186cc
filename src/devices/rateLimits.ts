// Rate limits at the public gateway (@fastify/rate-limit): requests per client address, and a
// tighter limit on opening accounts, the one request that needs no existing key. A client past a
// limit gets 429 RateLimited with Retry-After, and nothing is done. Calls between devices (routes
// declared for devices, devices/access.ts) are never limited here: they are batched and signed.

import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { HttpServer } from './http.js';

export interface RateLimits {
  /** Requests one client address may make per second. */
  readonly requestsPerClientPerSecond: number;
  /** Accounts one client address may open per minute. */
  readonly accountOpeningsPerClientPerMinute: number;
}

export const rateLimitsDefault: RateLimits = {
  requestsPerClientPerSecond: 1_000,
  accountOpeningsPerClientPerMinute: 60,
};

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
