// The signature on every request between devices.
//
// `account` and `currency` act only on requests signed by the transaction device's key, and the
// transaction device's admin endpoints only on requests signed by an operator key. The header
// `triledger-signature: KEY.SENT_AT_MS.SIGNATURE_HEX` signs "TLM1" || u16 len(method) || method ||
// u16 len(path) || path || i64 sent-at || SHA-256(body). A request outside the allowed clock skew,
// or signed by any other key, is refused before its body is even validated. The records inside
// carry their own signatures too; this covers reads and requests that carry none.

import { createHash } from 'node:crypto';
import { type Failure, fail } from '../model/errors.js';
import type { SignatureDevice } from '../signature/device.js';

export const envelopeHeader = 'triledger-signature';

function envelopeMessage(method: string, path: string, sentAtMs: bigint, body: Uint8Array): Buffer {
  const methodBytes = Buffer.from(method, 'utf8');
  const pathBytes = Buffer.from(path, 'utf8');
  const head = Buffer.alloc(4 + 2 + methodBytes.length + 2 + pathBytes.length + 8);
  let offset = head.write('TLM1', 0, 'ascii');
  offset = head.writeUInt16BE(methodBytes.length, offset);
  offset += methodBytes.copy(head, offset);
  offset = head.writeUInt16BE(pathBytes.length, offset);
  offset += pathBytes.copy(head, offset);
  head.writeBigInt64BE(sentAtMs, offset);
  return Buffer.concat([head, createHash('sha256').update(body).digest()]);
}

export function signEnvelope(
  device: SignatureDevice,
  keyNumber: number,
  method: string,
  path: string,
  body: Uint8Array,
  nowMs: number,
): string {
  const sentAtMs = BigInt(nowMs);
  const signed = device.sign(keyNumber, envelopeMessage(method, path, sentAtMs, body));
  if (!signed.ok) throw new Error(`cannot sign a request with key ${keyNumber}: ${signed.code}`);
  return `${keyNumber}.${sentAtMs}.${signed.value.toString('hex')}`;
}

/** Check a request's envelope; only a key of `allowedKeyNumbers` may have signed it. */
export function verifyEnvelope(
  device: SignatureDevice,
  allowedKeyNumbers: readonly number[],
  header: string | undefined,
  request: { method: string; path: string; body: Uint8Array },
  nowMs: number,
  skewMsMax: number,
): Failure | undefined {
  const match = /^([0-9]{1,10})\.([0-9]{1,16})\.([0-9a-f]{2,256})$/.exec(header ?? '');
  if (!match)
    return fail('SignatureInvalid', `the request carries no valid ${envelopeHeader} header`);
  const [, keyText, sentText, signatureHex] = match as unknown as [string, string, string, string];
  const keyNumber = Number(keyText);
  if (!allowedKeyNumbers.includes(keyNumber))
    return fail('WrongSigner', `key ${keyNumber} may not call this endpoint`);
  const sentAtMs = BigInt(sentText);
  if (Math.abs(nowMs - Number(sentAtMs)) > skewMsMax)
    return fail('StaleTimestamp', 'the request was signed too long ago');
  const verified = device.verify(
    keyNumber,
    envelopeMessage(request.method, request.path, sentAtMs, request.body),
    Buffer.from(signatureHex, 'hex'),
  );
  return verified.ok ? undefined : verified;
}
