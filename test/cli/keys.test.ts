// `triledger keys ...` run as a real command against a real encrypted keystore file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { triledger } from './run.js';

const passphrase = 'a passphrase for the CLI test';
const secretHex = 'd0742b450c46f4d2e6c34b12a1cd7a4c';
let directory: string;

function run(...args: string[]) {
  return triledger(args, { cwd: directory, env: { TRILEDGER_PASSPHRASE: passphrase } });
}

function expectRefused(result: ReturnType<typeof run>, code: string, exitCode = 1) {
  expect(result.status).toBe(exitCode);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(new RegExp(`^triledger: ${code}`));
}

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'triledger-cli-'));
});

describe('triledger keys (the real command)', () => {
  it('init creates an encrypted keystore with a first signing key, and refuses to overwrite it', () => {
    const created = run('keys', 'init', '--owner', 'transaction', '--algorithm', 'hmac-sha256');
    expect(created.status).toBe(0);
    expect(created.stdout).toContain('created keystore.json');
    expect(created.stdout).toMatch(/1\s+│ transaction\s+│ hmac-sha256\s+│ sign, verify/);
    const before = readFileSync(join(directory, 'keystore.json'));
    expectRefused(run('keys', 'init', '--owner', 'transaction'), 'KeystoreExists');
    expect(readFileSync(join(directory, 'keystore.json')).equals(before)).toBe(true);
  });

  it('add imports a shared secret from a file with verify only; list shows it and never the secret', () => {
    writeFileSync(join(directory, 'account.secret'), `${secretHex}\n`);
    const added = run(
      'keys',
      'add',
      '--owner',
      'account',
      '--algorithm',
      'hmac-sha256',
      '--authorities',
      'verify',
      '--number',
      '2',
      '--secret-file',
      'account.secret',
    );
    expect(added.status).toBe(0);
    const listed = run('keys', 'list', '--json');
    expect(listed.status).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([
      {
        keyNumber: 1,
        owner: 'transaction',
        algorithm: 'hmac-sha256',
        authorities: ['sign', 'verify'],
      },
      { keyNumber: 2, owner: 'account', algorithm: 'hmac-sha256', authorities: ['verify'] },
    ]);
    const table = run('keys', 'list');
    for (const output of [listed.stdout, table.stdout, table.stderr, added.stdout]) {
      expect(output).not.toContain(secretHex);
    }
    expect(readFileSync(join(directory, 'keystore.json'), 'utf8')).not.toContain(secretHex);
  });

  it('grant and revoke change authorities; an authority that cannot apply is refused and writes nothing', () => {
    expect(run('keys', 'grant', '2', 'sign').status).toBe(0);
    expect(JSON.parse(run('keys', 'list', '--json').stdout)[1].authorities).toEqual([
      'sign',
      'verify',
    ]);
    expect(run('keys', 'revoke', '2', 'sign').status).toBe(0);
    expect(JSON.parse(run('keys', 'list', '--json').stdout)[1].authorities).toEqual(['verify']);
    const before = readFileSync(join(directory, 'keystore.json'));
    expectRefused(run('keys', 'grant', '2', 'encrypt'), 'AuthorityNotApplicable');
    expectRefused(run('keys', 'grant', '9', 'verify'), 'UnknownKey');
    expect(readFileSync(join(directory, 'keystore.json')).equals(before)).toBe(true);
  });

  it('rotate hands sign to a new key number and leaves verify on the old one', () => {
    const rotated = run('keys', 'rotate', '1');
    expect(rotated.status).toBe(0);
    expect(rotated.stdout).toContain('key 1 keeps verify; key 3 signs from now on');
    expect(JSON.parse(run('keys', 'list', '--json').stdout)).toMatchObject([
      { keyNumber: 1, authorities: ['verify'] },
      { keyNumber: 2, authorities: ['verify'] },
      {
        keyNumber: 3,
        owner: 'transaction',
        algorithm: 'hmac-sha256',
        authorities: ['sign', 'verify'],
      },
    ]);
  });

  it('export-public prints Ed25519 public keys that another keystore can import with verify only', () => {
    expect(
      run(
        'keys',
        'add',
        '--owner',
        'account:1',
        '--algorithm',
        'ed25519',
        '--authorities',
        'sign,verify',
        '--number',
        '10',
      ).status,
    ).toBe(0);
    const exported = run('keys', 'export-public');
    expect(exported.status).toBe(0);
    const [publicKey] = JSON.parse(exported.stdout);
    expect(publicKey).toMatchObject({
      keyNumber: 10,
      owner: 'account:1',
      algorithm: 'ed25519-public',
    });
    expect(publicKey.publicKeyHex).toMatch(/^[0-9a-f]{64}$/);
    expectRefused(run('keys', 'export-public', '2'), 'AuthorityNotApplicable');

    const other = ['--keystore', 'other.json'];
    expect(run('keys', 'init', ...other).status).toBe(0);
    const imported = run(
      'keys',
      'add',
      ...other,
      '--owner',
      'account:1',
      '--algorithm',
      'ed25519-public',
      '--public-key',
      publicKey.publicKeyHex,
      '--authorities',
      'verify',
      '--number',
      '10',
    );
    expect(imported.status).toBe(0);
    expectRefused(run('keys', 'grant', ...other, '10', 'sign'), 'AuthorityNotApplicable');
  });

  it('errors are one line on stderr with a non-zero exit code', () => {
    expectRefused(
      triledger(['keys', 'list'], {
        cwd: directory,
        env: { TRILEDGER_PASSPHRASE: 'the wrong passphrase' },
      }),
      'KeystoreWrongPassphrase',
    );
    expectRefused(triledger(['keys', 'list'], { cwd: directory }), 'PassphraseInvalid');
    expectRefused(run('keys', 'list', '--keystore', 'missing.json'), 'KeystoreNotFound');
    writeFileSync(join(directory, 'damaged.json'), '{"header":');
    expectRefused(run('keys', 'list', '--keystore', 'damaged.json'), 'KeystoreDamaged');
    expectRefused(run('keys', 'grant', 'two', 'sign'), 'InvalidInput', 2);
    expectRefused(
      run('keys', 'add', '--owner', 'x', '--algorithm', 'rsa', '--authorities', 'sign'),
      'InvalidInput',
      2,
    );
    const unknownOption = run('keys', 'list', '--bogus');
    expect(unknownOption.status).toBe(2);
    expect(unknownOption.stderr).toBe("triledger: unknown option '--bogus'\n");
  });
});
