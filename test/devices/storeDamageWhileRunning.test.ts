// Damage written into account's store while it runs (issue 18: a failing disk under a live
// device). The damaged page is read once the device's cache is dropped (another writer changed the
// file, as a hand outside the device would); account answers StoreDamaged and fences itself, and
// the gateway answers the remittance StoreDamaged without deciding it: the operation stays open.
// The audit reads the other two copies, names account's store unreadable, and still finds (and
// recovery repairs) a record changed in currency's copy.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { triledger } from '../cli/run.js';
import { startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

describe.skipIf(testBackend() !== 'sqlite')('account store damaged while it runs', () => {
  let deployment: TestDeployment;

  beforeAll(async () => {
    deployment = await startDeployment({ scheme: 'hmac', mode: 'confirm' });
  }, 90_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('a remittance is answered StoreDamaged, undecided; account is fenced', async () => {
    const client = deployment.client(deployment.wallet(1n));
    const remit = (requestId: string) =>
      client.remit({
        requestId,
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 100n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + 1,
      });
    expect(await remit('before-the-damage')).toMatchObject({ ok: true });
    await deployment.rows('account', 'SELECT 1'); // its settlement is in
    // Everything into the main file, then the root page of B overwritten there, then a write by
    // another connection, which makes the device read its pages afresh.
    const path = join(deployment.dir, 'account.sqlite');
    const other = new Database(path);
    other.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = Number(other.pragma('page_size', { simple: true }));
    const { rootpage } = other
      .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'accounts'")
      .get() as { rootpage: number };
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, (rootpage - 1) * pageSize);
    closeSync(fd);
    other.exec("CREATE TABLE IF NOT EXISTS touched (at TEXT); INSERT INTO touched VALUES ('now')");
    other.close();

    const answer = await remit('after-the-damage');
    expect(answer).toMatchObject({ ok: false, code: 'StoreDamaged' });
    expect(answer.ok ? '' : answer.message).toContain('stays open');
    const [operation] = await deployment.rows<{ state: string }>(
      'transaction',
      'SELECT state FROM operations WHERE remittance_id = ?',
      'after-the-damage',
    );
    expect(operation?.state).not.toBe('done');
    // Fenced: the next remittance is refused the same way, nothing decided.
    expect(await remit('while-fenced')).toMatchObject({ ok: false, code: 'StoreDamaged' });
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
    const recovered = run('recover');
    expect(recovered.status, recovered.stderr).toBe(1);
    const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
    expect(recovery.repaired.currency).toMatchObject({ recordsRemoved: 1, recordsPut: 1 });
    expect(recovery.after.findings.map((f) => `${f.device} ${f.kind}`)).toEqual([
      'account unreadable-store',
    ]);
  }, 90_000);
});
