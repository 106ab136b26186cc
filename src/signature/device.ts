// The electronic signature device (Embodiment 6, FIG. 6, claims 1-14).
//
// It holds a table of keys, each with its authorities, and performs an operation with a key only
// when that key's row grants the authority for it. Everything else is refused with a typed failure
// (AuthorityDenied, UnknownKey), never with a silent `false`. This is what lets two devices share
// one HMAC secret safely: the device that holds it with `verify` only cannot sign with it, so it
// cannot pose as the key's owner (claims 1-3).
//
// The verifier takes the algorithm from the key's row, never from the message. HMAC verification
// compares in constant time. Ed25519 and HMAC-SHA256 sign and verify; AES-256-GCM encrypts and
// decrypts (the "encryption of data" processing type of claims 6 and 13).

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  sign as ed25519Sign,
  verify as ed25519Verify,
  timingSafeEqual,
} from 'node:crypto';
import { assert, unreachable } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import { type ErrorCode, type Failure, fail, ok, okVoid, type Result } from '../model/errors.js';
import { trimOldest } from '../model/oldestFirst.js';
import { ed25519PublicKeyProblem } from './ed25519Points.js';
import {
  type Algorithm,
  type Authority,
  aesKeyBytes,
  applicableAuthorities,
  ed25519KeyBytes,
  hmacKeyBytesGenerated,
  hmacKeyBytesMaxDefault,
  hmacKeyBytesMinDefault,
  type KeyDescriptor,
  KeyEntry,
  keyNumberMax,
  ownerPattern,
  producingAuthorities,
} from './keys.js';

/** Keys of the deployment (devices, issuers, operators, shared secrets) one device holds. */
export const keyCountMax = 10_000;
/**
 * Accounts' Ed25519 verification keys (owner `account:N`) one device holds in memory besides: a
 * cache, not a table. The store holds every account's key (as many as there are accounts); a
 * device makes a key usable when it reads it for a step (devices/context.ts, usableAccountKey),
 * and past this many the key used longest ago is dropped from memory. Limited apart, so that
 * opening accounts can never crowd out the deployment's own keys; never written to a keystore file.
 */
export const accountKeysHeldMaxDefault = 100_000;
export const signMessageBytesMax = 1024 * 1024;
export const encryptPlaintextBytesMax = 256 * 1024 * 1024;
export const hmacSignatureBytes = 32;
export const ed25519SignatureBytes = 64;
export const aesGcmIvBytes = 12;
export const aesGcmTagBytes = 16;

export interface KeyPolicy {
  /** Shortest HMAC secret accepted. 16 bytes by default; RFC 4231's own vectors need less. */
  readonly hmacKeyBytesMin: number;
  readonly hmacKeyBytesMax: number;
  /** Account keys held in memory at once (accountKeysHeldMaxDefault). */
  readonly accountKeysHeldMax: number;
}

export const defaultKeyPolicy: KeyPolicy = {
  hmacKeyBytesMin: hmacKeyBytesMinDefault,
  hmacKeyBytesMax: hmacKeyBytesMaxDefault,
  accountKeysHeldMax: accountKeysHeldMaxDefault,
};

export interface NewKey {
  /** Deployment-wide number; the next free number when absent. */
  readonly keyNumber?: number;
  readonly owner: string;
  readonly algorithm: Algorithm;
  /** Imported material; generated from the environment's randomness when absent. */
  readonly material?: Uint8Array;
  readonly authorities: readonly Authority[];
}

export interface PublicKeyExport {
  readonly keyNumber: number;
  readonly owner: string;
  readonly algorithm: 'ed25519-public';
  readonly publicKeyHex: string;
}

export interface Rotation {
  readonly retired: KeyDescriptor;
  readonly successor: KeyDescriptor;
}

/** Told of every operation the device carried out or refused: the key, the authority, the result. */
export type OperationListener = (
  keyNumber: number,
  authority: Authority,
  result: 'ok' | ErrorCode,
) => void;

export class SignatureDevice {
  readonly #keys = new Map<number, KeyEntry>();
  /** Which of #keys are account keys, least recently used first (at most policy.accountKeysHeldMax). */
  readonly #accountKeysByUse = new Set<number>();
  readonly #environment: Environment;
  readonly #policy: KeyPolicy;
  #listener: OperationListener | undefined;
  #revocations = 0;

  constructor(environment: Environment, policy: KeyPolicy = defaultKeyPolicy) {
    assert(
      policy.hmacKeyBytesMin >= 1 &&
        policy.hmacKeyBytesMin <= policy.hmacKeyBytesMax &&
        policy.accountKeysHeldMax >= 1,
      'key policy',
    );
    this.#environment = environment;
    this.#policy = policy;
  }

  /** Count operations (devices/metrics.ts); one listener, set once. */
  observe(listener: OperationListener): void {
    assert(this.#listener === undefined, 'one listener per signature device');
    this.#listener = listener;
  }

  // ---- The table -------------------------------------------------------------------------------

  get size(): number {
    return this.#keys.size;
  }

  /**
   * How many times a key lost an authority (revoke, rotate): what was checked with the keys before
   * may not hold with them now (audit/verifiedRecords.ts).
   */
  get revocations(): number {
    return this.#revocations;
  }

  /**
   * Whether `keyNumber` holds `authority` now: a copy of a check (audit/verifiedRecords.ts,
   * devices/rowCopies.ts) is kept only for a key that could make that check itself.
   */
  allows(keyNumber: number, authority: Authority): boolean {
    return this.#keys.get(keyNumber)?.allows(authority) === true;
  }

  /**
   * Whether the table holds `keyNumber`, and, when they are given, for `owner` and with
   * `algorithm`: what `describe` tells, without a descriptor or a refusal made (a step asks it of
   * every account it names, devices/accountKeys.ts).
   */
  holds(keyNumber: number, owner?: string, algorithm?: Algorithm): boolean {
    const key = this.#keys.get(keyNumber);
    return (
      key !== undefined &&
      (owner === undefined || key.owner === owner) &&
      (algorithm === undefined || key.algorithm === algorithm)
    );
  }

  /** How many account keys this device holds at most (the rest are read again when used). */
  get accountKeysHeldMax(): number {
    return this.#policy.accountKeysHeldMax;
  }

  list(): KeyDescriptor[] {
    return [...this.#keys.values()]
      .sort((a, b) => a.keyNumber - b.keyNumber)
      .map((key) => key.describe());
  }

  describe(keyNumber: number): Result<KeyDescriptor> {
    const key = this.#keys.get(keyNumber);
    return key ? ok(key.describe()) : unknownKey(keyNumber);
  }

  addKey(spec: NewKey, createdAtMs = this.#environment.nowMs()): Result<KeyDescriptor> {
    const accountKey = spec.algorithm === 'ed25519-public' && spec.owner.startsWith('account:');
    if (!accountKey && this.#keys.size - this.#accountKeysByUse.size >= keyCountMax)
      return fail('KeystoreFull', `the keystore holds ${keyCountMax} keys already`);
    const keyNumber = spec.keyNumber ?? this.#nextKeyNumber();
    if (!Number.isInteger(keyNumber) || keyNumber < 1 || keyNumber > keyNumberMax) {
      return fail('InvalidInput', `key number must be an integer from 1 to ${keyNumberMax}`);
    }
    if (this.#keys.has(keyNumber)) return fail('KeyNumberTaken', `key ${keyNumber} already exists`);
    if (!ownerPattern.test(spec.owner)) {
      return fail(
        'InvalidInput',
        `owner "${spec.owner}" must look like "transaction" or "account:42"`,
      );
    }
    for (const authority of spec.authorities) {
      const refused = this.#checkApplicable(keyNumber, spec.algorithm, authority);
      if (refused) return refused;
    }
    const material = spec.material ?? this.#generateMaterial(spec.algorithm);
    const materialProblem = this.#checkMaterial(spec.algorithm, material);
    if (materialProblem) return materialProblem;
    const entry = new KeyEntry(
      keyNumber,
      spec.owner,
      spec.algorithm,
      material,
      spec.authorities,
      createdAtMs,
    );
    if (accountKey) this.#holdAccountKey(keyNumber);
    this.#keys.set(keyNumber, entry);
    return ok(entry.describe());
  }

  grant(keyNumber: number, authority: Authority): Result<KeyDescriptor> {
    const key = this.#keys.get(keyNumber);
    if (!key) return unknownKey(keyNumber);
    const refused = this.#checkApplicable(keyNumber, key.algorithm, authority);
    if (refused) return refused;
    key.grant(authority);
    return ok(key.describe());
  }

  revoke(keyNumber: number, authority: Authority): Result<KeyDescriptor> {
    const key = this.#keys.get(keyNumber);
    if (!key) return unknownKey(keyNumber);
    key.revoke(authority);
    this.#revocations += 1;
    assert(!key.allows(authority), 'revoked authority is gone');
    return ok(key.describe());
  }

  /**
   * Key rotation: a new key number (same owner, same algorithm, fresh material) takes over the
   * producing authorities (sign, encrypt); the old key keeps only verify/decrypt, so records it
   * signed and data it encrypted stay readable.
   */
  rotate(keyNumber: number, successorNumber?: number): Result<Rotation> {
    const key = this.#keys.get(keyNumber);
    if (!key) return unknownKey(keyNumber);
    const handedOver = producingAuthorities.filter((authority) => key.allows(authority));
    if (handedOver.length === 0) {
      return fail(
        'AuthorityDenied',
        `key ${keyNumber} holds neither sign nor encrypt, so there is nothing to rotate`,
      );
    }
    const added = this.addKey({
      ...(successorNumber === undefined ? {} : { keyNumber: successorNumber }),
      owner: key.owner,
      algorithm: key.algorithm,
      authorities: key.authorityList(),
    });
    if (!added.ok) return added;
    for (const authority of handedOver) key.revoke(authority);
    this.#revocations += 1;
    return ok({ retired: key.describe(), successor: added.value });
  }

  exportPublic(keyNumber: number): Result<PublicKeyExport> {
    const key = this.#keys.get(keyNumber);
    if (!key) return unknownKey(keyNumber);
    const publicKey = key.publicKeyRaw();
    if (!publicKey) {
      return fail(
        'AuthorityNotApplicable',
        `key ${keyNumber} is a secret ${key.algorithm} key and has no public part`,
      );
    }
    return ok({
      keyNumber,
      owner: key.owner,
      algorithm: 'ed25519-public',
      publicKeyHex: publicKey.toString('hex'),
    });
  }

  /**
   * The 32-byte seed of an Ed25519 signing key: for its holder to carry it into a browser (the
   * operator console signs in the page). Only a key with sign authority; never an HMAC or AES key.
   */
  exportSeed(keyNumber: number): Result<Buffer> {
    const key = this.#authorised(keyNumber, 'sign');
    if (!(key instanceof KeyEntry)) return key;
    if (key.algorithm !== 'ed25519-private')
      return fail('AuthorityDenied', `key ${keyNumber} is not an Ed25519 signing key`);
    const seed = key.materialCopy();
    assert(seed.length === 32, 'an Ed25519 seed is 32 bytes');
    return ok(seed);
  }

  // ---- The operations --------------------------------------------------------------------------

  sign(keyNumber: number, message: Uint8Array): Result<Buffer> {
    return this.#told(keyNumber, 'sign', this.#sign(keyNumber, message));
  }

  /** Succeeds with no value when the signature is valid; fails with SignatureInvalid otherwise. */
  verify(keyNumber: number, message: Uint8Array, signature: Uint8Array): Result<undefined> {
    return this.#told(keyNumber, 'verify', this.#verify(keyNumber, message, signature));
  }

  /** AES-256-GCM: returns iv (12 bytes) || ciphertext || tag (16 bytes); `associatedData` is authenticated. */
  encrypt(keyNumber: number, plaintext: Uint8Array, associatedData?: Uint8Array): Result<Buffer> {
    return this.#told(keyNumber, 'encrypt', this.#encrypt(keyNumber, plaintext, associatedData));
  }

  decrypt(keyNumber: number, sealed: Uint8Array, associatedData?: Uint8Array): Result<Buffer> {
    return this.#told(keyNumber, 'decrypt', this.#decrypt(keyNumber, sealed, associatedData));
  }

  #told<T>(keyNumber: number, authority: Authority, result: Result<T>): Result<T> {
    this.#listener?.(keyNumber, authority, result.ok ? 'ok' : result.code);
    return result;
  }

  #sign(keyNumber: number, message: Uint8Array): Result<Buffer> {
    const key = this.#authorised(keyNumber, 'sign');
    if (!(key instanceof KeyEntry)) return key;
    if (message.length > signMessageBytesMax) return tooLarge('message', signMessageBytesMax);
    switch (key.algorithm) {
      case 'hmac-sha256':
        return ok(createHmac('sha256', key.keyObject()).update(message).digest());
      case 'ed25519-private':
        return ok(ed25519Sign(null, message, key.keyObject()));
      case 'ed25519-public':
      case 'aes-256-gcm':
        return unreachable(key.algorithm as never, 'sign authority on a key that cannot sign');
    }
  }

  #verify(keyNumber: number, message: Uint8Array, signature: Uint8Array): Result<undefined> {
    const key = this.#authorised(keyNumber, 'verify');
    if (!(key instanceof KeyEntry)) return key;
    if (message.length > signMessageBytesMax) return tooLarge('message', signMessageBytesMax);
    let valid: boolean;
    switch (key.algorithm) {
      case 'hmac-sha256': {
        if (signature.length !== hmacSignatureBytes) return invalidSignature(keyNumber);
        const expected = createHmac('sha256', key.keyObject()).update(message).digest();
        valid = timingSafeEqual(expected, signature);
        break;
      }
      case 'ed25519-private':
      case 'ed25519-public':
        if (signature.length !== ed25519SignatureBytes) return invalidSignature(keyNumber);
        valid = ed25519Verify(null, message, key.verifyKeyObject(), signature);
        break;
      case 'aes-256-gcm':
        return unreachable(key.algorithm as never, 'verify authority on an encryption key');
    }
    return valid ? okVoid : invalidSignature(keyNumber);
  }

  #encrypt(
    keyNumber: number,
    plaintext: Uint8Array,
    associatedData: Uint8Array = Buffer.alloc(0),
  ): Result<Buffer> {
    const key = this.#authorised(keyNumber, 'encrypt');
    if (!(key instanceof KeyEntry)) return key;
    if (plaintext.length > encryptPlaintextBytesMax)
      return tooLarge('plaintext', encryptPlaintextBytesMax);
    const iv = this.#environment.randomBytes(aesGcmIvBytes);
    const cipher = createCipheriv('aes-256-gcm', key.keyObject(), iv);
    cipher.setAAD(associatedData);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]);
    assert(sealed.length === plaintext.length + aesGcmIvBytes + aesGcmTagBytes, 'sealed length');
    return ok(sealed);
  }

  #decrypt(
    keyNumber: number,
    sealed: Uint8Array,
    associatedData: Uint8Array = Buffer.alloc(0),
  ): Result<Buffer> {
    const key = this.#authorised(keyNumber, 'decrypt');
    if (!(key instanceof KeyEntry)) return key;
    if (sealed.length < aesGcmIvBytes + aesGcmTagBytes) {
      return fail('DecryptionFailed', 'the ciphertext is shorter than its IV and tag');
    }
    const iv = sealed.subarray(0, aesGcmIvBytes);
    const tag = sealed.subarray(sealed.length - aesGcmTagBytes);
    const decipher = createDecipheriv('aes-256-gcm', key.keyObject(), iv);
    decipher.setAAD(associatedData);
    decipher.setAuthTag(tag);
    try {
      const body = sealed.subarray(aesGcmIvBytes, sealed.length - aesGcmTagBytes);
      return ok(Buffer.concat([decipher.update(body), decipher.final()]));
    } catch {
      return fail(
        'DecryptionFailed',
        `the ciphertext does not authenticate under key ${keyNumber}`,
      );
    }
  }

  // ---- Persistence (used by ./keystoreFile.ts) ---------------------------------------------------

  /** The plaintext table as JSON bytes, secrets included. The caller encrypts and then zeroes it. */
  serialize(): Buffer {
    const rows = [...this.#keys.values()].map((key) => ({
      ...key.describe(),
      material: key.materialCopy().toString('base64'),
    }));
    return Buffer.from(JSON.stringify({ version: 1, keys: rows }), 'utf8');
  }

  // ---- Internals -------------------------------------------------------------------------------

  /**
   * Note a new account key as the most recently used; at the limit the least recently used go, a
   * sixteenth of the limit at once (model/oldestFirst.ts).
   */
  #holdAccountKey(keyNumber: number): void {
    const heldMax = this.#policy.accountKeysHeldMax;
    trimOldest(this.#accountKeysByUse, heldMax - 1, (oldest) => this.#keys.delete(oldest));
    this.#accountKeysByUse.add(keyNumber);
    assert(this.#accountKeysByUse.size <= heldMax, 'account keys held within the limit');
  }

  #authorised(keyNumber: number, authority: Authority): KeyEntry | Failure {
    const key = this.#keys.get(keyNumber);
    if (key === undefined) return unknownKey(keyNumber);
    if (this.#accountKeysByUse.delete(keyNumber)) this.#accountKeysByUse.add(keyNumber);
    if (!key.allows(authority)) {
      return fail('AuthorityDenied', `key ${keyNumber} (${key.owner}) does not grant ${authority}`);
    }
    return key;
  }

  #checkApplicable(
    keyNumber: number,
    algorithm: Algorithm,
    authority: Authority,
  ): Failure | undefined {
    if (applicableAuthorities[algorithm].includes(authority)) return undefined;
    return fail(
      'AuthorityNotApplicable',
      `key ${keyNumber}: ${authority} does not apply to ${algorithm}`,
    );
  }

  #checkMaterial(algorithm: Algorithm, material: Uint8Array): Failure | undefined {
    const length = material.length;
    switch (algorithm) {
      case 'hmac-sha256':
        if (length >= this.#policy.hmacKeyBytesMin && length <= this.#policy.hmacKeyBytesMax)
          return undefined;
        return fail(
          'KeyMaterialInvalid',
          `an HMAC-SHA256 secret must be ${this.#policy.hmacKeyBytesMin} to ${this.#policy.hmacKeyBytesMax} bytes, got ${length}`,
        );
      case 'ed25519-private':
      case 'ed25519-public': {
        if (length !== ed25519KeyBytes)
          return fail(
            'KeyMaterialInvalid',
            `an Ed25519 key must be ${ed25519KeyBytes} bytes, got ${length}`,
          );
        // A public key that lets a signature verify without a private key is refused.
        const weak = algorithm === 'ed25519-public' ? ed25519PublicKeyProblem(material) : undefined;
        return weak === undefined ? undefined : fail('KeyMaterialInvalid', weak);
      }
      case 'aes-256-gcm':
        if (length === aesKeyBytes) return undefined;
        return fail(
          'KeyMaterialInvalid',
          `an AES-256 key must be ${aesKeyBytes} bytes, got ${length}`,
        );
    }
  }

  #generateMaterial(algorithm: Algorithm): Buffer {
    switch (algorithm) {
      case 'hmac-sha256':
        return this.#environment.randomBytes(hmacKeyBytesGenerated);
      case 'ed25519-private':
        return this.#environment.randomBytes(ed25519KeyBytes);
      case 'aes-256-gcm':
        return this.#environment.randomBytes(aesKeyBytes);
      case 'ed25519-public':
        // A public key is never generated alone: generate a private key and export its public part.
        return Buffer.alloc(0);
    }
  }

  #nextKeyNumber(): number {
    let highest = 0;
    for (const keyNumber of this.#keys.keys()) highest = Math.max(highest, keyNumber);
    return highest + 1;
  }
}

function unknownKey(keyNumber: number): Failure {
  return fail('UnknownKey', `key ${keyNumber} is not in this keystore`);
}

function invalidSignature(keyNumber: number): Failure {
  return fail('SignatureInvalid', `the signature does not verify with key ${keyNumber}`);
}

function tooLarge(what: string, bytesMax: number): Failure {
  return fail('InvalidInput', `the ${what} is larger than ${bytesMax} bytes`);
}
