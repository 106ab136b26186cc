// The simulated clock and the one event loop of a simulated run.
//
// Every timer of the three devices, the network and the workload is an event here, at a time on
// this clock; nothing waits on a real timer. `run` takes the earliest event, moves the clock to it,
// runs it, and lets every promise it set going settle before the next: the devices' code runs
// between events exactly as it would between I/O completions, and in an order fixed by the seed.
// Events at the same time run in the order they were scheduled. Each event is written to the
// trace, whose digest tells two runs of a seed apart.

import { createHash, type Hash } from 'node:crypto';
import { assert } from '../model/assert.js';

interface TimedEvent {
  readonly atMs: number;
  readonly sequence: number;
  readonly label: string;
  readonly run: () => void;
}

/** Events a run may take before it is called stuck (a livelock, not a long run). */
export const eventsPerRunMax = 5_000_000;

export class SimulatedTime {
  #nowMs: number;
  #sequence = 0;
  #eventsRun = 0;
  /** Pending events, earliest first (a binary heap on atMs, then sequence). */
  readonly #heap: TimedEvent[] = [];
  readonly #trace: Hash = createHash('sha256');
  /** The last lines of the trace, for a failing seed's report. */
  readonly recent: string[] = [];

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  get nowMs(): number {
    return this.#nowMs;
  }

  get eventsRun(): number {
    return this.#eventsRun;
  }

  /** Run `work` `delayMs` from now. */
  after(delayMs: number, label: string, work: () => void): void {
    assert(Number.isFinite(delayMs) && delayMs >= 0, 'an event is not in the past');
    this.#push({ atMs: this.#nowMs + delayMs, sequence: this.#sequence++, label, run: work });
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.after(delayMs, 'sleep', resolve));
  }

  /** Write a line to the trace (what happened, at the current time). */
  note(line: string): void {
    const stamped = `${this.#nowMs} ${line}`;
    this.#trace.update(`${stamped}\n`);
    this.recent.push(stamped);
    if (this.recent.length > 40) this.recent.shift();
  }

  /** The digest of the trace so far (the run goes on; a copy is hashed). */
  traceDigest(): string {
    return this.#trace.copy().digest('hex');
  }

  /**
   * Run events in time order until `done()` holds (checked after each event, once the promises it
   * started have settled) or the clock passes `untilMs`. Returns whether `done()` held.
   */
  async run(done: () => boolean, untilMs: number): Promise<boolean> {
    await settlePromises();
    while (!done()) {
      const next = this.#heap[0];
      if (next === undefined || next.atMs > untilMs) {
        this.#nowMs = Math.max(this.#nowMs, Math.min(untilMs, next?.atMs ?? untilMs));
        return false;
      }
      this.#pop();
      assert(next.atMs >= this.#nowMs, 'the clock never goes back');
      this.#nowMs = next.atMs;
      this.#eventsRun += 1;
      assert(this.#eventsRun <= eventsPerRunMax, 'a simulated run ends');
      next.run();
      await settlePromises();
    }
    return true;
  }

  #push(event: TimedEvent): void {
    const heap = this.#heap;
    heap.push(event);
    for (let index = heap.length - 1; index > 0; ) {
      const parent = (index - 1) >> 1;
      if (!earlier(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    for (let index = 0; ; ) {
      const left = 2 * index + 1;
      const right = left + 1;
      let least = index;
      if (left < heap.length && earlier(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && earlier(heap[right]!, heap[least]!)) least = right;
      if (least === index) return;
      [heap[index], heap[least]] = [heap[least]!, heap[index]!];
      index = least;
    }
  }
}

function earlier(a: TimedEvent, b: TimedEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
}

/**
 * Let every promise already started run as far as it can: the devices' code in the simulator
 * awaits only promises (memory stores, simulated links and timers), so the queue of promise jobs
 * empties before the next turn of Node's event loop.
 */
function settlePromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
