// Hex by table (model/hex.ts): the same text Node's own hex gives, for every byte value and any range.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/model/hex.js';

describe('toHex', () => {
  it('writes every byte value as Buffer does, lower case, two digits each', () => {
    const every = Uint8Array.from({ length: 256 }, (_, value) => value);
    expect(toHex(every)).toBe(Buffer.from(every).toString('hex'));
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('writes only the range asked for', () => {
    const bytes = Uint8Array.from([0x00, 0x0f, 0xa0, 0xff, 0x7e]);
    expect(toHex(bytes, 1, 4)).toBe('0fa0ff');
    expect(toHex(bytes, 2)).toBe('a0ff7e');
    expect(toHex(bytes, 3, 3)).toBe('');
  });
});
