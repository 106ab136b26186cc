// The public API (JSON over HTTP under /v1, OpenAPI at /docs): the only door into the ledger.
//
// Every route declares its callers (devices/access.ts): requests carry their own signed record;
// an account's balance, units and history, and an operation's records, answer only their account
// holder's key (or an operator's), so nothing of an account is readable without its key.
// Handlers stay thin: the schema has validated the body, requestRecordOf turns it into the signed
// step-1 record, the service runs the operation, and its Reply goes back as is. Reads of B and C
// come from `account` and `currency`; each row's signature (FIG. 4, FIG. 5) is verified here before
// it is served, so a tampered row is never shown as a balance.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyBaseLogger } from 'fastify';
import Type from 'typebox';
import { assert } from '../../model/assert.js';
import { mapBounded } from '../../model/batchQueue.js';
import { type Failure, fail } from '../../model/errors.js';
import { parseNumberId } from '../../model/money.js';
import {
  AccountClosingRequest,
  AccountIssuingRequest,
  type AnyRequest,
  IssuanceRequest,
  RedemptionRequest,
  RemittanceRequest,
  remittanceBatchSizeMax,
  requestRecordOf,
} from '../../protocol/requests.js';
import type { WireAccountRow, WireCurrencyRow } from '../../protocol/rowWire.js';
import { RequestId, recordToWire, WireRecord } from '../../protocol/wire.js';
import { by, type Callers } from '../access.js';
import { accountKeyNumberBase, type DeviceContext } from '../context.js';
import { batchBodyBytesMax, type HttpServer, sendFailure, sendRefusal } from '../http.js';
import { AccountNumberParam } from '../internalRoutes.js';
import { accountOpeningRate, type RateLimits, rateLimitsDefault } from '../rateLimits.js';
import type { AdminService } from './admin.js';
import { failureReply, outcomeOfReply, type Reply, refusalCodeOf } from './replies.js';
import {
  AccountReply,
  BatchResult,
  DeploymentReply,
  ErrorBody,
  ErrorCodeSchema,
  HealthReply,
  HistoryReply,
  OperationErrorReply,
  OperationReply,
  RecordsReply,
  readReplies,
  UnitsReply,
} from './replySchemas.js';
import { accountRowVerifies, unitRowVerifies } from './rowChecks.js';
import { type Peers, type TransactionService, transactionBatchLimits } from './service.js';
import { operationSummary } from './summaries.js';

export const historyPageSizeMax = 100;
/**
 * A batch's remittances on their way at once (the next starts as one is answered): one batch of
 * remittanceBatchSizeMax never fills the queue of openings alone (transactionBatchLimits).
 */
export const batchRemittancesInFlightMax = 1_024;
assert(
  batchRemittancesInFlightMax * 4 <= transactionBatchLimits.queueDepthMax,
  'four batches fit in the queue of openings',
);

const replies = { 200: OperationReply, '4xx': OperationErrorReply, '5xx': OperationErrorReply };

export async function registerTransactionRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: TransactionService,
  peers: Peers,
  admin: AdminService,
  /** What the device adds to its health: the continuous audit's last result. */
  health: () => Record<string, unknown> = () => ({}),
  limits: RateLimits = rateLimitsDefault,
): Promise<void> {
  await server.register(swagger, {
    openapi: {
      info: {
        title: 'triledger',
        version: '0.1.0',
        description:
          'The public API of the transaction device. Amounts are minor units as decimal strings.',
      },
      servers: [
        { url: 'http://127.0.0.1:7101', description: 'the demo deployment (triledger up)' },
      ],
      components: { securitySchemes: { [signatureScheme]: signatureSecurityScheme } },
    },
    // The error answer and the record are written once, as components every route refers to.
    transformObject: (documents) =>
      'openapiObject' in documents
        ? sharedComponents(documents.openapiObject as Record<string, unknown>)
        : documents.swaggerObject,
    transform: ({ schema, url, route }) => ({
      url,
      schema: documented(
        schema as Record<string, unknown> | undefined,
        url,
        route.method,
        route.config as { callers?: Callers },
      ),
    }),
  });
  // Swagger UI's own routes serve public files: they are declared here, for the access check. The
  // wallet keeps its encrypted key in this origin's storage, so /docs runs sandboxed (an opaque
  // origin: no access to that storage, nor to cookies) under a CSP of its own; its document is
  // fetched cross-origin, so it is served with CORS (it is public).
  await server.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, callers: 'anyone' };
    });
    docs.addHook('onSend', async (_request, reply, payload) => {
      void reply.header('access-control-allow-origin', '*');
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
      return payload;
    });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      transformStaticCSP: (header) =>
        `${header.replace("frame-ancestors 'self'", "frame-ancestors 'none'").replace(/;\s*$/, '')}; sandbox allow-scripts allow-popups; form-action 'none'`,
    });
  });

  /**
   * Run one operation to its Reply (a request that does not make a record is refused as one); one
   * log line per answer, with the request id fastify gives every log line.
   */
  const submit = async (
    log: FastifyBaseLogger,
    request: AnyRequest,
    signatureHex: string,
    requestId: string,
  ): Promise<Reply> => {
    const startedMs = performance.now();
    const record = requestRecordOf(request);
    const reply = record.ok
      ? await service.submit(
          { record: record.value, signature: Buffer.from(signatureHex, 'hex') },
          requestId,
        )
      : failureReply(record);
    log.info(
      {
        remittanceId: request.body.requestId,
        operation: request.kind,
        outcome: outcomeOfReply(reply),
        ms: Math.round(performance.now() - startedMs),
      },
      'operation answered',
    );
    return reply;
  };
  const send = (reply: import('fastify').FastifyReply, result: Reply) => {
    const code = refusalCodeOf(result);
    return code === undefined
      ? reply.status(result.httpStatus).send(result.body)
      : sendRefusal(reply, code, result.body);
  };

  server.post(
    '/v1/accounts',
    {
      // The one request that needs no existing key: opening accounts is limited per address.
      ...by('record-signer', { rateLimit: accountOpeningRate(limits) }),
      schema: {
        summary: 'Open an account (account issuing request), signed by its own key',
        body: AccountIssuingRequest,
        response: replies,
      },
    },
    async (request, reply) => {
      const { signature, ...body } = request.body;
      return send(
        reply,
        await submit(request.log, { kind: 'account_issuing', body }, signature, request.id),
      );
    },
  );
  server.post(
    '/v1/account-closures',
    {
      ...by('record-signer'),
      schema: {
        summary: 'Close an account with a zero balance, signed by its own key',
        body: AccountClosingRequest,
        response: replies,
      },
    },
    async (request, reply) => {
      const { signature, ...body } = request.body;
      return send(
        reply,
        await submit(request.log, { kind: 'account_closing', body }, signature, request.id),
      );
    },
  );
  server.post(
    '/v1/issuances',
    {
      ...by('record-signer'),
      schema: {
        summary: 'Issue numbered currency units into an account (issuer key)',
        body: IssuanceRequest,
        response: replies,
      },
    },
    async (request, reply) => {
      const { signature, ...body } = request.body;
      return send(
        reply,
        await submit(request.log, { kind: 'issuance', body }, signature, request.id),
      );
    },
  );
  server.post(
    '/v1/redemptions',
    {
      ...by('record-signer'),
      schema: {
        summary: 'Retire currency units of an account (issuer key)',
        body: RedemptionRequest,
        response: replies,
      },
    },
    async (request, reply) => {
      const { signature, ...body } = request.body;
      return send(
        reply,
        await submit(request.log, { kind: 'redemption', body }, signature, request.id),
      );
    },
  );
  server.post(
    '/v1/remittances',
    {
      ...by('record-signer'),
      schema: {
        summary: "Send a remittance (a1), signed by the source account's key",
        body: RemittanceRequest,
        response: replies,
      },
    },
    async (request, reply) => {
      const { signature, ...body } = request.body;
      return send(
        reply,
        await submit(request.log, { kind: 'remittance', body }, signature, request.id),
      );
    },
  );

  server.post(
    '/v1/remittance-batches',
    {
      ...by('record-signer'),
      bodyLimit: batchBodyBytesMax,
      schema: {
        summary: `Send up to ${remittanceBatchSizeMax} remittances in one request, each signed as alone`,
        description:
          'Each remittance is its own operation with its own answer, in the order sent; one refused does not refuse the others. A repeated requestId gets its first answer.',
        body: Type.Object(
          {
            remittances: Type.Array(RemittanceRequest, {
              minItems: 1,
              maxItems: remittanceBatchSizeMax,
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ results: Type.Array(BatchResult) }),
          '4xx': ErrorBody,
          '5xx': ErrorBody,
        },
      },
    },
    // (In maintenance the whole batch gets 503: admin.ts refuses every /v1/ request then.)
    async (request) => {
      const results = await mapBounded(
        request.body.remittances,
        batchRemittancesInFlightMax,
        async ({ signature, ...body }) => {
          const result = await submit(
            request.log,
            { kind: 'remittance', body },
            signature,
            request.id,
          );
          return { status: result.httpStatus, ...result.body };
        },
      );
      return { results };
    },
  );

  server.get(
    '/v1/accounts/:accountNumber',
    {
      ...by('account-holder'),
      schema: {
        summary:
          "Balance, held amount and last update of an account, with its row signature (envelope by the account's key or an operator's)",
        params: AccountNumberParam,
        response: readReplies(AccountReply),
      },
    },
    async (request, reply) => {
      await service.settlementsOf([BigInt(request.params.accountNumber)]);
      const account = await fetchAccount(context, peers, request.params.accountNumber);
      if ('ok' in account) return sendFailure(reply, account);
      const available = (BigInt(account.balance) - BigInt(account.held)).toString();
      return { ...account, available };
    },
  );

  server.get(
    '/v1/accounts/:accountNumber/currency',
    {
      ...by('account-holder'),
      schema: {
        summary:
          "The currency units an account owns, active or held (envelope by the account's key or an operator's)",
        params: AccountNumberParam,
        response: readReplies(UnitsReply),
      },
    },
    async (request, reply) => {
      await service.settlementsOf([BigInt(request.params.accountNumber)]);
      const account = await fetchAccount(context, peers, request.params.accountNumber);
      if ('ok' in account) return sendFailure(reply, account);
      const answer = await peers.currency.get(
        `/internal/v1/accounts/${request.params.accountNumber}/units?currencyType=${encodeURIComponent(account.currencyType)}`,
      );
      if (!answer.ok) return sendFailure(reply, answer);
      const units = (answer.value as { units: WireCurrencyRow[] }).units;
      const forged = units.find((unit) => !unitRowVerifies(context, unit));
      if (forged)
        return sendFailure(
          reply,
          fail('RowSignatureInvalid', `currency unit ${forged.currencyNumber}: ${rowNotVerified}`),
        );
      return { accountNumber: account.accountNumber, currencyType: account.currencyType, units };
    },
  );

  server.get(
    '/v1/accounts/:accountNumber/transactions',
    {
      ...by('account-holder'),
      schema: {
        summary:
          "An account's operations, oldest first, paged by transaction number (envelope by the account's key or an operator's)",
        params: AccountNumberParam,
        querystring: Type.Object(
          {
            after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
            limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })),
          },
          { additionalProperties: false },
        ),
        response: readReplies(HistoryReply),
      },
    },
    async (request, reply) => {
      const limit = Math.min(Number(request.query.limit ?? '20'), historyPageSizeMax);
      const after = BigInt(request.query.after ?? '0');
      const account = parseNumberId(request.params.accountNumber, 'accountNumber');
      if (!account.ok) return sendFailure(reply, account);
      const operations = await service.historyOf(account.value, after, limit);
      const summaries = operations.map(({ remittanceId, records }) =>
        operationSummary(remittanceId, records),
      );
      const last = operations.at(-1)?.records.at(-1)?.record.transactionNumber;
      return {
        accountNumber: request.params.accountNumber,
        operations: summaries,
        ...(operations.length === limit && last !== undefined ? { next: last.toString() } : {}),
      };
    },
  );

  server.get(
    '/v1/remittances/:remittanceId',
    {
      ...by('account-holder'),
      schema: {
        summary:
          "Every record of one operation, with its signatures (envelope by the key of its source or destination account, or an operator's)",
        params: Type.Object({ remittanceId: RequestId }),
        response: readReplies(RecordsReply),
      },
    },
    async (request, reply) => {
      const records = await service.recordsOfOperation(request.params.remittanceId);
      if (records.length === 0)
        return sendFailure(reply, fail('NotFound', `no operation ${request.params.remittanceId}`));
      return { remittanceId: request.params.remittanceId, records: records.map(recordToWire) };
    },
  );

  server.get(
    '/v1/deployment',
    {
      ...by('anyone'),
      schema: {
        summary:
          'What a terminal must know to sign requests and check answers: signature 0, the device keys (with their public keys when Ed25519), the account key numbering',
        response: readReplies(DeploymentReply),
      },
    },
    async () => {
      const publicKeyOf = (keyNumber: number) => {
        const exported = context.signatures.exportPublic(keyNumber);
        return exported.ok ? exported.value.publicKeyHex : null;
      };
      return {
        signatureZeroHex: context.signatureZero.toString('hex'),
        mode: context.mode,
        deviceKeys: context.deviceKeys,
        devicePublicKeys: {
          transaction: publicKeyOf(context.deviceKeys.transaction),
          account: publicKeyOf(context.deviceKeys.account),
          currency: publicKeyOf(context.deviceKeys.currency),
        },
        issuerKeyNumbers: [...context.issuerKeyNumbers],
        accountKeyNumberBase,
      };
    },
  );

  server.get(
    '/health',
    {
      ...by('anyone'),
      schema: {
        summary: 'The device in words: ok, maintenance, held or damaged, and why',
        response: { 200: HealthReply },
      },
    },
    async () => {
      const lastAudit = admin.lastAudit;
      return {
        device: 'transaction',
        status: service.inMaintenance
          ? ('maintenance' as const)
          : service.heldForRecovery !== undefined
            ? ('held' as const)
            : ('ok' as const),
        ...(service.heldForRecovery === undefined
          ? {}
          : { heldForRecovery: service.heldForRecovery }),
        mode: context.mode,
        /** Operations still open, and done ones a peer has not yet acknowledged (both 0 when idle). */
        operations: await service.pendingCounts(),
        /** Protocol steps sent to each peer, and the batch messages that carried them. */
        peerBatches: {
          account: peers.account.batchCounts(),
          currency: peers.currency.batchCounts(),
        },
        ...(lastAudit
          ? {
              lastAudit: {
                at: new Date(lastAudit.atMs).toISOString(),
                clean: lastAudit.clean,
                findings: lastAudit.findings,
              },
            }
          : {}),
        ...health(),
      };
    },
  );
}

/** What a reader hears of a row of B or C whose signature fails (the audit names it). */
const rowNotVerified =
  "its row does not verify with its device's key, so it is not shown; the audit names it and recovery repairs it";

async function fetchAccount(
  context: DeviceContext,
  peers: Peers,
  accountNumber: string,
): Promise<WireAccountRow | Failure> {
  const answer = await peers.account.get(`/internal/v1/accounts/${accountNumber}`);
  if (!answer.ok)
    return answer.code === 'UnknownAccount'
      ? fail('UnknownAccount', `account ${accountNumber} does not exist`)
      : answer;
  const row = (answer.value as { account: WireAccountRow }).account;
  return accountRowVerifies(context, row)
    ? row
    : fail('RowSignatureInvalid', `account ${accountNumber}: ${rowNotVerified}`);
}

/** The signature a read carries in its `triledger-signature` header (docs/protocol.md). */
const signatureScheme = 'triledgerSignature';
const signatureSecurityScheme = {
  type: 'apiKey',
  in: 'header',
  name: 'triledger-signature',
  description:
    'The request envelope signed with the account key (or an operator key): KEY.TIME.NONCE.SIGNATURE over method, path, body digest and receiver (docs/protocol.md)',
} as const;

/** Schemas written once in the document, under components.schemas, by name. */
const componentSchemas: Readonly<Record<string, unknown>> = {
  Error: ErrorBody,
  ErrorCode: ErrorCodeSchema,
  Record: WireRecord,
};

/**
 * The document with every copy of a component schema replaced by a reference to it (the routes'
 * schemas stay whole where fastify validates with them; only the published document shares them).
 */
function sharedComponents(document: Record<string, unknown>): Record<string, unknown> {
  const byText = new Map(
    Object.entries(componentSchemas).map(([name, schema]) => [JSON.stringify(schema), name]),
  );
  const share = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(share);
    if (typeof node !== 'object' || node === null) return node;
    const name = byText.get(JSON.stringify(node));
    if (name !== undefined) return { $ref: `#/components/schemas/${name}` };
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, share(value)]));
  };
  const components = (document['components'] ?? {}) as Record<string, unknown>;
  return {
    ...document,
    paths: share(document['paths']),
    components: {
      ...components,
      schemas: {
        ...(components['schemas'] as Record<string, unknown> | undefined),
        // Each component's parts refer to the others (the error's code to ErrorCode), not itself.
        ...Object.fromEntries(
          Object.entries(componentSchemas).map(([name, schema]) => {
            const whole = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
            return [
              name,
              Object.fromEntries(Object.entries(whole).map(([key, value]) => [key, share(value)])),
            ];
          }),
        ),
      },
    },
  };
}

/**
 * A route as the OpenAPI document shows it: an operationId from its method and path
 * (`GET /v1/accounts/:accountNumber/currency` is `getAccountsByAccountNumberCurrency`), and the
 * signature header as its security where its callers sign the envelope.
 */
function documented(
  schema: Record<string, unknown> | undefined,
  url: string,
  method: string | string[],
  config: { callers?: Callers } | undefined,
): Record<string, unknown> {
  const verb = (Array.isArray(method) ? method[0]! : method).toLowerCase();
  const words = url
    .split('/')
    .filter((part) => part !== '' && part !== 'v1')
    .map((part) => (part.startsWith(':') ? `by-${part.slice(1)}` : part))
    .flatMap((part) => part.split(/[-_]/))
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1));
  const signed = config?.callers === 'account-holder' || config?.callers === 'operator';
  return {
    ...schema,
    operationId: schema?.['operationId'] ?? `${verb}${words.join('')}`,
    ...(signed ? { security: [{ [signatureScheme]: [] }] } : {}),
  };
}
