// The simulator's one source of randomness: every choice of a run (delays, drops, crashes, the
// workload, the bytes the devices ask for) comes from the seed, in the order the run asks, so the
// same seed makes the same run.
//
// mulberry32: 32 bits of state, fast, and good enough to spread choices; never for keys a
// deployment uses (those come from the system's random source).

import { assert } from '../model/assert.js';

export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed) && seed >= 0, 'a seed is a whole number');
    this.#state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [0, count). */
  below(count: number): number {
    assert(Number.isInteger(count) && count > 0, 'a choice among at least one');
    return Math.floor(this.next() * count);
  }

  /** A whole number in [low, high]. */
  between(low: number, high: number): number {
    assert(low <= high, 'a range runs upwards');
    return low + this.below(high - low + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(byteCount: number): Buffer {
    const out = Buffer.alloc(byteCount);
    for (let index = 0; index < byteCount; index++) out[index] = this.below(256);
    return out;
  }
}
