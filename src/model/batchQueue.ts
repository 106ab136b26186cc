// A bounded queue that runs what is submitted to it in batches: the shape of every stage of a
// device's pipeline (the transaction device's store writes, the steps sent to a peer) and of a
// terminal's remittances (client/terminal.ts). `mapBounded` keeps one large request's items within
// a number in flight.
//
// Adaptive, as TigerBeetle batches: an item alone leaves at once (the batch is started as soon as
// the code that submitted it yields); while batchesInFlightMax batches are running, what arrives
// waits and leaves together in the next, up to batchSizeMax. Nothing waits to fill a batch. Past
// queueDepthMax waiting items, `submit` refuses at once and the caller says so (it never grows
// without bound). Each item gets its own answer, in order.

import { assert } from './assert.js';

export interface BatchLimits {
  readonly batchSizeMax: number;
  readonly batchesInFlightMax: number;
  readonly queueDepthMax: number;
}

interface Waiting<Item, Answer> {
  readonly item: Item;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: unknown) => void;
}

export class BatchQueue<Item, Answer> {
  readonly #waiting: Waiting<Item, Answer>[] = [];
  #batchesInFlight = 0;
  #flushScheduled = false;
  #batchesRun = 0;
  #itemsRun = 0;

  constructor(
    private readonly limits: BatchLimits,
    /** Runs one batch: one answer per item, in order. A throw rejects every item of the batch. */
    private readonly runBatch: (items: Item[]) => Promise<Answer[]>,
    /**
     * When a batch may start after an item arrives: at the end of the current job (a microtask,
     * the default; deterministic in the simulator) or later (setImmediate gathers a whole turn).
     */
    private readonly defer: (flush: () => void) => void = queueMicrotask,
  ) {
    assert(limits.batchSizeMax > 0 && limits.batchesInFlightMax > 0, 'a batch limit is positive');
    assert(limits.queueDepthMax >= limits.batchSizeMax, 'the queue holds at least one batch');
  }

  /** The item's answer once its batch has run; undefined at once when the queue is full. */
  submit(item: Item): Promise<Answer> | undefined {
    if (this.#waiting.length >= this.limits.queueDepthMax) return undefined;
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Batches run since the start, and the items they held. */
  counts(): { batches: number; items: number } {
    return { batches: this.#batchesRun, items: this.#itemsRun };
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.defer(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#batchesInFlight < this.limits.batchesInFlightMax && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.limits.batchSizeMax);
      this.#batchesInFlight += 1;
      void this.#run(batch).finally(() => {
        this.#batchesInFlight -= 1;
        this.#flush();
      });
    }
  }

  async #run(batch: Waiting<Item, Answer>[]): Promise<void> {
    assert(batch.length > 0 && batch.length <= this.limits.batchSizeMax, 'a batch holds 1 to max');
    this.#batchesRun += 1;
    this.#itemsRun += batch.length;
    let answers: Answer[];
    try {
      answers = await this.runBatch(batch.map((waiting) => waiting.item));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    assert(answers.length === batch.length, 'a batch answers every item');
    batch.forEach((waiting, index) => {
      waiting.resolve(answers[index]!);
    });
  }
}

/**
 * `work` on every item, at most `inFlightMax` at once (the next starts as one ends); the answers in
 * the items' order. What one large request asks of a stage's queue stays within its depth.
 */
export async function mapBounded<Item, Answer>(
  items: readonly Item[],
  inFlightMax: number,
  work: (item: Item) => Promise<Answer>,
): Promise<Answer[]> {
  assert(inFlightMax > 0, 'at least one item in flight');
  const answers: Answer[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++)
      answers[index] = await work(items[index]!);
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, items.length) }, worker));
  assert(next >= items.length, 'every item was taken');
  return answers;
}
