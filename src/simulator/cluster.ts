// The three devices of a simulated deployment in one process: each its own memory store (which
// outlives the device, as a file does), its own signature device and context, and the same
// services, hold expiry, resumer and continuous audit a running device has; only HTTP is replaced
// by the simulated network. A device crashes (at a named protocol step, or at any moment between
// events) and restarts from its store with fresh memory, as a process would.

import { ContinuousAudit, type OwnStores } from '../audit/continuous.js';
import { VerifiedRecords } from '../audit/verifiedRecords.js';
import { AccountService } from '../devices/account/service.js';
import type { DeviceContext, DeviceName } from '../devices/context.js';
import { CurrencyService } from '../devices/currency/service.js';
import type { FaultStep } from '../devices/faultHooks.js';
import { HoldExpiry } from '../devices/holdExpiry.js';
import { runBatch, stepsOf } from '../devices/internalRoutes.js';
import { ownStores, signedAccountRows, signedUnitRows } from '../devices/ownStores.js';
import {
  type PeerLink,
  peerBatchesInFlightMax,
  peerBatchSizeMax,
  type RetryPolicy,
  retrying,
  stepResultOf,
} from '../devices/peerClient.js';
import { KeyRate } from '../devices/rateLimits.js';
import { RowCopies } from '../devices/rowCopies.js';
import { settleOne } from '../devices/stepBatches.js';
import { TransactionService } from '../devices/transaction/service.js';
import { assert, InvariantViolation } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import { fail, ok, type Result } from '../model/errors.js';
import { decodeAnswers, encodeAnswers, encodeSteps, type PeerStep } from '../protocol/stepWire.js';
import type { ProtocolMode } from '../protocol/transactionTypes.js';
import { recordToWire } from '../protocol/wire.js';
import {
  MemoryDatabase,
  openMemoryAccountStore,
  openMemoryCurrencyStore,
  openMemoryTransactionStore,
  StoreLost,
} from '../store/memory.js';
import type { AccountStore, CurrencyStore, Store, TransactionTx } from '../store/types.js';
import type { SettledStores } from './checks.js';
import type { DeploymentKeys } from './keys.js';
import type { SimulatedNetwork } from './network.js';
import type { SeededRandom } from './random.js';
import type { SimulatedTime } from './time.js';

export const deviceNamesAll: readonly DeviceName[] = ['transaction', 'account', 'currency'];

/** The deployment's time limits in the simulator: short, so that expiry happens within a run. */
export const simulatedTiming = {
  timestampSkewMsMax: 5 * 60_000,
  operationTimeoutMs: 3_000,
  holdTimeoutMs: 6_000,
  resumeIntervalMs: 250,
  continuousAuditIntervalMs: 1_500,
} as const;

/** How long a crashed device stays down before it is started again. */
/**
 * Units listed to plan a payment (CurrencyService): few, so that payments planned from the first
 * units and those planned again from all of them both run in every simulation.
 */
const simulatedUnitsListedMax = 2;
const restartMsMin = 10;
const restartMsMax = 1_500;

/** A device's work stopped by its own crash (thrown at a crash point): not a failure. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** One life of a device: from a start to its crash. */
interface Life {
  alive: boolean;
  readonly context: DeviceContext;
  readonly continuous: ContinuousAudit;
  readonly background: () => Promise<unknown>;
}

interface TransactionLife extends Life {
  readonly store: Store<TransactionTx>;
  readonly service: TransactionService;
}
interface AccountLife extends Life {
  readonly store: AccountStore;
  readonly service: AccountService;
}
interface CurrencyLife extends Life {
  readonly store: CurrencyStore;
  readonly service: CurrencyService;
}

export interface ClusterFaults {
  /** Chance that a device dies at each named protocol step it passes. */
  crashAtStepChance: number;
  /** Crashes the run may still inject. */
  crashesLeft: number;
}

export class SimulatedCluster {
  readonly databases: Record<DeviceName, MemoryDatabase> = {
    transaction: new MemoryDatabase(),
    account: new MemoryDatabase(),
    currency: new MemoryDatabase(),
  };
  transaction: TransactionLife | undefined;
  account: AccountLife | undefined;
  currency: CurrencyLife | undefined;
  readonly faults: ClusterFaults = { crashAtStepChance: 0, crashesLeft: 0 };
  crashes = 0;
  /** Unexpected failures of a device's code: each is a violation of the run. */
  readonly failures: string[] = [];
  /** Findings of the devices' continuous audits (none on a ledger no one tampered with). */
  readonly continuousFindings: string[] = [];

  constructor(
    private readonly time: SimulatedTime,
    private readonly random: SeededRandom,
    private readonly network: SimulatedNetwork,
    private readonly keys: DeploymentKeys,
    private readonly mode: ProtocolMode,
  ) {}

  startAll(): void {
    for (const device of deviceNamesAll) if (!this.isUp(device)) this.start(device);
  }

  isUp(device: DeviceName): boolean {
    return this[device]?.alive === true;
  }

  /** The device dies: what it had not committed is gone, and so is everything in its memory. */
  crash(device: DeviceName, why: string): void {
    const life = this[device];
    if (!life?.alive) return;
    life.alive = false;
    this[device] = undefined;
    this.databases[device].crash();
    this.crashes += 1;
    this.time.note(`crash ${device} ${why}`);
    this.time.after(this.random.between(restartMsMin, restartMsMax), 'restart', () => {
      if (!this.isUp(device)) this.start(device);
    });
  }

  /** The three devices' stores, every device up (after healing). */
  stores(): SettledStores {
    const { transaction, account, currency } = this;
    assert(transaction?.alive && account?.alive && currency?.alive, 'every device is up');
    return { transaction: transaction.store, account: account.store, currency: currency.store };
  }

  /** Nothing open, nothing unsettled, nothing held: the ledger is at rest. */
  async settled(): Promise<boolean> {
    const { transaction, account, currency } = this;
    if (!transaction?.alive || !account?.alive || !currency?.alive) return false;
    const pending = await Promise.all([
      transaction.store.transact((tx) => tx.openOperations(1)),
      transaction.store.transact(async (tx) => await tx.unsettledOperations(1)),
      account.store.transact((tx) => tx.heldRemittanceIds(1)),
      currency.store.transact((tx) => tx.heldRemittanceIds(1)),
    ]);
    return pending.every((list) => list.length === 0);
  }

  /** Start the device on what its store holds, with fresh memory and its timers. */
  start(device: DeviceName): void {
    this.time.note(`start ${device}`);
    const context = this.#context(device);
    const database = this.databases[device];
    switch (device) {
      case 'transaction': {
        const store = openMemoryTransactionStore(database);
        const service = new TransactionService(
          context,
          store,
          { account: this.#link(context, 'account'), currency: this.#link(context, 'currency') },
          simulatedTiming,
          () => {},
          undefined,
          new KeyRate(1_000_000),
        );
        const checkpoints = { newestVerifiedNumber: async () => 0n };
        this.transaction = {
          ...this.#life(context, ownStores(context, store, checkpoints)),
          store,
          service,
          background: () => service.resumePending(),
        };
        break;
      }
      case 'account': {
        const store = openMemoryAccountStore(database);
        const service = new AccountService(context, store);
        const own = ownStores(context, store, { newestVerifiedNumber: async () => 0n }, (after) =>
          signedAccountRows(store, after),
        );
        const expiry = this.#holdExpiry(context, store, 2, service);
        this.account = {
          ...this.#life(context, own),
          store,
          service,
          background: () => expiry.settleExpired(),
        };
        break;
      }
      case 'currency': {
        const store = openMemoryCurrencyStore(database);
        const service = new CurrencyService(context, store, simulatedUnitsListedMax);
        const own = ownStores(context, store, { newestVerifiedNumber: async () => 0n }, (after) =>
          signedUnitRows(store, after),
        );
        const expiry = this.#holdExpiry(context, store, 4, service);
        this.currency = {
          ...this.#life(context, own),
          store,
          service,
          background: () => expiry.settleExpired(),
        };
        break;
      }
    }
    const life = this[device]!;
    this.#every(life, device, 'background', simulatedTiming.resumeIntervalMs, life.background);
    this.#every(life, device, 'continuous audit', simulatedTiming.continuousAuditIntervalMs, () =>
      life.continuous.tick(),
    );
  }

  /** Run `work` on the transaction device; throws when it is down (the message is lost). */
  serveTransaction<T>(work: (service: TransactionService) => Promise<T>): Promise<T> {
    const life = this.transaction;
    if (!life?.alive) throw new SimulatedCrash('transaction is down');
    return this.guarded('transaction', work(life.service));
  }

  /** Run `work` on account or currency; throws when it is down (the message is lost). */
  servePeer<T>(
    device: 'account' | 'currency',
    work: (service: AccountService | CurrencyService) => Promise<T>,
  ): Promise<T> {
    const life = this[device];
    if (!life?.alive) throw new SimulatedCrash(`${device} is down`);
    return this.guarded(device, work(life.service));
  }

  /**
   * A promise of a device's work, with its unexpected failures recorded: a crash (its own, or its
   * store lost in one) is expected; anything else is a failure of the run (a violated invariant
   * stops a real device; an exception would be a 500).
   */
  guarded<T>(device: DeviceName, work: Promise<T>): Promise<T> {
    return work.catch((error: unknown) => {
      if (!(error instanceof SimulatedCrash) && !(error instanceof StoreLost)) {
        const kind = error instanceof InvariantViolation ? 'invariant violated' : 'exception';
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        this.failures.push(`${device}: ${kind}: ${message}`);
        this.time.note(`failure ${device} ${kind}`);
      }
      throw error;
    });
  }

  #life(context: DeviceContext, own: OwnStores): Omit<Life, 'background'> {
    const continuous = new ContinuousAudit(
      context,
      context.signingKeyNumber,
      own,
      () => this.time.nowMs,
      (result) => {
        for (const finding of result.findings)
          this.continuousFindings.push(`${context.device}: ${finding}`);
      },
      // The simulator runs promises alone between its events (time.ts): a turn of Node's event
      // loop here would let the next event in mid-tick, by real time rather than the seed.
      () => Promise.resolve(),
    );
    return { alive: true, context, continuous };
  }

  /** A device task run every `intervalMs` while this life lasts, never two at once. */
  #every(
    life: Life,
    device: DeviceName,
    name: string,
    intervalMs: number,
    work: () => Promise<unknown>,
  ): void {
    const tick = () => {
      if (!life.alive) return;
      this.guarded(device, work())
        .catch(() => undefined)
        .finally(() => {
          if (life.alive) this.time.after(intervalMs, name, tick);
        });
    };
    this.time.after(this.random.between(0, intervalMs), name, tick);
  }

  #context(device: DeviceName): DeviceContext {
    const environment: Environment = {
      nowMs: () => this.time.nowMs,
      randomBytes: (count) => this.random.bytes(count),
    };
    const signatures = this.keys.signatureDeviceOf(device, environment);
    const context: DeviceContext = {
      device,
      signatures,
      signingKeyNumber: this.keys.deviceKeys[device],
      deviceKeys: this.keys.deviceKeys,
      issuerKeyNumbers: [this.keys.issuerKeyNumber],
      signatureZero: this.keys.signatureZero,
      mode: this.mode,
      environment,
      verifiedRecords: new VerifiedRecords(() => signatures.revocations),
      rowCopies: new RowCopies(() => signatures.revocations),
      crashPoint: (step) => this.#crashPoint(device, context, step),
    };
    return context;
  }

  /** At a named step: a device of an earlier life stops here; the current one may die here. */
  #crashPoint(device: DeviceName, context: DeviceContext, step: FaultStep): void {
    const life = this[device];
    if (life?.context !== context) throw new SimulatedCrash(`an earlier life of ${device}`);
    if (this.faults.crashesLeft <= 0 || !this.random.chance(this.faults.crashAtStepChance)) return;
    this.faults.crashesLeft -= 1;
    this.crash(device, `at ${step}`);
    throw new SimulatedCrash(`${device} at ${step}`);
  }

  /**
   * The transaction device's link to a peer, batching as PeerClient does: a step leaves at once
   * when fewer than peerBatchesInFlightMax messages are on their way; otherwise the steps that
   * arrive meanwhile leave together in the next message (up to peerBatchSizeMax), each answered.
   */
  #link(context: DeviceContext, peer: 'account' | 'currency'): PeerLink {
    const queue: { step: PeerStep; answer: (result: Result<unknown>) => void }[] = [];
    let inFlight = 0;
    const flush = () => {
      if (inFlight >= peerBatchesInFlightMax || queue.length === 0) return;
      const batch = queue.splice(0, peerBatchSizeMax);
      inFlight += 1;
      const label = batch.map(
        ({ step }) => `${step.operation} ${step.records[0]?.record.remittanceId}`,
      );
      // The message and its reply cross in the step wire, as between real devices.
      const message = encodeSteps(batch.map((b) => b.step)).toString('base64');
      void this.network
        .request('transaction', peer, label.join(', '), { message }, (sent) =>
          this.servePeer(peer, async (service) => {
            const steps = stepsOf(Buffer.from(sent.message, 'base64'));
            assert(steps.ok, 'the simulated network delivers a message as sent');
            return {
              reply: encodeAnswers(await runBatch(service, steps.value)).toString('base64'),
            };
          }),
        )
        .then((sent) => {
          inFlight -= 1;
          const answers =
            sent === undefined
              ? fail('PeerUnavailable', `${peer} did not answer in time`)
              : decodeAnswers(Buffer.from(sent.reply, 'base64'), batch.length);
          for (const [index, { answer }] of batch.entries())
            answer(answers.ok ? stepResultOf(peer, answers.value[index]!) : answers);
          flush();
        });
      flush();
    };
    const call = (step: PeerStep): Promise<Result<unknown>> => {
      // What an earlier life of transaction still had going dies with it.
      if (this.transaction?.context !== context) throw new SimulatedCrash('an earlier life');
      return new Promise((answer) => {
        if (queue.length === 0) this.time.after(0, 'flush', flush);
        queue.push({ step, answer });
      });
    };
    return {
      name: peer,
      callRetrying: (step: PeerStep, policy: RetryPolicy) =>
        retrying(
          () => call(step),
          policy,
          () => this.random.next(),
          (ms) => this.time.sleep(ms),
        ),
    };
  }

  /** Hold expiry at account or currency, asking transaction over the simulated network. */
  #holdExpiry(
    context: DeviceContext,
    store: AccountStore | CurrencyStore,
    holdingStep: 2 | 4,
    service: AccountService | CurrencyService,
  ): HoldExpiry {
    return new HoldExpiry(
      context,
      store,
      holdingStep,
      async (remittanceId) => {
        const answer = await this.network.request(
          context.device,
          'transaction',
          `outcome ${remittanceId}`,
          { remittanceId },
          ({ remittanceId: id }) =>
            this.serveTransaction(async (service) => {
              const records = await service.outcomeOf(id);
              return records.ok ? { records: records.value.map(recordToWire) } : records;
            }),
        );
        if (answer === undefined)
          return fail('PeerUnavailable', 'transaction did not answer in time');
        return 'records' in answer ? ok(answer) : fail(answer.code, answer.message);
      },
      (records) => settleOne(service, records),
      simulatedTiming.holdTimeoutMs,
      () => {},
    );
  }
}
