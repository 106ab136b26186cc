// docs/design.md invariant 4 against real devices: after a concurrent, mixed workload (remittances, some
// refused, issuance, redemption, closing), replaying A reproduces B and C exactly, lastUpdate
// included, and the three copies of A are identical (invariant 5). Both protocol modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Operation, replayAccounts, replayUnits } from '../../src/audit/replay.js';
import { openAccount } from '../../src/cli/clientCommands.js';
import type { OperationRefusal, OperationResult } from '../../src/client/terminal.js';
import { issuerKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import type { TransactionRecord } from '../../src/protocol/records.js';
import { recordFromRow } from '../../src/store/rows.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';

/** A small seeded generator, so the requests are the same on every run (their interleaving is not). */
function generator(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % below;
  };
}

async function operationsOf(
  deployment: TestDeployment,
  device: 'transaction' | 'account' | 'currency',
): Promise<Operation[]> {
  const records = (
    await deployment.rows(device, 'SELECT * FROM transactions ORDER BY transaction_number')
  ).map((row) => recordFromRow(row).record);
  const operations: TransactionRecord[][] = [];
  for (const record of records) {
    const last = operations.at(-1);
    if (last && last[0]!.remittanceId === record.remittanceId) last.push(record);
    else operations.push([record]);
  }
  return operations;
}

describe.each(['confirm', 'update'] as const)(
  'replaying A reproduces B and C (%s mode)',
  (mode) => {
    let deployment: TestDeployment;

    beforeAll(async () => {
      deployment = await startDeployment({ mode });
      const accounts = [1n, 2n];
      for (let i = 0; i < 3; i++)
        accounts.push((await openAccount(deployment.dir, 'JPY')).accountNumber);
      const issuer = deployment.client(deployment.keystore('issuer'));
      for (const account of accounts.slice(2)) {
        expect(
          (
            await issuer.issue({
              destinationAccount: account,
              currencyType: 'JPY',
              values: [1000n, 300n, 50n, 5n],
              issuerKeyNumber,
            })
          ).ok,
        ).toBe(true);
      }
      const wallets = new Map(accounts.map((a) => [a, deployment.client(deployment.wallet(a))]));
      const random = generator(mode === 'confirm' ? 7 : 11);
      // Waves of concurrent operations: within a wave they interleave; between waves the holds of
      // confirm mode are released, so that most operations find their money (on either store).
      const results: (OperationResult | OperationRefusal)[] = [];
      let work: Promise<OperationResult | OperationRefusal>[] = [];
      for (let i = 0; i < 60; i++) {
        if (i % 10 === 0) {
          results.push(...(await Promise.all(work)));
          work = [];
        }
        const from = accounts[random(accounts.length)]!;
        let to = accounts[random(accounts.length)]!;
        if (to === from) to = accounts[(accounts.indexOf(from) + 1) % accounts.length]!;
        const amount = BigInt(1 + random(700));
        work.push(
          wallets.get(from)!.remit({
            sourceAccount: from,
            destinationAccount: to,
            amount,
            currencyType: 'JPY',
            keyNumber: accountKeyNumberBase + Number(from),
          }),
        );
        if (i % 20 === 5)
          work.push(
            issuer.redeem({
              sourceAccount: accounts[2 + (i % 3)]!,
              currencyType: 'JPY',
              amount: 42n,
              issuerKeyNumber,
            }),
          );
      }
      results.push(...(await Promise.all(work)));
      expect(results.filter((r) => r.ok).length).toBeGreaterThan(20);
      // An empty account, closed.
      const empty = (await openAccount(deployment.dir, 'JPY')).accountNumber;
      expect(
        (
          await deployment
            .client(deployment.wallet(empty))
            .closeAccount({ accountNumber: empty, keyNumber: accountKeyNumberBase + Number(empty) })
        ).ok,
      ).toBe(true);
    }, 120_000);

    afterAll(async () => {
      await deployment?.stop();
    });

    it('the three copies of A are identical', async () => {
      const text = (operations: Operation[]) =>
        JSON.stringify(operations, (_k, v) => (typeof v === 'bigint' ? `${v}` : v));
      const copies = await Promise.all(
        (['transaction', 'account', 'currency'] as const).map(async (device) =>
          text(await operationsOf(deployment, device)),
        ),
      );
      expect(copies[1]).toBe(copies[0]);
      expect(copies[2]).toBe(copies[0]);
    });

    it('B equals the replay of A, row for row', async () => {
      const expected = replayAccounts(await operationsOf(deployment, 'transaction'));
      const actual = await deployment.rows(
        'account',
        'SELECT * FROM accounts ORDER BY account_number',
      );
      expect(actual).toHaveLength(expected.size);
      for (const row of actual) {
        expect(expected.get(row['account_number'] as bigint)).toEqual({
          accountNumber: row['account_number'],
          currencyType: row['currency_type'],
          balance: row['balance'],
          held: row['held'],
          status: row['status'],
          lastUpdate: row['last_update'],
        });
      }
    });

    it('C equals the replay of A, unit for unit', async () => {
      const expected = replayUnits(await operationsOf(deployment, 'transaction'));
      const actual = await deployment.rows(
        'currency',
        'SELECT * FROM currency_units ORDER BY currency_number',
      );
      expect(actual).toHaveLength(expected.size);
      for (const row of actual) {
        expect(expected.get(row['currency_number'] as bigint)).toEqual({
          currencyNumber: row['currency_number'],
          currencyType: row['currency_type'],
          value: row['value'],
          ownerAccount: row['owner_account'],
          status: row['status'],
          lastUpdate: row['last_update'],
        });
      }
    });
  },
);
