// `triledger export` and `triledger import`: a deployment moved between SQLite and PostgreSQL
// through an encrypted archive, audited after the move, and every refusal: a key without the
// authority, a damaged, cut or altered archive, a target that is not empty, a running deployment.
// Nothing is written when it refuses.
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { flipBit } from '../bytes.js';
import { freePortBase, movePorts, startDeployment } from '../helpers/deployment.js';
import {
  freshSchemaPrefix,
  onPostgres,
  postgresAvailable,
  postgresStoreSpec,
} from '../helpers/postgres.js';
import { copyDeployment, storeContents } from '../helpers/stores.js';
import { triledger } from './run.js';

const postgres = await postgresAvailable();
let original: string;
let archive: string;

const run = (dir: string, ...args: string[]) => triledger([...args, '--data', dir], { cwd: dir });

function sqliteFilesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.sqlite')) : [];
}

async function schemaExists(schema: string): Promise<boolean> {
  return onPostgres('public', async (query) => {
    const rows = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    return rows.length > 0;
  });
}

/**
 * A copy of the original deployment at ports free now: the commands refuse a deployment whose
 * transaction device answers, and the original's ports, freed when it stopped, may since be a
 * parallel test's (a whole run of this file once refused every import so).
 */
async function copyOfOriginal(): Promise<string> {
  const dir = await copyDeployment(original, 'triledger-import-');
  movePorts(dir, await freePortBase());
  return dir;
}

beforeAll(async () => {
  const deployment = await startDeployment({ backend: 'sqlite' });
  const sent = await deployment.client(deployment.wallet(1n)).remit({
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount: 500n,
    currencyType: 'JPY',
    keyNumber: accountKeyNumberBase + 1,
  });
  expect(sent.ok).toBe(true);
  await deployment.stop();
  original = deployment.dir;
  archive = join(original, '..', 'ledger.archive');
  const exported = run(original, 'export', '--out', archive);
  expect(exported.status, exported.stderr).toBe(0);
  expect(exported.stdout).toMatch(
    /^exported \d+ rows of the three stores to .* sealed with key 6\)\n$/,
  );
}, 90_000);

afterAll(() => undefined);

describe('moving a deployment', () => {
  it.skipIf(!postgres)(
    'SQLite to PostgreSQL and back: audited clean after each move, the same rows, and it runs on PostgreSQL',
    async () => {
      const dir = await copyOfOriginal();
      const schema = freshSchemaPrefix();
      const imported = run(dir, 'import', '--in', archive, '--store', postgresStoreSpec(schema));
      expect(imported.status, imported.stderr).toBe(0);
      expect(imported.stdout).toMatch(/audit: 4 operations, .* clean\n/);
      const config = JSON.parse(readFileSync(join(dir, 'account.json'), 'utf8'));
      expect(config.store).toMatch(new RegExp(`schema=${schema}_account$`));
      expect(await storeContents(dir)).toEqual(await storeContents(original));

      // The moved deployment runs: a remittance, and an audit through the devices.
      const deployment = await startDeployment({ dir });
      try {
        const sent = await deployment.client(deployment.wallet(2n)).remit({
          sourceAccount: 2n,
          destinationAccount: 1n,
          amount: 200n,
          currencyType: 'JPY',
          keyNumber: accountKeyNumberBase + 2,
        });
        expect(sent.ok).toBe(true);
        const audited = triledger(['audit', '--data', dir], { cwd: dir });
        expect(audited.status, audited.stderr).toBe(0);
      } finally {
        await deployment.stop();
      }

      // And back to SQLite files.
      const back = join(dir, '..', 'back');
      const backArchive = join(dir, '..', 'back.archive');
      expect(run(dir, 'export', '--out', backArchive).status).toBe(0);
      const returned = run(dir, 'import', '--in', backArchive, '--store', `sqlite:${back}`);
      expect(returned.status, returned.stderr).toBe(0);
      expect(sqliteFilesIn(back).sort()).toEqual([
        'account.sqlite',
        'currency.sqlite',
        'transaction.sqlite',
      ]);
      // The remittance made on PostgreSQL came back with the rest: six more records of A.
      const before = (await storeContents(original)).transaction.length;
      expect((await storeContents(dir)).transaction).toHaveLength(before + 6);
    },
    120_000,
  );

  it('SQLite to SQLite: the same rows, row for row', async () => {
    const dir = await copyOfOriginal();
    const target = join(dir, '..', 'moved');
    const imported = run(dir, 'import', '--in', archive, '--store', `sqlite:${target}`);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'currency.json'), 'utf8')).store).toBe(
      `sqlite:${join(target, 'currency.sqlite')}`,
    );
    expect(await storeContents(dir)).toEqual(await storeContents(original));
  });
});

describe('refusals: nothing is written', () => {
  const refusedImport = async (file: string, code: RegExp) => {
    const dir = await copyOfOriginal();
    const target = join(dir, '..', 'never');
    const result = run(dir, 'import', '--in', file, '--store', `sqlite:${target}`);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(code);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(sqliteFilesIn(target)).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'account.json'), 'utf8')).store).toBe(
      'sqlite:account.sqlite',
    );
  };
  const altered = (change: (bytes: Buffer) => Buffer) => {
    const path = join(original, '..', `altered-${Math.random().toString(16).slice(2)}.archive`);
    writeFileSync(path, change(readFileSync(archive)));
    return path;
  };

  it('an archive with one bit flipped in a chunk', async () => {
    await refusedImport(
      altered((bytes) => flipBit(bytes, bytes.length - 40)),
      /^triledger: ArchiveInvalid: chunk 0 does not authenticate/,
    );
  });

  it('an archive cut short', async () => {
    await refusedImport(
      altered((bytes) => bytes.subarray(0, bytes.length - 100)),
      /^triledger: ArchiveInvalid: the archive is cut in a chunk/,
    );
  });

  it('an archive whose header was changed', async () => {
    await refusedImport(
      altered((bytes) =>
        Buffer.from(bytes.toString('latin1').replace('"version":1', '"version":1 '), 'latin1'),
      ),
      /^triledger: ArchiveInvalid: chunk 0 does not authenticate/,
    );
  });

  it('a file that is not an archive', async () => {
    await refusedImport(
      altered(() => Buffer.from('{"hello": "world"}\n')),
      /^triledger: ArchiveInvalid: .* is not a triledger archive/,
    );
  });

  it('a key without decrypt cannot import; a key without encrypt cannot export', async () => {
    const dir = await copyOfOriginal();
    const keystore = join(dir, 'limited.keystore.json');
    copyFileSync(join(dir, 'operator.keystore.json'), keystore);
    const revoke = (authority: string) =>
      triledger(['keys', 'revoke', String(archiveKeyNumber), authority, '--keystore', keystore], {
        cwd: dir,
        env: { TRILEDGER_PASSPHRASE: readFileSync(join(dir, 'passphrase'), 'utf8').trim() },
      });
    expect(revoke('decrypt').status).toBe(0);
    const target = join(dir, '..', 'never');
    const imported = run(
      dir,
      'import',
      '--in',
      archive,
      '--store',
      `sqlite:${target}`,
      '--keystore',
      keystore,
    );
    expect(imported.status).toBe(1);
    expect(imported.stderr).toMatch(/^triledger: AuthorityDenied: /);
    expect(sqliteFilesIn(target)).toEqual([]);

    expect(revoke('encrypt').status).toBe(0);
    const out = join(dir, '..', 'never.archive');
    const exported = run(dir, 'export', '--out', out, '--keystore', keystore);
    expect(exported.status).toBe(1);
    expect(exported.stderr).toMatch(/^triledger: AuthorityDenied: /);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('an export never overwrites a file', () => {
    const before = readFileSync(archive);
    const result = run(original, 'export', '--out', archive);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^triledger: InvalidInput: .* exists; an archive is never overwritten\n$/,
    );
    expect(readFileSync(archive).equals(before)).toBe(true);
  });

  it('a target that already holds rows', async () => {
    const dir = await copyOfOriginal();
    const result = run(dir, 'import', '--in', archive, '--store', `sqlite:${original}`);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^triledger: InvalidInput: the transaction store .* already holds rows/,
    );
    expect(await storeContents(original)).toEqual(await storeContents(dir));
  });

  it.skipIf(!postgres)(
    'a PostgreSQL target is not even created for an altered archive',
    async () => {
      const dir = await copyOfOriginal();
      const schema = freshSchemaPrefix();
      const broken = altered((bytes) => flipBit(bytes, bytes.length - 40));
      const result = run(dir, 'import', '--in', broken, '--store', postgresStoreSpec(schema));
      expect(result.status).toBe(1);
      expect(await schemaExists(`${schema}_transaction`)).toBe(false);
    },
  );

  it('a running deployment is neither exported nor imported into', async () => {
    const dir = await copyOfOriginal();
    const deployment = await startDeployment({ dir });
    try {
      const exported = run(dir, 'export', '--out', join(dir, '..', 'running.archive'));
      expect(exported.status).toBe(1);
      expect(exported.stderr).toMatch(/^triledger: InvalidInput: the deployment in .* is running/);
    } finally {
      await deployment.stop();
    }
  });
});
