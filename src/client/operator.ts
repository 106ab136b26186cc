// The operator's client: runs an audit or a recovery on the transaction device's admin endpoints.
//
// Each request is signed with an operator key (the envelope of protocol/envelope.ts). The answer is
// a stream of JSON lines (devices/transaction/admin.ts): progress events, then one result. A result
// that never comes (a dropped connection, a device that stopped) is PeerUnavailable, never a clean
// report.

import { request } from 'undici';
import type { RecoveryPhase, RecoveryReport } from '../audit/recovery.js';
import type { AdminEvent, CheckpointedAuditReport } from '../devices/transaction/admin.js';
import { type Environment, systemEnvironment } from '../model/environment.js';
import { type ErrorCode, errorCatalogue, fail, ok, type Result } from '../model/errors.js';
import { envelopeHeader, signEnvelope } from '../protocol/envelope.js';
import type { SignatureDevice } from '../signature/device.js';

/** The longest silence between two lines of the answer (progress comes every 250 ms). */
export const adminSilenceMsMax = 120_000;
export const adminLineBytesMax = 64 * 1024 * 1024;
/** How long a recovery waits for the transaction device to start again on a new store. */
export const transactionRestartMsMax = 60_000;
const transactionRestartPollMs = 250;

export type ProgressListener = (phase: RecoveryPhase, done: number, total: number) => void;

export class OperatorClient {
  constructor(
    private readonly transactionUrl: string,
    private readonly keys: SignatureDevice,
    private readonly keyNumber: number,
    private readonly environment: Environment = systemEnvironment,
  ) {}

  /** From the newest checkpoint that holds, or from the beginning with `full`. */
  async audit(
    onProgress?: ProgressListener,
    options: { full?: boolean } = {},
  ): Promise<Result<CheckpointedAuditReport>> {
    const result = await this.#run(
      '/v1/admin/audit',
      onProgress,
      options.full ? { full: true } : {},
    );
    if (!result.ok) return result;
    return result.value.event === 'report'
      ? ok(result.value.report)
      : fail('PeerUnavailable', 'the transaction device answered something else than a report');
  }

  /**
   * Repair what the audit finds. When the transaction device's own store is damaged, the device
   * answers `rebuilding`, sets that store aside and starts again (its supervisor starts it); this
   * waits for it to answer on its new store, then asks again: that recovery rebuilds the store.
   */
  async recover(onProgress?: ProgressListener): Promise<Result<RecoveryReport>> {
    const first = await this.#recoverOnce(onProgress);
    if (!first.ok) return first;
    if (first.value.event === 'recovery') return ok(first.value.recovery);
    const back = await this.#backOnNewStore(first.value.damage, onProgress);
    if (!back.ok) return back;
    const second = await this.#recoverOnce(onProgress);
    if (!second.ok) return second;
    if (second.value.event !== 'recovery')
      return fail(
        'StoreDamaged',
        `the transaction device's new store is damaged too: ${second.value.damage}`,
      );
    const recovery = second.value.recovery;
    return ok({ ...recovery, storesRebuilt: ['transaction', ...(recovery.storesRebuilt ?? [])] });
  }

  async #recoverOnce(
    onProgress?: ProgressListener,
  ): Promise<Result<Extract<AdminEvent, { event: 'recovery' | 'rebuilding' }>>> {
    const result = await this.#run('/v1/admin/recover', onProgress);
    if (!result.ok) return result;
    const event = result.value;
    return event.event === 'recovery' || event.event === 'rebuilding'
      ? ok(event)
      : fail('PeerUnavailable', 'the transaction device answered something else than a recovery');
  }

  /** Polls the transaction device's health until it answers on a store that is not damaged. */
  async #backOnNewStore(damage: string, onProgress?: ProgressListener): Promise<Result<undefined>> {
    const { nowMs } = this.environment;
    for (const deadlineMs = nowMs() + transactionRestartMsMax; nowMs() < deadlineMs; ) {
      onProgress?.('rebuild', 0, 1);
      await new Promise((resolve) => setTimeout(resolve, transactionRestartPollMs));
      if (await this.#answersUndamaged()) return ok(undefined);
    }
    return fail(
      'PeerUnavailable',
      `the transaction device set its damaged store aside (${damage}) but did not answer on a new store within ${transactionRestartMsMax / 1000} s; it needs a supervisor that starts it again (triledger up, or systemd): start it, then run recover again`,
    );
  }

  async #answersUndamaged(): Promise<boolean> {
    try {
      const response = await request(new URL('/health', this.transactionUrl), {
        headersTimeout: transactionRestartPollMs * 4,
        bodyTimeout: transactionRestartPollMs * 4,
      });
      const health = (await response.body.json()) as { storeDamage?: unknown };
      return response.statusCode === 200 && health.storeDamage === undefined;
    } catch {
      return false; // not listening yet
    }
  }

  async #run(
    path: string,
    onProgress?: ProgressListener,
    fields: Record<string, unknown> = {},
  ): Promise<Result<AdminEvent>> {
    const body = Buffer.from(JSON.stringify(fields));
    const signature = signEnvelope(
      this.keys,
      this.keyNumber,
      { receiver: 'transaction', method: 'POST', url: path, body },
      this.environment.nowMs(),
      this.environment.randomBytes,
    );
    let pending = '';
    try {
      const response = await request(new URL(path, this.transactionUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [envelopeHeader]: signature },
        body,
        headersTimeout: adminSilenceMsMax,
        bodyTimeout: adminSilenceMsMax,
      });
      if (response.statusCode !== 200) {
        const error = (
          (await response.body.json()) as { error?: { code?: string; message?: string } }
        ).error;
        return error?.code && Object.hasOwn(errorCatalogue, error.code)
          ? fail(error.code as ErrorCode, error.message ?? '')
          : fail('PeerUnavailable', `the transaction device answered HTTP ${response.statusCode}`);
      }
      // Read to the end (the connection is then free again), keeping the one result.
      let result: Result<AdminEvent> | undefined;
      for await (const chunk of response.body) {
        pending += (chunk as Buffer).toString('utf8');
        if (pending.length > adminLineBytesMax) {
          response.body.destroy();
          return fail('PeerUnavailable', 'the answer holds a line beyond the size limit');
        }
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const event = JSON.parse(pending.slice(0, newline)) as AdminEvent;
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
          if (event.event === 'progress') onProgress?.(event.phase, event.done, event.total);
          else if (event.event === 'error')
            result = Object.hasOwn(errorCatalogue, event.error.code)
              ? fail(event.error.code as ErrorCode, event.error.message)
              : fail('PeerUnavailable', event.error.message);
          else result ??= ok(event);
        }
      }
      return result ?? fail('PeerUnavailable', 'the answer ended before its result');
    } catch (error) {
      return fail(
        'PeerUnavailable',
        `the transaction device at ${this.transactionUrl} did not answer: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
