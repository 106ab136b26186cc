// S108-S111 at the transaction device, in batches: a done operation's records handed to `account`
// and `currency`, and their acknowledgements stored (FIG. 1E).
//
// Operations decided together (one store batch of turns) are settled together: they are gathered
// until the code that decided them yields (a microtask, deterministic in the simulator), then each
// peer is sent the batch's steps at once (they share its next message, devices/peerClient.ts), the
// answers are awaited together, and the acknowledgements go to the store as one item of its next
// batch, committed without a sync of their own (a crash may lose them: the settlement is sent
// again, and a peer applies it once). The resumer sends what the peers have not acknowledged in one
// batch per pass, each operation later and later (capped backoff) while a peer misses it.
//
// Order on an account: the next exchange with a peer on an account waits until that peer has
// answered the settlements in flight that touch the account (`answersOf`), so that a peer decides
// on what earlier answers said; a read at the gateway waits for both peers'. Each batch keeps one
// promise per peer for that, shared by its accounts.

import { assert } from '../../model/assert.js';
import type { Environment } from '../../model/environment.js';
import type { SignedRecord } from '../../protocol/records.js';
import type { PeerStep } from '../../protocol/stepWire.js';
import {
  isTransactionType,
  operationOf,
  recordsLackedBy,
  stepOf,
} from '../../protocol/transactionTypes.js';
import {
  type Settlement,
  settledAtAccount,
  settledAtCurrency,
  settledEverywhere,
} from '../../store/types.js';
import { backoffMs, type PeerLink, type RetryPolicy, requestRetryPolicy } from '../peerClient.js';

export type PeerName = 'account' | 'currency';

/** A done operation to settle: its records, and the peers that acknowledged it already (bits). */
export interface SettlementOrder {
  readonly remittanceId: string;
  readonly records: readonly SignedRecord[];
  /** `operations.settled`: settledAtAccount and settledAtCurrency, those already acknowledged. */
  readonly settled: number;
  /** The id of the user's request that drove the operation, for the peers' logs. */
  readonly traceId?: string;
}

/** What settling needs of the device around it. */
export interface SettlementPorts {
  readonly peers: Readonly<Record<PeerName, PeerLink>>;
  readonly environment: Environment;
  /**
   * Store the peers' acknowledgements (one item of the device's next store batch): undefined at
   * once when too many items wait (the resumer then sends those settlements again).
   */
  readonly storeAcknowledgements: (settlements: Settlement[]) => Promise<unknown> | undefined;
  /** Account acknowledged the opening of `account`: account knows it from now on. */
  readonly openingSettled: (account: bigint) => void;
  /** A batch of `count` settlements ended after `seconds` (the `settle` step's metrics). */
  readonly settled: (count: number, seconds: number) => void;
  readonly log: (level: 'warn' | 'error', message: string) => void;
}

/** Settlements a peer missed are resent by the resumer: later and later, up to a minute apart. */
export const settleRetryPolicy: RetryPolicy = {
  attemptsMax: Number.POSITIVE_INFINITY,
  backoffMsBase: 100,
  backoffMsMax: 60_000,
};

/** Settlements in one batch at most; more decided at once make several batches. */
export const settlementBatchSizeMax = 256;

/** The peers a settlement goes to, with the bit of `operations.settled` each acknowledges. */
const settlementPeers: readonly { readonly name: PeerName; readonly bit: number }[] = [
  { name: 'account', bit: settledAtAccount },
  { name: 'currency', bit: settledAtCurrency },
];

/** When each peer has answered a batch's settlements (or given up on them). */
type AnsweredByPeers = Readonly<Record<PeerName, Promise<void>>>;

/** A batch being gathered or sent: its orders, each peer's answer to them all, its end. */
interface SettlementBatch {
  readonly orders: SettlementOrder[];
  readonly answered: AnsweredByPeers;
  /** Once its acknowledgements are stored (or left to the resumer): it never fails. */
  readonly finished: Promise<void>;
  readonly resolvers: Record<PeerName | 'finished', () => void>;
}

export class Settlements {
  /** The batch gathering what is decided in this job, sent when it yields. */
  #gathering: SettlementBatch | undefined;
  /** Each settlement on its way, by operation, with its batch (until it is stored). */
  readonly #inFlight = new Map<string, SettlementBatch>();
  /** The batches in flight by the accounts they touch. */
  readonly #byAccount = new Map<bigint, Set<SettlementBatch>>();
  readonly #backoff = new Map<string, { attempts: number; nextAtMs: number }>();
  #batchesSent = 0;
  #settlementsSent = 0;

  constructor(private readonly ports: SettlementPorts) {}

  /** Settle an operation just decided, with the others decided in the same job. */
  afterAnswer(order: SettlementOrder): void {
    assert(endsWithResponse(order.records), 'an operation decided here ends with its a6');
    if (this.#inFlight.has(order.remittanceId)) return;
    let batch = this.#gathering;
    if (batch === undefined || batch.orders.length >= settlementBatchSizeMax) {
      batch = newBatch();
      this.#gathering = batch;
      const gathered = batch;
      queueMicrotask(() => {
        if (this.#gathering === gathered) this.#gathering = undefined;
        void this.#send(gathered);
      });
    }
    this.#join(batch, order);
  }

  /**
   * Settle `orders` now, in one batch (the resumer; an opening account missed): until every
   * acknowledgement is stored. An order already in flight is waited for, not sent twice.
   */
  async settle(orders: readonly SettlementOrder[]): Promise<void> {
    assert(orders.length <= settlementBatchSizeMax, 'a batch of settlements within its limit');
    const waits: Promise<void>[] = [];
    const batch = newBatch();
    for (const order of orders) {
      const inFlight = this.#inFlight.get(order.remittanceId);
      if (inFlight) waits.push(inFlight.finished);
      else if (endsWithResponse(order.records)) this.#join(batch, order);
      // Read from the store, which may have lost records: the audit's to find and repair; the
      // batch's other settlements go.
      else
        this.ports.log(
          'error',
          `operation ${order.remittanceId} is done, but its stored records do not end with its response: not settled until a recovery puts them back`,
        );
    }
    if (batch.orders.length > 0) {
      void this.#send(batch);
      waits.push(batch.finished);
    }
    await Promise.all(waits);
  }

  /** Whether the resumer may send this operation's settlement again now (its backoff is over). */
  due(remittanceId: string, nowMs: number): boolean {
    const backoff = this.#backoff.get(remittanceId);
    return (
      !this.#inFlight.has(remittanceId) && (backoff === undefined || backoff.nextAtMs <= nowMs)
    );
  }

  /** When `peers` have answered the settlements in flight on `accounts` (none: nothing to wait). */
  answersOf(peers: readonly PeerName[], accounts: readonly bigint[]): Promise<void>[] {
    const answers: Promise<void>[] = [];
    for (const account of accounts)
      for (const batch of this.#byAccount.get(account) ?? [])
        for (const peer of peers) answers.push(batch.answered[peer]);
    return answers;
  }

  /** Until every settlement in flight is acknowledged and stored (an audit, a stop). */
  allFinished(): Promise<void>[] {
    return [...new Set(this.#inFlight.values())].map((batch) => batch.finished);
  }

  /** Batches sent since the start, and the settlements they carried. */
  counts(): { batches: number; settlements: number } {
    return { batches: this.#batchesSent, settlements: this.#settlementsSent };
  }

  /** Settlements on their way (maintenance waits for none to be left). */
  get count(): number {
    return this.#inFlight.size;
  }

  #join(batch: SettlementBatch, order: SettlementOrder): void {
    assert(!this.#inFlight.has(order.remittanceId), 'one settlement of an operation at a time');
    assert((order.settled & settledEverywhere) !== settledEverywhere, 'a settlement is owed');
    batch.orders.push(order);
    this.#inFlight.set(order.remittanceId, batch);
    for (const account of accountsOf(order.records)) {
      const batches = this.#byAccount.get(account) ?? new Set();
      batches.add(batch);
      this.#byAccount.set(account, batches);
    }
  }

  /**
   * One batch: each peer's steps sent together, the acknowledgements stored as one item. A batch
   * that fails (a store that refuses, a process on its way down) is logged and left to the resumer.
   */
  async #send(batch: SettlementBatch): Promise<void> {
    const startedMs = performance.now();
    this.#batchesSent += 1;
    this.#settlementsSent += batch.orders.length;
    try {
      const [atAccount, atCurrency] = await Promise.all(
        settlementPeers.map(({ name, bit }) => this.#answersAt(batch, name, bit)),
      );
      await this.#acknowledge(batch.orders, atAccount!, atCurrency!);
    } catch (error) {
      const first = batch.orders[0]!.remittanceId;
      this.ports.log('error', `settlement of ${first} and its batch: ${(error as Error).message}`);
    } finally {
      this.#forget(batch);
      this.ports.settled(batch.orders.length, (performance.now() - startedMs) / 1000);
      batch.resolvers.finished();
    }
  }

  /** The operations of `batch` that `peer` acknowledged (those it had already, aside). */
  async #answersAt(batch: SettlementBatch, peer: PeerName, bit: number): Promise<Set<string>> {
    try {
      return await this.#settleAt(
        peer,
        batch.orders.filter((order) => (order.settled & bit) === 0),
      );
    } finally {
      batch.resolvers[peer]();
    }
  }

  /**
   * S108 / S110 at one peer: each operation's records it lacks (it stored those up to its own
   * answer when it gave it), and an operation whole when the peer answers that it does not hold
   * them (RecordsMissing: its store lost them). The ids of the operations the peer acknowledged.
   */
  async #settleAt(peer: PeerName, orders: readonly SettlementOrder[]): Promise<Set<string>> {
    const link = this.ports.peers[peer];
    const send = (order: SettlementOrder, from: number) =>
      link.callRetrying(settleStep(order, from), requestRetryPolicy);
    const fromOf = (order: SettlementOrder) => {
      const from = order.records.length - recordsLackedBy(peer, order.records).length;
      assert(from < order.records.length, 'a done operation ends with a6, which no peer holds');
      return from;
    };
    const froms = orders.map(fromOf);
    const answers = await Promise.all(orders.map((order, k) => send(order, froms[k]!)));
    const acknowledged = new Set<string>();
    const whole: SettlementOrder[] = [];
    answers.forEach((answer, k) => {
      const order = orders[k]!;
      if (answer.ok) acknowledged.add(order.remittanceId);
      else if (froms[k]! > 0 && answer.code === 'RecordsMissing') {
        this.ports.log('warn', `${answer.message}; sent whole`);
        whole.push(order);
      } else this.ports.log('warn', `settlement of ${order.remittanceId}: ${answer.message}`);
    });
    const again = await Promise.all(whole.map((order) => send(order, 0)));
    again.forEach((answer, k) => {
      const { remittanceId } = whole[k]!;
      if (answer.ok) acknowledged.add(remittanceId);
      else this.ports.log('warn', `settlement of ${remittanceId}: ${answer.message}`);
    });
    return acknowledged;
  }

  /** What the peers acknowledged, stored; the rest left to the resumer, later and later. */
  async #acknowledge(
    orders: readonly SettlementOrder[],
    atAccount: ReadonlySet<string>,
    atCurrency: ReadonlySet<string>,
  ): Promise<void> {
    const settlements: Settlement[] = [];
    const nowMs = this.ports.environment.nowMs();
    for (const order of orders) {
      const { remittanceId, records, settled } = order;
      const peers =
        (atAccount.has(remittanceId) ? settledAtAccount : 0) |
        (atCurrency.has(remittanceId) ? settledAtCurrency : 0);
      if (peers !== 0) settlements.push({ remittanceId, peers });
      const opened = records[1]?.record.destinationAccount;
      if ((peers & settledAtAccount) !== 0 && opened !== undefined)
        if (operationOf(records[0]!.record.transactionType) === 'account_issuing')
          this.ports.openingSettled(opened);
      if ((settled | peers) === settledEverywhere) this.#backoff.delete(remittanceId);
      else this.#backOff(remittanceId, nowMs);
    }
    // Lost when too many wait: the resumer sends the settlements again (nothing applies twice).
    if (settlements.length > 0) await this.ports.storeAcknowledgements(settlements);
  }

  #backOff(remittanceId: string, nowMs: number): void {
    const attempts = (this.#backoff.get(remittanceId)?.attempts ?? 0) + 1;
    const random = this.ports.environment.randomBytes(1)[0]! / 255;
    const waitMs = backoffMs(settleRetryPolicy, attempts + 1, random);
    this.#backoff.set(remittanceId, { attempts, nextAtMs: nowMs + waitMs });
  }

  #forget(batch: SettlementBatch): void {
    for (const order of batch.orders) {
      assert(this.#inFlight.get(order.remittanceId) === batch, 'a settlement leaves its batch');
      this.#inFlight.delete(order.remittanceId);
      for (const account of accountsOf(order.records)) {
        const batches = this.#byAccount.get(account);
        batches?.delete(batch);
        if (batches?.size === 0) this.#byAccount.delete(account);
      }
    }
  }
}

/** Whether an operation's records end with its response (a6), as every done operation's do. */
function endsWithResponse(records: readonly SignedRecord[]): boolean {
  const type = records.at(-1)?.record.transactionType;
  return type !== undefined && isTransactionType(type) && stepOf(type) === 6;
}

function newBatch(): SettlementBatch {
  const resolvers = { account: ignore, currency: ignore, finished: ignore };
  const resolved = (name: keyof typeof resolvers) =>
    new Promise<void>((resolve) => {
      resolvers[name] = resolve;
    });
  const answered = { account: resolved('account'), currency: resolved('currency') };
  return { orders: [], answered, finished: resolved('finished'), resolvers };
}

function settleStep(order: SettlementOrder, from: number): PeerStep {
  const { records, traceId } = order;
  return {
    operation: 'settle',
    records: records.slice(from),
    ...(traceId === undefined ? {} : { traceId }),
  };
}

/** The accounts an operation touches: its source and destination, and a new account's number. */
export function accountsOf(records: readonly SignedRecord[]): bigint[] {
  const request = records[0]!.record;
  return [
    request.sourceAccount,
    request.destinationAccount,
    records[1]?.record.destinationAccount,
  ].filter((account): account is bigint => account !== undefined);
}

function ignore(): void {}
