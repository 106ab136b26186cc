// Bounded caches in insertion order (model/oldestFirst.ts): past the bound the oldest entries go, a
// sixteenth of the bound at once, and the newest stay.

import { describe, expect, it } from 'vitest';
import { evictedShareDivisor, trimOldest } from '../../src/model/oldestFirst.js';

describe('trimOldest', () => {
  it('leaves a cache within its bound as it is', () => {
    const cache = new Map([
      [1, 'a'],
      [2, 'b'],
    ]);
    trimOldest(cache, 2);
    expect([...cache.keys()]).toEqual([1, 2]);
  });

  it('deletes the oldest entries past the bound, and a sixteenth of the bound with them', () => {
    const sizeMax = 64;
    const cache = new Map<number, number>();
    const evicted: number[] = [];
    for (let key = 0; key <= sizeMax; key++) cache.set(key, key);
    cache.delete(3);
    cache.set(3, 3); // used again: now the newest
    trimOldest(cache, sizeMax, (key) => evicted.push(key));
    expect(cache.size).toBe(sizeMax - sizeMax / evictedShareDivisor);
    expect(evicted).toEqual([0, 1, 2, 4, 5]);
    expect([...cache.keys()].at(-1)).toBe(3);
  });

  it('trims sets, and caches bounded at zero or one', () => {
    const set = new Set(['a', 'b', 'c']);
    trimOldest(set, 1);
    expect([...set]).toEqual(['c']);
    trimOldest(set, 0);
    expect(set.size).toBe(0);
    expect(() => trimOldest(set, -1)).toThrow(/whole number/);
  });
});
