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
/** Nonces remembered at most (EnvelopeNonces: the last envelopeSkewMsMax); past it signed requests wait. */
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

/** A second of envelope times, in milliseconds: the grain nonces are remembered and dropped by. */
const nonceSecondMs = 1_000;

/**
 * The nonces of the envelopes accepted, by the second their envelope was signed in. An envelope is
 * acceptable only while its time is within skewMs of the receiver's clock, and a replay carries the
 * same signed time, so a nonce is looked for in its own second alone, and a second's nonces are
 * dropped once the clock has passed it by skewMs: what is kept is the envelopes of the last skewMs
 * (and any signed ahead of the clock), flat under a steady load. An envelope of a second already
 * dropped is refused as stale even when the clock was set back since: a forgotten nonce never
 * comes back. At most noncesMax are kept; past it signed requests wait.
 */
export class EnvelopeNonces {
  readonly #bySecond = new Map<number, Set<string>>();
  #count = 0;
  /** Envelopes signed in a second before this one are refused: their nonces may be forgotten. */
  #forgottenBefore = Number.NEGATIVE_INFINITY;

  constructor(
    readonly skewMs = envelopeSkewMsMax,
    private readonly noncesMax = envelopeNoncesMax,
  ) {}

  /** How many nonces are remembered. */
  get size(): number {
    return this.#count;
  }

  /**
   * Remember `nonce` of `keyNumber`, from an envelope signed at `sentAtMs`; a failure when it was
   * seen, when its second is forgotten already, or when memory is full.
   */
  claim(keyNumber: number, nonceHex: string, sentAtMs: number, nowMs: number): Failure | undefined {
    this.#forget(nowMs);
    const second = Math.floor(sentAtMs / nonceSecondMs);
    if (second < this.#forgottenBefore)
      return fail('StaleTimestamp', 'the request was signed too long ago');
    // Kept as a flat string of its own: the nonce as parsed is a slice of the whole header, which a
    // remembered slice keeps alive (253 bytes of heap per nonce against 83, measured).
    const key = Buffer.from(`${keyNumber}.${nonceHex}`, 'latin1').toString('latin1');
    const nonces = this.#bySecond.get(second);
    if (nonces?.has(key))
      return fail('EnvelopeReplayed', 'this signed request was received already');
    if (this.#count >= this.noncesMax)
      return fail('RateLimited', 'too many signed requests within the window; retry shortly');
    if (nonces === undefined) this.#bySecond.set(second, new Set([key]));
    else nonces.add(key);
    this.#count += 1;
    return undefined;
  }

  /** Drop the seconds no envelope can be accepted from any more (the clock past them by skewMs). */
  #forget(nowMs: number): void {
    const before = Math.floor((nowMs - this.skewMs) / nonceSecondMs);
    if (before <= this.#forgottenBefore) return;
    this.#forgottenBefore = before;
    for (const [second, nonces] of this.#bySecond) {
      if (second >= before) continue;
      this.#count -= nonces.size;
      this.#bySecond.delete(second);
    }
    assert(this.#count >= 0, 'the nonces forgotten were counted');
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
  // A nonce must be remembered for as long as the time check below accepts its envelope.
  assert(nonces.skewMs >= envelopeSkewMsMax, 'nonces are kept for the whole window');
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
  const replayed = nonces.claim(
    envelope.keyNumber,
    envelope.nonceHex,
    Number(envelope.sentAtMs),
    nowMs,
  );
  return replayed ?? ok(envelope.keyNumber);
}
