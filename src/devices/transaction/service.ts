// The transaction information management device (transaction, A): the only public gateway, and the
// conductor of every operation (FIG. 1E, S101-S111).
//
// For one request it: verifies the requester's signature (S101); reserves a block of six
// transaction numbers and stores the request; signs a2 and asks `account` (S102), verifies a3
// (S103); signs a4 and asks `currency` (S104), verifies a5 (S105); signs a6 (S106) and stores it
// with a3-a5 and the answer (S107) before anyone hears of it; then answers, and hands all records
// to `account` (S108-S109) and `currency` (S110-S111) in the background, the operations decided
// together in one batch (settlements.ts). This store is the device's write-ahead log: the numbers
// and a2 are stored before account hears of them, a6 before anyone does. Only a4 goes out first:
// it is a function of a1-a3 (signed at a3's time), so after a crash the resumer asks account
// again, gets the stored a3, and signs the very a4 that currency may hold (carriesToCurrency). A
// request id is answered once: a repeat gets the stored answer.
//
// The answer comes once a6 is durable here, so a balance at `account` may lag it by a settlement:
// the gateway's reads of an account wait for the settlements of that account in flight
// (`settlementsOf`), so that a user reads what they were answered; so do the audit and a stop.
//
// What the device stores moves in batches (model/batchQueue.ts), one store transaction per batch,
// whatever waits together: the openings of the requests that arrived (S101); the turns of the
// operations whose peers answered (core/transaction.ts advanceOperation: the answer verified and
// stored with the record signed after it, and a decided operation finished, in one commit; a3 and
// a4 wait for currency's answer and are stored with it, so the turn that carries them to currency
// stores nothing and is taken at once, outside the batches); the acknowledgements of settlements,
// which alone are committed without a sync of their own (a crash may lose them: the settlement is
// sent again).

import {
  accountRequestFields,
  advanceOperation,
  nextAction,
  type OpeningFacts,
  type RecordFields,
  refusalAtOpening,
  stepsInOrder,
  type TurnEnd,
} from '../../core/transaction.js';
import { assert } from '../../model/assert.js';
import { type BatchLimits, BatchQueue } from '../../model/batchQueue.js';
import { type Failure, fail, ok, type Result } from '../../model/errors.js';
import {
  baseOfBlock,
  blockOf,
  numberOfStep,
  requestDigestOf,
  type SignedRecord,
  type TransactionRecord,
} from '../../protocol/records.js';
import { operationOf, stepOf, transactionTypes } from '../../protocol/transactionTypes.js';
import {
  accountHistoryBatchMax,
  type OperationRow,
  type Settlement,
  type Store,
  settledAtAccount,
  type TransactionTx,
} from '../../store/types.js';
import {
  type AccountKey,
  accountKeyNumberBase,
  accountNumberMax,
  heldAccountKey,
  openingKey,
} from '../accountKeys.js';
import {
  type DeviceContext,
  signOwnRecord,
  verifyOperation,
  verifyOperationWithKey,
} from '../context.js';
import { decidedReplyOf, deriveTransactionTables } from '../derivedTables.js';
import { crashPoint } from '../faultHooks.js';
import { type DeviceMetrics, noMetrics, type TimedStep } from '../metrics.js';
import { type PeerClient, type PeerLink, requestRetryPolicy } from '../peerClient.js';
import { KeyRate, rateLimitsDefault } from '../rateLimits.js';
import { applyRepairs, type RepairBatch, type RepairCounts } from '../repair.js';
import { allAnswered } from '../stepBatches.js';
import { failureReply, outcomeOfReply, type Reply, replyFor } from './replies.js';
import {
  accountsOf,
  type SettlementOrder,
  Settlements,
  settlementBatchSizeMax,
} from './settlements.js';

export const timestampSkewMsMaxDefault = 5 * 60 * 1000;
/** How accounts and their own keys are numbered, for the machine's opening rules. */
const accountNumbering = { accountKeyNumberBase, accountNumberMax };
/** How long entering maintenance waits for the operations in flight to finish. */
export const drainMsMax = 30_000;
const drainPollMs = 10;

export interface Peers {
  readonly account: PeerClient;
  readonly currency: PeerClient;
}

/** The peers the protocol runs with: links that carry its steps (PeerClient, or simulated). */
export interface PeerLinks {
  readonly account: PeerLink;
  readonly currency: PeerLink;
}

/** The time limits of an operation, from the deployment's protocol configuration. */
export interface OperationTiming {
  readonly timestampSkewMsMax: number;
  /** Past this age an operation is refused (OperationExpired) by the first device yet to answer. */
  readonly operationTimeoutMs: number;
}

export const operationTimingDefault: OperationTiming = {
  timestampSkewMsMax: timestampSkewMsMaxDefault,
  operationTimeoutMs: 30_000,
};

/**
 * The batches of what the transaction device stores (openings, turns, settlement acknowledgements
 * together). Several batches may be in flight where the store commits transactions together
 * (SQLite's group commit): they wait in its queue, where the next group commit takes them
 * together, instead of waiting for the commit before them to return (measured: about 15% more
 * remittances per second than one at a time). Where it commits each alone (PostgreSQL), one at a
 * time: what arrives while a batch is stored joins the next one, fewer and larger transactions
 * (Store.transactionsCommittedTogetherMax; docs/performance.md).
 */
export const transactionBatchLimits: BatchLimits = {
  batchSizeMax: 128,
  batchesInFlightMax: 4,
  queueDepthMax: 4096,
};

/** The limits of the store batches on `store`: no more in flight than it commits together. */
export function storeBatchLimits(store: Store<TransactionTx>): BatchLimits {
  assert(store.transactionsCommittedTogetherMax >= 1, 'a store commits a transaction at least');
  return {
    ...transactionBatchLimits,
    batchesInFlightMax: Math.min(
      transactionBatchLimits.batchesInFlightMax,
      store.transactionsCommittedTogetherMax,
    ),
  };
}

/** A request's opening: its stored answer, or its records to drive (none read: it was open). */
type Admission =
  | { readonly kind: 'answered'; readonly reply: Reply }
  | { readonly kind: 'drive'; readonly records?: SignedRecord[] };

/** A request on its way into the next batch of openings (S101), with its digest. */
interface OpeningInput {
  readonly request: SignedRecord;
  readonly digest: Buffer;
}

/** A new request that passed its checks: its place in the batch, and a new account's number. */
interface NewOpening extends OpeningInput {
  readonly index: number;
  readonly newAccount: bigint | undefined;
}

/** An operation's turn to store: its records so far, and a peer's answer (or refusal) if any. */
interface TurnInput {
  readonly records: SignedRecord[];
  /**
   * How many of `records` are stored: those after them (a3 and a4, carried to currency) were
   * verified or signed in an earlier turn and are stored with the answer they led to.
   */
  readonly storedCount: number;
  readonly answer: Result<SignedRecord> | undefined;
}

/**
 * What the device has to store, of three kinds that share its batches: a request to open (S101),
 * an operation's turn (S103-S107), the peers' acknowledgements of a settlement.
 */
export type StoreWork =
  | { readonly kind: 'opening'; readonly input: OpeningInput }
  | { readonly kind: 'turn'; readonly input: TurnInput }
  | { readonly kind: 'acknowledgement'; readonly settlements: readonly Settlement[] };

/** Each kind's answer: an opening's admission, a turn taken (undefined: none), nothing for the rest. */
type StoreDone = Admission | TakenTurn | undefined;

function admissionOf(done: StoreDone): Admission {
  assert(done !== undefined && 'kind' in done, 'an opening is answered with its admission');
  return done;
}

function takenTurnOf(done: StoreDone): TakenTurn | undefined {
  assert(done === undefined || 'wrote' in done, 'a turn is answered with the turn taken');
  return done;
}

/** A turn signed, not yet finished: the records received, those signed after them, where it stops. */
interface SignedTurn {
  readonly received: SignedRecord[];
  /** How many of `received` were stored before this turn. */
  readonly storedCount: number;
  readonly signed: SignedRecord[];
  readonly end: TurnEnd;
}

/** A turn taken: the operation's records now, where it stopped, and its answer once decided. */
interface TakenTurn {
  /**
   * Whether the turn wrote anything: an operation waiting for a peer's first answer writes
   * nothing, nor does one carrying a3 and a4 to currency (carriesToCurrency).
   */
  readonly wrote: boolean;
  readonly records: SignedRecord[];
  /** How many of `records` are stored. */
  readonly storedCount: number;
  readonly end: TurnEnd;
  readonly reply?: Reply;
}

/**
 * A turn that ends at the exchange with currency stores nothing: account's answer a3 and the a4
 * signed after it are stored with currency's answer and a6, one commit instead of two on the
 * answer's path. a4 is a pure function of a1-a3 (core/transaction.ts: signed at a3's time), so
 * after a crash the resumer asks account again, gets the stored a3, and signs the very a4 that
 * currency may hold: currency answers it with its stored a5 (docs/faults.md, S103 and S104).
 */
function carriesToCurrency(end: TurnEnd): boolean {
  return end.kind === 'exchange' && end.peer === 'currency';
}

/**
 * What a turn stores of the records it holds unstored (none when it carries them to currency):
 * the peers' (a3, a5: appended, a copy already stored skipped) or this device's own (a4, a6, at
 * numbers it reserved: new to the store), by the signer the catalogue names for each type.
 */
function recordsToStore(turn: SignedTurn, whose: 'peers' | 'own'): SignedRecord[] {
  if (carriesToCurrency(turn.end)) return [];
  const unstored = [...turn.received.slice(turn.storedCount), ...turn.signed];
  const own = whose === 'own';
  return unstored.filter(
    ({ record }) => (transactionTypes[record.transactionType].signer === 'transaction') === own,
  );
}

/** Accounts remembered as settled at account; past it the memory starts again (a store read each). */
export const openingsRememberedMax = 100_000;

/** How long a read waits for the settlements in flight it depends on, at most. */
export const settlementWaitMsMax = 5_000;

/** Operations resumed, and settlements resent, per pass of the resumer. */
export const resumeBatchSizeMax = 256;
assert(resumeBatchSizeMax <= settlementBatchSizeMax, "one pass's settlements fit in one batch");

export type Log = (level: 'warn' | 'error', message: string) => void;

export class TransactionService {
  #operationsActive = 0;
  #maintenance = false;
  #heldForRecovery: string | undefined;
  /** Why the peers have not told their last records yet, while the device waits for them. */
  #tailsUntold: Failure | undefined;
  /** Operations being driven by this process, each until its driver is done. */
  readonly #driving = new Map<string, Promise<void>>();
  /** Accounts whose opening account has acknowledged (at most openingsRememberedMax). */
  readonly #openingsSettledAtAccount = new Set<bigint>();
  /** S108-S111, in batches: settlements on their way, and the waits on them by account. */
  readonly #settlements: Settlements;
  /**
   * The request id of each operation a user's request is driving (devices/requestIds.ts), sent
   * with its protocol steps so that the peers log it; held while that request runs.
   */
  readonly #traceIds = new Map<string, string>();
  /** Everything this device stores, in batches: one store transaction each (#storeBatch). */
  readonly #storeWork: BatchQueue<StoreWork, StoreDone>;
  /** The items of each kind the store batches have carried since the device started. */
  readonly #storedWork: Record<StoreWork['kind'], number> = {
    opening: 0,
    turn: 0,
    acknowledgement: 0,
  };
  /** Told each time acknowledgements of settlements are stored (the event streams, events.ts). */
  readonly #settledListeners: (() => void)[] = [];

  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<TransactionTx>,
    private readonly peers: PeerLinks,
    private readonly timing: OperationTiming = operationTimingDefault,
    private readonly log: Log = () => {},
    private readonly metrics: DeviceMetrics = noMetrics,
    /** Requests accepted per signing key and second (devices/rateLimits.ts). */
    private readonly keyRate = new KeyRate(rateLimitsDefault.requestsPerKeyPerSecond),
  ) {
    const limits = storeBatchLimits(store);
    this.#storeWork = new BatchQueue<StoreWork, StoreDone>(limits, (items) =>
      this.#storeBatch(items),
    );
    this.#settlements = new Settlements({
      peers,
      environment: context.environment,
      storeAcknowledgements: (settlements) =>
        this.#storeWork.submit({ kind: 'acknowledgement', settlements }),
      openingSettled: (account) => this.#rememberOpeningSettled(account),
      settled: (count, seconds) => {
        this.metrics.settlementBatchSent(count);
        for (let k = 0; k < count; k++) this.metrics.stepDone('settle', seconds);
      },
      log,
    });
  }

  get inMaintenance(): boolean {
    return this.#maintenance;
  }

  /** Why this device takes no operation until a recovery (devices/transaction/tails.ts), if it is held. */
  get heldForRecovery(): string | undefined {
    return this.#heldForRecovery;
  }

  /** The refusal of every user request while the device is held; undefined when it is not. */
  get heldRefusal(): Failure | undefined {
    const held = this.#heldForRecovery;
    return held === undefined
      ? undefined
      : fail('Maintenance', `the ledger is held until an operator runs triledger recover: ${held}`);
  }

  /**
   * A store that holds less than it acknowledged (its own or a peer's): no new operation is
   * taken and nothing is resumed until a recovery brings the copies back together.
   */
  holdForRecovery(reason: string): void {
    this.#heldForRecovery ??= reason;
  }

  /** After a recovery, the stores whole again (tails.ts): no peer holds more or less than acknowledged. */
  releaseHold(): void {
    this.#heldForRecovery = undefined;
    this.#tailsUntold = undefined;
  }

  /**
   * Give out no number until the peers have told the last record they hold (tails.ts): set by the
   * running device before it serves; `failure` is why they have not told yet.
   */
  awaitTails(failure: Failure): void {
    this.#tailsUntold = failure;
  }

  /** The peers have told (the stores are whole, or the device is held for a recovery). */
  tailsTold(): void {
    this.#tailsUntold = undefined;
  }

  nextTransactionNumber(): Promise<bigint> {
    return this.store.transact((tx) => tx.nextTransactionNumber());
  }

  /** Stop taking new operations and wait for those in flight to finish (recovery runs alone). */
  async enterMaintenance(): Promise<Result<undefined>> {
    assert(!this.#maintenance, 'maintenance is entered once at a time');
    this.#maintenance = true;
    const deadline = this.context.environment.nowMs() + drainMsMax;
    while (this.#operationsActive > 0 || this.#settlements.count > 0) {
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

  /**
   * Recovery, once A is repaired: the operations and counters derived again from this device's
   * whole copy of A (devices/derivedTables.ts), a page of records per transaction.
   */
  async deriveTables(): Promise<void> {
    for await (const page of this.store.exportRecordPages())
      await this.store.transact((tx) => deriveTransactionTables(tx, page));
  }

  exportRecordPages(afterNumber = 0n): AsyncIterable<readonly SignedRecord[]> {
    return this.store.exportRecordPages(afterNumber);
  }

  /** `listener` is called each time acknowledgements of settlements are stored. */
  onSettled(listener: () => void): void {
    this.#settledListeners.push(listener);
  }

  settledUpTo(): Promise<bigint> {
    return this.store.transact((tx) => tx.settledUpTo());
  }

  checkpoints(limit: number): Promise<string[]> {
    return this.store.transact((tx) => tx.checkpoints(limit));
  }

  /**
   * The items of each kind the store batches have carried since the device started: what an
   * operation costs the store (an opening, a turn per answer that is stored, an acknowledgement
   * per settlement).
   */
  storedWork(): Readonly<Record<StoreWork['kind'], number>> {
    return { ...this.#storedWork };
  }

  /** Settlement batches sent since the device started, and the settlements they carried. */
  settlementCounts(): { batches: number; settlements: number } {
    return this.#settlements.counts();
  }

  recordCount(afterNumber = 0n): Promise<bigint> {
    return this.store.transact((tx) => tx.recordCount(afterNumber));
  }

  /**
   * Run one operation from its signed request record (transaction number 0) to its reply;
   * `traceId`: the id of the user's request, for the peers' logs.
   */
  async submit(request: SignedRecord, traceId?: string): Promise<Reply> {
    if (this.#maintenance)
      return failureReply(fail('Maintenance', 'the ledger is in maintenance; retry shortly'));
    const held = this.heldRefusal;
    if (held) return failureReply(held);
    const untold = this.#tailsUntold;
    if (untold)
      return failureReply(
        fail(
          untold.code,
          `no operation is taken until account and currency have told the last record they hold: ${untold.message}`,
        ),
      );
    this.#operationsActive += 1;
    const startedMs = performance.now();
    const remittanceId = request.record.remittanceId;
    const tracing = traceId !== undefined && !this.#traceIds.has(remittanceId);
    if (tracing) this.#traceIds.set(remittanceId, traceId);
    try {
      const reply = await this.#run(request);
      this.metrics.operationDone(
        operationOf(request.record.transactionType) ?? 'unknown',
        outcomeOfReply(reply),
        (performance.now() - startedMs) / 1000,
      );
      return reply;
    } finally {
      if (tracing) this.#traceIds.delete(remittanceId);
      this.#operationsActive -= 1;
    }
  }

  async #run(request: SignedRecord): Promise<Reply> {
    const remittanceId = request.record.remittanceId;
    const digest = requestDigestOf(request);
    // A retry of an operation this process is driving waits for it, then reads what is stored.
    let answered: Reply | undefined;
    const reply = await this.#driveAlone(remittanceId, async () => {
      const admittedMs = performance.now();
      const admission = await this.#admit(request, digest);
      this.#stepDone('open', admittedMs);
      if (admission.kind === 'answered') {
        answered = admission.reply;
        return undefined;
      }
      crashPoint(this.context, 'S101');
      return this.#drive(remittanceId, admission.records);
    });
    return answered ?? reply ?? undecidedReply(remittanceId);
  }

  /** S101 for a request, in the next batch of openings; refused at once when too many wait. */
  async #admit(request: SignedRecord, digest: Buffer): Promise<Admission> {
    const admitted = this.#storeWork.submit({ kind: 'opening', input: { request, digest } });
    if (admitted) return admitted.then(admissionOf);
    const busy = `${transactionBatchLimits.queueDepthMax} items already wait to be stored at the transaction device; retry shortly`;
    return { kind: 'answered', reply: failureReply(fail('RateLimited', busy)) };
  }

  /**
   * Wait until no one drives the operation in this process, then drive it: the last check and the
   * claim happen with no await between them, so two waiters never both claim.
   */
  async #driveAlone(
    remittanceId: string,
    work: () => Promise<Reply | undefined>,
  ): Promise<Reply | undefined> {
    for (let driving = this.#driving.get(remittanceId); driving; ) {
      await driving;
      driving = this.#driving.get(remittanceId);
    }
    return this.#asDriver(remittanceId, work);
  }

  /**
   * Run `work` as the one driver of an operation in this process: the claim is made before `work`
   * starts (synchronously), so that the resumer, a peer's question and a retrying client never
   * drive the same operation at once.
   */
  #asDriver(
    remittanceId: string,
    work: () => Promise<Reply | undefined>,
  ): Promise<Reply | undefined> {
    assert(!this.#driving.has(remittanceId), 'one driver per operation');
    let release = () => {};
    this.#driving.set(
      remittanceId,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    let driven: Promise<Reply | undefined>;
    try {
      driven = work();
    } catch (error) {
      driven = Promise.reject(error);
    }
    return driven.finally(() => {
      this.#driving.delete(remittanceId);
      release();
    });
  }

  /**
   * Take an operation from where its records stop to its response (S102-S107), then settle it.
   * `opened`: its records as just stored (otherwise they are read). What it decides is stored
   * before it is sent (a4 aside, which it would sign again the same: carriesToCurrency), so after
   * a crash it picks up exactly where the store says. Returns
   * undefined while a device it needs cannot be reached: the operation stays open and nothing is
   * guessed.
   */
  async #drive(remittanceId: string, opened?: SignedRecord[]): Promise<Reply | undefined> {
    let records = opened;
    if (records === undefined) {
      const stored = await this.#storedOperation(remittanceId);
      if (!Array.isArray(stored)) return stored;
      records = stored;
    }
    if (records.length === 2) await this.#openingsSettled(records[0]!.record);
    let storedCount = records.length;
    // The machine (core/transaction.ts) names each next step from the records; this loop does its I/O.
    for (let answer: Result<SignedRecord> | undefined; ; ) {
      const turn = await this.#turn({ records, storedCount, answer });
      if (turn === undefined) return undefined;
      records = turn.records;
      storedCount = turn.storedCount;
      this.#crashPointsAfter(turn, answer);
      if (turn.end.kind === 'decided') {
        assert(turn.reply, 'a decided turn keeps its answer');
        const traceId = this.#traceIds.get(remittanceId);
        this.#settlements.afterAnswer({ remittanceId, records: turn.records, settled: 0, traceId });
        return turn.reply;
      }
      const { peer, expired } = turn.end;
      const current = records;
      // What an earlier answer said of these accounts reaches this peer first (no timer: a
      // settlement's own retries bound it, and the simulator runs this on its clock).
      const settling = this.#settlements.answersOf([peer], accountsOf(current));
      if (settling.length > 0) await Promise.all(settling);
      const sentMs = performance.now();
      answer = await this.#exchange(this.peers[peer], current, expired);
      this.#stepDone(exchangeStepOf[peer], sentMs);
      if (answer === undefined) return undefined;
      if (peer === 'currency') crashPoint(this.context, 'S104');
      // A peer fenced on a damaged store decides nothing: the operation stays open until that
      // device is rebuilt, and the caller hears why.
      if (!answer.ok && answer.code === 'StoreDamaged')
        return storeDamagedReply(remittanceId, answer);
    }
  }

  /**
   * Wait (up to waitMsMax) until both peers have answered the settlements in flight that touch one
   * of `accounts` (a read of B or C then sees what the answers said), or until every settlement in
   * flight is acknowledged and stored (an audit, a stop). A settlement a peer missed is the
   * resumer's, later; the wait does not hold on for it. The next operation on an account waits
   * apart, peer by peer (Settlements.answersOf before each exchange, in #drive).
   */
  async settlementsOf(
    accounts?: readonly bigint[],
    waitMsMax = settlementWaitMsMax,
  ): Promise<void> {
    const pending =
      accounts === undefined
        ? this.#settlements.allFinished()
        : this.#settlements.answersOf(['account', 'currency'], accounts);
    if (pending.length === 0) return;
    // A timer past 2^31 ms fires at once: a wait without end is #drive's, never this one's.
    assert(waitMsMax > 0 && waitMsMax <= settlementWaitMsMax, 'a read waits a bounded time');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMsMax);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Before account first hears of an operation: the openings of the accounts it names are settled
   * there, sent again now if account missed them (after a crash, a lost message), so that an
   * account its holder heard opened is never refused as unknown (account knows an account from its
   * opening's settlement). Best effort: a settlement that fails again is the resumer's.
   */
  async #openingsSettled(request: TransactionRecord): Promise<void> {
    if (operationOf(request.transactionType) === 'account_issuing') return;
    for (const account of [request.sourceAccount, request.destinationAccount]) {
      if (account === undefined || this.#openingsSettledAtAccount.has(account)) continue;
      const { opening, operation } = await this.store.transact(async (tx) => {
        const opening = await tx.accountOpening(account);
        const id = opening[0]?.record.remittanceId;
        return { opening, operation: id === undefined ? undefined : await tx.operation(id) };
      });
      if (operation === undefined) continue; // no such account: account refuses the operation
      if ((operation.settled & settledAtAccount) === 0)
        await this.#settlements.settle([
          { remittanceId: operation.remittanceId, records: opening, settled: operation.settled },
        ]);
      else this.#rememberOpeningSettled(account);
    }
  }

  #rememberOpeningSettled(account: bigint): void {
    if (this.#openingsSettledAtAccount.size >= openingsRememberedMax)
      this.#openingsSettledAtAccount.clear();
    this.#openingsSettledAtAccount.add(account);
  }

  /**
   * An operation's records, or its kept answer when it is done; undefined when its stored records
   * are not its steps in order (a record lost from this copy of A): nothing is decided on them.
   */
  async #storedOperation(remittanceId: string): Promise<SignedRecord[] | Reply | undefined> {
    const { operation, records } = await this.store.transact(async (tx) => ({
      operation: await tx.operation(remittanceId),
      records: await tx.recordsOfOperation(remittanceId),
    }));
    assert(operation, 'a driven operation is stored');
    if (operation.state === 'done') return keptReply(operation, records);
    const fields = records.map((r) => r.record);
    if (stepsInOrder(fields, operation.baseNumber)) return records;
    this.log('error', `operation ${remittanceId} is left open: its stored records have a gap`);
    return undefined;
  }

  /**
   * An operation's next turn: stored in the next batch of turns, or, when it has nothing to store
   * (it waits for a peer's first answer), where it stands. Undefined when the peer's answer does
   * not verify or conflicts, or too many turns wait: the operation stays open for the resumer.
   */
  async #turn(input: TurnInput): Promise<TakenTurn | undefined> {
    const { records, storedCount } = input;
    if (input.answer === undefined) {
      const action = nextAction(
        records.map((r) => r.record),
        this.#limits(),
      );
      if (action.kind === 'exchange') return { wrote: false, records, storedCount, end: action };
    }
    const carried = this.#carriedAtOnce(input);
    if (carried) return carried.taken;
    const stored = this.#storeWork.submit({ kind: 'turn', input });
    if (stored === undefined) this.log('warn', 'the store queue is full; the resumer goes on');
    return stored?.then(takenTurnOf);
  }

  /**
   * Account's answer a3 accepting an operation that goes on to currency, taken at once: such a turn
   * stores nothing (carriesToCurrency), so it need not wait for a place in the next store batch and
   * that batch's commit. a3 is verified and a4 signed here, with the requester's key as the
   * signature device holds it. Undefined when the turn is not such a one (it stores a6, or the key
   * must be read from the store): it goes through the store batch (#storeTurns) as before.
   */
  #carriedAtOnce(input: TurnInput): { taken: TakenTurn | undefined } | undefined {
    const { records, answer } = input;
    if (!answer?.ok) return undefined;
    const received = [...records, answer.value];
    const next = nextAction(
      received.map((r) => r.record),
      this.#limits(),
    );
    if (next.kind !== 'sign' || stepOf(next.fields.transactionType) !== 4) return undefined;
    const source = records[0]!.record.sourceAccount;
    const keyNumber = source === undefined ? undefined : heldAccountKey(this.context, source);
    if (source !== undefined && keyNumber === undefined) return undefined;
    const refused = verifyOperationWithKey(this.context, received, keyNumber, records);
    if (refused) {
      this.#answerRefused(received, refused);
      return { taken: undefined };
    }
    const turn = this.#nextTurn(received, input);
    assert(carriesToCurrency(turn.end), 'a turn taken at once carries a3 and a4 to currency');
    return { taken: this.#takenTurn(turn) };
  }

  /**
   * One batch of what the device stores, in one store transaction, each kind in its phase: the
   * openings (#openBatch), then the turns (#storeTurns), then the acknowledgements. No item of a
   * batch depends on another's (an operation's next item is submitted once its last is stored),
   * and every kind that waits joins the next batch: one commit carries them all, one transaction
   * on PostgreSQL where the kinds took one each.
   */
  async #storeBatch(items: readonly StoreWork[]): Promise<StoreDone[]> {
    const openings = items.flatMap((work) => (work.kind === 'opening' ? [work.input] : []));
    const turns = items.flatMap((work) => (work.kind === 'turn' ? [work.input] : []));
    const acknowledgements = items.flatMap((work) =>
      work.kind === 'acknowledgement' ? work.settlements : [],
    );
    // Acknowledgements alone are not synced (store/types.ts Durability): lost in a crash, they are
    // settlements the resumer sends again, as when a peer's answer is lost on the way.
    const durability = openings.length + turns.length === 0 ? 'lazy' : 'synced';
    const done = await this.store.transact(async (tx) => {
      const admitted = openings.length === 0 ? [] : await this.#openBatch(tx, openings);
      const taken = turns.length === 0 ? [] : await this.#storeTurns(tx, turns);
      if (acknowledgements.length > 0) await tx.markSettled(acknowledgements);
      return { admitted, taken };
    }, durability);
    assert(
      done.admitted.length === openings.length && done.taken.length === turns.length,
      'each opening and turn of a batch is answered',
    );
    if (acknowledgements.length > 0) for (const listener of this.#settledListeners) listener();
    for (const work of items)
      this.#storedWork[work.kind] += work.kind === 'acknowledgement' ? work.settlements.length : 1;
    let opening = 0;
    let turn = 0;
    return items.map((work) =>
      work.kind === 'opening'
        ? done.admitted[opening++]
        : work.kind === 'turn'
          ? done.taken[turn++]
          : undefined,
    );
  }

  /**
   * A batch of turns in one transaction, in phases so that its writes go together: the peers'
   * answers verified; each machine's next record signed; the answers stored, then this device's
   * records (one statement each on PostgreSQL); the decided operations finished. All in one
   * commit. A turn that carries a3 and a4 to currency writes nothing (carriesToCurrency).
   */
  async #storeTurns(
    tx: TransactionTx,
    inputs: readonly TurnInput[],
  ): Promise<(TakenTurn | undefined)[]> {
    const received = await this.#receiveAnswers(tx, inputs);
    const signed = inputs.map((input, k) => {
      const records = received[k];
      return records === undefined ? undefined : this.#nextTurn(records, input);
    });
    const turns = await this.#storeAnswers(tx, signed);
    await tx.appendReserved(turns.flatMap((turn) => (turn ? recordsToStore(turn, 'own') : [])));
    const decided = turns.filter((turn) => turn?.end.kind === 'decided');
    await tx.finishOperations(decided.map((turn) => turn!.received[0]!.record.remittanceId));
    return turns.map((turn) => turn && this.#takenTurn(turn));
  }

  /**
   * Each operation's records with its peer's answer, verified: undefined for one whose answer does
   * not verify (it stays open for the resumer). The records before the answer are this device's
   * (stored, or verified and signed in the turn before): only the answer is new.
   */
  async #receiveAnswers(
    tx: TransactionTx,
    inputs: readonly TurnInput[],
  ): Promise<(SignedRecord[] | undefined)[]> {
    const received: (SignedRecord[] | undefined)[] = [];
    for (const { records, answer } of inputs) {
      if (!answer?.ok) {
        received.push(records);
        continue;
      }
      const all = [...records, answer.value];
      const refused = await verifyOperation(this.context, tx, all, records);
      if (refused) this.#answerRefused(all, refused);
      received.push(refused ? undefined : all);
    }
    return received;
  }

  /**
   * The peers' records the turns store (their answers, and a3 carried with a4), in one call. When
   * one conflicts with a stored record, each turn's are stored again alone to find which (a copy
   * already stored is skipped): only that turn fails (undefined), and it stays open for the resumer.
   */
  async #storeAnswers(
    tx: TransactionTx,
    turns: readonly (SignedTurn | undefined)[],
  ): Promise<(SignedTurn | undefined)[]> {
    const answersOf = turns.map((turn) => (turn ? recordsToStore(turn, 'peers') : []));
    if (await tx.appendRecords(answersOf.flat())) return [...turns];
    let conflicts = 0;
    const kept: (SignedTurn | undefined)[] = [];
    for (const [k, turn] of turns.entries()) {
      if (turn === undefined || (await tx.appendRecords(answersOf[k]!))) {
        kept.push(turn);
        continue;
      }
      this.#answerRefused(
        turn.received,
        fail('RecordConflict', 'it conflicts with a stored record'),
      );
      kept.push(undefined);
      conflicts += 1;
    }
    assert(conflicts > 0, 'a batch that conflicts has a turn that conflicts alone');
    return kept;
  }

  /** A peer's answer not kept: it does not verify, or it conflicts with a stored record. */
  #answerRefused(records: readonly SignedRecord[], problem: Failure): void {
    const remittanceId = records[0]!.record.remittanceId;
    this.log(
      'error',
      `the answer for ${remittanceId} was not kept (${problem.code}): ${problem.message}`,
    );
  }

  /** The machine's turn after an operation's answer: the records it signs next, where it stops. */
  #nextTurn(received: SignedRecord[], input: TurnInput): SignedTurn {
    const { answer, storedCount } = input;
    const refusal = answer === undefined || answer.ok ? undefined : answer.code;
    const turn = advanceOperation(received, refusal, this.#limits(), (all, fields) =>
      this.#signNext(all, fields),
    );
    const base = received[0]!.record.transactionNumber;
    assert(
      turn.signed.every(({ record }) => baseOfBlock(blockOf(record.transactionNumber)) === base),
      "a turn signs at its operation's own block of numbers",
    );
    assert(storedCount >= 2 && storedCount <= received.length, 'an open operation stored a1, a2');
    // What makes carrying a4 unstored safe: it is signed again the same after a crash. (Checked
    // on the records as they are: no copy of the operation for it on every turn.)
    if (carriesToCurrency(turn.end)) {
      const [a4, a3] = [turn.signed.at(-1), turn.signed.at(-2) ?? received.at(-1)];
      assert(
        a4 !== undefined && a3 !== undefined && a4.record.dateTime === a3.record.dateTime,
        'an a4 carried to currency is signed at the time of the a3 before it',
      );
    }
    return { received, storedCount, signed: turn.signed, end: turn.end };
  }

  /** A turn stored (and, once decided, its operation finished) or carried: its answer made. */
  #takenTurn(turn: SignedTurn): TakenTurn {
    const records = [...turn.received, ...turn.signed];
    const wrote = !carriesToCurrency(turn.end);
    const storedCount = wrote ? records.length : turn.storedCount;
    if (turn.end.kind !== 'decided') return { wrote, records, storedCount, end: turn.end };
    const remittanceId = records[0]!.record.remittanceId;
    const reply = replyFor(turn.end.outcome, remittanceId, records, turn.end.newAccount);
    return { wrote, records, storedCount, end: turn.end, reply };
  }

  /**
   * The crash points of a turn (docs/faults.md): S103 once account's answer is verified (stored
   * with a6 when it refused; otherwise carried with a4, nothing stored); S106 and S107 once a6 is
   * stored with the kept answer (one commit). S104 is the driver's, once currency has answered.
   */
  #crashPointsAfter(turn: TakenTurn, answer: Result<SignedRecord> | undefined): void {
    if (answer?.ok && stepOf(answer.value.record.transactionType) === 3)
      crashPoint(this.context, 'S103');
    if (turn.wrote && turn.end.kind === 'decided') {
      crashPoint(this.context, 'S106');
      crashPoint(this.context, 'S107');
    }
  }

  #limits() {
    return {
      nowMs: this.context.environment.nowMs(),
      operationTimeoutMs: this.timing.operationTimeoutMs,
      mode: this.context.mode,
    };
  }

  /** A protocol step's time, from `startedMs` (performance.now()) until now. */
  #stepDone(step: TimedStep, startedMs: number): void {
    this.metrics.stepDone(step, (performance.now() - startedMs) / 1000);
  }

  /**
   * Resume what a crash or an unreachable device left behind: drive every open operation no one
   * is driving, and send every settlement a peer has not acknowledged. Run at start and then every
   * resumeIntervalMs (devices/start.ts); does nothing in maintenance.
   */
  async resumePending(): Promise<void> {
    if (this.#maintenance || this.#heldForRecovery !== undefined) return;
    this.#operationsActive += 1;
    try {
      // Settlements first: an open operation may use an account whose opening a peer missed.
      const unsettled = await this.store.transact((tx) =>
        tx.unsettledOperations(resumeBatchSizeMax),
      );
      const nowMs = this.context.environment.nowMs();
      const due = unsettled.filter(({ remittanceId }) =>
        this.#settlements.due(remittanceId, nowMs),
      );
      if (due.length > 0 && !this.#maintenance) {
        const orders = await this.store.transact(async (tx) => {
          const read: SettlementOrder[] = [];
          for (const { remittanceId, settled } of due)
            read.push({
              remittanceId,
              records: await tx.recordsOfOperation(remittanceId),
              settled,
            });
          return read;
        });
        await this.#settlements.settle(orders);
      }
      // The open operations driven together: their turns share the store's batches and their
      // steps the peers' messages, as the operations of users' requests do.
      const open = await this.store.transact((tx) => tx.openOperations(resumeBatchSizeMax));
      if (this.#maintenance) return;
      await Promise.all(
        open
          .filter((remittanceId) => !this.#driving.has(remittanceId))
          .map((remittanceId) => this.#asDriver(remittanceId, () => this.#drive(remittanceId))),
      );
    } finally {
      this.#operationsActive -= 1;
    }
  }

  /**
   * A time before which every operation not yet settled began (its a2, on this device's clock), or
   * now when none is pending: rows of B and C changed since then may belong to operations whose
   * records an audit that starts now reads A without.
   */
  async unsettledSinceMs(): Promise<bigint> {
    let since = BigInt(this.context.environment.nowMs());
    const oldest = await this.store.transact(async (tx) => [
      ...(await tx.openOperations(1)),
      ...(await tx.unsettledOperations(1)).map((operation) => operation.remittanceId),
    ]);
    for (const remittanceId of oldest) {
      // (A record missing from the store, say deleted by hand, is the audit's to report.)
      const openedAtMs = (await this.recordsOfOperation(remittanceId))[1]?.record.dateTime;
      if (openedAtMs !== undefined && openedAtMs < since) since = openedAtMs;
    }
    return since;
  }

  pendingCounts(): Promise<{ open: number; unsettled: number }> {
    return this.store.transact((tx) => tx.pendingCounts());
  }

  /**
   * A peer asks for the outcome of an operation it holds something for (its hold outlived
   * holdTimeoutMs): drive it if it is open, and give its records once it is done.
   */
  async outcomeOf(remittanceId: string): Promise<Result<SignedRecord[]>> {
    const operation = await this.store.transact((tx) => tx.operation(remittanceId));
    if (!operation) return fail('NotFound', `no operation ${remittanceId} is stored here`);
    if (operation.state === 'open' && !this.#maintenance)
      await this.#driveAlone(remittanceId, () => this.#drive(remittanceId));
    const records = await this.recordsOfOperation(remittanceId);
    return stepOf(records.at(-1)!.record.transactionType) === 6
      ? ok(records)
      : fail('RequestInProgress', `operation ${remittanceId} is not decided yet`);
  }

  /**
   * The keys that may read what a path names (devices/access.ts): an account's own key, or the keys
   * of the source and destination accounts of an operation.
   */
  async holderKeys(params: Readonly<Record<string, string>>): Promise<AccountKey[]> {
    return this.store.transact(async (tx) => {
      const accounts: bigint[] = [];
      const accountText = params['accountNumber'];
      if (accountText !== undefined && /^[1-9][0-9]{0,18}$/.test(accountText))
        accounts.push(BigInt(accountText));
      const remittanceId = params['remittanceId'];
      if (remittanceId !== undefined) {
        const request = (await tx.recordsOfOperation(remittanceId))[0]?.record;
        for (const account of [request?.sourceAccount, request?.destinationAccount])
          if (account !== undefined) accounts.push(account);
      }
      const keys = await Promise.all(
        accounts.map((account) => openingKey(this.context, tx, account)),
      );
      return keys.flatMap((key) => (key.ok && key.value !== undefined ? [key.value] : []));
    });
  }

  async recordsOfOperation(remittanceId: string): Promise<SignedRecord[]> {
    return this.store.transact((tx) => tx.recordsOfOperation(remittanceId));
  }

  /**
   * Up to `limit` operations of A (this device's copy) whose records come after `afterNumber`, in
   * transaction number order, each with its records: the console's view of the log.
   */
  async operationsAfter(
    afterNumber: bigint,
    limit: number,
  ): Promise<{ remittanceId: string; records: SignedRecord[] }[]> {
    const operations: { remittanceId: string; records: SignedRecord[] }[] = [];
    for await (const signed of this.store.exportRecords(afterNumber)) {
      const last = operations.at(-1);
      if (last?.remittanceId === signed.record.remittanceId) {
        last.records.push(signed);
        continue;
      }
      if (operations.length === limit) break;
      operations.push({ remittanceId: signed.record.remittanceId, records: [signed] });
    }
    return operations;
  }

  /** Whether an operation's stored records verify (every link and signer), as read back. */
  verifyStored(records: readonly SignedRecord[]): Promise<Failure | undefined> {
    return this.store.transact((tx) => verifyOperation(this.context, tx, records));
  }

  async historyOf(accountNumber: bigint, afterNumber: bigint, limit: number) {
    return this.store.transact(async (tx) => {
      const remittanceIds = await tx.operationsOfAccount(accountNumber, afterNumber, limit);
      assert(remittanceIds.length <= limit, 'a page of history holds at most its limit');
      const operations: { remittanceId: string; records: SignedRecord[] }[] = [];
      for (const remittanceId of remittanceIds) {
        const records = await tx.recordsOfOperation(remittanceId);
        // (Records a recovery quarantined leave nothing to show.)
        if (records.length > 0) operations.push({ remittanceId, records });
      }
      return operations;
    });
  }

  /** Index by account what was stored since the last time: the account history, off the hot path. */
  indexAccountHistory(): Promise<number> {
    return this.store.transact((tx) => tx.indexAccountHistory(accountHistoryBatchMax));
  }

  // ---- Steps ----------------------------------------------------------------------------------

  /**
   * S101 for a batch of requests, in one store transaction, in phases: the stored operations of
   * the batch read at once; each request checked in order (a new account's number reserved as its
   * check passes, so that the next opening's check sees it); then every new request numbered, stored
   * with its a2 in one call. A request id stored already gets its answer (or is driven on while open).
   */
  async #openBatch(tx: TransactionTx, items: readonly OpeningInput[]): Promise<Admission[]> {
    const ids = items.map((item) => item.request.record.remittanceId);
    assert(new Set(ids).size === ids.length, 'one driver per operation: an id once per batch');
    const existing = await tx.operations(ids);
    const admissions = Array.from(items, (): Admission | undefined => undefined);
    const opened: NewOpening[] = [];
    for (const [index, { request, digest }] of items.entries()) {
      const stored = existing.get(request.record.remittanceId);
      const refused = stored
        ? await this.#refusalOfRepeat(tx, request, digest, stored.requestDigest)
        : await this.#refusalOfNew(tx, request);
      if (refused) admissions[index] = { kind: 'answered', reply: failureReply(refused) };
      else if (!stored)
        opened.push({ index, request, digest, newAccount: await newAccountOf(tx, request) });
      else admissions[index] = await this.#admissionOfStored(tx, stored);
    }
    const newAdmissions = await this.#storeOpenings(tx, opened);
    for (const [k, { index }] of opened.entries()) admissions[index] = newAdmissions[k];
    return allAnswered(admissions);
  }

  /** A retry gets the one answer, however late it comes; an open operation is driven on. */
  async #admissionOfStored(tx: TransactionTx, stored: OperationRow): Promise<Admission> {
    if (stored.state !== 'done') return { kind: 'drive' };
    const records = await tx.recordsOfOperation(stored.remittanceId);
    return { kind: 'answered', reply: keptReply(stored, records) };
  }

  /** A request id stored already, for another request (told only when the signature holds). */
  async #refusalOfRepeat(
    tx: TransactionTx,
    request: SignedRecord,
    digest: Buffer,
    storedDigest: Buffer,
  ): Promise<Failure | undefined> {
    if (storedDigest.equals(digest)) return undefined;
    const remittanceId = request.record.remittanceId;
    return (
      (await this.#verifyRequest(tx, request)) ??
      fail('RequestIdReused', `request id ${remittanceId} was used for a different request`)
    );
  }

  /** The checks of a new request: its time, its signature, its key's rate, the machine's own. */
  async #refusalOfNew(tx: TransactionTx, request: SignedRecord): Promise<Failure | undefined> {
    const nowMs = this.context.environment.nowMs();
    if (Math.abs(nowMs - Number(request.record.dateTime)) > this.timing.timestampSkewMsMax)
      return fail(
        'StaleTimestamp',
        `the request's dateTime is more than ${this.timing.timestampSkewMsMax / 1000} s from this device's clock`,
      );
    const refused = await this.#verifyRequest(tx, request);
    if (refused) return refused;
    // Counted once the signature holds (a new account's own key, number 0, is limited per address).
    const signer = request.record.signerKeyNumber;
    const limited = signer === 0 ? undefined : this.keyRate.take(signer, nowMs);
    return limited ?? (await this.#precheck(tx, request.record));
  }

  /** New requests, each numbered in a block of its own and stored with its a2, in one call. */
  async #storeOpenings(tx: TransactionTx, opened: readonly NewOpening[]): Promise<Admission[]> {
    if (opened.length === 0) return [];
    const bases = await tx.reserveOperations(
      opened.map(({ request, digest }) => ({
        remittanceId: request.record.remittanceId,
        requestDigest: digest,
      })),
    );
    assert(bases.length === opened.length, 'a block reserved per new operation');
    const openedRecords = opened.map(({ request, newAccount }, k): SignedRecord[] => {
      const stored: SignedRecord = {
        record: { ...request.record, transactionNumber: bases[k]! },
        signature: request.signature,
      };
      const accountRequest = this.#signNext(
        [stored],
        accountRequestFields(request.record, this.context.mode, newAccount, accountNumbering),
      );
      return [stored, accountRequest];
    });
    await tx.appendReserved(openedRecords.flat());
    return openedRecords.map((records) => ({ kind: 'drive', records }));
  }

  /** The request's signature by the key its step belongs to (a broken link is a bad signature). */
  async #verifyRequest(tx: TransactionTx, request: SignedRecord): Promise<Failure | undefined> {
    const refused = await verifyOperation(this.context, tx, [request]);
    if (!refused) return undefined;
    return refused.code === 'ChainBroken' ? fail('SignatureInvalid', refused.message) : refused;
  }

  /** Checks the transaction device can make alone (core/transaction.ts), on the facts it reads. */
  async #precheck(tx: TransactionTx, record: TransactionRecord): Promise<Failure | undefined> {
    const opening = operationOf(record.transactionType) === 'account_issuing';
    const signer = this.context.signatures.describe(record.signerKeyNumber);
    const facts: OpeningFacts = {
      nextAccountNumber: opening ? await tx.nextAccountNumber({ reserve: false }) : 0n,
      signerAlgorithm: signer.ok ? signer.value.algorithm : undefined,
      signerHoldsAnAccount:
        opening && record.signerKeyNumber !== 0
          ? await tx.accountOpenedWithKey(record.signerKeyNumber)
          : false,
    };
    return refusalAtOpening(record, facts, accountNumbering);
  }

  /**
   * S102 / S104: send the records so far to a peer (again, after a crash: the peer answers a repeat
   * with the answer it gave): its answer (verified and stored by the next turn), or its refusal.
   * Undefined when the peer cannot be reached or answers garbage: the operation then stays open.
   */
  async #exchange(
    peer: PeerLink,
    records: SignedRecord[],
    expired: boolean,
  ): Promise<Result<SignedRecord> | undefined> {
    const traceId = this.#traceIds.get(records[0]!.record.remittanceId);
    const answer = await peer.callRetrying(
      {
        operation: 'exchange',
        records,
        ...(expired ? { expired } : {}),
        ...(traceId === undefined ? {} : { traceId }),
      },
      requestRetryPolicy,
    );
    if (!answer.ok) return answer.code === 'PeerUnavailable' ? undefined : answer;
    const { record } = answer.value as { record?: SignedRecord };
    if (record === undefined) {
      this.log('error', `${peer.name} answered an exchange without a record`);
      return undefined;
    }
    return ok(record);
  }

  /** The record of the next step, numbered in the operation's block and chained to the last record. */
  #signNext(records: readonly SignedRecord[], fields: RecordFields): SignedRecord {
    const previous = records.at(-1)!;
    // Object.assign, not `{ ...fields, ... }`: V8 in Node.js 20 takes a slow path, about 2 us per
    // key, for keys added after a spread (docs/performance.md).
    const record: TransactionRecord = Object.assign({}, fields, {
      transactionNumber: numberOfStep(
        records[0]!.record.transactionNumber,
        stepOf(fields.transactionType),
      ),
      remittanceId: previous.record.remittanceId,
      dateTime: fields.dateTime ?? BigInt(this.context.environment.nowMs()),
      signerKeyNumber: this.context.signingKeyNumber,
    });
    return signOwnRecord(this.context, record, previous.signature);
  }
}

const exchangeStepOf = {
  account: 'exchange_account',
  currency: 'exchange_currency',
} as const satisfies Record<string, TimedStep>;

/** A new account's number, reserved as its opening passes its checks; undefined for other requests. */
async function newAccountOf(tx: TransactionTx, request: SignedRecord): Promise<bigint | undefined> {
  return operationOf(request.record.transactionType) === 'account_issuing'
    ? tx.nextAccountNumber({ reserve: true })
    : undefined;
}

/**
 * The answer a done operation gave: derived from its records (the same function that made it), or,
 * for an operation finished by an earlier version, the answer it kept as JSON.
 */
function keptReply(operation: OperationRow, records: readonly SignedRecord[]): Reply {
  if (operation.responseJson !== undefined) return JSON.parse(operation.responseJson) as Reply;
  // What the store holds is the audit's to judge: records missing are an answer, not a crash.
  return (
    decidedReplyOf(records) ??
    failureReply(
      fail(
        'RecordsMissing',
        `operation ${operation.remittanceId} is done, but its records are not all in this store; a recovery puts them back`,
      ),
    )
  );
}

function storeDamagedReply(remittanceId: string, failure: Failure): Reply {
  return failureReply(
    fail(
      'StoreDamaged',
      `operation ${remittanceId} is not decided yet: ${failure.message}; it stays open and ends once that device's store is rebuilt: retry with the same request id`,
    ),
  );
}

function undecidedReply(remittanceId: string): Reply {
  return failureReply(
    fail(
      'PeerUnavailable',
      `operation ${remittanceId} is not decided yet: a device did not answer; retry with the same request id`,
    ),
  );
}
