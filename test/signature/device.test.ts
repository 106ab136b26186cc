// The electronic signature device: FIG. 6, claims 1-14, authority enforcement, rotation, secrecy.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deterministicEnvironment } from '../../src/model/environment.js';
import type { Result } from '../../src/model/errors.js';
import { defaultKeyPolicy, keyCountMax, SignatureDevice } from '../../src/signature/device.js';
import type { Authority } from '../../src/signature/keys.js';
import { flipBit } from '../bytes.js';
import rfc8032 from '../vectors/rfc8032-ed25519.json' with { type: 'json' };

/** The five keys printed in FIG. 6, with their authorities as the figure gives them. */
const fig6Keys = [
  {
    keyNumber: 1,
    owner: 'transaction',
    secretHex: '62a6724b3f439ef24571ff01114a2709',
    authorities: ['sign', 'verify'],
  },
  {
    keyNumber: 2,
    owner: 'account',
    secretHex: 'd0742b450c46f4d2e6c34b12a1cd7a4c',
    authorities: ['verify'],
  },
  {
    keyNumber: 3,
    owner: 'currency',
    secretHex: 'b6fad2ee4dcafadd0aa26c6e46b269da',
    authorities: ['verify'],
  },
  {
    keyNumber: 4,
    owner: 'terminal:210',
    secretHex: '763b7518363ca1addee279e664727dd6',
    authorities: ['verify'],
  },
  {
    keyNumber: 5,
    owner: 'terminal:220',
    secretHex: '5159064a48c0670e156439f9f908b660',
    authorities: ['verify'],
  },
] as const;

function fig6TransactionDevice(): SignatureDevice {
  const device = new SignatureDevice(deterministicEnvironment('fig6'));
  for (const key of fig6Keys) {
    const added = device.addKey({
      keyNumber: key.keyNumber,
      owner: key.owner,
      algorithm: 'hmac-sha256',
      material: Buffer.from(key.secretHex, 'hex'),
      authorities: key.authorities,
    });
    expect(added.ok).toBe(true);
  }
  return device;
}

/** A device holding one FIG. 6 secret with the given authorities (as another device would). */
function deviceHolding(keyNumber: number, authorities: readonly Authority[]): SignatureDevice {
  const key = fig6Keys.find((k) => k.keyNumber === keyNumber)!;
  const device = new SignatureDevice(deterministicEnvironment(`holder-${keyNumber}`));
  const added = device.addKey({
    keyNumber,
    owner: key.owner,
    algorithm: 'hmac-sha256',
    material: Buffer.from(key.secretHex, 'hex'),
    authorities,
  });
  expect(added.ok).toBe(true);
  return device;
}

function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.value;
}

const record = Buffer.from('11 REMITTANCE REQUEST 1 2 500 2020/10/2 09:30:00');

describe('FIG. 6: the keystore of the transaction device', () => {
  it('lists the five keys of the figure with their authorities, and no secret', () => {
    const device = fig6TransactionDevice();
    expect(device.list().map((k) => [k.keyNumber, k.owner, k.authorities.join('+')])).toEqual([
      [1, 'transaction', 'sign+verify'],
      [2, 'account', 'verify'],
      [3, 'currency', 'verify'],
      [4, 'terminal:210', 'verify'],
      [5, 'terminal:220', 'verify'],
    ]);
  });

  it('key 1 ("verification and attachment") signs and verifies', () => {
    const device = fig6TransactionDevice();
    const signature = unwrap(device.sign(1, record));
    expect(device.verify(1, record, signature)).toEqual({ ok: true, value: undefined });
  });

  it.each([2, 3, 4, 5])(
    'key %i ("verification") verifies but refuses to sign with AuthorityDenied',
    (keyNumber) => {
      const device = fig6TransactionDevice();
      const refused = device.sign(keyNumber, record);
      expect(refused.ok).toBe(false);
      expect(!refused.ok && refused.code).toBe('AuthorityDenied');

      // The key's owner, holding the same secret with sign, produces a signature the device accepts.
      const owner = deviceHolding(keyNumber, ['sign', 'verify']);
      const signature = unwrap(owner.sign(keyNumber, record));
      expect(device.verify(keyNumber, record, signature).ok).toBe(true);
    },
  );

  it('an unknown key number is refused with UnknownKey, for every operation', () => {
    const device = fig6TransactionDevice();
    for (const attempt of [
      device.sign(6, record),
      device.verify(6, record, Buffer.alloc(32)),
      device.encrypt(6, record),
      device.decrypt(6, Buffer.alloc(40)),
      device.grant(6, 'sign'),
      device.revoke(6, 'sign'),
      device.rotate(6),
    ]) {
      expect(!attempt.ok && attempt.code).toBe('UnknownKey');
    }
  });

  it('holds tells what describe tells of a key: held, its owner, its algorithm', () => {
    const device = fig6TransactionDevice();
    for (const key of fig6Keys) {
      const described = device.describe(key.keyNumber);
      expect(described.ok).toBe(true);
      expect(device.holds(key.keyNumber)).toBe(true);
      expect(device.holds(key.keyNumber, key.owner, 'hmac-sha256')).toBe(true);
      expect(device.holds(key.keyNumber, key.owner, 'ed25519-public')).toBe(false);
      expect(device.holds(key.keyNumber, `${key.owner}-other`)).toBe(false);
    }
    expect(device.describe(6).ok).toBe(false);
    expect(device.holds(6)).toBe(false);
  });
});

describe('claims 1-3: one shared secret, different authorities in two devices', () => {
  it('the verify-only holder cannot create a signature; the owner can; both verify it', () => {
    const owner = deviceHolding(2, ['sign', 'verify']); // the account device
    const verifier = deviceHolding(2, ['verify']); // the transaction device
    const forged = verifier.sign(2, record);
    expect(!forged.ok && forged.code).toBe('AuthorityDenied');
    const signature = unwrap(owner.sign(2, record));
    expect(verifier.verify(2, record, signature).ok).toBe(true);
    expect(owner.verify(2, record, signature).ok).toBe(true);
  });

  it('two shared secrets (claims 2, 3): each device signs only with its own', () => {
    const transaction = fig6TransactionDevice();
    const account = new SignatureDevice(deterministicEnvironment('account'));
    account.addKey({
      keyNumber: 1,
      owner: 'transaction',
      algorithm: 'hmac-sha256',
      material: Buffer.from(fig6Keys[0].secretHex, 'hex'),
      authorities: ['verify'],
    });
    account.addKey({
      keyNumber: 2,
      owner: 'account',
      algorithm: 'hmac-sha256',
      material: Buffer.from(fig6Keys[1].secretHex, 'hex'),
      authorities: ['sign', 'verify'],
    });

    const byTransaction = unwrap(transaction.sign(1, record));
    const byAccount = unwrap(account.sign(2, record));
    expect(account.verify(1, record, byTransaction).ok).toBe(true);
    expect(transaction.verify(2, record, byAccount).ok).toBe(true);
    expect(!account.sign(1, record).ok).toBe(true);
    expect(!transaction.sign(2, record).ok).toBe(true);
  });

  it('a verify failure is a typed SignatureInvalid, never an exception', () => {
    const device = fig6TransactionDevice();
    const signature = unwrap(device.sign(1, record));
    const changed = flipBit(record, -1);
    const result = device.verify(1, changed, signature);
    expect(!result.ok && result.code).toBe('SignatureInvalid');
    const short = device.verify(1, record, signature.subarray(0, 31));
    expect(!short.ok && short.code).toBe('SignatureInvalid');
  });

  it('the key row, not the message, decides the algorithm: an Ed25519 signature does not pass an HMAC key', () => {
    const device = fig6TransactionDevice();
    device.addKey({
      keyNumber: 9,
      owner: 'terminal:9',
      algorithm: 'ed25519-private',
      authorities: ['sign'],
    });
    const edSignature = unwrap(device.sign(9, record));
    const result = device.verify(1, record, edSignature);
    expect(!result.ok && result.code).toBe('SignatureInvalid');
  });
});

describe('authorities as strings (claims 7, 14), granted and revoked', () => {
  it('grant adds an authority, revoke removes it, and the device obeys at once', () => {
    const device = fig6TransactionDevice();
    expect(unwrap(device.grant(2, 'sign')).authorities).toEqual(['sign', 'verify']);
    expect(device.sign(2, record).ok).toBe(true);
    expect(unwrap(device.revoke(2, 'sign')).authorities).toEqual(['verify']);
    expect(!device.sign(2, record).ok).toBe(true);
    expect(unwrap(device.revoke(1, 'verify')).authorities).toEqual(['sign']);
    const refused = device.verify(1, record, Buffer.alloc(32));
    expect(!refused.ok && refused.code).toBe('AuthorityDenied');
  });

  it('an authority that cannot apply to the algorithm is refused', () => {
    const device = fig6TransactionDevice();
    const result = device.grant(1, 'encrypt');
    expect(!result.ok && result.code).toBe('AuthorityNotApplicable');
    const publicOnly = device.addKey({
      owner: 'terminal:7',
      algorithm: 'ed25519-public',
      material: Buffer.alloc(32, 7),
      authorities: ['sign'],
    });
    expect(!publicOnly.ok && publicOnly.code).toBe('AuthorityNotApplicable');
  });

  it('bad key material and taken key numbers are refused and change nothing', () => {
    const device = fig6TransactionDevice();
    const short = device.addKey({
      owner: 'account',
      algorithm: 'hmac-sha256',
      material: Buffer.alloc(8),
      authorities: ['verify'],
    });
    expect(!short.ok && short.code).toBe('KeyMaterialInvalid');
    const taken = device.addKey({
      keyNumber: 3,
      owner: 'account',
      algorithm: 'hmac-sha256',
      authorities: ['verify'],
    });
    expect(!taken.ok && taken.code).toBe('KeyNumberTaken');
    const badOwner = device.addKey({
      owner: 'Not An Owner',
      algorithm: 'hmac-sha256',
      authorities: [],
    });
    expect(!badOwner.ok && badOwner.code).toBe('InvalidInput');
    expect(device.size).toBe(5);
  });
});

describe('encryption (claims 6, 13)', () => {
  it('encrypts and decrypts only with the matching authorities, and detects any altered byte', () => {
    const device = new SignatureDevice(deterministicEnvironment('aes'));
    unwrap(
      device.addKey({
        keyNumber: 7,
        owner: 'operator',
        algorithm: 'aes-256-gcm',
        authorities: ['encrypt', 'decrypt'],
      }),
    );
    const aad = Buffer.from('archive header');
    const sealed = unwrap(device.encrypt(7, record, aad));
    expect(unwrap(device.decrypt(7, sealed, aad)).equals(record)).toBe(true);
    const altered = flipBit(sealed, 20);
    const rejected = device.decrypt(7, altered, aad);
    expect(!rejected.ok && rejected.code).toBe('DecryptionFailed');
    const wrongAad = device.decrypt(7, sealed, Buffer.from('other'));
    expect(!wrongAad.ok && wrongAad.code).toBe('DecryptionFailed');
    unwrap(device.revoke(7, 'decrypt'));
    const denied = device.decrypt(7, sealed, aad);
    expect(!denied.ok && denied.code).toBe('AuthorityDenied');
    const signWithAes = device.sign(7, record);
    expect(!signWithAes.ok && signWithAes.code).toBe('AuthorityDenied');
  });
});

describe('key rotation', () => {
  it('a new key number takes over sign; the old key keeps verify so old records still verify', () => {
    const device = fig6TransactionDevice();
    const oldSignature = unwrap(device.sign(1, record));
    const rotation = unwrap(device.rotate(1));
    expect(rotation.retired).toMatchObject({ keyNumber: 1, authorities: ['verify'] });
    expect(rotation.successor).toMatchObject({
      keyNumber: 6,
      owner: 'transaction',
      algorithm: 'hmac-sha256',
      authorities: ['sign', 'verify'],
    });
    expect(device.verify(1, record, oldSignature).ok).toBe(true);
    const refused = device.sign(1, record);
    expect(!refused.ok && refused.code).toBe('AuthorityDenied');
    const newSignature = unwrap(device.sign(6, record));
    expect(newSignature.equals(oldSignature)).toBe(false);
    expect(device.verify(6, record, newSignature).ok).toBe(true);
  });

  it('a verify-only key has nothing to rotate', () => {
    const result = fig6TransactionDevice().rotate(2);
    expect(!result.ok && result.code).toBe('AuthorityDenied');
  });
});

describe('secrets never leave the device in descriptions', () => {
  it('no secret in JSON, util.inspect, list or any failure message', () => {
    const device = fig6TransactionDevice();
    const texts = [
      JSON.stringify(device.list()),
      inspect(device, { depth: 10, showHidden: true }),
      JSON.stringify(device.describe(1)),
      JSON.stringify(device.sign(2, record)),
      JSON.stringify(device.verify(1, record, Buffer.alloc(32))),
    ];
    for (const text of texts) {
      for (const key of fig6Keys) expect(text).not.toContain(key.secretHex);
    }
  });
});

describe('exportSeed: an Ed25519 signing key carried into the browser console', () => {
  it('gives the seed of a key with sign, and nothing of an HMAC key or a key without sign', () => {
    const device = new SignatureDevice(deterministicEnvironment('seed'));
    const seed = Buffer.alloc(32, 7);
    device.addKey({
      keyNumber: 1,
      owner: 'operator',
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['sign', 'verify'],
    });
    device.addKey({
      keyNumber: 2,
      owner: 'verifier',
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['verify'],
    });
    device.addKey({
      keyNumber: 3,
      owner: 'shared',
      algorithm: 'hmac-sha256',
      material: Buffer.alloc(32, 9),
      authorities: ['sign', 'verify'],
    });
    const exported = device.exportSeed(1);
    expect(exported.ok && exported.value.equals(seed)).toBe(true);
    expect(device.exportSeed(2)).toMatchObject({ ok: false, code: 'AuthorityDenied' });
    expect(device.exportSeed(3)).toMatchObject({ ok: false, code: 'AuthorityDenied' });
    expect(device.exportSeed(9)).toMatchObject({ ok: false, code: 'UnknownKey' });
  });
});

describe('account keys are held apart from the deployment keys', () => {
  it('a full keystore of deployment keys still takes account keys, and the reverse limit is its own', () => {
    const environment = deterministicEnvironment('limits');
    const device = new SignatureDevice(environment);
    for (let keyNumber = 1; keyNumber <= keyCountMax; keyNumber++) {
      const added = device.addKey({
        keyNumber,
        owner: 'transaction',
        algorithm: 'hmac-sha256',
        material: Buffer.alloc(32, keyNumber % 256),
        authorities: ['verify'],
      });
      expect(added.ok).toBe(true);
    }
    const oneMore = device.addKey({
      keyNumber: keyCountMax + 1,
      owner: 'operator',
      algorithm: 'hmac-sha256',
      material: Buffer.alloc(32, 1),
      authorities: ['verify'],
    });
    expect(oneMore.ok || oneMore.code).toBe('KeystoreFull');
    const account = device.addKey(accountKey(1));
    expect(account.ok).toBe(true);
  });

  it('past accountKeysHeldMax the account key used longest ago is dropped, never a deployment key', () => {
    const accountKeysHeldMax = 3;
    const device = new SignatureDevice(deterministicEnvironment('held'), {
      ...defaultKeyPolicy,
      accountKeysHeldMax,
    });
    const deploymentKey = device.addKey({
      keyNumber: 1,
      owner: 'transaction',
      algorithm: 'hmac-sha256',
      material: Buffer.alloc(32, 7),
      authorities: ['verify'],
    });
    expect(deploymentKey.ok).toBe(true);
    for (let account = 1; account <= accountKeysHeldMax; account++)
      expect(device.addKey(accountKey(account)).ok).toBe(true);
    // Account 1's key is used now, so account 2's is the one used longest ago.
    expect(device.verify(1_000_001, Buffer.from('m'), Buffer.alloc(64))).toMatchObject({
      code: 'SignatureInvalid',
    });
    expect(device.addKey(accountKey(accountKeysHeldMax + 1)).ok).toBe(true);
    expect(device.size).toBe(accountKeysHeldMax + 1);
    expect(device.describe(1_000_002).ok).toBe(false);
    expect(device.describe(1_000_001).ok).toBe(true);
    expect(device.describe(1).ok).toBe(true);
    // A dropped key comes back when its row is read again.
    expect(device.addKey(accountKey(2)).ok).toBe(true);
    expect(device.size).toBe(accountKeysHeldMax + 1);
  });
});

/** Account N's verification key (RFC 8032's first public key: the limit, not the key, is tested). */
function accountKey(account: number) {
  return {
    keyNumber: 1_000_000 + account,
    owner: `account:${account}`,
    algorithm: 'ed25519-public' as const,
    material: Buffer.from(rfc8032.cases[0]!.publicKeyHex, 'hex'),
    authorities: ['verify' as const],
  };
}
