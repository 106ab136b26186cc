// Damage written into account's store while it runs (issue 18: a failing disk under a live
// device). The damaged page is read once the device's cache is dropped (another writer changed the
// file, as a hand outside the device would); account answers StoreDamaged and fences itself, and
// the gateway answers the remittance StoreDamaged without deciding it: the operation stays open.
// The audit reads the other two copies, names account's store unreadable, and still finds a record
// changed in currency's copy; recovery has account set its store aside and start again on a new one,
// rebuilds it from the other two and repairs currency's copy, and the ledger then serves.
// The same damage in the transaction device's own store: it fences itself, and a recovery has it set
// the store aside, start again and rebuild it from the copies of A at its peers.
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { deploymentInfo } from '../../src/deployment/demo.js';
import { accountKeyNumberBase, type DeviceContext } from '../../src/devices/context.js';
import { setAsideRoute } from '../../src/devices/http.js';
import { PeerClient } from '../../src/devices/peerClient.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { triledger } from '../cli/run.js';
import {
  issue,
  remit,
  startDeployment,
  type TestDeployment,
  testBackend,
} from '../helpers/deployment.js';
import { postgresUrl } from '../helpers/postgres.js';
import { tamper } from '../helpers/stores.js';

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

/**
 * Overwrite the root page of `table` in a running device's SQLite file, then write through another
 * connection, which makes the device read its pages afresh (as after a hand outside it).
 */
function damageRootPage(dir: string, device: 'transaction' | 'account', table: string): void {
  const path = join(dir, `${device}.sqlite`);
  const other = new Database(path);
  other.pragma('wal_checkpoint(TRUNCATE)'); // everything into the main file first
  const pageSize = Number(other.pragma('page_size', { simple: true }));
  const { rootpage } = other
    .prepare('SELECT rootpage FROM sqlite_master WHERE name = ?')
    .get(table) as { rootpage: number };
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, (rootpage - 1) * pageSize);
  closeSync(fd);
  other.exec("CREATE TABLE IF NOT EXISTS touched (at TEXT); INSERT INTO touched VALUES ('now')");
  other.close();
}

describe.skipIf(testBackend() !== 'sqlite')('account store damaged while it runs', () => {
  let deployment: TestDeployment;

  beforeAll(async () => {
    deployment = await startDeployment({ scheme: 'hmac', mode: 'confirm' });
  }, 90_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  /** 100 JPY from account 1 to 2 under `requestId`, signed with account 1's key. */
  const remitUnder = (requestId: string) =>
    deployment.client(deployment.wallet(1n)).remit({
      requestId,
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 100n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 1,
    });

  it('a remittance is answered StoreDamaged, undecided; account is fenced', async () => {
    expect(await remitUnder('before-the-damage')).toMatchObject({ ok: true });
    // A store that is not damaged is not set aside, even when the transaction device asks.
    const info = deploymentInfo(deployment.dir);
    const accountOrigin = info.transactionUrl.replace(
      /:(\d+)$/,
      (_m, port) => `:${Number(port) + 1}`,
    );
    const asTransaction = new PeerClient('account', accountOrigin, {
      signatures: deployment.keystore('transaction'),
      signingKeyNumber: info.deviceKeys.transaction,
      environment: systemEnvironment,
    } as DeviceContext);
    expect(await asTransaction.post(setAsideRoute, {})).toMatchObject({
      ok: false,
      code: 'InvalidInput',
    });
    await asTransaction.close();
    await deployment.rows('account', 'SELECT 1'); // its settlement is in
    damageRootPage(deployment.dir, 'account', 'accounts'); // B's root page

    const answer = await remitUnder('after-the-damage');
    expect(answer).toMatchObject({ ok: false, code: 'StoreDamaged' });
    expect(answer.ok ? '' : answer.message).toContain('stays open');
    const [operation] = await deployment.rows<{ state: string }>(
      'transaction',
      'SELECT state FROM operations WHERE remittance_id = ?',
      'after-the-damage',
    );
    expect(operation?.state).not.toBe('done');
    // Fenced: the next remittance is refused the same way, nothing decided.
    expect(await remitUnder('while-fenced')).toMatchObject({ ok: false, code: 'StoreDamaged' });
    // The gateway is not ready while a peer it needs is fenced.
    const ready = await deployment.fetchSigned('/ready');
    expect(ready.status).toBe(503);
    expect(
      ((await ready.json()) as { checks: { peers: Record<string, boolean> } }).checks.peers,
    ).toEqual({ account: false, currency: true });
  }, 60_000);

  it('the audit names account unreadable and decides A by the other two copies; recovery repairs them', async () => {
    const run = (...args: string[]) =>
      triledger([...args, '--data', deployment.dir, '--json'], { cwd: deployment.dir });
    const findingsOf = (stdout: string) =>
      (JSON.parse(stdout) as AuditReport).findings.map(
        (f) => `${f.device} ${f.store} ${f.key} ${f.kind}`,
      );
    const audited = run('audit');
    expect(audited.status, audited.stderr).toBe(1);
    expect(findingsOf(audited.stdout)).toEqual(['account B * unreadable-store']);
    expect(audited.stdout).toContain('database disk image is malformed');

    await tamper(deployment.dir, 'currency', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 20',
    ]);
    const changed = run('audit');
    expect(changed.status, changed.stderr).toBe(1);
    expect(findingsOf(changed.stdout)).toEqual([
      'account B * unreadable-store',
      'currency A 20 modified',
    ]);
    // Recovery has account set its damaged store aside and come back on a new one (`up` starts it
    // again), then rebuilds that store from the other two, and repairs currency's copy.
    const recovered = run('recover');
    expect(recovered.status, recovered.stderr).toBe(0);
    const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
    expect(recovery.storesRebuilt).toEqual(['account']);
    expect(recovery.recovered).toBe(true);
    expect(recovery.repaired.currency).toMatchObject({ recordsRemoved: 1, recordsPut: 1 });
    expect(recovery.repaired.account.recordsPut).toBeGreaterThan(0);
    expect(recovery.after.findings).toEqual([]);
    // The damaged file is kept, renamed, never deleted.
    expect(
      readdirSync(deployment.dir).filter((name) => /^account\.sqlite\.damaged-/.test(name)),
    ).toHaveLength(1);
  }, 120_000);

  it('after the rebuild the ledger serves: the open remittances are decided, a new one settles, an issuance goes through', async () => {
    // The remittances the damage left open are decided by the resumer, now that account serves.
    const states = async () =>
      (
        await deployment.rows<{ state: string }>(
          'transaction',
          "SELECT state FROM operations WHERE remittance_id IN ('after-the-damage', 'while-fenced')",
        )
      ).map((row) => row.state);
    for (const deadlineMs = Date.now() + 20_000; (await states()).some((s) => s !== 'done'); ) {
      expect(Date.now()).toBeLessThan(deadlineMs);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await remitUnder('after-the-rebuild')).toMatchObject({ ok: true });
    expect((await issue(deployment, 2n, [50n])).ok).toBe(true);
    const audited = triledger(['audit', '--full', '--data', deployment.dir, '--json'], {
      cwd: deployment.dir,
    });
    expect(audited.status, audited.stderr).toBe(0);
  }, 60_000);
});

// On SQLite a page of its operations table overwritten; on PostgreSQL (where the files are not
// this test's to write) that table dropped behind it, which the device meets the same way.
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
