// Damage written into account's store while it runs (issue 18: a failing disk under a live
// device). The damaged page is read once the device's cache is dropped (another writer changed the
// file, as a hand outside the device would); account answers StoreDamaged and fences itself, and
// the gateway answers the remittance StoreDamaged without deciding it: the operation stays open.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';

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
});
