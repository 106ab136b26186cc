// The HTTP server every device runs: fastify with TypeBox schemas, and one mapping of failures.
//
// Schemas validate and type each request at the edge: unknown fields, wrong types and malformed
// JSON are a 400 InvalidInput, an oversized body a 413 PayloadTooLarge, an unknown route a 404
// NotFound, all as `{ "error": { "code", "message" } }`. Nothing else is turned into HTTP anywhere.
// An unexpected error is a 500 with no details for the caller; a violated invariant also stops the
// process (TigerBeetle style: never carry on in a state the code says cannot happen). An error
// that reports damage in the device's store is a 503 StoreDamaged and fences the device
// (StoreFence): it is not an internal error, and not an outage either.

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerFactory,
} from 'fastify';
import { assert, InvariantViolation } from '../model/assert.js';
import { type ErrorCode, errorCatalogue, type Failure, httpStatusOf } from '../model/errors.js';
import { stepWireType } from '../protocol/stepWire.js';
import { isStoreDamage } from '../store/damage.js';
import { requestTimeoutMs } from './connectionLimits.js';
import type { DeviceMetrics } from './metrics.js';
import { requestIdOf } from './requestIds.js';

/** The error code each refusing answer was sent with, for the refusal counter (onSend below). */
const refusalCodes = new WeakMap<FastifyReply, ErrorCode>();

export const publicBodyBytesMax = 64 * 1024;
/**
 * A batch of remittances (POST /v1/remittance-batches): remittanceBatchSizeMax of them, each under
 * 1 KiB at its longest fields (a remittance's JSON is about 300 bytes).
 */
export const batchBodyBytesMax = 8 * 1024 * 1024;
export const internalBodyBytesMax = 16 * 1024 * 1024;
/** The longest path parameter (an account number, a request id) the router takes. */
export const pathParameterCharsMax = 128;
/** What a 503 answer asks the caller to wait before retrying. */
export const retryAfterSeconds = 5;

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

/** Where the transaction device asks a fenced peer to set its store aside (storeRebuild.ts). */
export const setAsideRoute = '/internal/v1/store/set-aside';
/** Where an operator recovers; on a fenced transaction device, it sets its own store aside. */
export const recoverRoute = '/v1/admin/recover';
/**
 * The routes a fenced device still serves: whether it lives, why it is not ready, its metrics,
 * and what rebuilds its store (a peer's set-aside, the transaction device's recovery).
 */
const fenceOpenRoutes = new Set(['/health', '/ready', '/metrics', setAsideRoute, recoverRoute]);

/**
 * Damage a running device met in its store (a database error that reports it, store/damage.ts):
 * from then on the device is fenced, answering StoreDamaged to everything but its health,
 * readiness and metrics (and what rebuilds its store: fenceOpenRoutes), until it is restarted
 * on a rebuilt store. The first damage found is kept.
 */
export class StoreFence {
  #damage: string | undefined;

  get damage(): string | undefined {
    return this.#damage;
  }

  found(damage: string): void {
    this.#damage ??= damage;
  }
}

export function createHttpServer(options: {
  bodyBytesMax: number;
  logLevel: string;
  /** HTTPS with client certificates (devices/tls.ts); plain HTTP without. */
  serverFactory?: FastifyServerFactory;
  /** Counts every refusal by its error code. */
  metrics?: DeviceMetrics;
  /** Where damage met in the device's store while it runs is kept (StoreFence). */
  storeFence?: StoreFence;
  /** A new request id, for a request that brings none (devices/requestIds.ts). */
  newRequestId?: () => string;
}) {
  let requestCount = 0;
  const newRequestId = options.newRequestId ?? (() => `req-${++requestCount}`);
  const server = Fastify({
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
    logger: { level: options.logLevel, redact: ['req.headers["triledger-signature"]'] },
    bodyLimit: options.bodyBytesMax,
    genReqId: (request) => requestIdOf(request, newRequestId),
    requestTimeout: requestTimeoutMs,
    // A URL the router cannot decode, or a path parameter past maxParamLength, is refused before
    // any route runs: in the one error shape too.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = (error as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH';
      void sendFailure(reply, {
        ok: false,
        code: 'InvalidInput',
        message: tooLong
          ? `a path parameter is longer than ${pathParameterCharsMax} characters`
          : 'the URL is not valid (a percent-escape cannot be decoded)',
      });
    },
    routerOptions: { maxParamLength: pathParameterCharsMax },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Answers are JSON.stringify'd as they are: response schemas document them (and a test holds
  // every answer to them, test/devices/apiContract.test.ts), they never drop a field.
  server.setSerializerCompiler(() => (data) => JSON.stringify(data));

  server.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    if (raw.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(raw.toString('utf8')));
    } catch {
      done(
        Object.assign(new Error('the body is not valid JSON'), {
          statusCode: 400,
          code: 'MALFORMED_JSON',
        }),
        undefined,
      );
    }
  });

  // The binary step wire between devices (devices/internalRoutes.ts decodes it); the bytes as sent.
  server.addContentTypeParser(stepWireType, { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    done(null, body);
  });

  // Every 503 (Maintenance, PeerUnavailable) tells the caller when to try again; every refusal is
  // counted by the code it was sent with (sendFailure, sendRefusal).
  server.addHook('onSend', async (request, reply, payload) => {
    // The caller can quote this in a question: it is on every log line of the request.
    void reply.header('x-request-id', request.id);
    if (reply.statusCode === 503) void reply.header('retry-after', String(retryAfterSeconds));
    // A refusal by a limit of the service (KeyRate) says when the next window opens, as the
    // address limit does.
    if (reply.statusCode === 429 && !reply.hasHeader('retry-after'))
      void reply.header('retry-after', '1');
    const code = refusalCodes.get(reply);
    if (code !== undefined) options.metrics?.refused(code);
    return payload;
  });

  // A device that has met damage in its store serves nothing but its health and readiness.
  server.addHook('onRequest', async (request, reply) => {
    const damage = options.storeFence?.damage;
    if (damage === undefined || fenceOpenRoutes.has(request.routeOptions.url ?? '')) return;
    return sendFailure(reply, { ok: false, code: 'StoreDamaged', message: damage });
  });

  server.setNotFoundHandler((request, reply) => {
    void sendFailure(reply, {
      ok: false,
      code: 'NotFound',
      message: `no route ${request.method} ${request.url}`,
    });
  });

  server.setErrorHandler(
    (
      error: Error & { statusCode?: number; code?: string; validation?: unknown },
      request,
      reply,
    ) => {
      if (error instanceof InvariantViolation) {
        request.log.fatal({ err: error }, 'invariant violated; stopping');
        void reply.status(500).send({ error: { code: 'Internal', message: 'internal error' } });
        setImmediate(() => process.exit(70));
        return;
      }
      if (isStoreDamage(error)) {
        request.log.error({ err: error }, 'the store is damaged; this device is fenced');
        const message = `this device's store is damaged (${error.message}); it serves nothing until its store is rebuilt`;
        options.storeFence?.found(message);
        return sendFailure(reply, { ok: false, code: 'StoreDamaged', message });
      }
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return sendFailure(reply, {
          ok: false,
          code: 'PayloadTooLarge',
          message: `the body is larger than ${request.routeOptions.bodyLimit ?? options.bodyBytesMax} bytes`,
        });
      }
      if (error.code === 'FST_RATE_LIMITED')
        return sendFailure(reply, { ok: false, code: 'RateLimited', message: error.message });
      if (
        error.validation ||
        error.code === 'MALFORMED_JSON' ||
        (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
      ) {
        return sendFailure(reply, { ok: false, code: 'InvalidInput', message: error.message });
      }
      request.log.error({ err: error }, 'unexpected error');
      return reply.status(500).send({ error: { code: 'Internal', message: 'internal error' } });
    },
  );

  return server;
}

export type HttpServer = ReturnType<typeof createHttpServer>;

export function sendFailure(reply: FastifyReply, failure: Failure) {
  return sendRefusal(reply, failure.code, {
    error: { code: failure.code, message: failure.message },
  });
}

/** A refusal whose body carries more than the error (a refused operation's records). */
export function sendRefusal(reply: FastifyReply, code: ErrorCode, body: Record<string, unknown>) {
  assert(Object.hasOwn(errorCatalogue, code), 'a refusal has a code from the catalogue');
  refusalCodes.set(reply, code);
  return reply.status(httpStatusOf(code)).send(body);
}

export type { FastifyInstance };
