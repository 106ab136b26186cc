// The signature on every request that is not itself a signed record: between devices, from the
// operator, and an account holder's reads (the bytes are in ./envelopeBytes.ts).
//
// A receiver checks, in this order: the header's form, that the signer is a key the route allows
// (devices/access.ts decides which), the time within envelopeSkewMsMax, the signature over the
// receiver's own name, the method, the target the router matched and the body, and last that the
// nonce was not seen within the window (EnvelopeNonces). Only a request whose signature verifies
// is remembered, so nobody without a key can fill the memory of nonces.

import { createHash } from 'node:crypto';
import { assert } from '../model/assert.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import type { SignatureDevice } from '../signature/device.js';
import {
  envelopeHeader,
  envelopeHeaderValue,
  envelopeMessage,
  envelopeNonceBytes,
  envelopeTargetBytesMax,
  parseEnvelopeHeader,
  signedTarget,
} from './envelopeBytes.js';

export { envelopeHeader };

/** How far an envelope's time may be from the receiver's clock, either way. */
export const envelopeSkewMsMax = 60_000;
/** Nonces remembered in one generation (EnvelopeNonces); past it signed requests wait. */
export const envelopeNoncesMax = 500_000;

export interface EnvelopeRequest {
  readonly receiver: string;
  readonly method: string;
  /** The URL as sent (`/path?query`); the envelope covers signedTarget(url). */
  readonly url: string;
  readonly body: Uint8Array;
}

const sha256 = (body: Uint8Array) => createHash('sha256').update(body).digest();

export function signEnvelope(
  device: SignatureDevice,
  keyNumber: number,
  request: EnvelopeRequest,
  nowMs: number,
  randomBytes: (count: number) => Uint8Array,
): string {
  const target = signedTarget(request.url);
  assert(target !== undefined, 'a device signs only URLs it built');
  const sentAtMs = BigInt(nowMs);
  const nonce = randomBytes(envelopeNonceBytes);
  const message = envelopeMessage(
    { receiver: request.receiver, method: request.method, target, sentAtMs, nonce },
    sha256(request.body),
  );
  const signed = device.sign(keyNumber, message);
  if (!signed.ok) throw new Error(`cannot sign a request with key ${keyNumber}: ${signed.code}`);
  return envelopeHeaderValue(keyNumber, sentAtMs, nonce, signed.value);
}

/**
 * The nonces of the envelopes accepted within the window, in two generations: a nonce is kept for
 * at least twice the window (an envelope is acceptable for at most that long), then dropped.
 */
export class EnvelopeNonces {
  #current = new Set<string>();
  #previous = new Set<string>();
  #rotatedAtMs: number;

  constructor(
    nowMs: number,
    private readonly skewMs = envelopeSkewMsMax,
    private readonly noncesMax = envelopeNoncesMax,
  ) {
    this.#rotatedAtMs = nowMs;
  }

  /** Remember `nonce` of `keyNumber`; a failure when it was seen, or when memory is full. */
  claim(keyNumber: number, nonceHex: string, nowMs: number): Failure | undefined {
    if (nowMs - this.#rotatedAtMs >= 2 * this.skewMs) {
      this.#previous = this.#current;
      this.#current = new Set();
      this.#rotatedAtMs = nowMs;
    }
    // Kept as a flat string of its own: the nonce as parsed is a slice of the whole header, which a
    // remembered slice keeps alive (253 bytes of heap per nonce against 83, measured).
    const key = Buffer.from(`${keyNumber}.${nonceHex}`, 'latin1').toString('latin1');
    if (this.#current.has(key) || this.#previous.has(key))
      return fail('EnvelopeReplayed', 'this signed request was received already');
    if (this.#current.size >= this.noncesMax)
      return fail('RateLimited', 'too many signed requests within the window; retry shortly');
    this.#current.add(key);
    return undefined;
  }
}

/**
 * Check a request's envelope; only a key of `allowedKeyNumbers` may have signed it. The signer's key
 * number, when it holds.
 */
export function verifyEnvelope(
  device: SignatureDevice,
  allowedKeyNumbers: readonly number[],
  header: string | undefined,
  request: EnvelopeRequest,
  nowMs: number,
  nonces: EnvelopeNonces,
): Result<number> {
  const envelope = parseEnvelopeHeader(header);
  if (!envelope)
    return fail('SignatureInvalid', `the request carries no valid ${envelopeHeader} header`);
  if (!allowedKeyNumbers.includes(envelope.keyNumber))
    return fail('WrongSigner', `key ${envelope.keyNumber} may not call this endpoint`);
  if (Math.abs(nowMs - Number(envelope.sentAtMs)) > envelopeSkewMsMax)
    return fail('StaleTimestamp', 'the request was signed too long ago');
  const target = signedTarget(request.url);
  if (target === undefined || target.length > envelopeTargetBytesMax)
    return fail('InvalidInput', 'the request path cannot be decoded');
  const message = envelopeMessage(
    {
      receiver: request.receiver,
      method: request.method,
      target,
      sentAtMs: envelope.sentAtMs,
      nonce: Buffer.from(envelope.nonceHex, 'hex'),
    },
    sha256(request.body),
  );
  const verified = device.verify(
    envelope.keyNumber,
    message,
    Buffer.from(envelope.signatureHex, 'hex'),
  );
  if (!verified.ok) return verified;
  const replayed = nonces.claim(envelope.keyNumber, envelope.nonceHex, nowMs);
  return replayed ?? ok(envelope.keyNumber);
}
