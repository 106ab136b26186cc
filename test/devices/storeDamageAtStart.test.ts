// A peer whose store is damaged when it starts (issue 18: here currency's file replaced by zeros
// while the deployment was stopped). It does not open that store: it starts fenced, answering
// nothing but its health, which names the damage; an operation that needs it stays open
// (StoreDamaged). `triledger recover` has it set the file aside (kept) and start again on a new
// store (`up` starts it), rebuilds that store from the other two, and the ledger serves again.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { triledger } from '../cli/run.js';
import {
  issue,
  remit,
  startDeployment,
  type TestDeployment,
  testBackend,
} from '../helpers/deployment.js';

describe.skipIf(testBackend() !== 'sqlite')('a peer whose store is damaged when it starts', () => {
  let deployment: TestDeployment | undefined;

  afterAll(async () => {
    await deployment?.stop();
  });

  it('starts fenced; recover rebuilds it; the ledger then serves', async () => {
    const first = await startDeployment();
    expect((await remit(first, 1n, 2n, 100n)).ok).toBe(true);
    await first.stop();
    const path = join(first.dir, 'currency.sqlite');
    const zeros = Buffer.alloc(statSync(path).size);
    writeFileSync(path, zeros);

    deployment = await startDeployment({ dir: first.dir });
    const currencyUrl = deployment.url.replace(/:(\d+)$/, (_m, port) => `:${Number(port) + 2}`);
    const health = (await (await fetch(`${currencyUrl}/health`)).json()) as {
      status: string;
      storeDamage: string;
    };
    expect(health.status).toBe('damaged');
    expect(health.storeDamage).toMatch(/currency\.sqlite/);
    const open = await remit(deployment, 1n, 2n, 50n);
    expect(open).toMatchObject({ ok: false, code: 'StoreDamaged' });

    const recovered = triledger(['recover', '--data', deployment.dir, '--json'], {
      cwd: deployment.dir,
    });
    expect(recovered.status, recovered.stderr).toBe(0);
    const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
    expect(recovery.storesRebuilt).toEqual(['currency']);
    expect(recovery.after.findings).toEqual([]);
    // The damaged file is kept as it was, beside the new one.
    const [aside] = readdirSync(deployment.dir).filter((name) =>
      /^currency\.sqlite\.damaged-/.test(name),
    );
    expect(readFileSync(join(deployment.dir, aside!)).equals(zeros)).toBe(true);

    expect((await remit(deployment, 1n, 2n, 25n)).ok).toBe(true);
    expect((await issue(deployment, 2n, [10n])).ok).toBe(true);
    const audited = triledger(['audit', '--full', '--data', deployment.dir, '--json'], {
      cwd: deployment.dir,
    });
    expect(audited.status, audited.stderr).toBe(0);
  }, 120_000);
});
