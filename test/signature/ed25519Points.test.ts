// Weak Ed25519 public keys (signature/ed25519Points.ts): the small-order points and non-canonical
// encodings are refused wherever a key enters a keystore; RFC 8032's keys are accepted. The attack
// it closes: a small-order key with the constant signature (the key's bytes, then 32 zero bytes),
// which node:crypto accepts for every message.

import { createPublicKey, verify as ed25519Verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { ed25519PublicKeyProblem } from '../../src/signature/ed25519Points.js';
import weak from '../vectors/ed25519-weak-keys.json' with { type: 'json' };
import rfc8032 from '../vectors/rfc8032-ed25519.json' with { type: 'json' };

const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

describe('weak Ed25519 public keys', () => {
  it.each(weak.refused)('$name is refused', ({ publicKeyHex }) => {
    expect(ed25519PublicKeyProblem(Buffer.from(publicKeyHex, 'hex'))).toBeDefined();
    const device = new SignatureDevice(deterministicEnvironment('weak'));
    const added = device.addKey({
      owner: 'account:1',
      algorithm: 'ed25519-public',
      material: Buffer.from(publicKeyHex, 'hex'),
      authorities: ['verify'],
    });
    expect(added.ok || added.code).toBe('KeyMaterialInvalid');
  });

  it.each(rfc8032.cases)('the RFC 8032 key of $test is accepted', ({ publicKeyHex }) => {
    expect(ed25519PublicKeyProblem(Buffer.from(publicKeyHex, 'hex'))).toBeUndefined();
  });

  it('keys made by node:crypto are accepted', () => {
    const environment = deterministicEnvironment('keys');
    for (let i = 0; i < 8; i++) {
      const device = new SignatureDevice(environment);
      const made = device.addKey({
        owner: 'x',
        algorithm: 'ed25519-private',
        authorities: ['sign'],
      });
      expect(made.ok).toBe(true);
      const exported = device.exportPublic(made.ok ? made.value.keyNumber : 0);
      expect(exported.ok).toBe(true);
      if (exported.ok)
        expect(ed25519PublicKeyProblem(Buffer.from(exported.value.publicKeyHex, 'hex'))).toBe(
          undefined,
        );
    }
  });

  it('the attack it closes: the constant signature verifies in OpenSSL under the identity key', () => {
    const key = Buffer.from(weak.refused[0]!.publicKeyHex, 'hex');
    const constant = Buffer.concat([key, Buffer.alloc(32)]);
    const publicKey = createPublicKey({
      key: Buffer.concat([spkiPrefix, key]),
      format: 'der',
      type: 'spki',
    });
    expect(ed25519Verify(null, Buffer.from('send everything'), publicKey, constant)).toBe(true);
    expect(ed25519PublicKeyProblem(key)).toMatch(/small order/);
  });
});
