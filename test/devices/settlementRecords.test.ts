// A settlement carries to each peer only the records it lacks (those after its own answer: it
// stored the earlier ones when it answered). A peer whose store lost those records (a row deleted
// under it, a store rebuilt behind) answers RecordsMissing, and the transaction device sends it the
// operation whole: the peer then holds every record again and applies nothing twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledAtCurrency, settledEverywhere } from '../../src/store/types.js';
import { remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { readRow, readRows, tamper } from '../helpers/stores.js';

let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await startDeployment();
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

const settledOf = async (remittanceId: string) =>
  Number(
    (
      await readRow<{ settled: bigint | number }>(
        deployment.dir,
        'transaction',
        'SELECT settled FROM operations WHERE remittance_id = ?',
        remittanceId,
      )
    ).settled,
  );

const recordsAtAccount = async (remittanceId: string) =>
  (
    await readRows<{ n: bigint | number }>(
      deployment.dir,
      'account',
      'SELECT transaction_number AS n FROM transactions WHERE remittance_id = ? ORDER BY 1',
      remittanceId,
    )
  ).map((row) => BigInt(row.n));

const balances = async () =>
  readRows<{ balance: bigint | number }>(
    deployment.dir,
    'account',
    'SELECT balance FROM accounts ORDER BY account_number',
  );

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadlineMs) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the records a settlement carries', () => {
  it('a peer that lost the records of its exchange is sent the operation whole', async () => {
    const remitted = await remit(deployment, 1n, 2n, 100n);
    expect(remitted.ok).toBe(true);
    const { remittanceId } = remitted as { remittanceId: string };
    await until(async () => (await settledOf(remittanceId)) === settledEverywhere);
    const numbers = await recordsAtAccount(remittanceId);
    expect(numbers).toHaveLength(6);
    const before = await balances();

    // Account's records of its exchange (a1-a3) deleted under it, and its acknowledgement
    // forgotten at transaction: the resumer settles the operation at account again.
    await tamper(deployment.dir, 'account', [
      'DELETE FROM transactions WHERE remittance_id = ? AND transaction_number < ?',
      remittanceId,
      numbers[3],
    ]);
    await tamper(deployment.dir, 'transaction', [
      'UPDATE operations SET settled = ? WHERE remittance_id = ?',
      settledAtCurrency,
      remittanceId,
    ]);

    await until(async () => (await settledOf(remittanceId)) === settledEverywhere);
    expect(await recordsAtAccount(remittanceId)).toEqual(numbers);
    expect(await balances()).toEqual(before);
    expect(deployment.output()).toMatch(/RecordsMissing|leaves out records/);
  });
});
