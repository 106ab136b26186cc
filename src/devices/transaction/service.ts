// The transaction information management device (transaction, A): the only public gateway, and the
// conductor of every operation (FIG. 1E, S101-S111).
//
// For one request it: verifies the requester's signature (S101); reserves a block of six
// transaction numbers and stores the request; signs a2 and asks `account` (S102), verifies a3
// (S103); signs a4 and asks `currency` (S104), verifies a5 (S105); signs a6 (S106) and stores it
// (S107) before anyone hears of it; then hands all records to `account` (S108-S109) and `currency`
// (S110-S111) and answers. Every record is stored here before it is sent: this store is the
// device's write-ahead log. A request id is answered once: a repeat gets the stored answer.

import { createHash } from 'node:crypto';
import { assert } from '../../model/assert.js';
import {
  type ErrorCode,
  errorCatalogue,
  type Failure,
  fail,
  httpStatusOf,
  ok,
  type Result,
} from '../../model/errors.js';
import { accountIssuingDetail, parseDetail } from '../../protocol/details.js';
import {
  numberOfStep,
  type SignedRecord,
  signingBytes,
  signRecord,
  type TransactionRecord,
} from '../../protocol/records.js';
import {
  exchangeTypes,
  involvesCurrency,
  operationOf,
  outcomeOk,
  responseTypeOf,
  stepOf,
} from '../../protocol/transactionTypes.js';
import { recordFromWire, recordToWire, type WireRecord } from '../../protocol/wire.js';
import type { Store, TransactionTx } from '../../store/types.js';
import {
  accountKeyNumberBase,
  accountKeyOf,
  accountNumberMax,
  type DeviceContext,
  learnAccountKey,
  loadAccountKeysInto,
  verifyOperation,
} from '../context.js';
import type { PeerClient } from '../peerClient.js';
import { applyRepairs, type RepairBatch, type RepairCounts } from '../repair.js';

export const timestampSkewMsMaxDefault = 5 * 60 * 1000;
/** How long entering maintenance waits for the operations in flight to finish. */
export const drainMsMax = 30_000;
const drainPollMs = 10;

/** What the HTTP layer sends back: a status and a JSON body. Stored, so a repeat gets the same. */
export interface Reply {
  readonly httpStatus: number;
  readonly body: Record<string, unknown>;
}

export interface Peers {
  readonly account: PeerClient;
  readonly currency: PeerClient;
}

export function failureReply(failure: Failure, extra: Record<string, unknown> = {}): Reply {
  return {
    httpStatus: httpStatusOf(failure.code),
    body: { error: { code: failure.code, message: failure.message }, ...extra },
  };
}

export class TransactionService {
  #operationsActive = 0;
  #maintenance = false;

  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<TransactionTx>,
    private readonly peers: Peers,
    private readonly timestampSkewMsMax = timestampSkewMsMaxDefault,
  ) {}

  loadAccountKeys(): Promise<void> {
    return loadAccountKeysInto(this.context, this.store);
  }

  get inMaintenance(): boolean {
    return this.#maintenance;
  }

  /** Stop taking new operations and wait for those in flight to finish (recovery runs alone). */
  async enterMaintenance(): Promise<Result<undefined>> {
    assert(!this.#maintenance, 'maintenance is entered once at a time');
    this.#maintenance = true;
    const deadline = this.context.environment.nowMs() + drainMsMax;
    while (this.#operationsActive > 0) {
      if (this.context.environment.nowMs() > deadline) {
        this.#maintenance = false;
        return fail(
          'RequestInProgress',
          `operations were still in flight after ${drainMsMax / 1000} s; nothing was changed`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, drainPollMs));
    }
    return ok(undefined);
  }

  leaveMaintenance(): void {
    assert(this.#maintenance, 'maintenance is left after it was entered');
    this.#maintenance = false;
  }

  /** Recovery of this device's copy of A (devices/repair.ts): it keeps no B or C rows. */
  repair(batch: RepairBatch<unknown>): Promise<Result<RepairCounts>> {
    return this.store.transact((tx) =>
      applyRepairs(tx, batch, BigInt(this.context.environment.nowMs()), undefined),
    );
  }

  exportRecords(afterNumber = 0n): AsyncIterable<SignedRecord> {
    return this.store.exportRecords(afterNumber);
  }

  settledUpTo(): Promise<bigint> {
    return this.store.transact((tx) => tx.settledUpTo());
  }

  checkpoints(limit: number): Promise<string[]> {
    return this.store.transact((tx) => tx.checkpoints(limit));
  }

  recordCount(afterNumber = 0n): Promise<bigint> {
    return this.store.transact((tx) => tx.recordCount(afterNumber));
  }

  /** Run one operation from its signed request record (transaction number 0) to its reply. */
  async submit(request: SignedRecord): Promise<Reply> {
    if (this.#maintenance)
      return failureReply(fail('Maintenance', 'the ledger is in maintenance; retry shortly'));
    this.#operationsActive += 1;
    try {
      return await this.#run(request);
    } finally {
      this.#operationsActive -= 1;
    }
  }

  async #run(request: SignedRecord): Promise<Reply> {
    const nowMs = this.context.environment.nowMs();
    if (Math.abs(nowMs - Number(request.record.dateTime)) > this.timestampSkewMsMax) {
      return failureReply(
        fail(
          'StaleTimestamp',
          `the request's dateTime is more than ${this.timestampSkewMsMax / 1000} s from this device's clock`,
        ),
      );
    }
    const digest = createHash('sha256')
      .update(signingBytes(request.record))
      .update(request.signature)
      .digest();
    const opened = await this.store.transact(async (tx) => this.#open(tx, request, digest));
    if ('httpStatus' in opened) return opened;

    const records: SignedRecord[] = [opened.request, opened.accountRequest];
    const kind = operationOf(request.record.transactionType);
    let outcome: string = outcomeOk;
    const accountResponse = await this.#exchange(this.peers.account, records);
    if (accountResponse.ok) {
      records.push(accountResponse.value);
      outcome = accountResponse.value.record.outcome ?? 'InvalidInput';
    } else {
      outcome = accountResponse.code;
    }
    assert(kind !== undefined, 'a request names its operation');
    if (outcome === outcomeOk && involvesCurrency(kind)) {
      const currencyRequest = await this.#sign(records, {
        ...copyRequestFields(request.record),
        transactionType: exchangeTypes(kind === 'remittance' ? this.context.mode : 'update')
          .currencyRequest,
      });
      records.push(currencyRequest);
      const currencyResponse = await this.#exchange(this.peers.currency, records);
      if (currencyResponse.ok) {
        records.push(currencyResponse.value);
        outcome = currencyResponse.value.record.outcome ?? 'InvalidInput';
      } else {
        outcome = currencyResponse.code;
      }
    }
    const newAccount =
      kind === 'account_issuing' && outcome === outcomeOk
        ? accountKeyOf(records)?.accountNumber
        : undefined;
    const response = await this.#sign(records, {
      transactionType: responseTypeOf(kind),
      outcome,
      ...(newAccount === undefined ? {} : { destinationAccount: newAccount }),
    });
    records.push(response);
    const reply = replyFor(outcome, request.record.remittanceId, records, newAccount);
    await this.store.transact(async (tx) => {
      await learnAccountKey(this.context, tx, records);
      await tx.finishOperation(request.record.remittanceId, JSON.stringify(reply));
    });
    await this.#settle(records);
    return reply;
  }

  async recordsOfOperation(remittanceId: string): Promise<SignedRecord[]> {
    return this.store.transact((tx) => tx.recordsOfOperation(remittanceId));
  }

  async historyOf(accountNumber: bigint, afterNumber: bigint, limit: number) {
    return this.store.transact(async (tx) => {
      const matching = await tx.recordsOfAccount(accountNumber, afterNumber, limit * 6);
      const operations: { remittanceId: string; records: SignedRecord[] }[] = [];
      for (const { record } of matching) {
        if (operations.some((o) => o.remittanceId === record.remittanceId)) continue;
        if (operations.length === limit) break;
        operations.push({
          remittanceId: record.remittanceId,
          records: await tx.recordsOfOperation(record.remittanceId),
        });
      }
      return operations;
    });
  }

  // ---- Steps ----------------------------------------------------------------------------------

  /** S101: check the request, then store it and a2 in one transaction (or return the stored answer). */
  async #open(
    tx: TransactionTx,
    request: SignedRecord,
    digest: Buffer,
  ): Promise<Reply | { request: SignedRecord; accountRequest: SignedRecord }> {
    const remittanceId = request.record.remittanceId;
    const existing = await tx.operation(remittanceId);
    if (existing) {
      if (!existing.requestDigest.equals(digest))
        return failureReply(
          fail('RequestIdReused', `request id ${remittanceId} was used for a different request`),
        );
      if (existing.state === 'done' && existing.responseJson)
        return JSON.parse(existing.responseJson) as Reply;
      return failureReply(
        fail('RequestInProgress', `request ${remittanceId} is still in progress`),
      );
    }
    const refused = await verifyOperation(this.context, tx, [request]);
    if (refused)
      return failureReply(
        refused.code === 'ChainBroken' ? fail('SignatureInvalid', refused.message) : refused,
      );
    const precheck = await this.#precheck(tx, request.record);
    if (precheck) return failureReply(precheck);

    const base = await tx.openOperation(remittanceId, digest);
    const stored: SignedRecord = {
      record: { ...request.record, transactionNumber: base },
      signature: request.signature,
    };
    assert(await tx.appendRecords([stored]), 'a new block of numbers is free');
    const kind = operationOf(request.record.transactionType);
    let accountFields: Partial<TransactionRecord> = copyRequestFields(request.record);
    if (kind === 'account_issuing') {
      const accountNumber = await tx.nextAccountNumber({ reserve: true });
      const selfSigned = request.record.signerKeyNumber === 0;
      const publicKeyHex = parseDetail(accountIssuingDetail, request.record.detail)?.publicKeyHex;
      const keyNumber = selfSigned
        ? accountKeyNumberBase + Number(accountNumber)
        : request.record.signerKeyNumber;
      accountFields = {
        destinationAccount: accountNumber,
        currencyType: request.record.currencyType,
        detail: JSON.stringify({
          keyNumber,
          algorithm: selfSigned ? 'ed25519-public' : 'hmac-sha256',
          ...(publicKeyHex ? { publicKeyHex } : {}),
        }),
      };
    }
    const accountRequest = this.#signNext([stored], {
      ...accountFields,
      transactionType: exchangeTypes(kind === 'remittance' ? this.context.mode : 'update')
        .accountRequest,
    });
    assert(await tx.appendRecords([accountRequest]), 'a2 takes its reserved number');
    return { request: stored, accountRequest };
  }

  /** Checks the transaction device can make alone, before anything is recorded. */
  async #precheck(tx: TransactionTx, record: TransactionRecord): Promise<Failure | undefined> {
    switch (operationOf(record.transactionType)) {
      case 'remittance':
        return record.sourceAccount === record.destinationAccount
          ? fail('SameAccount', 'a remittance needs two different accounts')
          : undefined;
      case 'account_issuing': {
        if ((await tx.nextAccountNumber({ reserve: false })) > accountNumberMax) {
          return fail(
            'InvalidInput',
            `the ledger holds its maximum of ${accountNumberMax} accounts`,
          );
        }
        if (record.signerKeyNumber === 0) return undefined;
        const key = this.context.signatures.describe(record.signerKeyNumber);
        if (!key.ok || key.value.algorithm !== 'hmac-sha256')
          return fail(
            'WrongSigner',
            `key ${record.signerKeyNumber} is not a shared HMAC key of this deployment`,
          );
        const inUse = (await tx.accountKeys()).some((k) => k.keyNumber === record.signerKeyNumber);
        return inUse
          ? fail('WrongSigner', `key ${record.signerKeyNumber} already belongs to an account`)
          : undefined;
      }
      default:
        return undefined;
    }
  }

  async #exchange(
    peer: PeerClient,
    records: readonly SignedRecord[],
  ): Promise<Result<SignedRecord>> {
    const answer = await peer.post('/internal/v1/exchange', { records: records.map(recordToWire) });
    if (!answer.ok) return answer;
    const parsed = recordFromWire((answer.value as { record: WireRecord }).record);
    if (!parsed.ok) return fail('PeerUnavailable', `${peer.name} answered a malformed record`);
    const refused = await this.store.transact(async (tx) => {
      const problem = await verifyOperation(this.context, tx, [...records, parsed.value]);
      if (problem) return problem;
      return (await tx.appendRecords([parsed.value]))
        ? undefined
        : fail('RecordConflict', `${peer.name}'s answer conflicts`);
    });
    return refused
      ? fail('PeerUnavailable', `${peer.name}'s answer does not verify: ${refused.message}`)
      : ok(parsed.value);
  }

  /** Sign the next record of the operation and store it before it is sent. */
  async #sign(
    records: readonly SignedRecord[],
    fields: Partial<TransactionRecord> & Pick<TransactionRecord, 'transactionType'>,
  ): Promise<SignedRecord> {
    return this.store.transact(async (tx) => {
      const signed = this.#signNext(records, fields);
      assert(await tx.appendRecords([signed]), 'a record takes its reserved number');
      return signed;
    });
  }

  /** The record of the next step, numbered in the operation's block and chained to the last record. */
  #signNext(
    records: readonly SignedRecord[],
    fields: Partial<TransactionRecord> & Pick<TransactionRecord, 'transactionType'>,
  ): SignedRecord {
    const previous = records.at(-1)!;
    const signed = signRecord(
      this.context.signatures,
      this.context.signingKeyNumber,
      {
        ...fields,
        transactionNumber: numberOfStep(
          records[0]!.record.transactionNumber,
          stepOf(fields.transactionType),
        ),
        remittanceId: previous.record.remittanceId,
        dateTime: BigInt(this.context.environment.nowMs()),
        signerKeyNumber: this.context.signingKeyNumber,
      },
      previous.signature,
    );
    assert(signed.ok, 'the transaction device signs with its own key');
    return signed.value;
  }

  /** S108-S111: hand the records to both devices. A device that misses this catches up later. */
  async #settle(records: readonly SignedRecord[]): Promise<void> {
    const body = { records: records.map(recordToWire) };
    await Promise.all([
      this.peers.account.post('/internal/v1/settle', body),
      this.peers.currency.post('/internal/v1/settle', body),
    ]);
  }
}

function copyRequestFields(record: TransactionRecord): Partial<TransactionRecord> {
  return {
    ...(record.sourceAccount === undefined ? {} : { sourceAccount: record.sourceAccount }),
    ...(record.destinationAccount === undefined
      ? {}
      : { destinationAccount: record.destinationAccount }),
    ...(record.amount === undefined ? {} : { amount: record.amount }),
    ...(record.currencyType === undefined ? {} : { currencyType: record.currencyType }),
  };
}

function replyFor(
  outcome: string,
  remittanceId: string,
  records: readonly SignedRecord[],
  newAccount: bigint | undefined,
): Reply {
  const body = {
    remittanceId,
    outcome,
    ...(newAccount === undefined ? {} : { accountNumber: newAccount.toString() }),
    records: records.map(recordToWire),
  };
  if (outcome === outcomeOk) return { httpStatus: 200, body };
  const code: ErrorCode = Object.hasOwn(errorCatalogue, outcome)
    ? (outcome as ErrorCode)
    : 'InvalidInput';
  return failureReply(fail(code, messageFor(code, records)), body);
}

function messageFor(code: ErrorCode, records: readonly SignedRecord[]): string {
  const request = records[0]!.record;
  return `${request.transactionType} ${request.remittanceId} refused: ${errorCatalogue[code].description}`;
}
