// The routes `account` and `currency` serve to the transaction device, and nobody else.
//
// Every route here is for the transaction device alone (devices/access.ts checks its envelope
// signature before the body is validated). The protocol's steps arrive in batches
// (`POST /internal/v1/batch`, up to peerBatchSizeMax, in the binary step wire of
// protocol/stepWire.ts, which is decoded and checked here, at the edge), run concurrently
// (the store commits them in groups), and each gets its own answer, in order: an exchange answers
// with the next signed record (a3 or a5), or, when the operation is past its time limit and this
// device has not answered it yet, refuses it (OperationExpired) without deciding; a settlement
// brings the records this device lacks (protocol/transactionTypes.ts recordsLackedBy), stores them
// and applies the operation.

import type { FastifyBaseLogger } from 'fastify';
import Type from 'typebox';
import { assert } from '../model/assert.js';
import { type Failure, fail, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import {
  decodeSteps,
  encodeAnswers,
  type PeerStep,
  type PeerStepAnswer,
  stepWireType,
} from '../protocol/stepWire.js';
import { by } from './access.js';
import { type HttpServer, sendFailure } from './http.js';
import { type DeviceMetrics, noMetrics } from './metrics.js';
import { peerBatchSizeMax } from './peerClient.js';
import { requestIdPattern } from './requestIds.js';
import type { BatchService } from './stepBatches.js';

const tracePattern = new RegExp(requestIdPattern);
/** The log levels at which info lines are written. */
const infoLevels = new Set(['trace', 'debug', 'info']);

export function registerInternalRoutes(
  server: HttpServer,
  service: BatchService,
  metrics: DeviceMetrics = noMetrics,
): void {
  server.post(
    '/internal/v1/batch',
    { ...by('transaction-device'), schema: { hide: true } },
    async (request, reply) => {
      const startedMs = performance.now();
      const steps = stepsOf(request.body);
      if (!steps.ok) return sendFailure(reply, steps);
      const answers = await runBatch(service, steps.value);
      const seconds = (performance.now() - startedMs) / 1000;
      if (infoLevels.has(request.log.level)) logSteps(request.log, steps.value, answers);
      for (const step of steps.value)
        metrics.stepDone(step.operation === 'exchange' ? 'exchange' : 'settlement', seconds);
      return reply.type(stepWireType).send(encodeAnswers(answers));
    },
  );
}

/** The steps of a batch message, checked at the edge: the step wire, and each trace id. */
export function stepsOf(body: unknown): Result<PeerStep[]> {
  if (!Buffer.isBuffer(body))
    return fail('InvalidInput', `a batch of steps is sent as ${stepWireType} (the step wire)`);
  const steps = decodeSteps(body, peerBatchSizeMax);
  if (!steps.ok) return steps;
  const badTrace = steps.value.find(
    (s) => s.traceId !== undefined && !tracePattern.test(s.traceId),
  );
  return badTrace ? fail('InvalidInput', 'a step carries a malformed trace id') : steps;
}

/**
 * One line per message: each step's operation, with the id of the user request behind it (built
 * only when info lines are kept: this is the hot path).
 */
function logSteps(
  log: FastifyBaseLogger,
  steps: readonly PeerStep[],
  answers: readonly PeerStepAnswer[],
): void {
  log.info(
    {
      steps: steps.map((step, index) => {
        const answer = answers[index]!;
        return {
          remittanceId: step.records[0]?.record.remittanceId,
          step: step.operation,
          ...(step.traceId === undefined ? {} : { traceId: step.traceId }),
          ...('error' in answer ? { refused: answer.error } : {}),
        };
      }),
    },
    'protocol steps',
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
  const exchanges: { index: number; records: readonly SignedRecord[]; expired: boolean }[] = [];
  const settlements: { index: number; records: readonly SignedRecord[] }[] = [];
  steps.forEach((step, index) => {
    if (step.operation === 'exchange')
      exchanges.push({ index, records: step.records, expired: step.expired === true });
    else settlements.push({ index, records: step.records });
  });
  await Promise.all([
    exchanges.length > 0 &&
      service.exchangeBatch(exchanges).then((results) =>
        results.forEach((result, k) => {
          answers[exchanges[k]!.index] = result.ok ? { record: result.value } : refusal(result);
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
