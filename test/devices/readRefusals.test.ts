// What a reader hears when the gateway cannot show an account (issue 19): an account that does not
// exist is named once ("account 99 does not exist", not "account: account 99 ..."), and a row of B
// whose signature fails (changed behind the account device's back) is RowSignatureInvalid, not a
// device that did not answer.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';

describe.skipIf(testBackend() !== 'sqlite')('reads the gateway cannot answer', () => {
  let deployment: TestDeployment;

  beforeAll(async () => {
    deployment = await startDeployment({ scheme: 'hmac', mode: 'confirm' });
  }, 90_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('an account that does not exist is named once', async () => {
    expect(await deployment.read('/v1/accounts/99')).toEqual({
      ok: false,
      code: 'UnknownAccount',
      message: 'account 99 does not exist',
    });
  });

  it('a row of B changed behind the device: RowSignatureInvalid', async () => {
    const db = new Database(join(deployment.dir, 'account.sqlite'));
    db.prepare('UPDATE accounts SET balance = balance + 1000 WHERE account_number = 2').run();
    db.close();
    const read = await deployment.read('/v1/accounts/2');
    expect(read).toMatchObject({ ok: false, code: 'RowSignatureInvalid' });
    expect(read.ok ? '' : read.message).toMatch(/^account 2: its row does not verify/);
  });
});
