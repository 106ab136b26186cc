// One row of the keystore table (FIG. 6; claims 4, 5, 11, 12): key number, owner, algorithm, key
// material and the authorities granted, as strings (claims 7, 14).
//
// The key material lives in a private field: it is not enumerable, not in JSON, not in
// util.inspect output, so it cannot leak into a log or an error message by accident. Only the
// signature device (./device.ts) reads it, to compute and to persist.

import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { assert } from '../model/assert.js';
import { keyNumberMax } from '../model/keyNumbers.js';

export const algorithms = [
  'hmac-sha256',
  'ed25519-private',
  'ed25519-public',
  'aes-256-gcm',
] as const;
export type Algorithm = (typeof algorithms)[number];

export const authorities = ['sign', 'verify', 'encrypt', 'decrypt'] as const;
export type Authority = (typeof authorities)[number];

/** Which authorities can mean anything for each algorithm. */
export const applicableAuthorities: Readonly<Record<Algorithm, readonly Authority[]>> = {
  'hmac-sha256': ['sign', 'verify'],
  'ed25519-private': ['sign', 'verify'],
  'ed25519-public': ['verify'],
  'aes-256-gcm': ['encrypt', 'decrypt'],
};

/** Authorities that produce something new with the key; rotation moves these to the successor. */
export const producingAuthorities: readonly Authority[] = ['sign', 'encrypt'];

export { keyNumberMax } from '../model/keyNumbers.js';
export const ownerPattern = /^[a-z][a-z0-9._-]{0,31}(:[A-Za-z0-9._-]{1,64})?$/;
export const hmacKeyBytesGenerated = 32;
export const hmacKeyBytesMaxDefault = 1024;
export const hmacKeyBytesMinDefault = 16;
export const ed25519KeyBytes = 32;
export const aesKeyBytes = 32;

const authorityBit: Readonly<Record<Authority, number>> = {
  sign: 1,
  verify: 2,
  encrypt: 4,
  decrypt: 8,
};

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI).
const ed25519Pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const ed25519SpkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

export interface KeyDescriptor {
  readonly keyNumber: number;
  readonly owner: string;
  readonly algorithm: Algorithm;
  /** In the canonical order sign, verify, encrypt, decrypt. */
  readonly authorities: readonly Authority[];
  readonly createdAtMs: number;
}

export function isAlgorithm(value: string): value is Algorithm {
  return (algorithms as readonly string[]).includes(value);
}

export function isAuthority(value: string): value is Authority {
  return (authorities as readonly string[]).includes(value);
}

export class KeyEntry {
  readonly keyNumber: number;
  readonly owner: string;
  readonly algorithm: Algorithm;
  readonly createdAtMs: number;
  #authorityMask = 0;
  readonly #material: Buffer;
  /** The object node:crypto computes with: secret, private or public key. */
  readonly #keyObject: KeyObject;
  /** For Ed25519 private keys, the public half used to verify. */
  readonly #verifyKeyObject: KeyObject;

  constructor(
    keyNumber: number,
    owner: string,
    algorithm: Algorithm,
    material: Uint8Array,
    grantedAuthorities: readonly Authority[],
    createdAtMs: number,
  ) {
    assert(
      Number.isInteger(keyNumber) && keyNumber >= 1 && keyNumber <= keyNumberMax,
      'key number range',
    );
    assert(ownerPattern.test(owner), 'owner format');
    this.keyNumber = keyNumber;
    this.owner = owner;
    this.algorithm = algorithm;
    this.createdAtMs = createdAtMs;
    this.#material = Buffer.from(material);
    switch (algorithm) {
      case 'hmac-sha256':
      case 'aes-256-gcm':
        this.#keyObject = createSecretKey(this.#material);
        this.#verifyKeyObject = this.#keyObject;
        break;
      case 'ed25519-private':
        assert(material.length === ed25519KeyBytes, 'ed25519 seed length');
        this.#keyObject = createPrivateKey({
          key: Buffer.concat([ed25519Pkcs8Prefix, this.#material]),
          format: 'der',
          type: 'pkcs8',
        });
        this.#verifyKeyObject = createPublicKey(this.#keyObject);
        break;
      case 'ed25519-public':
        assert(material.length === ed25519KeyBytes, 'ed25519 public key length');
        this.#keyObject = createPublicKey({
          key: Buffer.concat([ed25519SpkiPrefix, this.#material]),
          format: 'der',
          type: 'spki',
        });
        this.#verifyKeyObject = this.#keyObject;
        break;
    }
    for (const authority of grantedAuthorities) this.grant(authority);
  }

  allows(authority: Authority): boolean {
    return (this.#authorityMask & authorityBit[authority]) !== 0;
  }

  grant(authority: Authority): void {
    assert(applicableAuthorities[this.algorithm].includes(authority), 'authority applicable');
    this.#authorityMask |= authorityBit[authority];
  }

  revoke(authority: Authority): void {
    this.#authorityMask &= ~authorityBit[authority];
  }

  authorityList(): Authority[] {
    return authorities.filter((authority) => this.allows(authority));
  }

  describe(): KeyDescriptor {
    return {
      keyNumber: this.keyNumber,
      owner: this.owner,
      algorithm: this.algorithm,
      authorities: this.authorityList(),
      createdAtMs: this.createdAtMs,
    };
  }

  /** The raw 32-byte Ed25519 public key, for keys that have one. */
  publicKeyRaw(): Buffer | undefined {
    if (this.algorithm !== 'ed25519-private' && this.algorithm !== 'ed25519-public')
      return undefined;
    const spki = this.#verifyKeyObject.export({ format: 'der', type: 'spki' });
    assert(spki.length === ed25519SpkiPrefix.length + ed25519KeyBytes, 'spki length');
    return spki.subarray(ed25519SpkiPrefix.length);
  }

  /** For the signature device only: the object to compute with. */
  keyObject(): KeyObject {
    return this.#keyObject;
  }

  verifyKeyObject(): KeyObject {
    return this.#verifyKeyObject;
  }

  /** For the keystore file writer only: a copy of the secret bytes. */
  materialCopy(): Buffer {
    return Buffer.from(this.#material);
  }

  toJSON(): KeyDescriptor {
    return this.describe();
  }

  [inspect.custom](): string {
    const d = this.describe();
    return `KeyEntry { keyNumber: ${d.keyNumber}, owner: '${d.owner}', algorithm: '${d.algorithm}', authorities: [${d.authorities.join(', ')}] }`;
  }
}
