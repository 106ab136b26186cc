// The clock and the source of randomness, passed in rather than reached for.
//
// Production code receives an Environment; tests pass a fixed clock and seeded randomness so that
// every run produces the same keys, timestamps and bytes.

import { createHash, randomBytes as systemRandomBytes } from 'node:crypto';

export interface Environment {
  /** Milliseconds since the Unix epoch, UTC. */
  nowMs(): number;
  /** Cryptographically strong random bytes in production; reproducible bytes in tests. */
  randomBytes(byteCount: number): Buffer;
}

export const systemEnvironment: Environment = {
  nowMs: () => Date.now(),
  randomBytes: (byteCount) => systemRandomBytes(byteCount),
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
