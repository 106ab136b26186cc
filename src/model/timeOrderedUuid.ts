// Request ids that sort by time: UUID version 7 (RFC 9562), 48 bits of milliseconds since the epoch
// then random bits. The ledger's stores key operations by request id, so ids made in time order are
// appended to their indexes instead of written all over them (issue 17). Pure (no Node API), so the
// TypeScript client and the browser wallet make them with this one function.

import { assert } from './assert.js';
import { toHex } from './hex.js';

/** Random bytes a version 7 UUID takes (74 of their 80 bits are used). */
export const uuidRandomBytes = 10;

/** A version 7 UUID from a time (ms since the epoch) and uuidRandomBytes random bytes. */
export function timeOrderedUuid(nowMs: number, random: Uint8Array): string {
  assert(Number.isSafeInteger(nowMs) && nowMs >= 0 && nowMs < 2 ** 48, 'a 48-bit time');
  assert(random.length === uuidRandomBytes, 'ten random bytes');
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 6; i++) bytes[i] = Math.floor(nowMs / 2 ** (8 * (5 - i))) % 256;
  bytes.set(random, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  return `${toHex(bytes, 0, 4)}-${toHex(bytes, 4, 6)}-${toHex(bytes, 6, 8)}-${toHex(bytes, 8, 10)}-${toHex(bytes, 10, 16)}`;
}
