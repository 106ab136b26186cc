// The user terminal: a TypeScript client of the public API that holds the user's keys.
//
// It builds the step-1 record of each request with the same function the transaction device uses,
// signs it (chained over signature 0), sends it, and accepts an answer only after it has checked
// every link of the returned chain from signature 0, that each record was signed by the party its
// step belongs to, and that the chain starts with exactly the request it signed ([0076]).
// Failures come back as Results with the error code from the catalogue.

import { Compile } from 'typebox/compile';
import { Pool } from 'undici';
import { assert } from '../model/assert.js';
import { type BatchLimits, BatchQueue } from '../model/batchQueue.js';
import { type Environment, systemEnvironment } from '../model/environment.js';
import { type ErrorCode, errorCatalogue, fail, ok, type Result } from '../model/errors.js';
import { timeOrderedUuid, uuidRandomBytes } from '../model/timeOrderedUuid.js';
import { envelopeHeader, signEnvelope } from '../protocol/envelope.js';
import type { TransactionRecord } from '../protocol/records.js';
import { type SignedRecord, signingBytes, verifyOperationChain } from '../protocol/records.js';
import {
  type AnyRequest,
  RemittanceRequest,
  remittanceBatchSizeMax,
  requestRecordOf,
} from '../protocol/requests.js';
import { stepOf, transactionTypes } from '../protocol/transactionTypes.js';
import { isoOf, recordsFromWire, type WireRecord } from '../protocol/wire.js';
import { chainMessage } from '../signature/chain.js';
import type { SignatureDevice } from '../signature/device.js';

export const clientTimeoutMs = 30_000;

/** What a terminal must know of a deployment (public: no secrets). */
export interface DeploymentInfo {
  readonly transactionUrl: string;
  readonly signatureZeroHex: string;
  readonly deviceKeys: {
    readonly transaction: number;
    readonly account: number;
    readonly currency: number;
  };
  readonly issuerKeyNumbers: readonly number[];
}

export interface OperationResult {
  readonly ok: true;
  readonly remittanceId: string;
  readonly outcome: 'ok';
  readonly accountNumber?: bigint;
  readonly records: readonly SignedRecord[];
}

export interface OperationRefusal {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
  /** Present when the protocol got far enough to record the refusal (a6 with the reason). */
  readonly records?: readonly SignedRecord[];
}

/** One remittance, as `remit` and `remitBatch` take it. */
export interface RemitArgs {
  readonly sourceAccount: bigint;
  readonly destinationAccount: bigint;
  readonly amount: bigint;
  readonly currencyType: string;
  readonly keyNumber: number;
  readonly requestId?: string;
  /**
   * The request's time (ms since the epoch). A retry after a timeout sends the same requestId and
   * the same time, so that it is the same signed request and gets the one stored answer.
   */
  readonly atMs?: bigint;
}

/** A request with its step-1 record, signed by the terminal, ready to send. */
interface SignedRequest {
  readonly request: AnyRequest;
  readonly record: TransactionRecord;
  readonly signature: Buffer;
}

const remittanceShape = Compile(RemittanceRequest);

/** How a terminal gathers concurrent remittances into batch requests (TerminalClient.remit). */
export const terminalBatchLimits: BatchLimits = {
  batchSizeMax: remittanceBatchSizeMax,
  batchesInFlightMax: 4,
  queueDepthMax: 4 * remittanceBatchSizeMax,
};

export class TerminalClient {
  readonly #pool: Pool;
  readonly #signatureZero: Buffer;
  #closed: Promise<void> | undefined;
  readonly #remittances = new BatchQueue<SignedRequest, OperationResult | OperationRefusal>(
    terminalBatchLimits,
    (batch) => this.#sendRemittances(batch),
  );

  constructor(
    readonly deployment: DeploymentInfo,
    private readonly keys: SignatureDevice,
    /** The clock and the randomness of request ids and envelopes (pooled system randomness). */
    private readonly environment: Environment = systemEnvironment,
  ) {
    this.#pool = new Pool(deployment.transactionUrl, {
      connections: 8,
      headersTimeout: clientTimeoutMs,
      bodyTimeout: clientTimeoutMs,
    });
    this.#signatureZero = Buffer.from(deployment.signatureZeroHex, 'hex');
  }

  /** Close the terminal's connections; closing again waits for the first close. */
  close(): Promise<void> {
    this.#closed ??= this.#pool.close();
    return this.#closed;
  }

  /** Open an account with an Ed25519 key (signKeyNumber holds its private key in this terminal's keystore). */
  openAccount(args: {
    currencyType: string;
    signKeyNumber: number;
    requestId?: string;
  }): Promise<OperationResult | OperationRefusal> {
    const exported = this.keys.exportPublic(args.signKeyNumber);
    if (!exported.ok) return Promise.resolve(exported);
    const body = {
      requestId: args.requestId ?? this.#newRequestId(),
      currencyType: args.currencyType,
      publicKeyHex: exported.value.publicKeyHex,
      dateTime: this.#now(),
    };
    return this.#submit('/v1/accounts', { kind: 'account_issuing', body }, args.signKeyNumber);
  }

  /** Open an account that signs with a shared HMAC key the deployment's keystores hold (FIG. 6). */
  openAccountWithSharedKey(args: {
    currencyType: string;
    keyNumber: number;
    requestId?: string;
  }): Promise<OperationResult | OperationRefusal> {
    const body = {
      requestId: args.requestId ?? this.#newRequestId(),
      currencyType: args.currencyType,
      keyNumber: args.keyNumber,
      dateTime: this.#now(),
    };
    return this.#submit('/v1/accounts', { kind: 'account_issuing', body }, args.keyNumber);
  }

  /** Close an account (its balance must be zero), signed by the account's key. */
  closeAccount(args: { accountNumber: bigint; keyNumber: number; requestId?: string }) {
    const body = {
      requestId: args.requestId ?? this.#newRequestId(),
      accountNumber: args.accountNumber.toString(),
      dateTime: this.#now(),
      signerKeyNumber: args.keyNumber,
    };
    return this.#submit('/v1/account-closures', { kind: 'account_closing', body }, args.keyNumber);
  }

  issue(args: {
    destinationAccount: bigint;
    currencyType: string;
    values: readonly bigint[];
    issuerKeyNumber: number;
    requestId?: string;
  }) {
    const body = {
      requestId: args.requestId ?? this.#newRequestId(),
      destinationAccount: args.destinationAccount.toString(),
      currencyType: args.currencyType,
      values: args.values.map(String),
      dateTime: this.#now(),
      signerKeyNumber: args.issuerKeyNumber,
    };
    return this.#submit('/v1/issuances', { kind: 'issuance', body }, args.issuerKeyNumber);
  }

  redeem(args: {
    sourceAccount: bigint;
    currencyType: string;
    amount: bigint;
    issuerKeyNumber: number;
    requestId?: string;
  }) {
    const body = {
      requestId: args.requestId ?? this.#newRequestId(),
      sourceAccount: args.sourceAccount.toString(),
      amount: args.amount.toString(),
      currencyType: args.currencyType,
      dateTime: this.#now(),
      signerKeyNumber: args.issuerKeyNumber,
    };
    return this.#submit('/v1/redemptions', { kind: 'redemption', body }, args.issuerKeyNumber);
  }

  /**
   * One remittance. Concurrent calls are gathered (model/batchQueue.ts): alone it leaves at once
   * (POST /v1/remittances); what is called while earlier requests are on their way leaves together
   * in the next batch request (POST /v1/remittance-batches, up to remittanceBatchSizeMax). Each
   * is signed, answered and checked as if sent alone; a refused one does not refuse the others.
   */
  remit(args: RemitArgs): Promise<OperationResult | OperationRefusal> {
    const signed = this.#sign(this.#remittanceRequest(args), args.keyNumber);
    if (!signed.ok) return Promise.resolve(signed);
    // Checked here as the device's schema would: one malformed remittance never refuses a batch.
    const { body } = signed.value.request;
    if (!remittanceShape.Check(signedBody(body, signed.value.signature)))
      return Promise.resolve(fail('InvalidInput', 'the remittance has a malformed field'));
    const answer = this.#remittances.submit(signed.value);
    if (answer) return answer;
    const waiting = `${terminalBatchLimits.queueDepthMax} remittances already wait in this terminal; retry shortly`;
    return Promise.resolve(fail('RateLimited', waiting));
  }

  /** Many remittances at once: each gets its own answer, in order (they share batch requests). */
  remitBatch(list: readonly RemitArgs[]): Promise<(OperationResult | OperationRefusal)[]> {
    return Promise.all(list.map((args) => this.remit(args)));
  }

  /** The requests that carried remittances since the start, and the remittances they carried. */
  remittanceBatchCounts(): { batches: number; items: number } {
    return this.#remittances.counts();
  }

  /** One request for signed remittances: alone POST /v1/remittances, more a batch request. */
  async #sendRemittances(
    batch: readonly SignedRequest[],
  ): Promise<(OperationResult | OperationRefusal)[]> {
    assert(batch.length <= remittanceBatchSizeMax, 'a batch request holds at most the maximum');
    if (batch.length === 1) return [await this.#send('/v1/remittances', batch[0]!)];
    const answer = await this.#http('POST', '/v1/remittance-batches', {
      remittances: batch.map(({ request, signature }) => signedBody(request.body, signature)),
    });
    if (!answer.ok) return batch.map(() => answer);
    const results = answer.value.body['results'];
    if (answer.value.status !== 200 || !Array.isArray(results) || results.length !== batch.length) {
      const refusal = refusalOf(answer.value.body);
      return batch.map(() => refusal);
    }
    return batch.map(({ record, signature }, index) => {
      const { status, ...body } = results[index] as { status: number } & Record<string, unknown>;
      return this.#accept(record, signature, status, body);
    });
  }

  #remittanceRequest(args: RemitArgs): AnyRequest {
    return {
      kind: 'remittance',
      body: {
        requestId: args.requestId ?? this.#newRequestId(),
        sourceAccount: args.sourceAccount.toString(),
        destinationAccount: args.destinationAccount.toString(),
        amount: args.amount.toString(),
        currencyType: args.currencyType,
        dateTime: args.atMs === undefined ? this.#now() : isoOf(args.atMs),
        signerKeyNumber: args.keyNumber,
      },
    };
  }

  /**
   * GET a resource; the body as JSON, or the refusal. An account's balance, units and history
   * answer only a request signed by that account's key or an operator key: `signerKeyNumber`, a
   * key of this terminal's keystore with sign.
   */
  async read(path: string, signerKeyNumber?: number): Promise<Result<Record<string, unknown>>> {
    const envelope =
      signerKeyNumber === undefined
        ? undefined
        : signEnvelope(
            this.keys,
            signerKeyNumber,
            { receiver: 'transaction', method: 'GET', url: path, body: Buffer.alloc(0) },
            this.environment.nowMs(),
            this.environment.randomBytes,
          );
    const answer = await this.#http('GET', path, undefined, envelope);
    if (!answer.ok) return answer;
    if (answer.value.status !== 200) return refusalOf(answer.value.body);
    return ok(answer.value.body);
  }

  /** Sign a request's step-1 record with `keyNumber`, send it, and check the whole reply. */
  async #submit(
    path: string,
    request: AnyRequest,
    keyNumber: number,
  ): Promise<OperationResult | OperationRefusal> {
    const signed = this.#sign(request, keyNumber);
    if (!signed.ok) return signed;
    return this.#send(path, signed.value);
  }

  /** Send one signed request and check the whole reply. */
  async #send(path: string, signed: SignedRequest): Promise<OperationResult | OperationRefusal> {
    const { request, record, signature } = signed;
    const answer = await this.#http('POST', path, signedBody(request.body, signature));
    if (!answer.ok) return answer;
    return this.#accept(record, signature, answer.value.status, answer.value.body);
  }

  /** The step-1 record of a request, signed by `keyNumber` chained over signature 0. */
  #sign(request: AnyRequest, keyNumber: number): Result<SignedRequest> {
    const record = requestRecordOf(request);
    if (!record.ok) return record;
    const signature = this.keys.sign(
      keyNumber,
      chainMessage(signingBytes(record.value), this.#signatureZero),
    );
    if (!signature.ok) return signature;
    return ok({ request, record: record.value, signature: signature.value });
  }

  /** An answer to a request this terminal signed, accepted only once its whole chain checks out. */
  #accept(
    request: TransactionRecord,
    requestSignature: Buffer,
    status: number,
    body: Record<string, unknown>,
  ): OperationResult | OperationRefusal {
    const records = Array.isArray(body['records'])
      ? recordsFromWire(body['records'] as WireRecord[])
      : undefined;
    if (records && !records.ok)
      return fail('SignatureInvalid', 'the reply carries a malformed record');
    if (records) {
      const problem = this.#checkChain(request, requestSignature, records.value);
      if (problem) return problem;
    }
    if (status !== 200) {
      const refusal = refusalOf(body);
      return records ? { ...refusal, records: records.value } : refusal;
    }
    if (!records) return fail('SignatureInvalid', 'a successful reply must carry its records');
    const accountNumber =
      typeof body['accountNumber'] === 'string' ? BigInt(body['accountNumber']) : undefined;
    return {
      ok: true,
      remittanceId: String(body['remittanceId']),
      outcome: 'ok',
      ...(accountNumber === undefined ? {} : { accountNumber }),
      records: records.value,
    };
  }

  /** Every link from signature 0, every signer in its role, and the request we signed first. */
  #checkChain(
    request: TransactionRecord,
    requestSignature: Buffer,
    records: readonly SignedRecord[],
  ): OperationRefusal | undefined {
    const first = records[0];
    if (
      !first?.signature.equals(requestSignature) ||
      !signingBytes(first.record).equals(signingBytes(request))
    ) {
      return fail(
        'SignatureInvalid',
        'the reply does not start with the request this terminal signed',
      );
    }
    // The first record is byte for byte the request this terminal signed (checked above).
    const chain = verifyOperationChain(this.keys, records, this.#signatureZero, () => this.keys, 1);
    if (!chain.ok)
      return fail('SignatureInvalid', `the reply's chain does not verify: ${chain.message}`);
    for (const { record } of records.slice(1)) {
      const signer = transactionTypes[record.transactionType].signer;
      if (signer === 'requester' || record.signerKeyNumber !== this.deployment.deviceKeys[signer]) {
        return fail(
          'WrongSigner',
          `record ${record.transactionNumber} is not signed by the ${signer} device`,
        );
      }
    }
    if (stepOf(records.at(-1)!.record.transactionType) !== 6)
      return fail('SignatureInvalid', 'the reply has no response record');
    return undefined;
  }

  /** A new request id, in time order (model/timeOrderedUuid.ts). */
  #newRequestId(): string {
    return timeOrderedUuid(this.environment.nowMs(), this.environment.randomBytes(uuidRandomBytes));
  }

  #now(): string {
    return isoOf(BigInt(this.environment.nowMs()));
  }

  async #http(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    envelope?: string,
  ): Promise<Result<{ status: number; body: Record<string, unknown> }>> {
    try {
      const response = await this.#pool.request({
        method,
        path,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(envelope === undefined ? {} : { [envelopeHeader]: envelope }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.body.text();
      return ok({
        status: response.statusCode,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      });
    } catch (error) {
      return fail(
        'PeerUnavailable',
        `the transaction device at ${this.deployment.transactionUrl} did not answer: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

function refusalOf(body: Record<string, unknown>): OperationRefusal {
  const error = body['error'] as { code?: string; message?: string } | undefined;
  const code =
    error?.code && Object.hasOwn(errorCatalogue, error.code)
      ? (error.code as ErrorCode)
      : 'PeerUnavailable';
  return {
    ok: false,
    code,
    message: error?.message ?? 'the transaction device refused without a reason',
  };
}

/**
 * A request's body with its signature, as the device's schema reads it. Object.assign, not
 * `{ ...body, signature }`: V8 in Node.js 20 takes a slow path for keys added after a spread
 * (docs/performance.md).
 */
function signedBody(body: object, signature: Buffer): Record<string, unknown> {
  return Object.assign({}, body, { signature: signature.toString('hex') });
}
