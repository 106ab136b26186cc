// The event stream of the log, so that an integrator need not poll: server-sent events
// (text/event-stream), one per operation, from `GET /v1/accounts/{n}/events` (that account's
// operations; the account's key or an operator's) and `GET /v1/admin/events` (every operation; an
// operator's key).
//
// An operation is sent once every device holds it: done here and settled at account and currency
// (the store's `settledUpTo`), in transaction number order. So an event is final (a balance read
// after it shows it), and its id, the last transaction number of its operation, is a position in
// the log: a client that reconnects with `Last-Event-ID` (or `?after=`) gets every later operation,
// none twice, none skipped. An operation still open or not yet settled holds back the ones after it
// (a peer that is down holds the stream, as it holds the balances). Each stream wakes when
// settlements are acknowledged (`TransactionService.onSettled`), reads a page of at most
// eventsPageSizeMax operations, writes them (waiting while the client is slow to read), and sends a
// comment every keepAliveMsMax while nothing happens. At most eventStreamsMax streams are open.

import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import { parseNumberId } from '../../model/money.js';
import { baseOfBlock, blockOf, blockSize, type SignedRecord } from '../../protocol/records.js';
import { by } from '../access.js';
import { type HttpServer, sendFailure } from '../http.js';
import { AccountNumberParam } from '../internalRoutes.js';
import { ErrorBody } from './replySchemas.js';
import type { TransactionService } from './service.js';
import { operationSummary } from './summaries.js';

export const eventStreamsMax = 100;
export const eventsPageSizeMax = 100;
export const keepAliveMsMax = 15_000;
export const eventStreamType = 'text/event-stream';

interface Stream {
  readonly account: bigint | undefined;
  readonly out: PassThrough;
  /** The last transaction number sent (or skipped as not of this account). */
  after: bigint;
  closed: boolean;
  wake?: () => void;
}

export class EventStreams {
  readonly #streams = new Set<Stream>();
  #listening = false;

  constructor(private readonly service: TransactionService) {}

  /**
   * Answer `request` with the stream of `account`'s operations (every operation when undefined)
   * after transaction number `after`; RateLimited when eventStreamsMax are open.
   */
  serve(
    request: FastifyRequest,
    reply: FastifyReply,
    account: bigint | undefined,
    after: bigint,
  ): FastifyReply {
    if (this.#streams.size >= eventStreamsMax)
      return sendFailure(
        reply,
        fail('RateLimited', `${eventStreamsMax} event streams are open; retry later`),
      );
    const stream: Stream = {
      account,
      out: new PassThrough(),
      after: blockEndBefore(after),
      closed: false,
    };
    if (!this.#listening) {
      this.#listening = true;
      this.service.onSettled(() => {
        for (const open of this.#streams) open.wake?.();
      });
    }
    this.#streams.add(stream);
    request.raw.once('close', () => this.#close(stream));
    void reply.header('cache-control', 'no-store').type(eventStreamType).send(stream.out);
    void this.#run(stream).catch((error: unknown) => {
      request.log.error({ err: error }, 'the event stream stopped');
      this.#close(stream);
    });
    return reply;
  }

  /** End every stream (the device stops): each client reconnects with its last event id. */
  closeAll(): void {
    for (const stream of this.#streams) this.#close(stream);
  }

  #close(stream: Stream): void {
    stream.closed = true;
    stream.wake?.();
    this.#streams.delete(stream);
    if (!stream.out.writableEnded) stream.out.end();
  }

  async #run(stream: Stream): Promise<void> {
    stream.out.write(': triledger events\n\n');
    while (!stream.closed) {
      const upTo = await this.service.settledUpTo();
      if (upTo > stream.after) {
        const page = await this.#page(stream, upTo);
        for (const { remittanceId, records } of page.operations) {
          if (stream.closed) return;
          const id = records.at(-1)!.record.transactionNumber;
          assert(id > stream.after, 'events go forward in the log');
          const data = JSON.stringify({
            ...operationSummary(remittanceId, records),
            lastTransactionNumber: id.toString(),
          });
          if (!stream.out.write(`id: ${id}\nevent: operation\ndata: ${data}\n\n`))
            await drained(stream);
          stream.after = id;
        }
        if (!page.more) stream.after = upTo;
        else continue;
      }
      if (!(await this.#sleep(stream))) stream.out.write(': keep-alive\n\n');
    }
  }

  /** The operations after the stream's position up to `upTo`, in order; `more` when a page is full. */
  async #page(
    stream: Stream,
    upTo: bigint,
  ): Promise<{ operations: { remittanceId: string; records: SignedRecord[] }[]; more: boolean }> {
    const read =
      stream.account === undefined
        ? await this.service.operationsAfter(stream.after, eventsPageSizeMax)
        : await this.service.historyOf(stream.account, stream.after, eventsPageSizeMax);
    const operations = read.filter(
      ({ records }) => records.at(-1)!.record.transactionNumber <= upTo,
    );
    return { operations, more: operations.length === eventsPageSizeMax };
  }

  /** Until settlements are acknowledged (true) or keepAliveMsMax passes (false). */
  #sleep(stream: Stream): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stream.wake = undefined;
        resolve(false);
      }, keepAliveMsMax);
      stream.wake = () => {
        clearTimeout(timer);
        stream.wake = undefined;
        resolve(true);
      };
    });
  }
}

/**
 * `after` as a position between operations: itself at the end of a block, else the end of the
 * block before (an event's id is always the end of its block, so nothing the client saw is sent
 * again, and an operation it did not see is sent whole).
 */
function blockEndBefore(after: bigint): bigint {
  if (after <= 0n) return 0n;
  const base = baseOfBlock(blockOf(after));
  return after === base + blockSize - 1n ? after : base - 1n;
}

/** Until the client has read what was written, or the stream closed. */
function drained(stream: Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.out.off('drain', done);
      stream.out.off('close', done);
      resolve();
    };
    stream.out.once('drain', done);
    stream.out.once('close', done);
  });
}

const Position = Type.String({ pattern: '^[0-9]{1,19}$' });
const EventQuery = Type.Object(
  {
    after: Type.Optional({
      ...Position,
      description: 'send the operations after this transaction number (the last event id seen)',
    }),
  },
  { additionalProperties: false },
);
const EventStream = {
  content: {
    [eventStreamType]: {
      schema: Type.String({
        description:
          "server-sent events: `id` (the last transaction number of the operation), `event: operation`, `data` (the operation, as in an account's history, with lastTransactionNumber); comments keep the connection alive",
      }),
    },
  },
};

/** The two event routes, and their streams ended before the server closes. */
export function registerEventRoutes(server: HttpServer, service: TransactionService): void {
  const streams = new EventStreams(service);
  server.addHook('preClose', async () => streams.closeAll());
  /** Where a stream starts: after the Last-Event-ID a reconnecting client sends, else `after`. */
  const positionOf = (request: FastifyRequest, after: string | undefined): Result<bigint> => {
    const header = request.headers['last-event-id'];
    const text = typeof header === 'string' ? header : (after ?? '0');
    return /^[0-9]{1,19}$/.test(text)
      ? ok(BigInt(text))
      : fail('InvalidInput', 'Last-Event-ID must be a transaction number');
  };
  server.get(
    '/v1/accounts/:accountNumber/events',
    {
      ...by('account-holder'),
      schema: {
        summary:
          "An account's operations as server-sent events, each once every device holds it, in log order; resumable with Last-Event-ID (envelope by the account's key or an operator's)",
        params: AccountNumberParam,
        querystring: EventQuery,
        response: { 200: EventStream, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const after = positionOf(request, request.query.after);
      const account = parseNumberId(request.params.accountNumber, 'accountNumber');
      if (!after.ok) return sendFailure(reply, after);
      if (!account.ok) return sendFailure(reply, account);
      return streams.serve(request, reply, account.value, after.value);
    },
  );
  server.get(
    '/v1/admin/events',
    {
      ...by('operator'),
      schema: {
        summary:
          'Every operation as server-sent events, each once every device holds it, in log order; resumable with Last-Event-ID (operator key)',
        querystring: EventQuery,
        response: { 200: EventStream, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const after = positionOf(request, request.query.after);
      if (!after.ok) return sendFailure(reply, after);
      return streams.serve(request, reply, undefined, after.value);
    },
  );
}
