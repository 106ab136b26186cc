// Byte-level tampering helpers for tests: what an attacker with write access does to stored bytes.

/** A copy of `bytes` with one bit of byte `index` flipped. */
export function flipBit(bytes: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(bytes);
  const at = index < 0 ? copy.length + index : index;
  copy.writeUInt8(copy.readUInt8(at) ^ 1, at);
  return copy;
}
