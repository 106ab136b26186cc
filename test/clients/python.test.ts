// The reference client in a second language (clients/python, issue 19): it reproduces every vector
// of test/vectors/signed-requests.json byte for byte (signed requests of each kind, a receipt, a
// signed read, in both schemes), the committed vectors are what src/ makes today, and against real
// devices it opens an account, remits and reads its balance, checking every receipt. On a machine
// without Python and its `cryptography` package (Debian: python3-cryptography) these tests skip
// with a visible notice; in CI (CI=true) they must run (.ci/run installs the package).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requestVectors } from '../../scripts/requestVectors.js';
import { deploymentInfo } from '../../src/deployment/demo.js';
import { issue, startDeployment, type TestDeployment } from '../helpers/deployment.js';

const clientDir = new URL('../../clients/python/', import.meta.url).pathname;
const vectorsPath = new URL('../vectors/signed-requests.json', import.meta.url).pathname;

/** A Python that has `cryptography`: Debian's first, then the one on PATH. */
function findPython(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import cryptography'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  if (process.env['CI'] === 'true')
    throw new Error('CI needs python3 with the cryptography package (python3-cryptography)');
  process.stderr.write(
    '\nNOTICE: no python3 with the cryptography package here: the Python client tests are skipped.\n\n',
  );
  return undefined;
}

const python = findPython();

function run(...args: string[]): unknown {
  const output = execFileSync(python!, args, { cwd: clientDir, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(output);
}

describe('the signed-request vectors', () => {
  it('are what the code makes today (npm run docs:vectors writes them again)', () => {
    expect(JSON.parse(readFileSync(vectorsPath, 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(requestVectors())),
    );
  });

  it.skipIf(python === undefined)('are reproduced byte for byte by the Python client', () => {
    const output = execFileSync(python!, ['check_vectors.py', vectorsPath], {
      cwd: clientDir,
      encoding: 'utf8',
    });
    expect(output).not.toMatch(/DIFFERS/);
    expect(output.match(/^ok /gm)).toHaveLength(2 * (5 * 4 + 4));
  });
});

describe.skipIf(python === undefined).each(['ed25519', 'hmac'] as const)(
  'the Python client against real devices (%s)',
  (scheme) => {
    let deployment: TestDeployment;
    afterAll(async () => {
      await deployment?.stop();
    });

    it('opens an account, is issued money, remits, and reads its balance', async () => {
      deployment = await startDeployment({ scheme });
      const url = deploymentInfo(deployment.dir).transactionUrl;
      const keyFile = join(mkdtempSync(join(tmpdir(), 'triledger-python-')), 'account.key');
      /** example.py's arguments: the command, this deployment and key file, then `flags`. */
      const example = (command: string, flags: Record<string, string> = {}) => [
        'example.py',
        command,
        '--url',
        url,
        '--key-file',
        keyFile,
        ...Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value]),
      ];
      const opened = run(...example('open')) as {
        accountNumber: number;
        receipt: { checked: string[]; notCheckable: string[]; outcome: string };
      };
      expect(opened.receipt.outcome).toBe('ok');
      // Ed25519 device keys are public: every link is checked. HMAC ones are not: the receipt says
      // so for each device link, and claims only the request.
      expect(opened.receipt.checked).toHaveLength(scheme === 'ed25519' ? 4 : 1);
      expect(opened.receipt.notCheckable).toHaveLength(scheme === 'ed25519' ? 0 : 3);

      const issued = await issue(deployment, BigInt(opened.accountNumber), [600n, 400n]);
      expect(issued.ok).toBe(true);

      const account = String(opened.accountNumber);
      const remitted = run(...example('remit', { from: account, to: '1', amount: '300' })) as {
        receipt: { checked: string[]; outcome: string };
      };
      expect(remitted.receipt.outcome).toBe('ok');
      expect(remitted.receipt.checked).toHaveLength(scheme === 'ed25519' ? 6 : 1);
      const balance = run(...example('balance', { account })) as { balance: string };
      expect(balance.balance).toBe('700');

      // A refusal: one line on stderr, exit 1, nothing printed as a result.
      const refused = spawnSync(
        python!,
        example('remit', { from: account, to: '1', amount: '5000' }),
        { cwd: clientDir, encoding: 'utf8' },
      );
      expect(refused.status).toBe(1);
      expect(refused.stderr.trim()).toMatch(/^triledger: InsufficientBalance: /);
      expect(refused.stdout).toBe('');
    });
  },
);
