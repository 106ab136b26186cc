// The internal routes the audit and recovery use on `account` and `currency`.
//
// Export: GET /internal/v1/export/{name} streams a store as NDJSON (audit/exportLines.ts) from a
// consistent snapshot, in key order, in constant memory, while the device keeps working.
// Repair: POST /internal/v1/repair applies one batch of repairs (devices/repair.ts) in one database
// transaction, only between POST /internal/v1/recovery {"running": true} and {"running": false}
// (the transaction device's recovery, which holds the ledger in maintenance meanwhile). Every route here is for the transaction device alone: its envelope signature is
// checked before anything else (access.ts).

import { Readable } from 'node:stream';
import Type, { type TSchema } from 'typebox';
import { HeaderJson, headerFromJson } from '../audit/checkpoint.js';
import { exportContentType } from '../audit/exportLines.js';
import type { Result } from '../model/errors.js';
import { fail } from '../model/errors.js';
import { nextTurn } from '../model/turns.js';
import { DecimalString, recordsFromWire, WireRecord } from '../protocol/wire.js';
import type { LedgerTx, Store } from '../store/types.js';
import { by } from './access.js';
import type { CheckpointKeeper } from './checkpoints.js';
import { type HttpServer, sendFailure } from './http.js';
import { type RepairBatch, type RepairCounts, RepairWindow, repairBatchSizeMax } from './repair.js';

/** Lines are sent in chunks of about this size. */
export const exportChunkBytes = 64 * 1024;
/**
 * Lines made in a row before the device's other work gets a turn of the event loop (about a
 * millisecond of reading and digesting). The lines are made synchronously underneath, and an export
 * read ahead of its socket held the device for 100-230 ms at a time during a full audit.
 */
export const exportLinesPerTurnMax = 256;

/** An export's lines in chunks of about exportChunkBytes, with turns for other work between. */
export async function* chunksOf(lines: AsyncIterable<string>): AsyncGenerator<string> {
  let chunk = '';
  let linesThisTurn = 0;
  for await (const line of lines) {
    chunk += `${line}\n`;
    if (++linesThisTurn === exportLinesPerTurnMax) {
      linesThisTurn = 0;
      await nextTurn();
    }
    if (chunk.length >= exportChunkBytes) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

const ExportQuery = Type.Object(
  {
    after: Type.Optional(DecimalString),
    upTo: Type.Optional(DecimalString),
    digestUpTo: Type.Optional(DecimalString),
    form: Type.Optional(Type.Union([Type.Literal('records'), Type.Literal('digests')])),
  },
  { additionalProperties: false },
);

/** What an export of A is asked for (the row exports of B and C take none of it). */
export interface ExportOptions {
  /** Start after this transaction number (an audit from a checkpoint). */
  readonly after: bigint;
  /** Stop at this transaction number (one block fetched by the audit). */
  readonly upTo?: bigint;
  /** Chain the block digests into the digest of A up to the checkpoint the audit may leave (digests only). */
  readonly digestUpTo?: bigint;
  /** `digests`: one block digest per line instead of the records (audit/blockDigests.ts). */
  readonly form: 'records' | 'digests';
}

export function registerExportRoute(
  server: HttpServer,
  name: string,
  lines: (options: ExportOptions) => AsyncIterable<string>,
): void {
  server.get(
    `/internal/v1/export/${name}`,
    { ...by('transaction-device'), schema: { querystring: ExportQuery, hide: true } },
    async (request, reply) => {
      const { after, upTo, digestUpTo, form } = request.query;
      if (digestUpTo !== undefined && (upTo !== undefined || form !== 'digests'))
        return sendFailure(
          reply,
          fail('InvalidInput', 'digestUpTo goes with form=digests and without upTo'),
        );
      const options: ExportOptions = {
        after: BigInt(after ?? '0'),
        ...(upTo === undefined ? {} : { upTo: BigInt(upTo) }),
        ...(digestUpTo === undefined ? {} : { digestUpTo: BigInt(digestUpTo) }),
        form: form ?? 'records',
      };
      return reply.type(exportContentType).send(Readable.from(chunksOf(lines(options))));
    },
  );
}

/**
 * The highest transaction number this device holds a record at: one answer, not a stream, so that
 * a connection cut short is no answer rather than a short one (transaction/tails.ts asks at start).
 */
export function registerLastRecordRoute(server: HttpServer, store: Store<LedgerTx>): void {
  server.get(
    '/internal/v1/last-record',
    { ...by('transaction-device'), schema: { hide: true } },
    async () => ({
      transactionNumber: String(await store.transact((tx) => tx.lastRecordNumber())),
    }),
  );
}

// At the edge unknown fields are refused (stored checkpoints may carry the snapshot besides).
const CheckpointHeaderBody = Type.Object(HeaderJson.properties, { additionalProperties: false });

/** Digest of this device's copy, co-signing, and keeping of checkpoints (devices/checkpoints.ts). */
export function registerCheckpointRoutes(server: HttpServer, keeper: CheckpointKeeper): void {
  server.get(
    '/internal/v1/digest/:upTo',
    {
      ...by('transaction-device'),
      schema: { params: Type.Object({ upTo: DecimalString }), hide: true },
    },
    async (request) => ({
      digest: (await keeper.digestUpTo(BigInt(request.params.upTo))).toString('hex'),
    }),
  );
  server.post(
    '/internal/v1/checkpoints/sign',
    { ...by('transaction-device'), schema: { body: CheckpointHeaderBody, hide: true } },
    async (request, reply) => {
      const signature = await keeper.sign(headerFromJson(request.body).header);
      if (!signature.ok) return sendFailure(reply, signature);
      return { signature: signature.value.toString('hex') };
    },
  );
  server.post(
    '/internal/v1/checkpoints',
    { ...by('transaction-device'), schema: { body: CheckpointHeaderBody, hide: true } },
    async (request, reply) => {
      const { header, signatures } = headerFromJson(request.body);
      if (!signatures)
        return sendFailure(
          reply,
          fail('InvalidInput', 'a checkpoint to keep carries its signatures'),
        );
      const kept = await keeper.keepHeader(header, signatures);
      if (!kept.ok) return sendFailure(reply, kept);
      return { kept: true };
    },
  );
}

const Removal = Type.Object(
  { key: DecimalString, kind: Type.String({ pattern: '^[a-z]{1,32}$' }) },
  { additionalProperties: false },
);

export function repairBody<Content extends TSchema>(content: Content) {
  const list = <T extends TSchema>(item: T) => Type.Array(item, { maxItems: repairBatchSizeMax });
  return Type.Object(
    {
      records: Type.Object(
        { remove: list(Removal), put: list(WireRecord) },
        { additionalProperties: false },
      ),
      rows: Type.Object(
        { remove: list(Removal), put: list(content) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  );
}

const RecoveryBody = Type.Object({ running: Type.Boolean() }, { additionalProperties: false });

export function registerRepairRoute<Wire, Content>(
  server: HttpServer,
  nowMs: () => number,
  content: TSchema,
  contentFromWire: (wire: Wire) => Result<Content>,
  repair: (batch: RepairBatch<Content>) => Promise<Result<RepairCounts>>,
): void {
  const window = new RepairWindow();
  server.post(
    '/internal/v1/recovery',
    { ...by('transaction-device'), schema: { body: RecoveryBody, hide: true } },
    async (request) => {
      if (request.body.running) window.open(nowMs());
      else window.close();
      return { running: request.body.running };
    },
  );
  server.post(
    '/internal/v1/repair',
    { ...by('transaction-device'), schema: { body: repairBody(content), hide: true } },
    async (request, reply) => {
      const body = request.body as {
        records: { remove: { key: string; kind: string }[]; put: WireRecord[] };
        rows: { remove: { key: string; kind: string }[]; put: Wire[] };
      };
      const closed = window.refusal(nowMs());
      if (closed) return sendFailure(reply, closed);
      const put = recordsFromWire(body.records.put);
      if (!put.ok) return sendFailure(reply, put);
      const rows: Content[] = [];
      for (const wire of body.rows.put) {
        const parsed = contentFromWire(wire);
        if (!parsed.ok) return sendFailure(reply, parsed);
        rows.push(parsed.value);
      }
      const removals = (list: { key: string; kind: string }[]) =>
        list.map(({ key, kind }) => ({ key: BigInt(key), kind }));
      const repaired = await repair({
        records: { remove: removals(body.records.remove), put: put.value },
        rows: { remove: removals(body.rows.remove), put: rows },
      });
      if (!repaired.ok) return sendFailure(reply, repaired);
      return repaired.value;
    },
  );
}
