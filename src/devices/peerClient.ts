// How the transaction device calls `account` and `currency`: JSON over HTTP on a keep-alive pool,
// every request signed (protocol/envelope.ts), every answer a typed Result.
//
// A peer's refusal arrives as its error code; a peer that cannot be reached, or answers garbage or
// too late, is PeerUnavailable. Every request the devices send each other is idempotent, so
// `postRetrying` sends one again after PeerUnavailable, with capped exponential backoff and jitter;
// a refusal is final and never retried.

import { type Dispatcher, Pool } from 'undici';
import { exportLineBytesMax, StreamFailure } from '../audit/exportLines.js';
import { type ErrorCode, errorCatalogue, fail, ok, type Result } from '../model/errors.js';
import { envelopeHeader, signEnvelope } from '../protocol/envelope.js';
import type { DeviceContext } from './context.js';
import { clientTlsOptions, type DeviceTls } from './tls.js';

export const peerTimeoutMs = 10_000;
export const peerConnectionsMax = 16;
export const peerResponseBytesMax = 64 * 1024 * 1024;

/** How often, and how patiently, an idempotent request is sent again after PeerUnavailable. */
export interface RetryPolicy {
  readonly attemptsMax: number;
  readonly backoffMsBase: number;
  readonly backoffMsMax: number;
}

/** Within one user's request: a few quick tries, so that a blip does not cost an answer. */
export const requestRetryPolicy: RetryPolicy = {
  attemptsMax: 4,
  backoffMsBase: 25,
  backoffMsMax: 400,
};

/** The wait before attempt `attempt` (1-based, > 1): doubling from the base, capped, with jitter. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  const ceiling = Math.min(policy.backoffMsMax, policy.backoffMsBase * 2 ** (attempt - 2));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

export class PeerClient {
  readonly #pool: Pool;

  constructor(
    readonly name: string,
    readonly origin: string,
    private readonly context: DeviceContext,
    tls?: DeviceTls,
  ) {
    this.#pool = new Pool(origin, {
      connections: peerConnectionsMax,
      headersTimeout: peerTimeoutMs,
      bodyTimeout: peerTimeoutMs,
      keepAliveTimeout: 30_000,
      connect: clientTlsOptions(tls),
    });
  }

  /** `timeoutMs`: for the few requests that take long by nature (a digest of a whole copy). */
  post(path: string, body: unknown, timeoutMs = peerTimeoutMs): Promise<Result<unknown>> {
    return this.#send('POST', path, Buffer.from(JSON.stringify(body), 'utf8'), timeoutMs);
  }

  /** `post`, sent again after PeerUnavailable (never after a refusal), at most policy.attemptsMax times. */
  async postRetrying(path: string, body: unknown, policy: RetryPolicy): Promise<Result<unknown>> {
    let answer = await this.post(path, body);
    for (let attempt = 2; attempt <= policy.attemptsMax; attempt++) {
      if (answer.ok || answer.code !== 'PeerUnavailable') return answer;
      const random = this.context.environment.randomBytes(1)[0]! / 255;
      await new Promise((resolve) => setTimeout(resolve, backoffMs(policy, attempt, random)));
      answer = await this.post(path, body);
    }
    return answer;
  }

  get(path: string, timeoutMs = peerTimeoutMs): Promise<Result<unknown>> {
    return this.#send('GET', path, Buffer.alloc(0), timeoutMs);
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    body: Buffer,
    timeoutMs: number,
  ): Promise<Result<unknown>> {
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
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
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

  /**
   * A streaming export (NDJSON): yields each line's text, in order, holding one chunk at a time.
   * A refusal, a broken connection or an overlong line ends it with a StreamFailure.
   */
  async *lines(path: string): AsyncGenerator<string> {
    const signature = signEnvelope(
      this.context.signatures,
      this.context.signingKeyNumber,
      'GET',
      path,
      Buffer.alloc(0),
      this.context.environment.nowMs(),
    );
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#pool.request({
        method: 'GET',
        path,
        headers: { [envelopeHeader]: signature },
      });
    } catch (error) {
      throw new StreamFailure(
        fail(
          'PeerUnavailable',
          `${this.name} at ${this.origin} did not answer: ${messageOf(error)}`,
        ),
      );
    }
    if (response.statusCode !== 200) {
      const text = await response.body.text();
      throw new StreamFailure(
        fail(
          'PeerUnavailable',
          `${this.name} refused the export (HTTP ${response.statusCode}): ${text.slice(0, 200)}`,
        ),
      );
    }
    let pending = '';
    try {
      for await (const chunk of response.body) {
        pending += (chunk as Buffer).toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line.length > 0) yield line;
          newline = pending.indexOf('\n');
        }
        if (pending.length > exportLineBytesMax)
          throw new Error(`a line is longer than ${exportLineBytesMax} bytes`);
      }
      if (pending.length > 0) throw new Error('the export ends in the middle of a line');
    } catch (error) {
      if (error instanceof StreamFailure) throw error;
      throw new StreamFailure(
        fail('PeerUnavailable', `${this.name}'s export broke off: ${messageOf(error)}`),
      );
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
