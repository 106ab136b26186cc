// Chained signatures (Embodiment 3, FIG. 3, [0070]-[0079]).
//
// Signature n is computed over record n and signature n-1; signature 0 is a configured initial
// value. Changing any record or signature therefore breaks its own link and the next one, and the
// verifier reports the first broken link. Verification streams: it keeps only the previous
// signature, so a chain of any length is checked in constant memory. Every link is checked, not
// just the ends.
//
// The signed message of a link is: "TLC1" || u16 big-endian length of signature n-1 ||
// signature n-1 || the record's canonical bytes (docs/encoding.md).

import { assert } from '../model/assert.js';
import { type ErrorCode, fail, type Result } from '../model/errors.js';
import type { SignatureDevice } from './device.js';

const chainDomain = Buffer.from('TLC1', 'ascii');
export const previousSignatureBytesMax = 0xffff;

export function chainMessage(recordBytes: Uint8Array, previousSignature: Uint8Array): Buffer {
  assert(previousSignature.length <= previousSignatureBytesMax, 'previous signature length');
  // One buffer, written in place: a message is built for every link signed or verified.
  const message = Buffer.allocUnsafe(
    chainDomain.length + 2 + previousSignature.length + recordBytes.length,
  );
  let offset = chainDomain.copy(message, 0);
  offset = message.writeUInt16BE(previousSignature.length, offset);
  message.set(previousSignature, offset);
  message.set(recordBytes, offset + previousSignature.length);
  return message;
}

export function signChained(
  device: SignatureDevice,
  keyNumber: number,
  recordBytes: Uint8Array,
  previousSignature: Uint8Array,
): Result<Buffer> {
  return device.sign(keyNumber, chainMessage(recordBytes, previousSignature));
}

export interface ChainLink {
  readonly signerKeyNumber: number;
  readonly recordBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export type ChainVerification =
  | { readonly ok: true; readonly linksChecked: number }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      /** 0-based position of the first broken link. */
      readonly brokenAt: number;
      readonly message: string;
    };

/**
 * Verify every link in order. A link fails when its signer key is unknown or lacks `verify`
 * (reported with that code), or when its signature does not verify (ChainBroken).
 */
export function verifyChain(
  device: SignatureDevice,
  links: Iterable<ChainLink>,
  signatureZero: Uint8Array,
): ChainVerification {
  let previous: Uint8Array = signatureZero;
  let index = 0;
  for (const link of links) {
    const checked = device.verify(
      link.signerKeyNumber,
      chainMessage(link.recordBytes, previous),
      link.signature,
    );
    if (!checked.ok) {
      const code: ErrorCode = checked.code === 'SignatureInvalid' ? 'ChainBroken' : checked.code;
      const message = `link ${index} (signed by key ${link.signerKeyNumber}): ${checked.message}`;
      return { ...fail(code, message), brokenAt: index };
    }
    previous = link.signature;
    index += 1;
  }
  return { ok: true, linksChecked: index };
}
