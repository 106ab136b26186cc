// The keystore file: encrypted at rest, written atomically, and never overwritten by a failure.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { SignatureDevice } from '../../src/signature/device.js';
import {
  createKeystoreFile,
  loadKeystoreFile,
  saveKeystoreFile,
} from '../../src/signature/keystoreFile.js';
import { flipBit } from '../bytes.js';

const passphrase = 'correct horse battery staple';
const environment = deterministicEnvironment('keystore-file');
const fast = { environment, scryptCostLog2: 10 };
const secretHex = '62a6724b3f439ef24571ff01114a2709';

function sampleDevice(): SignatureDevice {
  const device = new SignatureDevice(environment);
  device.addKey({
    keyNumber: 1,
    owner: 'transaction',
    algorithm: 'hmac-sha256',
    material: Buffer.from(secretHex, 'hex'),
    authorities: ['sign', 'verify'],
  });
  device.addKey({
    keyNumber: 2,
    owner: 'transaction',
    algorithm: 'ed25519-private',
    authorities: ['sign', 'verify'],
  });
  device.addKey({
    keyNumber: 3,
    owner: 'operator',
    algorithm: 'aes-256-gcm',
    authorities: ['encrypt'],
  });
  return device;
}

function freshPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'triledger-keystore-')), 'keystore.json');
}

describe('keystore file', () => {
  it('round-trips the table: same keys, same authorities, same signatures', () => {
    const path = freshPath();
    const device = sampleDevice();
    expect(createKeystoreFile(path, device, passphrase, fast)).toEqual({
      ok: true,
      value: undefined,
    });
    const loaded = loadKeystoreFile(path, passphrase, fast);
    if (!loaded.ok) throw new Error(loaded.message);
    expect(loaded.value.list()).toEqual(device.list());
    const message = Buffer.from('record');
    for (const keyNumber of [1, 2]) {
      const signature = device.sign(keyNumber, message);
      expect(signature.ok && loaded.value.verify(keyNumber, message, signature.value).ok).toBe(
        true,
      );
    }
    expect(loaded.value.exportPublic(2)).toEqual(device.exportPublic(2));
  });

  it('holds no secret in the clear, is private to its owner, and leaves no temporary file', () => {
    const path = freshPath();
    createKeystoreFile(path, sampleDevice(), passphrase, fast);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(secretHex);
    expect(text).not.toContain(Buffer.from(secretHex, 'hex').toString('base64'));
    expect(text).not.toContain('transaction');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(path, '..'))).toEqual(['keystore.json']);
  });

  it('a wrong passphrase is KeystoreWrongPassphrase and the file is unchanged', () => {
    const path = freshPath();
    createKeystoreFile(path, sampleDevice(), passphrase, fast);
    const before = readFileSync(path);
    const result = loadKeystoreFile(path, 'not the passphrase at all', fast);
    expect(result).toMatchObject({ ok: false, code: 'KeystoreWrongPassphrase' });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('a damaged file is KeystoreDamaged: altered ciphertext, altered header, truncated, not JSON', () => {
    const path = freshPath();
    createKeystoreFile(path, sampleDevice(), passphrase, fast);
    const original = JSON.parse(readFileSync(path, 'utf8'));
    const ciphertext = flipBit(Buffer.from(original.ciphertext, 'base64'), 5);
    const iv = flipBit(Buffer.from(original.header.cipher.iv, 'base64'), 0);
    const damagedVariants = [
      JSON.stringify({ ...original, ciphertext: ciphertext.toString('base64') }),
      JSON.stringify({
        ...original,
        header: { ...original.header, cipher: { name: 'aes-256-gcm', iv: iv.toString('base64') } },
      }),
      JSON.stringify({ ...original, extra: 1 }),
      readFileSync(path, 'utf8').slice(0, 200),
      'not json at all',
    ];
    for (const variant of damagedVariants) {
      writeFileSync(path, variant);
      const result = loadKeystoreFile(path, passphrase, fast);
      expect(result).toMatchObject({ ok: false, code: 'KeystoreDamaged' });
      expect(readFileSync(path, 'utf8')).toBe(variant);
    }
  });

  it('init never overwrites; a missing file and a short passphrase are clear errors', () => {
    const path = freshPath();
    createKeystoreFile(path, sampleDevice(), passphrase, fast);
    const before = readFileSync(path);
    expect(
      createKeystoreFile(path, new SignatureDevice(environment), passphrase, fast),
    ).toMatchObject({ ok: false, code: 'KeystoreExists' });
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(loadKeystoreFile(`${path}.missing`, passphrase, fast)).toMatchObject({
      ok: false,
      code: 'KeystoreNotFound',
    });
    expect(saveKeystoreFile(path, sampleDevice(), 'short', fast)).toMatchObject({
      ok: false,
      code: 'PassphraseInvalid',
    });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('uses scrypt N=2^15 by default and records it in the file', () => {
    const path = freshPath();
    createKeystoreFile(path, sampleDevice(), passphrase, { environment });
    expect(JSON.parse(readFileSync(path, 'utf8')).header.kdf).toMatchObject({
      name: 'scrypt',
      costLog2: 15,
      blockSize: 8,
      parallelism: 1,
    });
    expect(loadKeystoreFile(path, passphrase, { environment }).ok).toBe(true);
  });
});
