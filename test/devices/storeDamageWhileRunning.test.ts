// Damage written into account's store while it runs (issue 18: a failing disk under a live
// device). The damaged page is read once the device's cache is dropped (another writer changed the
// file, as a hand outside the device would); account answers StoreDamaged and fences itself, and
// the gateway answers the remittance StoreDamaged without deciding it: the operation stays open.
// The audit reads the other two copies, names account's store unreadable, and still finds a record
// changed in currency's copy; recovery has account set its store aside and start again on a new one,
// rebuilds it from the other two and repairs currency's copy, and the ledger then serves.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { deploymentInfo } from '../../src/deployment/demo.js';
import { accountKeyNumberBase, type DeviceContext } from '../../src/devices/context.js';
import { setAsideRoute } from '../../src/devices/http.js';
import { PeerClient } from '../../src/devices/peerClient.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { triledger } from '../cli/run.js';
import { issue, startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';
import { damageRootPage, tamper } from '../helpers/stores.js';

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
