// What each device counts and times, for Prometheus (`GET /metrics`, prom-client).
//
// One registry per device process, not prom-client's global one, so that the names below are the
// whole catalogue and a test can read them. Labels are closed sets (error codes, step names,
// device names, device key numbers) or small numbers, never account numbers or request ids: a
// label per account would grow without bound. Account keys are counted together as `account`.
//
// The services report through the DeviceMetrics interface; `noMetrics` ignores everything, for
// code that runs the services outside a device process (benchmarks, offline tools).

import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ErrorCode } from '../model/errors.js';
import type { Authority } from '../signature/keys.js';
import type { DeviceName } from './context.js';
import { TalliedHistogram } from './talliedHistogram.js';

/** The protocol steps timed on their own (docs/operations.md). */
export type TimedStep =
  | 'open'
  | 'exchange_account'
  | 'exchange_currency'
  | 'settle'
  | 'exchange'
  | 'settlement';

export interface DeviceMetrics {
  /** An operation answered by transaction: its kind, its outcome (`ok` or the code), its time. */
  operationDone(operation: string, outcome: string, seconds: number): void;
  stepDone(step: TimedStep, seconds: number): void;
  peerBatchSent(peer: string, steps: number): void;
  /** A batch of settlements the transaction device sent (devices/transaction/settlements.ts). */
  settlementBatchSent(settlements: number): void;
  storeCommitted(works: number, seconds: number): void;
  /** A request refused with an error code (HTTP 4xx or 5xx). */
  refused(code: ErrorCode): void;
  auditDone(kind: 'continuous' | 'full', clean: boolean, atMs: number): void;
}

export const noMetrics: DeviceMetrics = {
  operationDone() {},
  stepDone() {},
  peerBatchSent() {},
  settlementBatchSent() {},
  storeCommitted() {},
  refused() {},
  auditDone() {},
};

/** Seconds: from a fraction of a millisecond (a commit) to the operation time limit. */
const secondsBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const batchBuckets = [1, 2, 4, 8, 16, 32, 64, 128];

export class PrometheusMetrics implements DeviceMetrics {
  readonly registry = new Registry();
  readonly #operations: Counter<'operation' | 'outcome'>;
  /** Observed on the hot path: tallied, and rendered at a scrape (devices/talliedHistogram.ts). */
  readonly #operationSeconds: TalliedHistogram;
  readonly #stepSeconds: TalliedHistogram;
  readonly #peerBatch: TalliedHistogram;
  readonly #settlementBatch: TalliedHistogram;
  readonly #commitSeconds: TalliedHistogram;
  readonly #commitWorks: TalliedHistogram;
  readonly #refusals: Counter<'code'>;
  /**
   * Signature operations tallied as they happen and added to the counter when it is read (a
   * scrape): prom-client's label lookup on every signature cost 1.5-1.7% of each device's CPU
   * under load. The labels are a closed set (device keys, `account`, authorities, results), looked
   * up level by level so that no label string is built per signature.
   */
  readonly #signaturesUncounted = new Map<number, Map<Authority, Map<string, SignatureTally>>>();
  readonly #audits: Counter<'kind' | 'result'>;
  readonly #auditClean: Gauge<'kind'>;
  readonly #auditAt: Gauge<'kind'>;
  readonly #heapKept: Gauge;

  constructor(
    device: DeviceName,
    /** Keys from this number on belong to accounts and are counted as one label value. */
    accountKeyNumberBase: number,
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ device });
    collectDefaultMetrics({ register: this.registry, prefix: 'triledger_' });
    this.#operations = new Counter({
      name: 'triledger_operations_total',
      help: 'Operations answered by the transaction device, by kind and outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.#operationSeconds = new TalliedHistogram(
      'triledger_operation_seconds',
      'Time from a request to its answer at the transaction device, all six records and the settlements included',
      'operation',
      secondsBuckets,
      this.registry,
    );
    this.#stepSeconds = new TalliedHistogram(
      'triledger_protocol_step_seconds',
      'Time of one protocol step: open (S101), exchange_account (S102-S103), exchange_currency (S104-S105), settle (S108-S111) at transaction; exchange and settlement as account or currency handle them',
      'step',
      secondsBuckets,
      this.registry,
    );
    this.#peerBatch = new TalliedHistogram(
      'triledger_peer_batch_steps',
      'Protocol steps per message sent to a peer',
      'peer',
      batchBuckets,
      this.registry,
    );
    this.#settlementBatch = new TalliedHistogram(
      'triledger_settlement_batch_size',
      'Settlements (S108-S111) sent together by the transaction device',
      undefined,
      batchBuckets,
      this.registry,
    );
    this.#commitSeconds = new TalliedHistogram(
      'triledger_store_commit_seconds',
      'Time of one store commit (a group of device transactions)',
      undefined,
      secondsBuckets,
      this.registry,
    );
    this.#commitWorks = new TalliedHistogram(
      'triledger_store_commit_group_size',
      'Device transactions committed together',
      undefined,
      batchBuckets,
      this.registry,
    );
    this.#refusals = new Counter({
      name: 'triledger_refusals_total',
      help: 'Requests refused, by error code (docs/errors.md)',
      labelNames: ['code'],
      registers,
    });
    const signaturesUncounted = this.#signaturesUncounted;
    // Read only through the registry: it adds the uncounted tallies when it is collected.
    new Counter({
      name: 'triledger_signature_operations_total',
      help: 'Signature device operations, by key (account keys together), authority and result',
      labelNames: ['key', 'authority', 'result'],
      registers,
      collect() {
        for (const byAuthority of signaturesUncounted.values())
          for (const byResult of byAuthority.values())
            for (const tally of byResult.values())
              if (tally.count > 0) {
                this.inc(tally.labels, tally.count);
                tally.count = 0;
              }
      },
    });
    this.#audits = new Counter({
      name: 'triledger_audits_total',
      help: 'Audits run, by kind (continuous, full) and result (clean, findings)',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.#auditClean = new Gauge({
      name: 'triledger_audit_last_clean',
      help: '1 when the last audit of this kind was clean, 0 when it found something',
      labelNames: ['kind'],
      registers,
    });
    this.#auditAt = new Gauge({
      name: 'triledger_audit_last_timestamp_seconds',
      help: 'When the last audit of this kind ended (Unix time)',
      labelNames: ['kind'],
      registers,
    });
    this.#heapKept = new Gauge({
      name: 'triledger_heap_kept_bytes',
      help: 'V8 heap in use outside the young generation after the last major collection (0 before the first): what the process keeps; a bounded cache or window raises it once, a leak keeps raising it',
      registers,
    });
    this.#watchMajorCollections();
    this.signatureDone = (keyNumber, authority, result) => {
      // Account keys are tallied together, under the first account key number.
      const accountKey = keyNumber >= accountKeyNumberBase;
      const byKey = tallyLevel(signaturesUncounted, accountKey ? accountKeyNumberBase : keyNumber);
      const byResult = tallyLevel(byKey, authority);
      const tally = byResult.get(result);
      if (tally) tally.count += 1;
      else {
        const key = accountKey ? 'account' : String(keyNumber);
        byResult.set(result, { labels: { key, authority, result }, count: 1 });
      }
    };
  }

  /** For SignatureDevice.observe. */
  readonly signatureDone: (keyNumber: number, authority: Authority, result: string) => void;

  operationDone(operation: string, outcome: string, seconds: number): void {
    this.#operations.inc({ operation, outcome });
    this.#operationSeconds.observe(operation, seconds);
  }

  stepDone(step: TimedStep, seconds: number): void {
    this.#stepSeconds.observe(step, seconds);
  }

  peerBatchSent(peer: string, steps: number): void {
    this.#peerBatch.observe(peer, steps);
  }

  settlementBatchSent(settlements: number): void {
    this.#settlementBatch.observe('', settlements);
  }

  storeCommitted(works: number, seconds: number): void {
    this.#commitSeconds.observe('', seconds);
    this.#commitWorks.observe('', works);
  }

  refused(code: ErrorCode): void {
    this.#refusals.inc({ code });
  }

  auditDone(kind: 'continuous' | 'full', clean: boolean, atMs: number): void {
    this.#audits.inc({ kind, result: clean ? 'clean' : 'findings' });
    this.#auditClean.set({ kind }, clean ? 1 : 0);
    this.#auditAt.set({ kind }, atMs / 1000);
  }

  /**
   * The heap kept, read after each major (mark-compact) collection: between two of them the heap in
   * use only climbs with garbage, and the resident size follows what V8 keeps committed, so
   * neither says whether the process holds more over time. The observer is told of collections
   * after they end, in a later turn, when the young generation holds again what was allocated
   * meanwhile (megabytes under load, garbage mostly): it is left out (heapKeptBytes).
   */
  #watchMajorCollections(): void {
    new PerformanceObserver((list) => {
      const major = list
        .getEntries()
        .some(
          (entry) =>
            (entry as { readonly detail?: { readonly kind?: number } }).detail?.kind ===
            constants.NODE_PERFORMANCE_GC_MAJOR,
        );
      if (major) this.#heapKept.set(heapKeptBytes());
    }).observe({ entryTypes: ['gc'] });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

interface SignatureTally {
  readonly labels: Record<'key' | 'authority' | 'result', string>;
  count: number;
}

/** The map under `key` in a level of the signature tallies, made the first time. */
function tallyLevel<K, V>(level: Map<K, Map<string, V>>, key: K): Map<string, V> {
  let next = level.get(key);
  if (next === undefined) {
    next = new Map();
    level.set(key, next);
  }
  return next;
}

/** The young generation's spaces: what is allocated between collections, garbage mostly. */
const youngSpaces: ReadonlySet<string> = new Set(['new_space', 'new_large_object_space']);

/** The V8 heap in use outside the young generation: after a major collection, what it kept. */
function heapKeptBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics())
    if (!youngSpaces.has(space.space_name)) bytes += space.space_used_size;
  return bytes;
}
