// A file that is not there or a port already taken is the operator's to fix, not a bug: whichever
// command meets it answers one line with InvalidInput and exit code 2, never "internal error"
// (issue 19: a missing data folder exited 70 with "internal error: ENOENT").
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operatorMistakeOf } from '../../src/cli/output.js';
import { triledger } from './run.js';

describe("the operator's mistakes", () => {
  it('a missing data folder: one line naming the file, exit 2', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'triledger-mistakes-'));
    const run = triledger(['balance', '--data', join(cwd, 'missing'), '1'], { cwd });
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      `triledger: InvalidInput: ${join(cwd, 'missing', 'passphrase')} does not exist (ENOENT)`,
    ]);
  });

  it('names a port in use, and leaves other errors alone', () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE'), {
      code: 'EADDRINUSE',
      address: '127.0.0.1',
      port: 7101,
    });
    expect(operatorMistakeOf(inUse)).toBe(
      'the address 127.0.0.1:7101 is already in use (another process listens there) (EADDRINUSE)',
    );
    expect(operatorMistakeOf(new Error('something else'))).toBeUndefined();
    expect(operatorMistakeOf(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBeUndefined();
  });
});
