// The routes `account` and `currency` serve to the transaction device, and nobody else.
//
// Every route here is for the transaction device alone (devices/access.ts checks its envelope
// signature before the body is validated). The protocol's steps arrive in batches
// (`POST /internal/v1/batch`, up to peerBatchSizeMax, devices/peerClient.ts), run concurrently
// (the store commits them in groups), and each gets its own answer, in order: an exchange answers
// with the next signed record (a3 or a5), or, when the operation is past its time limit and this
// device has not answered it yet, refuses it (OperationExpired) without deciding; a settlement
// stores the six records and applies them.

import Type from 'typebox';
import { assert } from '../model/assert.js';
import { type Failure, fail } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import { recordsFromWire, recordToWire, WireRecord } from '../protocol/wire.js';
import { by } from './access.js';
import type { HttpServer } from './http.js';
import { type DeviceMetrics, noMetrics } from './metrics.js';
import { type PeerStep, type PeerStepAnswer, peerBatchSizeMax } from './peerClient.js';
import { requestIdPattern } from './requestIds.js';
import type { BatchService } from './stepBatches.js';

const OperationRecords = Type.Array(WireRecord, { minItems: 1, maxItems: 6 });
const TraceId = Type.Optional(Type.String({ pattern: requestIdPattern }));
/** The log levels at which info lines are written. */
const infoLevels = new Set(['trace', 'debug', 'info']);

const BatchBody = Type.Object(
  {
    steps: Type.Array(
      Type.Union([
        Type.Object(
          {
            operation: Type.Literal('exchange'),
            records: OperationRecords,
            /** The operation is past its time limit: refuse it (OperationExpired) unless answered. */
            expired: Type.Optional(Type.Boolean()),
            traceId: TraceId,
          },
          { additionalProperties: false },
        ),
        Type.Object(
          { operation: Type.Literal('settle'), records: OperationRecords, traceId: TraceId },
          { additionalProperties: false },
        ),
      ]),
      { minItems: 1, maxItems: peerBatchSizeMax },
    ),
  },
  { additionalProperties: false },
);

export function registerInternalRoutes(
  server: HttpServer,
  service: BatchService,
  metrics: DeviceMetrics = noMetrics,
): void {
  server.post(
    '/internal/v1/batch',
    { ...by('transaction-device'), schema: { body: BatchBody, hide: true } },
    async (request) => {
      const startedMs = performance.now();
      const answers = await runBatch(service, request.body.steps);
      const seconds = (performance.now() - startedMs) / 1000;
      // One line per message: each step's operation, with the id of the user request behind it
      // (built only when info lines are kept: this is the hot path).
      if (infoLevels.has(request.log.level))
        request.log.info(
          {
            steps: request.body.steps.map((step, index) => {
              const answer = answers[index]!;
              return {
                remittanceId: step.records[0]?.remittanceId,
                step: step.operation,
                ...(step.traceId === undefined ? {} : { traceId: step.traceId }),
                ...('error' in answer ? { refused: answer.error } : {}),
              };
            }),
          },
          'protocol steps',
        );
      for (const step of request.body.steps)
        metrics.stepDone(step.operation === 'exchange' ? 'exchange' : 'settlement', seconds);
      return { answers };
    },
  );
}

/**
 * The steps of one message, each answered in order as a batch reply carries it: the exchanges as
 * one batch and the settlements as another (devices/stepBatches.ts).
 */
export async function runBatch(
  service: BatchService,
  steps: readonly PeerStep[],
): Promise<PeerStepAnswer[]> {
  const answers: (PeerStepAnswer | undefined)[] = steps.map(() => undefined);
  const exchanges: { index: number; records: SignedRecord[]; expired: boolean }[] = [];
  const settlements: { index: number; records: SignedRecord[] }[] = [];
  steps.forEach((step, index) => {
    const records = recordsFromWire(step.records);
    if (!records.ok) answers[index] = refusal(records);
    else if (step.operation === 'exchange')
      exchanges.push({ index, records: records.value, expired: step.expired === true });
    else settlements.push({ index, records: records.value });
  });
  await Promise.all([
    exchanges.length > 0 &&
      service.exchangeBatch(exchanges).then((results) =>
        results.forEach((result, k) => {
          answers[exchanges[k]!.index] = result.ok
            ? { record: recordToWire(result.value) }
            : refusal(result);
        }),
      ),
    settlements.length > 0 &&
      service.settleBatch(settlements.map((s) => s.records)).then((results) =>
        results.forEach((result, k) => {
          answers[settlements[k]!.index] = result.ok ? { settled: true } : refusal(result);
        }),
      ),
  ]);
  return answers.map((answer) => {
    assert(answer !== undefined, 'every step of a batch is answered');
    return answer;
  });
}

function refusal(failure: Failure): PeerStepAnswer {
  return { error: { code: failure.code, message: failure.message } };
}

export const AccountNumberParam = Type.Object(
  { accountNumber: Type.String({ pattern: '^[1-9][0-9]{0,18}$' }) },
  { additionalProperties: false },
);

/** Rows or records per page of a listing (the console's tables). */
export const pageSizeMax = 100;

export const PageQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$' })),
  },
  { additionalProperties: false },
);

export function notFound(what: string) {
  return fail('UnknownAccount', `${what} does not exist`);
}
