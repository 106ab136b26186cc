// The nonces a device remembers against replayed envelopes (protocol/envelope.ts EnvelopeNonces):
// a nonce is refused again while its envelope's time could still be accepted, per key; it is
// remembered by the second its envelope was signed in, dropped once the clock has passed that
// second by the skew, and what is kept stays flat under a steady load and within its bound.

import { describe, expect, it } from 'vitest';
import { EnvelopeNonces } from '../../src/protocol/envelope.js';

const skewMs = 10_000;
const nonce = (n: number) => n.toString(16).padStart(32, '0');

describe('EnvelopeNonces', () => {
  it('refuses a nonce seen before under the same key, and takes it under another key', () => {
    const nonces = new EnvelopeNonces(skewMs, 10);
    expect(nonces.claim(1, nonce(7), 0, 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(7), 0, 10)?.code).toBe('EnvelopeReplayed');
    expect(nonces.claim(2, nonce(7), 0, 10)).toBeUndefined();
    expect(nonces.claim(2, nonce(7), 0, 20)?.code).toBe('EnvelopeReplayed');
  });

  it('remembers a nonce while its envelope could be accepted, then forgets it and refuses its second', () => {
    const nonces = new EnvelopeNonces(skewMs, 10);
    const sentAtMs = 5_500;
    expect(nonces.claim(1, nonce(1), sentAtMs, sentAtMs)).toBeUndefined();
    // Replayed as late as the timestamp check allows (the clock skewMs past the envelope's time).
    expect(nonces.claim(1, nonce(1), sentAtMs, sentAtMs + skewMs)?.code).toBe('EnvelopeReplayed');
    // Once the clock is past the envelope's whole second by skewMs, its nonces go, and an envelope
    // of that second is refused as stale, even when the clock is set back afterwards.
    expect(nonces.claim(1, nonce(2), 16_000, 16_000)).toBeUndefined();
    expect(nonces.size).toBe(1);
    expect(nonces.claim(1, nonce(1), sentAtMs, sentAtMs)?.code).toBe('StaleTimestamp');
    expect(nonces.claim(1, nonce(9), 5_999, 6_000)?.code).toBe('StaleTimestamp');
    expect(nonces.claim(1, nonce(9), 6_000, 6_000)).toBeUndefined();
  });

  it('keeps a flat number of nonces under a steady load', () => {
    const nonces = new EnvelopeNonces(skewMs, 1_000_000);
    const sizes: number[] = [];
    // 100 envelopes a second for 60 s, each signed up to 2 s before it arrives.
    for (let n = 0; n < 6_000; n++) {
      const nowMs = n * 10;
      expect(nonces.claim(1, nonce(n), nowMs - (n % 3) * 1_000, nowMs)).toBeUndefined();
      if (nowMs % 10_000 === 0) sizes.push(nonces.size);
    }
    // From the first skewMs on, the memory holds about skewMs of envelopes (900 here), no more.
    expect(sizes).toHaveLength(6);
    for (const size of sizes.slice(1)) expect(size).toBeGreaterThanOrEqual(850);
    for (const size of sizes.slice(1)) expect(size).toBeLessThanOrEqual(1_100);
  });

  it('refuses new nonces once full, until seconds are forgotten', () => {
    const nonces = new EnvelopeNonces(skewMs, 2);
    expect(nonces.claim(1, nonce(1), 0, 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(2), 0, 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(3), 0, 0)?.code).toBe('RateLimited');
    expect(nonces.claim(1, nonce(3), skewMs + 1_000, skewMs + 1_000)).toBeUndefined();
  });
});
