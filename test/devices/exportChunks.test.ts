// An export streamed to an auditor (devices/recoveryRoutes.ts chunksOf): its lines arrive whole, in
// order, in chunks of about exportChunkBytes, and the device's other work gets a turn of the event
// loop while the lines are made (they are made synchronously underneath: a full audit's exports
// held the devices for 100-230 ms at a time before).

import { describe, expect, it } from 'vitest';
import {
  chunksOf,
  exportChunkBytes,
  exportLinesPerTurnMax,
} from '../../src/devices/recoveryRoutes.js';

/** Lines made synchronously, as a store's export makes them. */
async function* linesOf(count: number): AsyncGenerator<string> {
  for (let n = 0; n < count; n++) yield `{"line":${n},"pad":"${'x'.repeat(100)}"}`;
}

describe('chunksOf', () => {
  it('sends every line once, in order, in chunks of about exportChunkBytes', async () => {
    const count = 5_000;
    const chunks: string[] = [];
    for await (const chunk of chunksOf(linesOf(count))) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk.length).toBeGreaterThanOrEqual(exportChunkBytes);
      expect(chunk.endsWith('\n')).toBe(true);
    }
    const lines = chunks.join('').split('\n').slice(0, -1);
    expect(lines).toHaveLength(count);
    expect(lines.map((line) => JSON.parse(line).line)).toEqual([...Array(count).keys()]);
  });

  it("gives the device's other work a turn while the lines are made", async () => {
    let turns = 0;
    let making = true;
    const countTurns = () => {
      if (!making) return;
      turns += 1;
      setImmediate(countTurns);
    };
    setImmediate(countTurns);
    for await (const _chunk of chunksOf(linesOf(10 * exportLinesPerTurnMax))) {
      // consumed as a socket would
    }
    making = false;
    expect(turns).toBeGreaterThanOrEqual(9);
  });
});
