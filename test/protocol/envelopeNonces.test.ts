// The nonces a device remembers against replayed envelopes (protocol/envelope.ts EnvelopeNonces):
// a nonce is refused again while its envelope's time could still be accepted, per key, and the
// memory is two generations of bounded size.

import { describe, expect, it } from 'vitest';
import { EnvelopeNonces } from '../../src/protocol/envelope.js';

const skewMs = 1_000;
const nonce = (n: number) => n.toString(16).padStart(32, '0');

describe('EnvelopeNonces', () => {
  it('refuses a nonce seen before under the same key, and takes it under another key', () => {
    const nonces = new EnvelopeNonces(0, skewMs, 10);
    expect(nonces.claim(1, nonce(7), 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(7), 10)?.code).toBe('EnvelopeReplayed');
    expect(nonces.claim(2, nonce(7), 10)).toBeUndefined();
    expect(nonces.claim(2, nonce(7), 20)?.code).toBe('EnvelopeReplayed');
  });

  it('remembers a nonce through one generation and forgets it after the second', () => {
    const nonces = new EnvelopeNonces(0, skewMs, 10);
    expect(nonces.claim(1, nonce(1), 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(2), 2 * skewMs)).toBeUndefined(); // rotates: nonce 1 is previous
    expect(nonces.claim(1, nonce(1), 2 * skewMs + 1)?.code).toBe('EnvelopeReplayed');
    expect(nonces.claim(1, nonce(3), 4 * skewMs)).toBeUndefined(); // rotates again: nonce 1 gone
    expect(nonces.claim(1, nonce(1), 4 * skewMs + 1)).toBeUndefined();
  });

  it('refuses new nonces once a generation is full, until it rotates', () => {
    const nonces = new EnvelopeNonces(0, skewMs, 2);
    expect(nonces.claim(1, nonce(1), 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(2), 0)).toBeUndefined();
    expect(nonces.claim(1, nonce(3), 0)?.code).toBe('RateLimited');
    expect(nonces.claim(1, nonce(3), 2 * skewMs)).toBeUndefined();
  });
});
