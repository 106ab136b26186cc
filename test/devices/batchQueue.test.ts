// The pipeline's batches (devices/batchQueue.ts): alone an item leaves at once; what arrives while
// a batch runs leaves together in the next; a full queue refuses at once; a failed batch fails
// each of its items.
import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../../src/devices/batchQueue.js';

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
