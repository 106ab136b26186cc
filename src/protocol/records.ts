// Transaction records (A) as the protocol handles them: typed, signed, chained, verified.
//
// A record is signed as its canonical encoding (docs/encoding.md) chained over the previous
// record's signature (Embodiment 3). Signature 0 is the deployment's configured initial value. One
// rule bends that: a step-1 record is signed by the requester before the transaction device has
// given it a transaction number, so it is signed with transaction number 0; its stored number is
// fixed by the block of the operation (base = response number - 5), which the transaction device's
// signatures cover.

import { createHash } from 'node:crypto';
import { assert } from '../model/assert.js';
import { ok, type Result } from '../model/errors.js';
import { type ChainVerification, chainMessage } from '../signature/chain.js';
import { SignatureDevice } from '../signature/device.js';
import { accountIssuingDetail, parseDetail } from './details.js';
import { type SignedRecord, signingBytes, type TransactionRecord } from './recordBytes.js';
import { stepOf } from './transactionTypes.js';

export {
  decodedRecord,
  recordBytes,
  type SignedRecord,
  sameRecord,
  sameSignedFields,
  signingBytes,
  storedEncoding,
  type TransactionRecord,
} from './recordBytes.js';

export function signRecord(
  device: SignatureDevice,
  keyNumber: number,
  record: TransactionRecord,
  previousSignature: Uint8Array,
): Result<SignedRecord> {
  assert(record.signerKeyNumber === keyNumber, 'a record names the key that signs it');
  const signed = device.sign(keyNumber, chainMessage(signingBytes(record), previousSignature));
  if (!signed.ok) return signed;
  return ok({ record, signature: signed.value });
}

/**
 * Verify the run of records of one operation, in step order, every link from signature 0.
 * `verifierFor` lets the caller pick the device for a link: a new account's request is checked with
 * the public key it carries (proof of possession), which no keystore holds yet.
 * `trustedCount`: the first records are ones the caller verified before and holds byte for byte
 * (its own stored copy, or the request it signed itself); their signatures are not checked again,
 * and the next link is checked against the last of them.
 */
export function verifyOperationChain(
  device: SignatureDevice,
  records: readonly SignedRecord[],
  signatureZero: Uint8Array,
  verifierFor: (record: TransactionRecord) => SignatureDevice = () => device,
  trustedCount = 0,
): ChainVerification {
  assert(trustedCount >= 0 && trustedCount <= records.length, 'trusted records are a prefix');
  let previous: Uint8Array = signatureZero;
  let previousStep = 0;
  for (let index = 0; index < records.length; index++) {
    const { record, signature } = records[index]!;
    const step = stepOf(record.transactionType);
    if (step <= previousStep) {
      return {
        ok: false,
        code: 'ChainBroken',
        brokenAt: index,
        message: `record ${index} is out of step order`,
      };
    }
    if (index < trustedCount) {
      previous = signature;
      previousStep = step;
      continue;
    }
    const verifier = verifierFor(record);
    const keyNumber =
      record.signerKeyNumber === 0 && verifier !== device
        ? selfSignedKeyNumber
        : record.signerKeyNumber;
    const verified = verifier.verify(
      keyNumber,
      chainMessage(signingBytes(record), previous),
      signature,
    );
    if (!verified.ok) {
      const code = verified.code === 'SignatureInvalid' ? 'ChainBroken' : verified.code;
      const message = `record ${index} (${record.transactionType}, key ${record.signerKeyNumber}): ${verified.message}`;
      return { ok: false, code, brokenAt: index, message };
    }
    previous = signature;
    previousStep = step;
  }
  return { ok: true, linksChecked: records.length - trustedCount };
}

/** Transaction number of step `step` in the block that starts at `base`. */
export function numberOfStep(base: bigint, step: number): bigint {
  assert(step >= 1 && step <= 6, 'steps are 1..6');
  return base + BigInt(step - 1);
}

/** Every operation owns a block of six transaction numbers, one per step. */
export const blockSize = 6n;

/** The block a transaction number belongs to, counted from 0. */
export function blockOf(transactionNumber: bigint): bigint {
  return (transactionNumber - 1n) / blockSize;
}

/** The first transaction number of a block. */
export function baseOfBlock(block: bigint): bigint {
  return block * blockSize + 1n;
}

/**
 * A new account's request is signed by the Ed25519 key it brings (proof of possession), which no
 * keystore holds yet: it is checked with a one-key device holding that public key as key 0's stand-in.
 */
export function selfSignedVerifier(record: TransactionRecord): SignatureDevice | undefined {
  if (record.transactionType !== 'account_issuing_request' || record.signerKeyNumber !== 0)
    return undefined;
  const detail = parseDetail(accountIssuingDetail, record.detail);
  if (!detail) return undefined;
  const verifier = new SignatureDevice({ nowMs: () => 0, randomBytes: () => Buffer.alloc(0) });
  const added = verifier.addKey({
    keyNumber: selfSignedKeyNumber,
    owner: 'applicant',
    algorithm: 'ed25519-public',
    material: Buffer.from(detail.publicKeyHex, 'hex'),
    authorities: ['verify'],
  });
  return added.ok ? verifier : undefined;
}

/** The stand-in number under which a self-signed request's key sits in its one-key verifier. */
export const selfSignedKeyNumber = 1;

/**
 * What identifies a request at the transaction device: its signed bytes and its signature, hashed
 * (kept with its operation, so that a request id used again for another request is refused).
 */
export function requestDigestOf(request: SignedRecord): Buffer {
  return createHash('sha256')
    .update(signingBytes(request.record))
    .update(request.signature)
    .digest();
}
