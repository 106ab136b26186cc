// Who signs for an account is read from the records of its opening in each device's copy of A, and a
// device holds only the keys used lately (accountKeysHeldMax): here one, so that every step of every
// remittance between two Ed25519 accounts reads its key from the log again. An opening changed in
// one store to lend an account another account's key does not verify, and is never used.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

const devices = ['transaction', 'account', 'currency'] as const;

describe('account keys held one at a time (accountKeysHeldMax: 1, Ed25519)', () => {
  let deployment: TestDeployment;

  beforeAll(async () => {
    const first = await startDeployment({ scheme: 'ed25519' });
    await first.stop();
    for (const device of devices) {
      const path = join(first.dir, `${device}.json`);
      const config = JSON.parse(readFileSync(path, 'utf8'));
      writeFileSync(path, JSON.stringify({ ...config, accountKeysHeldMax: 1 }, null, 2));
    }
    deployment = await startDeployment({ dir: first.dir });
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  const remit = (from: bigint, to: bigint, amount: bigint) =>
    deployment.client(deployment.wallet(from)).remit({
      sourceAccount: from,
      destinationAccount: to,
      amount,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + Number(from),
    });

  it('remittances back and forth each find their key in the store', async () => {
    for (const [from, to] of [
      [1n, 2n],
      [2n, 1n],
      [1n, 2n],
      [2n, 1n],
    ] as const) {
      const remitted = await remit(from, to, 10n);
      expect(remitted.ok || `${remitted.code}: ${remitted.message}`).toBe(true);
    }
  });

  it("each account's signed reads verify with its own key, and not with the other's", async () => {
    for (const account of [1n, 2n]) {
      const own = await deployment
        .client(deployment.wallet(account))
        .read(`/v1/accounts/${account}`, accountKeyNumberBase + Number(account));
      expect(own.ok).toBe(true);
    }
    const other = await deployment
      .client(deployment.wallet(2n))
      .read('/v1/accounts/1', accountKeyNumberBase + 2);
    expect(other.ok || other.code).toBe('WrongSigner');
  });

  it("account 1's opening changed in transaction's store to name account 2's key: refused, not used", async () => {
    // Account 2's key is held by transaction now (its read), account 1's dropped.
    const read = await deployment
      .client(deployment.wallet(2n))
      .read('/v1/accounts/2', accountKeyNumberBase + 2);
    expect(read.ok).toBe(true);
    const [opening] = await deployment.rows<{ transaction_number: bigint; detail: string }>(
      'transaction',
      `SELECT transaction_number, detail FROM transactions WHERE detail LIKE '%publicKeyHex%'
       AND remittance_id = (SELECT remittance_id FROM transactions
         WHERE transaction_type = 'account_issuing_response' AND destination_account = 1)`,
    );
    const otherKey = deployment.wallet(2n).exportPublic(accountKeyNumberBase + 2);
    if (!opening || !otherKey.ok) throw new Error('account 1 was opened with an Ed25519 key');
    const lent = JSON.stringify({
      ...JSON.parse(opening.detail),
      keyNumber: accountKeyNumberBase + 2,
      publicKeyHex: otherKey.value.publicKeyHex,
    });
    const setDetail = (detail: string) =>
      tamper(deployment.dir, 'transaction', [
        'UPDATE transactions SET detail = ? WHERE transaction_number = ?',
        detail,
        opening.transaction_number,
      ]);
    await setDetail(lent);
    const forged = await deployment.client(deployment.wallet(2n)).remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 1n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 2,
    });
    expect(forged.ok || forged.code).toBe('UnknownKey');
    await setDetail(opening.detail);
    const remitted = await remit(1n, 2n, 1n);
    expect(remitted.ok || `${remitted.code}: ${remitted.message}`).toBe(true);
  });
});
