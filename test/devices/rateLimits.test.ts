// The limit per signing key (devices/rateLimits.ts): a fixed window of one second for all keys,
// each key counted on its own.
import { describe, expect, it } from 'vitest';
import { KeyRate } from '../../src/devices/rateLimits.js';

describe('KeyRate', () => {
  it('takes up to the limit per key and second, then refuses with RateLimited', () => {
    const rate = new KeyRate(3);
    const startMs = 1_000_000;
    for (let i = 0; i < 3; i++) expect(rate.take(1_000_001, startMs + i)).toBeUndefined();
    expect(rate.take(1_000_001, startMs + 10)).toMatchObject({ code: 'RateLimited' });
    // Another key has its own allowance; the next second starts afresh.
    expect(rate.take(1_000_002, startMs + 10)).toBeUndefined();
    expect(rate.take(1_000_001, startMs + 1_000)).toBeUndefined();
  });
});
