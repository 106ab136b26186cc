// `triledger keys ...`: the operator's hands on a device's keystore (the electronic signature
// device's table). Every change loads the encrypted file, applies one operation through the
// SignatureDevice (so the same checks apply as in the running device), and writes the file back
// atomically. A refused operation writes nothing.
//
// The passphrase comes from TRILEDGER_PASSPHRASE or --passphrase-file, never from an argument
// (arguments are visible to every user of the machine). Secrets are read from files, never printed.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { systemEnvironment } from '../model/environment.js';
import { SignatureDevice } from '../signature/device.js';
import {
  type Algorithm,
  type Authority,
  isAlgorithm,
  isAuthority,
  type KeyDescriptor,
} from '../signature/keys.js';
import {
  createKeystoreFile,
  loadKeystoreFile,
  saveKeystoreFile,
} from '../signature/keystoreFile.js';
import { expectOk, printJson, printResult, renderTable, usageError } from './output.js';

interface KeystoreOptions {
  keystore: string;
  passphraseFile?: string;
  json?: boolean;
}

const keystoreDefault = 'keystore.json';
const secretFileBytesMax = 4096;

export function registerKeysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      "manage a device's keystore: keys, their owners and their authorities (sign, verify, encrypt, decrypt)",
    );

  const withKeystore = (command: Command) =>
    command
      .option(
        '--keystore <file>',
        'keystore file',
        process.env['TRILEDGER_KEYSTORE'] ?? keystoreDefault,
      )
      .option(
        '--passphrase-file <file>',
        'read the passphrase from this file (default: $TRILEDGER_PASSPHRASE)',
      )
      .option('--json', 'print JSON');

  withKeystore(keys.command('init'))
    .description(
      'create a new encrypted keystore; with --owner, also generate its first signing key',
    )
    .option(
      '--owner <owner>',
      'owner of the first key: a device (transaction, account, currency, issuer) or account:N',
    )
    .option(
      '--algorithm <algorithm>',
      'algorithm of the first key: ed25519 or hmac-sha256',
      'ed25519',
    )
    .option('--number <keyNumber>', 'deployment-wide number of the first key (default: 1)')
    .action((options: KeystoreOptions & { owner?: string; algorithm: string; number?: string }) => {
      const device = new SignatureDevice(systemEnvironment);
      if (options.owner !== undefined) {
        expectOk(
          device.addKey({
            ...numberOption(options.number),
            owner: options.owner,
            algorithm: signingAlgorithm(options.algorithm),
            authorities: ['sign', 'verify'],
          }),
        );
      }
      expectOk(
        createKeystoreFile(options.keystore, device, passphrase(options), {
          environment: systemEnvironment,
        }),
      );
      const created = device.list();
      printResult(
        options,
        { keystore: options.keystore, keys: created },
        [`created ${options.keystore}`, ...(created.length > 0 ? [keyTable(created)] : [])].join(
          '\n',
        ),
      );
    });

  withKeystore(keys.command('list'))
    .description('list the keys: number, owner, algorithm, authorities (never the secret)')
    .action((options: KeystoreOptions) => {
      const listed = open(options).list();
      printResult(options, listed, keyTable(listed));
    });

  withKeystore(keys.command('add'))
    .description(
      'add a key: generated, or imported from --secret-file (HMAC, AES, Ed25519 seed) or --public-key',
    )
    .requiredOption(
      '--owner <owner>',
      'owner: a device (transaction, account, currency, issuer) or account:N',
    )
    .requiredOption(
      '--algorithm <algorithm>',
      'hmac-sha256, ed25519 (private), ed25519-public or aes-256-gcm',
    )
    .requiredOption('--authorities <list>', 'comma-separated: sign, verify, encrypt, decrypt')
    .option('--number <keyNumber>', 'deployment-wide key number (default: the next free number)')
    .option('--secret-file <file>', 'file holding the key material in hex')
    .option('--public-key <hex>', 'an Ed25519 public key in hex (with --algorithm ed25519-public)')
    .action(
      (
        options: KeystoreOptions & {
          owner: string;
          algorithm: string;
          authorities: string;
          number?: string;
          secretFile?: string;
          publicKey?: string;
        },
      ) => {
        const algorithm = algorithmOption(options.algorithm);
        const material = materialOption(algorithm, options.secretFile, options.publicKey);
        change(options, (device) =>
          expectOk(
            device.addKey({
              ...numberOption(options.number),
              owner: options.owner,
              algorithm,
              ...(material ? { material } : {}),
              authorities: authoritiesOption(options.authorities),
            }),
          ),
        );
      },
    );

  withKeystore(keys.command('grant'))
    .description('grant authorities to a key')
    .argument('<keyNumber>', 'key number')
    .argument('<authority...>', 'sign, verify, encrypt or decrypt')
    .action((keyNumber: string, granted: string[], options: KeystoreOptions) => {
      const number = keyNumberArgument(keyNumber);
      const list = authoritiesOption(granted.join(','));
      change(
        options,
        (device) => list.map((authority) => expectOk(device.grant(number, authority))).at(-1)!,
      );
    });

  withKeystore(keys.command('revoke'))
    .description(
      'revoke authorities from a key (the key stays, so what it signed can still be checked)',
    )
    .argument('<keyNumber>', 'key number')
    .argument('<authority...>', 'sign, verify, encrypt or decrypt')
    .action((keyNumber: string, revoked: string[], options: KeystoreOptions) => {
      const number = keyNumberArgument(keyNumber);
      const list = authoritiesOption(revoked.join(','));
      change(
        options,
        (device) => list.map((authority) => expectOk(device.revoke(number, authority))).at(-1)!,
      );
    });

  withKeystore(keys.command('rotate'))
    .description(
      'rotate a key: a new key number takes over sign/encrypt, the old key keeps verify/decrypt',
    )
    .argument('<keyNumber>', 'key number')
    .option('--number <keyNumber>', 'number of the successor key (default: the next free number)')
    .action((keyNumber: string, options: KeystoreOptions & { number?: string }) => {
      const number = keyNumberArgument(keyNumber);
      change(
        options,
        (device) => {
          const rotation = expectOk(device.rotate(number, numberOption(options.number).keyNumber));
          return [rotation.retired, rotation.successor];
        },
        ([retired, successor]) =>
          `key ${retired!.keyNumber} keeps verify; key ${successor!.keyNumber} signs from now on`,
      );
    });

  withKeystore(keys.command('export-public'))
    .description(
      'print the Ed25519 public keys (all, or the numbers given) as JSON, for the other devices',
    )
    .argument('[keyNumber...]', 'key numbers (default: every Ed25519 key)')
    .action((keyNumbers: string[], options: KeystoreOptions) => {
      const device = open(options);
      const wanted =
        keyNumbers.length > 0
          ? keyNumbers.map(keyNumberArgument)
          : device
              .list()
              .filter((key) => key.algorithm.startsWith('ed25519'))
              .map((key) => key.keyNumber);
      printJson(wanted.map((keyNumber) => expectOk(device.exportPublic(keyNumber))));
    });
  withKeystore(keys.command('export-seed'))
    .description(
      "print an Ed25519 signing key's private seed (hex), to sign in to the operator console; keep it secret",
    )
    .argument('<keyNumber>', 'the key number')
    .action((keyNumber: string, options: KeystoreOptions) => {
      const number = keyNumberArgument(keyNumber);
      const seed = expectOk(open(options).exportSeed(number));
      process.stderr.write('triledger: this is a private key: paste it only into the console\n');
      printResult(
        options,
        { keyNumber: number, seedHex: seed.toString('hex') },
        seed.toString('hex'),
      );
      seed.fill(0);
    });
}

function open(options: KeystoreOptions): SignatureDevice {
  return expectOk(
    loadKeystoreFile(options.keystore, passphrase(options), { environment: systemEnvironment }),
  );
}

/**
 * Load, apply one change, save; print the changed keys (as a table, or `summary` of them). Nothing
 * is written when the change is refused.
 */
function change(
  options: KeystoreOptions,
  apply: (device: SignatureDevice) => KeyDescriptor | KeyDescriptor[],
  summary: (changed: KeyDescriptor[]) => string = keyTable,
): void {
  const secret = passphrase(options);
  const device = expectOk(
    loadKeystoreFile(options.keystore, secret, { environment: systemEnvironment }),
  );
  const changed = [apply(device)].flat();
  expectOk(saveKeystoreFile(options.keystore, device, secret, { environment: systemEnvironment }));
  printResult(options, changed, summary(changed));
}

function keyTable(keys: readonly KeyDescriptor[]): string {
  return renderTable(
    ['number', 'owner', 'algorithm', 'authorities', 'created'],
    keys.map((key) => [
      key.keyNumber,
      key.owner,
      key.algorithm,
      key.authorities.join(', ') || '(none)',
      new Date(key.createdAtMs).toISOString(),
    ]),
  );
}

function passphrase(options: KeystoreOptions): string {
  if (options.passphraseFile !== undefined) {
    try {
      return readFileSync(options.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw usageError(`cannot read the passphrase file ${options.passphraseFile}`);
    }
  }
  return process.env['TRILEDGER_PASSPHRASE'] ?? '';
}

function keyNumberArgument(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text))
    throw usageError(`"${text}" is not a key number (a positive integer)`);
  return Number(text);
}

function numberOption(text: string | undefined): { keyNumber?: number } {
  return text === undefined ? {} : { keyNumber: keyNumberArgument(text) };
}

function signingAlgorithm(text: string): Algorithm {
  if (text === 'ed25519') return 'ed25519-private';
  if (text === 'hmac-sha256') return 'hmac-sha256';
  throw usageError(`the first key's algorithm must be ed25519 or hmac-sha256, not "${text}"`);
}

function algorithmOption(text: string): Algorithm {
  const algorithm = text === 'ed25519' ? 'ed25519-private' : text;
  if (!isAlgorithm(algorithm))
    throw usageError(
      `unknown algorithm "${text}" (hmac-sha256, ed25519, ed25519-public, aes-256-gcm)`,
    );
  return algorithm;
}

function authoritiesOption(text: string): Authority[] {
  const list = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  for (const item of list) {
    if (!isAuthority(item))
      throw usageError(`unknown authority "${item}" (sign, verify, encrypt, decrypt)`);
  }
  return list as Authority[];
}

function materialOption(
  algorithm: Algorithm,
  secretFile?: string,
  publicKey?: string,
): Buffer | undefined {
  if (publicKey !== undefined) {
    if (algorithm !== 'ed25519-public')
      throw usageError('--public-key goes with --algorithm ed25519-public');
    return hexMaterial(publicKey, '--public-key');
  }
  if (algorithm === 'ed25519-public') throw usageError('an ed25519-public key needs --public-key');
  if (secretFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(secretFile, 'utf8');
  } catch {
    throw usageError(`cannot read the secret file ${secretFile}`);
  }
  if (text.length > secretFileBytesMax)
    throw usageError(`the secret file ${secretFile} is too large`);
  return hexMaterial(text.trim(), secretFile);
}

function hexMaterial(text: string, source: string): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) throw usageError(`${source} must hold the key in hex`);
  return Buffer.from(text, 'hex');
}
