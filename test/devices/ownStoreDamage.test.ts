// Damage in the transaction device's own store while it runs (issue 18): the device that runs the
// audit and the recovery. It fences itself; `triledger recover` has it set the store aside (kept),
// start again on a new one (`up` starts it) and rebuild that store from the copies of A at its
// peers, and the ledger serves again. On SQLite a page of its operations table is overwritten; on
// PostgreSQL (where the files are not this test's to write) that table is dropped behind it, which
// the device meets the same way.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
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
import { postgresUrl } from '../helpers/postgres.js';
import { damageRootPage, tamper } from '../helpers/stores.js';

/** The transaction device's stores set aside: SQLite files renamed, or PostgreSQL schemas renamed. */
async function damagedStoresKept(dir: string): Promise<string[]> {
  if (testBackend() === 'sqlite')
    return readdirSync(dir).filter((name) => name.startsWith('transaction.sqlite.damaged-'));
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const config = JSON.parse(readFileSync(join(dir, 'transaction.json'), 'utf8')) as {
      store: string;
    };
    const schema = new URL(config.store).searchParams.get('schema');
    const { rows } = await client.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE $1 || '_damaged_%'",
      [schema],
    );
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

describe("the transaction device's store damaged while it runs", () => {
  let deployment: TestDeployment | undefined;

  afterAll(async () => {
    await deployment?.stop();
  });

  it('it fences itself; recover has it restart on a new store, rebuilt from its peers', async () => {
    deployment = await startDeployment({ scheme: 'hmac', mode: 'confirm' });
    expect((await remit(deployment, 1n, 2n, 100n)).ok).toBe(true);
    await deployment.rows('account', 'SELECT 1'); // its settlements are in
    await deployment.rows('currency', 'SELECT 1');
    if (testBackend() === 'sqlite') damageRootPage(deployment.dir, 'transaction', 'operations');
    else await tamper(deployment.dir, 'transaction', ['DROP TABLE operations']);
    expect(await remit(deployment, 1n, 2n, 50n)).toMatchObject({
      ok: false,
      code: 'StoreDamaged',
    });
    // The audit runs in the device: it is refused until the store is rebuilt.
    const run = (...args: string[]) =>
      triledger([...args, '--data', deployment!.dir, '--json'], { cwd: deployment!.dir });
    expect(run('audit').status).toBe(2);

    const recovered = run('recover');
    expect(recovered.status, recovered.stderr).toBe(0);
    const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
    expect(recovery.storesRebuilt).toEqual(['transaction']);
    expect(recovery.repaired.transaction.recordsPut).toBeGreaterThan(0);
    expect(recovery.after.findings).toEqual([]);
    expect(await damagedStoresKept(deployment.dir)).toHaveLength(1);
    expect((await remit(deployment, 1n, 2n, 25n)).ok).toBe(true);
    expect((await issue(deployment, 2n, [50n])).ok).toBe(true);
    expect(run('audit', '--full').status).toBe(0);
  }, 120_000);
});
