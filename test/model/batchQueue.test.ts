// The pipeline's batches (model/batchQueue.ts): alone an item leaves at once; what arrives while
// a batch runs leaves together in the next; a full queue refuses at once; a failed batch fails
// each of its items. mapBounded keeps a large request's items within a number in flight.
import { describe, expect, it } from 'vitest';
import { BatchQueue, mapBounded } from '../../src/model/batchQueue.js';

const limits = { batchSizeMax: 3, batchesInFlightMax: 1, queueDepthMax: 4 };

/** A queue whose batches finish when the test says so, recording what each held. */
function heldQueue() {
  const batches: number[][] = [];
  const finish: (() => void)[] = [];
  const queue = new BatchQueue<number, number>(limits, (items) => {
    batches.push(items);
    return new Promise((resolve) => finish.push(() => resolve(items.map((n) => n * 10))));
  });
  return { queue, batches, finish };
}

describe('BatchQueue', () => {
  it('an item alone leaves at once; those that arrive meanwhile share the next batch, in order', async () => {
    const { queue, batches, finish } = heldQueue();
    const first = queue.submit(1);
    await Promise.resolve();
    expect(batches).toEqual([[1]]);
    const later = [2, 3, 4, 5].map((n) => queue.submit(n));
    expect(queue.submit(6)).toBeUndefined(); // four wait: the queue is full
    finish.shift()!();
    expect(await first).toBe(10);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1], [2, 3, 4]]);
    finish.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    finish.shift()!();
    expect(await Promise.all(later)).toEqual([20, 30, 40, 50]);
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
    expect(queue.counts()).toEqual({ batches: 3, items: 5 });
  });

  it('a batch that throws fails each of its items, and the queue goes on', async () => {
    let fail = true;
    const queue = new BatchQueue<number, number>(limits, async (items) => {
      if (fail) throw new Error('the disk is full');
      return items;
    });
    await expect(queue.submit(1)).rejects.toThrow('the disk is full');
    fail = false;
    expect(await queue.submit(2)).toBe(2);
  });
});

describe('mapBounded', () => {
  it('runs at most inFlightMax at once, starts the next as one ends, answers in order', async () => {
    let inFlight = 0;
    let inFlightMost = 0;
    const answers = await mapBounded([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight += 1;
      inFlightMost = Math.max(inFlightMost, inFlight);
      await new Promise((resolve) => setTimeout(resolve, n));
      inFlight -= 1;
      return n * 10;
    });
    expect(answers).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(inFlightMost).toBe(3);
    expect(await mapBounded([], 3, async (n: number) => n)).toEqual([]);
  });
});
