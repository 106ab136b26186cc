// The transaction device gives out no number before its peers have told the last record they hold
// (devices/transaction/tails.ts), and it asks them before it serves. With currency down as it
// starts, a new operation is refused with currency's failure and nothing is numbered (it would
// otherwise be numbered and left open); once currency answers, the device serves. With its store
// set aside (started empty: its own tail lost), the very first request after it starts is held
// until a recovery (before, a request that came before the first check was numbered over records
// the peers already held).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { issue, openAccount } from '../../src/cli/clientCommands.js';
import { createDeployment } from '../../src/deployment/demo.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { triledger } from '../cli/run.js';
import { testBackend } from '../helpers/deployment.js';
import { DeviceProcess, freePorts, shortTimeLimits, sleep } from '../helpers/devices.js';

/** The refusal an issuance gets, as `code: message`; 'ok' when it goes through. */
async function issuanceAnswer(dir: string, account: bigint): Promise<string> {
  try {
    await issue(dir, account, 'JPY', [100n]);
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

describe.skipIf(testBackend() !== 'sqlite')('the transaction device as it starts', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'triledger-tails-')), 'data');
  const devices = {
    account: new DeviceProcess('account', dir),
    currency: new DeviceProcess('currency', dir),
    transaction: new DeviceProcess('transaction', dir),
  };
  let accountNumber = 0n;

  afterAll(async () => {
    for (const device of Object.values(devices)) await device.stop();
  });

  /** What the transaction device's copy of A holds. */
  const recordsAtTransaction = () => {
    const db = new Database(join(dir, 'transaction.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT COUNT(*) AS n FROM transactions').get();
    } finally {
      db.close();
    }
  };

  it('numbers nothing before both peers have told their last records', async () => {
    createDeployment(
      dir,
      { scheme: 'hmac', mode: 'confirm', portBase: await freePorts(3), host: '127.0.0.1' },
      systemEnvironment,
    );
    shortTimeLimits(dir, {
      operationTimeoutMs: 30_000,
      holdTimeoutMs: 60_000,
      resumeIntervalMs: 100,
    });
    for (const device of Object.values(devices)) await device.start();
    accountNumber = (await openAccount(dir, 'JPY')).accountNumber;
    for (const device of Object.values(devices)) await device.stop();

    await devices.account.start();
    await devices.transaction.start();
    const before = recordsAtTransaction();
    const refused = await issuanceAnswer(dir, accountNumber);
    expect(refused).toMatch(/^PeerUnavailable: no operation is taken until account and currency/);
    expect(refused).toContain('currency');
    expect(recordsAtTransaction()).toEqual(before);

    await devices.currency.start();
    let answer = refused;
    for (const deadlineMs = Date.now() + 10_000; answer !== 'ok'; await sleep(100)) {
      expect(Date.now()).toBeLessThan(deadlineMs);
      answer = await issuanceAnswer(dir, accountNumber);
    }
  }, 90_000);

  it('on a store that lost its tail, holds from its first request until a recovery', async () => {
    for (const device of Object.values(devices)) await device.stop();
    expect(triledger(['set-aside', 'transaction', '--data', dir], { cwd: dir }).status).toBe(0);
    for (const device of Object.values(devices)) await device.start();
    const held = await issuanceAnswer(dir, accountNumber);
    expect(held).toMatch(
      /^Maintenance: the ledger is held until an operator runs triledger recover/,
    );
    expect(recordsAtTransaction()).toEqual({ n: 0 });
    const recovered = triledger(['recover', '--data', dir, '--json'], { cwd: dir });
    expect(recovered.status, recovered.stderr).toBe(0);
    expect(await issuanceAnswer(dir, accountNumber)).toBe('ok');
  }, 90_000);
});
