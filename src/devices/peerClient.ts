// How the transaction device calls `account` and `currency`: JSON over HTTP on a keep-alive pool,
// every request signed (protocol/envelope.ts), every answer a typed Result.
//
// A peer's refusal arrives as its error code; a peer that cannot be reached, or answers garbage or
// too late, is PeerUnavailable. Nothing here retries: the caller decides (an operation records
// the failure in its response).

import { Pool } from 'undici';
import { type ErrorCode, errorCatalogue, fail, ok, type Result } from '../model/errors.js';
import { envelopeHeader, signEnvelope } from '../protocol/envelope.js';
import type { DeviceContext } from './context.js';

export const peerTimeoutMs = 10_000;
export const peerConnectionsMax = 16;
export const peerResponseBytesMax = 64 * 1024 * 1024;

export class PeerClient {
  readonly #pool: Pool;

  constructor(
    readonly name: string,
    readonly origin: string,
    private readonly context: DeviceContext,
  ) {
    this.#pool = new Pool(origin, {
      connections: peerConnectionsMax,
      headersTimeout: peerTimeoutMs,
      bodyTimeout: peerTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  post(path: string, body: unknown): Promise<Result<unknown>> {
    return this.#send('POST', path, Buffer.from(JSON.stringify(body), 'utf8'));
  }

  get(path: string): Promise<Result<unknown>> {
    return this.#send('GET', path, Buffer.alloc(0));
  }

  async #send(method: 'GET' | 'POST', path: string, body: Buffer): Promise<Result<unknown>> {
    const signature = signEnvelope(
      this.context.signatures,
      this.context.signingKeyNumber,
      method,
      path,
      body,
      this.context.environment.nowMs(),
    );
    try {
      const response = await this.#pool.request({
        method,
        path,
        headers: {
          [envelopeHeader]: signature,
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'POST' ? { body } : {}),
      });
      const text = await response.body.text();
      if (text.length > peerResponseBytesMax)
        return fail('PeerUnavailable', `${this.name} answered with too much data`);
      const parsed: unknown = text.length > 0 ? JSON.parse(text) : undefined;
      if (response.statusCode >= 200 && response.statusCode < 300) return ok(parsed);
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (error?.code && Object.hasOwn(errorCatalogue, error.code)) {
        return fail(error.code as ErrorCode, `${this.name}: ${error.message ?? ''}`);
      }
      return fail('PeerUnavailable', `${this.name} answered HTTP ${response.statusCode}`);
    } catch (error) {
      return fail(
        'PeerUnavailable',
        `${this.name} at ${this.origin} did not answer: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
