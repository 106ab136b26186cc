// A local deployment in one folder: keys, configurations and the public deployment description.
//
// Layout of DIR (default ./triledger-data):
//   passphrase                      the passphrase of every keystore here (mode 0600; demo only)
//   deployment.json                 public: transaction URL, signature 0, device and issuer key numbers
//   {transaction,account,currency}.json            device configurations
//   {transaction,account,currency}.keystore.json   device keystores: own key sign+verify, others verify
//   issuer.keystore.json            the issuer's key (sign) and the device keys (verify)
//   operator.keystore.json          the operator's key (sign), for audit and recovery, and the
//                                   archive key (encrypt, decrypt), for export and import
//   terminal.keystore.json          what a new wallet starts from: the device keys, verify only
//   wallets/account-N.keystore.json the key of account N (created by `account open`)
//   {device}.sqlite                 the stores
// Key numbers: 1 transaction, 2 account, 3 currency, 4 issuer, 5 operator, 6 archive; account
// keys 1,000,000 + N.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeploymentInfo } from '../client/terminal.js';
import { accountKeyNumberBase } from '../devices/context.js';
import { assert } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import { ok, type Result } from '../model/errors.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import { SignatureDevice } from '../signature/device.js';
import type { Algorithm, Authority } from '../signature/keys.js';
import {
  createKeystoreFile,
  loadKeystoreFile,
  saveKeystoreFile,
} from '../signature/keystoreFile.js';
import { deviceStoreSpec } from '../store/open.js';

export type Scheme = 'hmac' | 'ed25519';
export type DeviceName = 'transaction' | 'account' | 'currency';
export const deviceNames: readonly DeviceName[] = ['account', 'currency', 'transaction'];
export const deviceKeyNumbers = { transaction: 1, account: 2, currency: 3 } as const;
export const issuerKeyNumber = 4;
export const operatorKeyNumber = 5;
/** The AES-256-GCM key of export archives (store/archive.ts): in the operator keystore only. */
export const archiveKeyNumber = 6;
export const portBaseDefault = 7101;

export interface DemoOptions {
  readonly scheme: Scheme;
  readonly mode: 'confirm' | 'update';
  readonly portBase: number;
  readonly host: string;
  /**
   * Where the devices keep their stores: absent for SQLite files in the deployment folder, or a
   * postgres:// URL, where each device gets its own schema (store/open.ts, deviceStoreSpec).
   */
  readonly store?: string;
}

export function portOf(device: DeviceName, portBase: number): number {
  return portBase + { transaction: 0, account: 1, currency: 2 }[device];
}

export function deploymentInfo(dir: string): DeploymentInfo & { scheme: Scheme; mode: string } {
  return JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8'));
}

/** The keys an offline audit of this deployment verifies with: the terminal keystore (verify only). */
export function verifyingKeysOf(dir: string, environment: Environment): Result<VerifyingKeys> {
  const info = deploymentInfo(dir);
  const loaded = loadKeystoreFile(join(dir, 'terminal.keystore.json'), passphraseOf(dir), {
    environment,
  });
  if (!loaded.ok) return loaded;
  return ok({
    signatures: loaded.value,
    deviceKeys: info.deviceKeys,
    issuerKeyNumbers: info.issuerKeyNumbers,
    signatureZero: Buffer.from(info.signatureZeroHex, 'hex'),
  });
}

export function passphraseOf(dir: string): string {
  return readFileSync(join(dir, 'passphrase'), 'utf8').trim();
}

/** Create keys and configurations (no store yet: the devices create theirs when they start). */
export function createDeployment(
  dir: string,
  options: DemoOptions,
  environment: Environment,
): void {
  assert(!existsSync(join(dir, 'deployment.json')), 'a deployment is created once');
  mkdirSync(join(dir, 'wallets'), { recursive: true, mode: 0o700 });
  const passphrase = environment.randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });
  const owners = {
    1: 'transaction',
    2: 'account',
    3: 'currency',
    [issuerKeyNumber]: 'issuer',
    [operatorKeyNumber]: 'operator',
  } as Record<number, string>;
  const material = new Map<number, Buffer>();
  for (const keyNumber of Object.keys(owners).map(Number))
    material.set(keyNumber, environment.randomBytes(32));
  const fileOptions = { environment };

  /** A keystore holding every deployment key: `signer`'s own with sign+verify, the rest verify only. */
  const keystoreFor = (signer: number | undefined): SignatureDevice => {
    const device = new SignatureDevice(environment);
    for (const [keyNumber, owner] of Object.entries(owners)) {
      const number = Number(keyNumber);
      const own = number === signer;
      // The operator key is Ed25519 in both schemes: a shared secret would let every holder of a
      // verify copy forge admin requests.
      const asymmetric = options.scheme === 'ed25519' || number === operatorKeyNumber;
      const algorithm: Algorithm = !asymmetric
        ? 'hmac-sha256'
        : own
          ? 'ed25519-private'
          : 'ed25519-public';
      let keyMaterial = material.get(number)!;
      if (asymmetric && !own) keyMaterial = publicKeyOf(keyMaterial, environment);
      const authorities: Authority[] = own ? ['sign', 'verify'] : ['verify'];
      const added = device.addKey({
        keyNumber: number,
        owner,
        algorithm,
        material: keyMaterial,
        authorities,
      });
      assert(added.ok, `key ${keyNumber} is added`);
    }
    return device;
  };

  const signatureZeroHex = environment.randomBytes(32).toString('hex');
  for (const device of deviceNames) {
    const keystore = `${device}.keystore.json`;
    assert(
      createKeystoreFile(
        join(dir, keystore),
        keystoreFor(deviceKeyNumbers[device]),
        passphrase,
        fileOptions,
      ).ok,
      'device keystore',
    );
    const config = {
      device,
      host: options.host,
      port: portOf(device, options.portBase),
      store: deviceStoreSpec(options.store ?? `sqlite:${device}.sqlite`, device),
      keystore,
      passphraseFile: 'passphrase',
      signingKeyNumber: deviceKeyNumbers[device],
      deviceKeys: deviceKeyNumbers,
      issuerKeyNumbers: [issuerKeyNumber],
      operatorKeyNumbers: [operatorKeyNumber],
      peers:
        device === 'transaction'
          ? {
              account: `http://${options.host}:${portOf('account', options.portBase)}`,
              currency: `http://${options.host}:${portOf('currency', options.portBase)}`,
            }
          : { transaction: `http://${options.host}:${portOf('transaction', options.portBase)}` },
      protocol: { mode: options.mode, signatureZeroHex },
      logLevel: 'warn',
    };
    writeFileSync(join(dir, `${device}.json`), `${JSON.stringify(config, null, 2)}\n`);
  }
  assert(
    createKeystoreFile(
      join(dir, 'issuer.keystore.json'),
      keystoreFor(issuerKeyNumber),
      passphrase,
      fileOptions,
    ).ok,
    'issuer keystore',
  );
  const operatorKeys = keystoreFor(operatorKeyNumber);
  assert(
    operatorKeys.addKey({
      keyNumber: archiveKeyNumber,
      owner: 'operator',
      algorithm: 'aes-256-gcm',
      material: environment.randomBytes(32),
      authorities: ['encrypt', 'decrypt'],
    }).ok,
    'archive key',
  );
  assert(
    createKeystoreFile(join(dir, 'operator.keystore.json'), operatorKeys, passphrase, fileOptions)
      .ok,
    'operator keystore',
  );
  assert(
    createKeystoreFile(
      join(dir, 'terminal.keystore.json'),
      keystoreFor(undefined),
      passphrase,
      fileOptions,
    ).ok,
    'terminal keystore',
  );
  const info = {
    transactionUrl: `http://${options.host}:${portOf('transaction', options.portBase)}`,
    signatureZeroHex,
    deviceKeys: deviceKeyNumbers,
    issuerKeyNumbers: [issuerKeyNumber],
    operatorKeyNumbers: [operatorKeyNumber],
    archiveKeyNumber,
    scheme: options.scheme,
    mode: options.mode,
  };
  writeFileSync(join(dir, 'deployment.json'), `${JSON.stringify(info, null, 2)}\n`);
}

function publicKeyOf(seed: Buffer, environment: Environment): Buffer {
  const device = new SignatureDevice(environment);
  device.addKey({
    keyNumber: 1,
    owner: 'scratch',
    algorithm: 'ed25519-private',
    material: seed,
    authorities: ['sign'],
  });
  const exported = device.exportPublic(1);
  assert(exported.ok, 'an Ed25519 key has a public part');
  return Buffer.from(exported.value.publicKeyHex, 'hex');
}

/**
 * Install terminals' shared HMAC secrets (FIG. 6) in a stopped deployment, as an operator would with
 * `triledger keys add --secret-file`: in every device's keystore with verify only, in the terminal
 * keystore with sign. An account then opens with such a key and signs with it.
 */
export function installSharedKeys(
  dir: string,
  secrets: ReadonlyMap<number, Buffer>,
  environment: Environment,
): void {
  for (const name of [...deviceNames, 'terminal']) {
    const path = join(dir, `${name}.keystore.json`);
    const keystore = loadKeystoreFile(path, passphraseOf(dir), { environment });
    assert(keystore.ok, `the ${name} keystore opens`);
    for (const [keyNumber, material] of secrets) {
      const added = keystore.value.addKey({
        keyNumber,
        owner: `terminal:${keyNumber}`,
        algorithm: 'hmac-sha256',
        material,
        authorities: name === 'terminal' ? ['sign', 'verify'] : ['verify'],
      });
      assert(added.ok, `shared key ${keyNumber} is added to the ${name} keystore`);
    }
    saveKeystoreFile(path, keystore.value, passphraseOf(dir), { environment });
  }
}

/** The terminal keystore: device keys with verify only, the start of every wallet. */
export function terminalKeys(dir: string, environment: Environment): SignatureDevice {
  const loaded = loadKeystoreFile(join(dir, 'terminal.keystore.json'), passphraseOf(dir), {
    environment,
  });
  assert(loaded.ok, `the terminal keystore opens: ${loaded.ok ? '' : loaded.message}`);
  return loaded.value;
}

/** A new wallet before its account exists: the terminal keys plus a fresh Ed25519 seed under a stand-in number. */
export function newWallet(
  dir: string,
  environment: Environment,
): { keys: SignatureDevice; keyNumber: number; seed: Buffer } {
  const keys = terminalKeys(dir, environment);
  const seed = environment.randomBytes(32);
  const keyNumber = 999_999;
  assert(
    keys.addKey({
      keyNumber,
      owner: 'applicant',
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['sign', 'verify'],
    }).ok,
    'a wallet key is added',
  );
  return { keys, keyNumber, seed };
}

export function walletPath(dir: string, accountNumber: bigint): string {
  return join(dir, 'wallets', `account-${accountNumber}.keystore.json`);
}

/** Save the account's key under its deployment number (1,000,000 + N), next to the device keys. */
export function saveWallet(
  dir: string,
  seed: Buffer,
  accountNumber: bigint,
  environment: Environment,
): string {
  const wallet = terminalKeys(dir, environment);
  const keyNumber = accountKeyNumberBase + Number(accountNumber);
  assert(
    wallet.addKey({
      keyNumber,
      owner: `account:${accountNumber}`,
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['sign', 'verify'],
    }).ok,
    'the account key is kept',
  );
  const path = walletPath(dir, accountNumber);
  assert(
    createKeystoreFile(path, wallet, passphraseOf(dir), { environment }).ok,
    'the wallet is saved',
  );
  return path;
}
