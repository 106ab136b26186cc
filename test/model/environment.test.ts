// The system's randomness served in small draws from a block (model/environment.ts): every draw
// has the length asked and its own bytes, within a block and across blocks.
import { describe, expect, it } from 'vitest';
import { pooledRandomBytes, randomPoolBytes } from '../../src/model/environment.js';

describe('pooled random bytes', () => {
  it('gives each draw its own bytes, across blocks, and large draws whole', () => {
    const draw = pooledRandomBytes();
    const draws = Array.from({ length: (3 * randomPoolBytes) / 16 }, () => draw(16));
    expect(draws.every((bytes) => bytes.length === 16)).toBe(true);
    expect(new Set(draws.map((bytes) => bytes.toString('hex'))).size).toBe(draws.length);
    expect(draw(7)).toHaveLength(7);
    expect(draw(randomPoolBytes * 2)).toHaveLength(randomPoolBytes * 2);
  });
});
