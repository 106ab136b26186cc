// `triledger demo` (what `npm start` runs for now): the real command, its claims checked.
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { triledger } from './run.js';

describe('triledger demo', () => {
  it('signs the FIG. 2B chain, refuses a forged signature, and finds a changed bit', () => {
    const result = triledger(['demo'], { cwd: tmpdir() });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/│ 13\s+│ account_confirmation_response\s+│ 2 \(account\)/);
    expect(result.stdout).toContain('the transaction device verifies the chain: 6 links valid');
    expect(result.stdout).toContain("with key 2 (the account device's): AuthorityDenied");
    expect(result.stdout).toContain('ChainBroken at record 14');
  });
});
