// What a device's registry reports of its own memory (devices/metrics.ts): the V8 heap kept after a
// major collection is 0 until one happens, then what the heap held after it outside the young
// generation.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { PrometheusMetrics } from '../../src/devices/metrics.js';

/** The heap kept, as /metrics says it. */
async function heapKept(metrics: PrometheusMetrics): Promise<number> {
  const line = (await metrics.render())
    .split('\n')
    .find((l) => l.startsWith('triledger_heap_kept_bytes'));
  expect(line).toBeDefined();
  return Number(line!.split(' ').at(-1));
}

describe('triledger_heap_kept_bytes', () => {
  it('is set by a major collection to the heap held after it', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const metrics = new PrometheusMetrics('account', accountKeyNumberBase);
    const held = Array.from({ length: 200_000 }, (_, i) => ({ i }));
    collect();
    // The observer hears of the collection after it ends, in a later turn.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const kept = await heapKept(metrics);
    expect(kept).toBeGreaterThan(held.length * 8);
    expect(kept).toBeLessThan(process.memoryUsage().heapTotal);
  });
});
