// The progress bar draws only on a terminal, over itself, with the rate and the time left.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressBar } from '../../src/cli/progress.js';

function stream(isTTY: boolean) {
  const written: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      written.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number };
  sink.isTTY = isTTY;
  sink.columns = 120;
  return { sink: sink as unknown as NodeJS.WriteStream, written };
}

describe('progress bar', () => {
  it('draws nothing when stderr is not a terminal', () => {
    const { sink, written } = stream(false);
    const bar = progressBar(sink, () => 0);
    bar.update('audit', 10, 100);
    bar.finish();
    expect(written).toEqual([]);
  });

  it('on a terminal: phase, bar, counts, rate and time left, at most every 100 ms, cleared at the end', () => {
    const { sink, written } = stream(true);
    let now = 0;
    const bar = progressBar(sink, () => now);
    now = 1_000;
    bar.update('audit', 0, 1_000);
    now = 2_000;
    bar.update('audit', 500, 1_000);
    now = 2_050;
    bar.update('audit', 600, 1_000); // too soon: not drawn
    bar.finish();
    expect(written).toHaveLength(3);
    expect(written[1]).toMatch(
      /^\raudit {3}\[#{12}\.{12}\] {2}50% {2}500\/1,000 records {2}500\/s {2}1 s left/,
    );
    expect(written[2]).toMatch(/^\r +\r$/);
  });
});
