// How the transaction device calls `account` and `currency`: HTTP on a keep-alive pool, every request
// signed (protocol/envelope.ts), every answer a typed Result. The protocol's steps travel in the
// binary step wire (protocol/stepWire.ts); everything else (audit, recovery, reads) is JSON.
//
// A peer's refusal arrives as its error code; a peer that cannot be reached, or answers garbage or
// too late, is PeerUnavailable. Every request the devices send each other is idempotent, so
// `callRetrying` sends a step again after PeerUnavailable, with capped exponential backoff and
// jitter; a refusal is final and never retried.
//
// The protocol's steps (exchanges and settlements) travel in batches (model/batchQueue.ts):
// `call` queues a step, and the queue leaves as one signed message (`POST /internal/v1/batch`) as
// soon as fewer than peerBatchesInFlightMax messages are on their way. Alone, a step leaves at once (no waiting at
// light load); under load the steps that arrive while messages are in flight share the next one,
// up to peerBatchSizeMax, and each gets its own answer.

import { type Dispatcher, Pool } from 'undici';
import { exportLineBytesMax, StreamFailure } from '../audit/exportLines.js';
import { BatchQueue } from '../model/batchQueue.js';
import { type ErrorCode, errorCatalogue, fail, ok, type Result } from '../model/errors.js';
import { itemsOfPages } from '../model/pages.js';
import { envelopeHeader, signEnvelope } from '../protocol/envelope.js';
import {
  decodeAnswers,
  encodeSteps,
  type PeerStep,
  type PeerStepAnswer,
  stepWireType,
} from '../protocol/stepWire.js';
import type { DeviceContext, DeviceName } from './context.js';
import { type DeviceMetrics, noMetrics } from './metrics.js';
import { clientTlsOptions, type DeviceTls } from './tls.js';

export const peerTimeoutMs = 10_000;
export const peerConnectionsMax = 16;
export const peerResponseBytesMax = 64 * 1024 * 1024;
/** Protocol steps in one message to a peer. */
export const peerBatchSizeMax = 64;
/** Messages of steps on their way to one peer at once; more steps wait for one to come back. */
export const peerBatchesInFlightMax = 2;
/** Steps waiting for a message; past it a step is refused at once (PeerUnavailable) and retried. */
export const peerQueueDepthMax = 4096;

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

/**
 * What the transaction device needs of a peer to run the protocol: send a step, again after
 * PeerUnavailable. A PeerClient over HTTP in a deployment; a simulated link in the simulator.
 */
export interface PeerLink {
  readonly name: DeviceName;
  callRetrying(step: PeerStep, policy: RetryPolicy): Promise<Result<unknown>>;
}

/**
 * `send`, again after PeerUnavailable (never after a refusal), at most policy.attemptsMax times,
 * waiting backoffMs between tries. `random` in [0, 1] for the jitter; `sleep` waits on the clock
 * the caller runs on (real timers in a device, the simulated clock in the simulator).
 */
export async function retrying(
  send: () => Promise<Result<unknown>>,
  policy: RetryPolicy,
  random: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<Result<unknown>> {
  let answer = await send();
  for (let attempt = 2; attempt <= policy.attemptsMax; attempt++) {
    if (answer.ok || answer.code !== 'PeerUnavailable') return answer;
    await sleep(backoffMs(policy, attempt, random()));
    answer = await send();
  }
  return answer;
}

/** A step's answer as it arrived in a batch reply, as a Result: a code we do not know is no answer. */
export function stepResultOf(peer: DeviceName, answer: PeerStepAnswer): Result<unknown> {
  if (!('error' in answer)) return ok(answer);
  const { code, message } = answer.error;
  return Object.hasOwn(errorCatalogue, code)
    ? fail(code as ErrorCode, `${peer}: ${message}`)
    : fail('PeerUnavailable', `${peer} answered an unknown code ${code.slice(0, 64)}`);
}

export class PeerClient implements PeerLink {
  readonly #pool: Pool;
  /** Steps queued in the same turn of the event loop leave together, in the next turn. */
  readonly #steps = new BatchQueue<PeerStep, Result<unknown>>(
    {
      batchSizeMax: peerBatchSizeMax,
      batchesInFlightMax: peerBatchesInFlightMax,
      queueDepthMax: peerQueueDepthMax,
    },
    (steps) => this.#sendBatch(steps),
    setImmediate,
  );

  constructor(
    /** The peer's device name, which every envelope to it is bound to. */
    readonly name: DeviceName,
    readonly origin: string,
    private readonly context: DeviceContext,
    tls?: DeviceTls,
    private readonly metrics: DeviceMetrics = noMetrics,
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

  /**
   * One protocol step, sent in the next batch message to this peer: its answer (`{ record }` or
   * `{ settled: true }`), or its refusal.
   */
  call(step: PeerStep): Promise<Result<unknown>> {
    return (
      this.#steps.submit(step) ??
      Promise.resolve(
        fail('PeerUnavailable', `${this.name}: ${peerQueueDepthMax} steps already wait to be sent`),
      )
    );
  }

  /** Batch messages sent to this peer since the start, and the steps they carried. */
  batchCounts(): { batches: number; steps: number } {
    const { batches, items } = this.#steps.counts();
    return { batches, steps: items };
  }

  /** `call`, sent again after PeerUnavailable (never after a refusal), at most policy.attemptsMax times. */
  callRetrying(step: PeerStep, policy: RetryPolicy): Promise<Result<unknown>> {
    return retrying(
      () => this.call(step),
      policy,
      () => this.context.environment.randomBytes(1)[0]! / 255,
      (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    );
  }

  async #sendBatch(steps: PeerStep[]): Promise<Result<unknown>[]> {
    this.metrics.peerBatchSent(this.name, steps.length);
    const reply = await this.#send(
      'POST',
      '/internal/v1/batch',
      encodeSteps(steps),
      peerTimeoutMs,
      stepWireType,
    );
    if (!reply.ok) return steps.map(() => reply);
    const answers = Buffer.isBuffer(reply.value)
      ? decodeAnswers(reply.value, steps.length)
      : fail('PeerUnavailable', `${this.name} answered a batch in another form than the step wire`);
    if (!answers.ok) return steps.map(() => answers);
    return answers.value.map((answer) => stepResultOf(this.name, answer));
  }

  get(path: string, timeoutMs = peerTimeoutMs): Promise<Result<unknown>> {
    return this.#send('GET', path, Buffer.alloc(0), timeoutMs);
  }

  /**
   * One signed request. A JSON answer is parsed; a step-wire answer (`contentType` stepWireType)
   * comes back as its bytes. A refusal is always JSON (the error shape).
   */
  async #send(
    method: 'GET' | 'POST',
    path: string,
    body: Buffer,
    timeoutMs: number,
    contentType = 'application/json',
  ): Promise<Result<unknown>> {
    const signature = this.#sign(method, path, body);
    try {
      const response = await this.#pool.request({
        method,
        path,
        headers: {
          [envelopeHeader]: signature,
          ...(method === 'POST' ? { 'content-type': contentType } : {}),
        },
        ...(method === 'POST' ? { body } : {}),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const bytes = Buffer.from(await response.body.arrayBuffer());
      if (bytes.length > peerResponseBytesMax)
        return fail('PeerUnavailable', `${this.name} answered with too much data`);
      const succeeded = response.statusCode >= 200 && response.statusCode < 300;
      if (succeeded && response.headers['content-type'] === stepWireType) return ok(bytes);
      const parsed: unknown = bytes.length > 0 ? JSON.parse(bytes.toString('utf8')) : undefined;
      if (succeeded) return ok(parsed);
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

  /** A streaming export (NDJSON), a line at a time (linePages). */
  lines(path: string): AsyncGenerator<string> {
    return itemsOfPages(this.linePages(path));
  }

  /**
   * A streaming export (NDJSON): yields the complete lines of each chunk received, in order,
   * holding one chunk at a time. A refusal, a broken connection or an overlong line ends it with a
   * StreamFailure.
   */
  async *linePages(path: string): AsyncGenerator<string[]> {
    const signature = this.#sign('GET', path, Buffer.alloc(0));
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
        const lines = (pending + (chunk as Buffer).toString('utf8')).split('\n');
        pending = lines.pop()!; // what follows the last newline: the start of the next line
        if (pending.length > exportLineBytesMax)
          throw new Error(`a line is longer than ${exportLineBytesMax} bytes`);
        const complete = lines.filter((line) => line.length > 0);
        if (complete.length > 0) yield complete;
      }
      if (pending.length > 0) throw new Error('the export ends in the middle of a line');
    } catch (error) {
      if (error instanceof StreamFailure) throw error;
      throw new StreamFailure(
        fail('PeerUnavailable', `${this.name}'s export broke off: ${messageOf(error)}`),
      );
    }
  }

  /** The envelope of one request to this peer (protocol/envelope.ts): it names the peer. */
  #sign(method: 'GET' | 'POST', url: string, body: Buffer): string {
    const { signatures, signingKeyNumber, environment } = this.context;
    return signEnvelope(
      signatures,
      signingKeyNumber,
      { receiver: this.name, method, url, body },
      environment.nowMs(),
      environment.randomBytes,
    );
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
