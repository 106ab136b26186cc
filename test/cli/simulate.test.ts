// `triledger simulate` as an operator runs it: one line per seed, a summary for many, exit 0 when
// every seed passes, 2 and one line on stderr for a bad option.
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { triledger } from './run.js';

describe('triledger simulate', () => {
  it('runs one seed and prints its line', () => {
    const run = triledger(['simulate', '--seed', '2', '--operations', '40'], { cwd: tmpdir() });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^seed 2: passed; \d+ requests \(.*\); \d+ crashes \(\d+ unsynced commits lost\), .* trace [0-9a-f]{16}\n$/,
    );
  });

  it('runs several seeds and sums them up (quiet when piped)', () => {
    const run = triledger(['simulate', '--seed', '7', '--seeds', '2', '--operations', '30'], {
      cwd: tmpdir(),
    });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^2 seeds passed \(7-8\) in [0-9.]+ s, [0-9.]+ seeds\/s\n$/);
  });

  it('refuses a bad option with one line and exit 2', () => {
    const run = triledger(['simulate', '--seeds', '0'], { cwd: tmpdir() });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'triledger: InvalidInput: --seeds must be a whole number from 1 to 10000000\n',
    );
    expect(run.stdout).toBe('');
  });
});
