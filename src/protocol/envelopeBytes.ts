// The bytes a request's envelope signature covers, and the header that carries it, with no crypto
// and no Node API: the devices (protocol/envelope.ts) and the operator console and wallet in the
// page (console/browser.ts) build the very same bytes from this one module.
//
// An envelope names the device it is meant for, the method, the target (the decoded path the
// router matches, and the query as sent), when it was signed and a random nonce, and covers the
// body by its SHA-256. A captured envelope therefore works at one device, for one request, once
// (the receiver remembers nonces for the whole window, protocol/envelope.ts).
//
//   "TLM2" || u16 len(receiver) || receiver || u16 len(method) || method
//          || u16 len(target) || target || i64 sent-at-ms || nonce (16 bytes) || SHA-256(body)
//
// Header: `triledger-signature: KEY.SENT_AT_MS.NONCE_HEX.SIGNATURE_HEX`.

import { toHex } from '../model/hex.js';

export const envelopeHeader = 'triledger-signature';
export const envelopeTag = 'TLM2';
export const envelopeNonceBytes = 16;
export const sha256Bytes = 32;
/** A target (path and query) longer than this is refused before anything is checked. */
export const envelopeTargetBytesMax = 4096;

export interface EnvelopeFields {
  /** The device the request is meant for: `transaction`, `account` or `currency`. */
  readonly receiver: string;
  readonly method: string;
  /** signedTarget(url): the decoded path and the query as sent. */
  readonly target: string;
  readonly sentAtMs: bigint;
  readonly nonce: Uint8Array;
}

/**
 * What an envelope names of a URL (`/path?query`): the path percent-decoded, as the router decodes
 * it before it matches, and the query as sent. Undefined when the path cannot be decoded.
 */
export function signedTarget(url: string): string | undefined {
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : url.slice(queryAt);
  try {
    return decodeURIComponent(path) + query;
  } catch {
    return undefined;
  }
}

export function envelopeMessage(fields: EnvelopeFields, bodyDigest: Uint8Array): Uint8Array {
  if (bodyDigest.length !== sha256Bytes) throw new RangeError('the body digest is SHA-256');
  if (fields.nonce.length !== envelopeNonceBytes) throw new RangeError('a nonce is 16 bytes');
  const encoder = new TextEncoder();
  const parts = [fields.receiver, fields.method, fields.target].map((text) => encoder.encode(text));
  const length =
    envelopeTag.length +
    parts.reduce((sum, part) => sum + 2 + part.length, 0) +
    8 +
    envelopeNonceBytes +
    sha256Bytes;
  const message = new Uint8Array(length);
  const view = new DataView(message.buffer);
  message.set(encoder.encode(envelopeTag), 0);
  let offset = envelopeTag.length;
  for (const part of parts) {
    if (part.length > 0xffff) throw new RangeError('an envelope field is longer than 65535 bytes');
    view.setUint16(offset, part.length);
    message.set(part, offset + 2);
    offset += 2 + part.length;
  }
  view.setBigInt64(offset, fields.sentAtMs);
  message.set(fields.nonce, offset + 8);
  message.set(bodyDigest, offset + 8 + envelopeNonceBytes);
  return message;
}

export function envelopeHeaderValue(
  keyNumber: number,
  sentAtMs: bigint,
  nonce: Uint8Array,
  signature: Uint8Array,
): string {
  return `${keyNumber}.${sentAtMs}.${toHex(nonce)}.${toHex(signature)}`;
}

export interface ParsedEnvelope {
  readonly keyNumber: number;
  readonly sentAtMs: bigint;
  readonly nonceHex: string;
  readonly signatureHex: string;
}

/** The header's parts, or undefined when it is not an envelope of this version. */
export function parseEnvelopeHeader(header: string | undefined): ParsedEnvelope | undefined {
  const match = /^([0-9]{1,10})\.([0-9]{1,16})\.([0-9a-f]{32})\.([0-9a-f]{2,256})$/.exec(
    header ?? '',
  );
  if (!match) return undefined;
  const [, key, sent, nonceHex, signatureHex] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  return { keyNumber: Number(key), sentAtMs: BigInt(sent), nonceHex, signatureHex };
}
