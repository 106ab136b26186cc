// An account whose key is a shared HMAC secret (FIG. 6: "user terminal 210"): the devices hold it
// with verify only, the terminal with sign. It opens, signs remittances, and the devices cannot
// sign with it. The devices remember which shared key signs for an account only for the accounts
// used lately (accountKeysHeldMax, here one): two such accounts remitting back and forth make
// every step read its account's key from the opening again.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeployment, installSharedKeys } from '../../src/deployment/demo.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { freePortBase, startDeployment, type TestDeployment } from '../helpers/deployment.js';

const sharedKeyNumber = 210;
const otherKeyNumber = 211;
const secrets = new Map([
  [sharedKeyNumber, Buffer.from('763b7518363ca1addee279e664727dd6', 'hex')],
  [otherKeyNumber, Buffer.from('0c4f9e2ab7d1356e88a0f4c2d9b3e7a1', 'hex')],
]);
let deployment: TestDeployment;

beforeAll(async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'triledger-shared-')), 'data');
  const portBase = await freePortBase();
  createDeployment(
    dir,
    { scheme: 'hmac', mode: 'confirm', portBase, host: '127.0.0.1' },
    systemEnvironment,
  );
  // The operator installs the terminals' secrets: verify only at the devices, sign in the terminal's wallet.
  installSharedKeys(dir, secrets, systemEnvironment);
  for (const device of ['transaction', 'account', 'currency']) {
    const path = join(dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...config, accountKeysHeldMax: 1 }, null, 2));
  }
  deployment = await startDeployment({ dir, portBase });
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

describe('an account with a shared HMAC key', () => {
  it('opens with the key number, receives and sends remittances signed with it', async () => {
    const terminal = deployment.client(deployment.keystore('terminal'));
    const opened = await terminal.openAccountWithSharedKey({
      currencyType: 'JPY',
      keyNumber: sharedKeyNumber,
    });
    if (!opened.ok) throw new Error(`${opened.code}: ${opened.message}`);
    expect(opened.accountNumber).toBe(3n);
    expect(opened.records[0]!.record).toMatchObject({
      transactionType: 'account_issuing_request',
      signerKeyNumber: sharedKeyNumber,
    });

    const toShared = await deployment.client(deployment.wallet(1n)).remit({
      sourceAccount: 1n,
      destinationAccount: 3n,
      amount: 500n,
      currencyType: 'JPY',
      keyNumber: 1_000_001,
    });
    expect(toShared.ok).toBe(true);
    const back = await terminal.remit({
      sourceAccount: 3n,
      destinationAccount: 1n,
      amount: 200n,
      currencyType: 'JPY',
      keyNumber: sharedKeyNumber,
    });
    expect(back.ok).toBe(true);
    const account = await terminal.read('/v1/accounts/3', sharedKeyNumber);
    expect(account.ok && account.value['balance']).toBe('300');
  });

  it('a key already bound to an account cannot open another one; a device cannot sign with it', async () => {
    const terminal = deployment.client(deployment.keystore('terminal'));
    expect(
      await terminal.openAccountWithSharedKey({ currencyType: 'JPY', keyNumber: sharedKeyNumber }),
    ).toMatchObject({ ok: false, code: 'WrongSigner' });
    const transactionKeys = deployment.keystore('transaction');
    expect(transactionKeys.sign(sharedKeyNumber, Buffer.from('a1'))).toMatchObject({
      ok: false,
      code: 'AuthorityDenied',
    });
  });

  it('two shared-key accounts back and forth, one held at a time: each step finds its key again, and only its own key signs for it', async () => {
    const terminal = deployment.client(deployment.keystore('terminal'));
    const opened = await terminal.openAccountWithSharedKey({
      currencyType: 'JPY',
      keyNumber: otherKeyNumber,
    });
    if (!opened.ok) throw new Error(`${opened.code}: ${opened.message}`);
    const other = opened.accountNumber!;
    const remit = (from: bigint, to: bigint, keyNumber: number) =>
      terminal.remit({
        sourceAccount: from,
        destinationAccount: to,
        amount: 10n,
        currencyType: 'JPY',
        keyNumber,
      });
    for (let turn = 0; turn < 4; turn++) {
      const [from, to, key] =
        turn % 2 === 0 ? [3n, other, sharedKeyNumber] : [other, 3n, otherKeyNumber];
      const sent = await remit(from, to, key);
      expect(sent.ok || `${sent.code}: ${sent.message}`).toBe(true);
    }
    expect(await remit(3n, other, otherKeyNumber)).toMatchObject({
      ok: false,
      code: 'WrongSigner',
    });
    expect(await remit(other, 3n, sharedKeyNumber)).toMatchObject({
      ok: false,
      code: 'WrongSigner',
    });
  });
});
