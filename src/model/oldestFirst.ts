// Maps and sets used as bounded caches in insertion order: past their bound, the oldest entries go,
// a batch of them at once.
//
// A Map or Set deletes in place: each deleted entry leaves a hole at the front of its table until
// the table is rebuilt, and `keys().next()` walks every hole before it finds the oldest entry left.
// Evicting one entry per insertion that way cost 5.5 us per insertion in a cache of 16,384 (a
// throwaway loop of 400,000 insertions; the account device's row copies under load); evicting a
// sixteenth of the bound in one walk, 1.0 us.

import { assert } from './assert.js';

/** The share of a cache's bound evicted at once when it is passed: 1 / evictedShareDivisor. */
export const evictedShareDivisor = 16;

/**
 * Keep `cache` within `sizeMax` entries: when it holds more, delete its oldest (first inserted)
 * entries down to `sizeMax` less a sixteenth of it, telling `evicted` of each.
 */
export function trimOldest<K>(
  cache: Map<K, unknown> | Set<K>,
  sizeMax: number,
  evicted: (key: K) => void = () => {},
): void {
  assert(Number.isSafeInteger(sizeMax) && sizeMax >= 0, 'a cache bound is a whole number');
  if (cache.size <= sizeMax) return;
  let excess = cache.size - sizeMax + Math.floor(sizeMax / evictedShareDivisor);
  for (const key of cache.keys()) {
    cache.delete(key);
    evicted(key);
    excess -= 1;
    if (excess === 0) break;
  }
  assert(cache.size <= sizeMax, 'a trimmed cache is within its bound');
}
