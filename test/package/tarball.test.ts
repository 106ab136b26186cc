// The package as an integrator gets it (issue 19): `npm pack`, the tarball installed as a
// dependency of a new project on this Node.js with engine checks on (no dependency that needs a
// later Node.js), only what a user needs inside it, `triledger/client` imported and type-checked
// there, and a remittance sent with it to a real deployment, its six records checked.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tscPath = join(root, 'node_modules', '.bin', 'tsc');
/** Installing may build better-sqlite3 from source: about a minute on two cores. */
const installMsMax = 600_000;
let project: string;
let tarball: string;
let deployment: TestDeployment;

/** The integrator's program: open the wallet of account 1, remit, print what came back. */
const program = `import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKeystoreFile, systemEnvironment, TerminalClient, type DeploymentInfo } from 'triledger/client';

const dir = process.argv[2] ?? '.';
const info = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as DeploymentInfo;
const passphrase = readFileSync(join(dir, 'passphrase'), 'utf8').trim();
const wallet = loadKeystoreFile(join(dir, 'wallets', 'account-1.keystore.json'), passphrase, {
  environment: systemEnvironment,
});
if (!wallet.ok) throw new Error(wallet.message);
const client = new TerminalClient(info, wallet.value);
const sent = await client.remit({
  sourceAccount: 1n,
  destinationAccount: 2n,
  amount: 7n,
  currencyType: 'JPY',
  keyNumber: 1_000_001,
});
const records: number = sent.ok ? sent.records.length : 0;
console.log(JSON.stringify({ ok: sent.ok, records, code: sent.ok ? undefined : sent.code }));
await client.close();
`;

/**
 * better-sqlite3's install takes a prebuilt binary from a local folder before it downloads one or
 * builds it from source (prebuild-install's `local-prebuilds`, as an integrator behind a firewall
 * sets it): the folder gets the binary this checkout's own install built for the same Node.js, so
 * the integrator's install does not compile SQLite a second time (a minute of both cores).
 */
function localPrebuildOfSqlite(project: string): Record<string, string> {
  const installed = join(root, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    version: string;
  };
  const folder = join(project, 'prebuilds');
  mkdirSync(folder);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['czf', join(folder, name), 'build/Release/better_sqlite3.node'], {
    cwd: installed,
  });
  return { npm_config_better_sqlite3_local_prebuilds: folder };
}

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'triledger-integrator-'));
  const packed = execFileSync(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', project],
    { cwd: root, encoding: 'utf8' },
  );
  tarball = join(project, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'integrator', private: true, type: 'module' }),
  );
  const install = ['install', '--engine-strict', '--prefer-offline', '--no-audit', '--no-fund'];
  execFileSync('npm', [...install, tarball, '@types/node@20'], {
    cwd: project,
    stdio: 'ignore',
    timeout: installMsMax,
    env: { ...process.env, ...localPrebuildOfSqlite(project) },
  });
  deployment = await startDeployment({ backend: 'sqlite' });
}, installMsMax + 60_000);

afterAll(async () => {
  await deployment?.stop();
});

describe('triledger as a dependency', () => {
  it('ships what a user needs: the built code, the docs, the README', () => {
    const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    const tops = new Set(listed.map((path) => path.split('/')[1]));
    expect([...tops].sort()).toEqual(['README.md', 'dist', 'docs', 'package.json']);
    expect(listed).toContain('package/dist/client/index.d.ts');
  });

  it('installs on this Node.js with every engine check on, light-my-request pinned for Node 20', () => {
    const tree = execFileSync('npm', ['ls', 'light-my-request', '--all', '--json'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(tree).not.toMatch(/"version": "6\.(?!6\.0)/);
    expect(readdirSync(join(project, 'node_modules', 'triledger'))).toContain('dist');
  });

  it('type-checks a program against triledger/client, strict, with nothing but @types/node', () => {
    writeFileSync(join(project, 'remit.ts'), program);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['remit.ts'],
      }),
    );
    execFileSync(tscPath, ['-p', project], { cwd: project, encoding: 'utf8' });
  });

  it('remits with triledger/client to a real deployment, the six records checked', () => {
    writeFileSync(
      join(project, 'remit.mjs'),
      program
        .replace(', type DeploymentInfo', '')
        .replace(' as DeploymentInfo', '')
        .replace('const records: number =', 'const records ='),
    );
    const output = execFileSync(process.execPath, ['remit.mjs', deployment.dir], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual({ ok: true, records: 6 });
  });
});
