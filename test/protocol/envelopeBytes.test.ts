// The envelope header's text, pinned by a vector: the devices, the console and the wallet build it
// from the one module (src/protocol/envelopeBytes.ts), and a receiver parses exactly this form.
import { describe, expect, it } from 'vitest';
import { envelopeHeaderValue, parseEnvelopeHeader } from '../../src/protocol/envelopeBytes.js';

describe('the envelope header', () => {
  it('carries the key, the time, the nonce and the signature as lower-case hex, and parses back', () => {
    const nonce = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const signature = Uint8Array.from([0x00, 0x0f, 0x10, 0xab, 0xff, 0x7e]);
    const header = envelopeHeaderValue(7, 1_700_000_000_123n, nonce, signature);
    expect(header).toBe('7.1700000000123.00112233445566778899aabbccddeeff.000f10abff7e');
    expect(parseEnvelopeHeader(header)).toEqual({
      keyNumber: 7,
      sentAtMs: 1_700_000_000_123n,
      nonceHex: '00112233445566778899aabbccddeeff',
      signatureHex: '000f10abff7e',
    });
  });
});
