// The clock and the source of randomness, passed in rather than reached for.
//
// Production code receives an Environment; tests pass a fixed clock and seeded randomness so that
// every run produces the same keys, timestamps and bytes.

import { createHash, randomBytes as systemRandomBytes } from 'node:crypto';
import { assert } from './assert.js';

export interface Environment {
  /** Milliseconds since the Unix epoch, UTC. */
  nowMs(): number;
  /** Cryptographically strong random bytes in production; reproducible bytes in tests. */
  randomBytes(byteCount: number): Buffer;
}

/** Bytes drawn from the system at once for small draws; a larger draw goes to the system alone. */
export const randomPoolBytes = 4096;
const randomPoolDrawBytesMax = randomPoolBytes / 8;

/**
 * The system's random bytes, small draws served from a block drawn at once: every request a device
 * takes draws 16 bytes for its id, and a system call each was 2% of the transaction device's busy
 * time. Each draw is a copy, and its bytes are wiped from the block: no byte is given twice or kept.
 */
export function pooledRandomBytes(): (byteCount: number) => Buffer {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return (byteCount) => {
    if (byteCount > randomPoolDrawBytesMax) return systemRandomBytes(byteCount);
    if (offset + byteCount > pool.length) {
      pool = systemRandomBytes(randomPoolBytes);
      offset = 0;
    }
    const drawn = Buffer.from(pool.subarray(offset, offset + byteCount));
    pool.fill(0, offset, offset + byteCount);
    offset += byteCount;
    assert(drawn.length === byteCount && offset <= pool.length, 'a draw takes unused bytes');
    return drawn;
  };
}

export const systemEnvironment: Environment = {
  nowMs: () => Date.now(),
  randomBytes: pooledRandomBytes(),
};

/**
 * A deterministic environment for tests: the clock starts at `startMs` and only moves when told,
 * randomness is SHA-256 in counter mode over the seed. Never use it outside tests.
 */
export function deterministicEnvironment(seed: string, startMs = 1_601_600_400_000) {
  let nowMs = startMs;
  let counter = 0;
  return {
    nowMs: () => nowMs,
    advanceMs(deltaMs: number) {
      nowMs += deltaMs;
    },
    randomBytes(byteCount: number): Buffer {
      const out = Buffer.alloc(byteCount);
      for (let offset = 0; offset < byteCount; offset += 32) {
        const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
        block.copy(out, offset);
      }
      return out;
    },
  };
}
