// The keystore file: the signature device's table, encrypted at rest.
//
// Format (JSON, docs/signature.md): a header with the KDF parameters (scrypt), a salt, a
// passphrase check value, the AES-256-GCM IV and tag, and the ciphertext of the table. The header is
// the GCM associated data, so changing any of it is detected. scrypt derives 64 bytes: the first
// 32 are the AES key, the last 32 key an HMAC whose output is the check value, which tells a wrong
// passphrase (KeystoreWrongPassphrase) from a damaged file (KeystoreDamaged).
//
// Writes are atomic: a temporary file in the same directory, fsync, rename over the old file,
// fsync of the directory. A failed read or a wrong passphrase never writes anything.

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { assert } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import { defaultKeyPolicy, type KeyPolicy, SignatureDevice } from './device.js';
import { algorithms, authorities } from './keys.js';

export const keystoreFormat = 'triledger-keystore';
export const keystoreFileBytesMax = 16 * 1024 * 1024;
export const passphraseLengthMin = 12;
export const scryptCostLog2Default = 15;
export const scryptCostLog2Min = 10;
export const scryptCostLog2Max = 20;
const scryptMemoryBytesMax = 256 * 1024 * 1024;
const saltBytes = 16;
const ivBytes = 12;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const headerSchema = z.strictObject({
  format: z.literal(keystoreFormat),
  version: z.literal(1),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    costLog2: z.number().int().min(scryptCostLog2Min).max(scryptCostLog2Max),
    blockSize: z.literal(8),
    parallelism: z.literal(1),
    salt: base64,
  }),
  check: base64,
  cipher: z.strictObject({ name: z.literal('aes-256-gcm'), iv: base64 }),
});

const fileSchema = z.strictObject({ header: headerSchema, tag: base64, ciphertext: base64 });

const tableSchema = z.strictObject({
  version: z.literal(1),
  keys: z.array(
    z.strictObject({
      keyNumber: z.number().int(),
      owner: z.string(),
      algorithm: z.enum(algorithms),
      authorities: z.array(z.enum(authorities)),
      createdAtMs: z.number().int(),
      material: base64,
    }),
  ),
});

type Header = z.infer<typeof headerSchema>;

export interface KeystoreFileOptions {
  readonly environment: Environment;
  readonly policy?: KeyPolicy;
  /** scrypt cost N = 2^costLog2. Tests lower it for speed; the file records what was used. */
  readonly scryptCostLog2?: number;
}

export function checkPassphrase(passphrase: string | undefined): Failure | undefined {
  if (passphrase === undefined || passphrase.length === 0) {
    return fail(
      'PassphraseInvalid',
      'no keystore passphrase given (set TRILEDGER_PASSPHRASE or use --passphrase-file)',
    );
  }
  if (passphrase.length < passphraseLengthMin) {
    return fail(
      'PassphraseInvalid',
      `the keystore passphrase must be at least ${passphraseLengthMin} characters`,
    );
  }
  return undefined;
}

/** Create a new keystore file; refuses to overwrite an existing one. */
export function createKeystoreFile(
  path: string,
  device: SignatureDevice,
  passphrase: string,
  options: KeystoreFileOptions,
): Result<undefined> {
  if (existsSync(path))
    return fail('KeystoreExists', `${path} already exists; it is never overwritten`);
  return saveKeystoreFile(path, device, passphrase, options);
}

/** Encrypt the device's table and replace the file atomically. */
export function saveKeystoreFile(
  path: string,
  device: SignatureDevice,
  passphrase: string,
  options: KeystoreFileOptions,
): Result<undefined> {
  const refused = checkPassphrase(passphrase);
  if (refused) return refused;
  const costLog2 = options.scryptCostLog2 ?? scryptCostLog2Default;
  assert(costLog2 >= scryptCostLog2Min && costLog2 <= scryptCostLog2Max, 'scrypt cost in range');
  const salt = options.environment.randomBytes(saltBytes);
  const derived = deriveKeys(passphrase, salt, costLog2);
  const header: Header = {
    format: keystoreFormat,
    version: 1,
    kdf: { name: 'scrypt', costLog2, blockSize: 8, parallelism: 1, salt: salt.toString('base64') },
    check: checkValue(derived.checkKey).toString('base64'),
    cipher: {
      name: 'aes-256-gcm',
      iv: options.environment.randomBytes(ivBytes).toString('base64'),
    },
  };
  const plaintext = device.serialize();
  const cipher = createCipheriv(
    'aes-256-gcm',
    derived.encryptionKey,
    Buffer.from(header.cipher.iv, 'base64'),
  );
  cipher.setAAD(headerAad(header));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  derived.encryptionKey.fill(0);
  const fileText = JSON.stringify(
    {
      header,
      tag: cipher.getAuthTag().toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    },
    null,
    2,
  );
  writeFileAtomically(path, Buffer.from(`${fileText}\n`, 'utf8'));
  return ok(undefined);
}

export function loadKeystoreFile(
  path: string,
  passphrase: string,
  options: KeystoreFileOptions,
): Result<SignatureDevice> {
  const refused = checkPassphrase(passphrase);
  if (refused) return refused;
  if (!existsSync(path))
    return fail(
      'KeystoreNotFound',
      `no keystore at ${path} (create one with: triledger keys init)`,
    );
  if (statSync(path).size > keystoreFileBytesMax) return damaged(path, 'larger than any keystore');
  let parsed: z.infer<typeof fileSchema>;
  try {
    const outer = fileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!outer.success) return damaged(path, 'not in the keystore format');
    parsed = outer.data;
  } catch {
    return damaged(path, 'not valid JSON');
  }
  const { header } = parsed;
  const derived = deriveKeys(
    passphrase,
    Buffer.from(header.kdf.salt, 'base64'),
    header.kdf.costLog2,
  );
  const expectedCheck = checkValue(derived.checkKey);
  const storedCheck = Buffer.from(header.check, 'base64');
  if (storedCheck.length !== expectedCheck.length || !timingSafeEqual(storedCheck, expectedCheck)) {
    return fail('KeystoreWrongPassphrase', `the passphrase does not open ${path}`);
  }
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      derived.encryptionKey,
      Buffer.from(header.cipher.iv, 'base64'),
    );
    decipher.setAAD(headerAad(header));
    decipher.setAuthTag(Buffer.from(parsed.tag, 'base64'));
    plaintext = Buffer.concat([
      decipher.update(Buffer.from(parsed.ciphertext, 'base64')),
      decipher.final(),
    ]);
  } catch {
    return damaged(path, 'its contents do not authenticate');
  } finally {
    derived.encryptionKey.fill(0);
  }
  try {
    return deviceFromTable(plaintext, options, path);
  } finally {
    plaintext.fill(0);
  }
}

/**
 * A signature device holding the keys of a plaintext key table (SignatureDevice.serialize): how a
 * keystore file is opened, and how the audit's verifying worker thread gets the audit's keys
 * (audit/chainsAhead.ts). `path`: where the table came from, for a refusal. The caller zeroes the
 * table.
 */
export function deviceFromTable(
  plaintext: Buffer,
  options: KeystoreFileOptions,
  path: string,
): Result<SignatureDevice> {
  let table: z.infer<typeof tableSchema>;
  try {
    const parsed = tableSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
    if (!parsed.success) return damaged(path, 'its key table is malformed');
    table = parsed.data;
  } catch {
    return damaged(path, 'its key table is not JSON');
  }
  const device = new SignatureDevice(options.environment, options.policy ?? defaultKeyPolicy);
  for (const row of table.keys) {
    const material = Buffer.from(row.material, 'base64');
    const added = device.addKey({ ...row, material }, row.createdAtMs);
    material.fill(0);
    if (!added.ok) return damaged(path, `key ${row.keyNumber}: ${added.message}`);
  }
  assert(device.size === table.keys.length, 'every stored key was loaded');
  return ok(device);
}

function deriveKeys(passphrase: string, salt: Buffer, costLog2: number) {
  const derived = scryptSync(passphrase.normalize('NFC'), salt, 64, {
    N: 2 ** costLog2,
    r: 8,
    p: 1,
    maxmem: scryptMemoryBytesMax,
  });
  return { encryptionKey: derived.subarray(0, 32), checkKey: derived.subarray(32, 64) };
}

function checkValue(checkKey: Buffer): Buffer {
  return createHmac('sha256', checkKey).update('triledger keystore passphrase check v1').digest();
}

/** The header's fields in a fixed order, independent of JSON key order, as GCM associated data. */
function headerAad(header: Header): Buffer {
  const { kdf, cipher } = header;
  const fields = [
    header.format,
    header.version,
    kdf.name,
    kdf.costLog2,
    kdf.blockSize,
    kdf.parallelism,
  ];
  return Buffer.from(
    JSON.stringify([...fields, kdf.salt, header.check, cipher.name, cipher.iv]),
    'utf8',
  );
}

function damaged(path: string, why: string): Failure {
  return fail('KeystoreDamaged', `${path} is not a readable keystore: ${why}`);
}

/** Temporary file in the same directory, fsync, rename, fsync the directory; then read back. */
export function writeFileAtomically(path: string, contents: Buffer): void {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    let written = 0;
    while (written < contents.length) written += writeSync(fd, contents, written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  const directoryFd = openSync(directory, 'r');
  try {
    fsyncSync(directoryFd);
  } finally {
    closeSync(directoryFd);
  }
  assert(readFileSync(path).equals(contents), `${path} reads back as written`);
}
