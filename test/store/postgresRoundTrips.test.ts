// Round trips of the PostgreSQL store's transactions (store/postgres.ts), counted at the client:
// held-back writes go out with the statement that follows them, each round trip in one write, and
// records are appended with them (a number taken runs the transaction again, its appends checked,
// which tell a repeat from a conflict); the transaction device reads its counter with a batch's
// first read of operations and numbers the batch's new operations from it, the advance held back
// with the batch's other writes. Another writer that moves the counter
// between the read and the COMMIT (an operator's tool, a second process started on the schema by
// mistake) never gets a number taken twice: the transaction fails on the server, runs again from
// the start, and numbers from what the counter then holds. Real server, fresh schemas.
import { describe, expect, it } from 'vitest';
import type { SignedRecord } from '../../src/protocol/records.js';
import { openAccountStoreAt, openTransactionStoreAt } from '../../src/store/open.js';
import {
  freshStoreLocation,
  onPostgres,
  postgresAvailable,
  roundTrips,
  socketWrites,
} from '../helpers/postgres.js';

const available = await postgresAvailable();

/** A new operation under `id` (its digest the id's bytes). */
const open = (id: string) => ({ remittanceId: id, requestDigest: Buffer.from(id) });

/** A transaction device's store in a fresh schema, its first operation (`firstId`) at 1. */
async function transactionStoreWith(firstId: string) {
  const { schema, location } = freshStoreLocation('transaction');
  const store = await openTransactionStoreAt(location);
  expect(await store.transact((tx) => tx.reserveOperations([open(firstId)]))).toEqual([1n]);
  return { schema, store };
}

describe.skipIf(!available)('held-back writes and the statement behind them (PostgreSQL)', () => {
  it('go out in one round trip, and the statement sees the writes', async () => {
    const store = await openAccountStoreAt(freshStoreLocation('account').location);
    const row = {
      accountNumber: 7n,
      currencyType: 'JPY',
      balance: 100n,
      held: 0n,
      status: 'open',
      lastUpdate: 1_700_000_000_000n,
      signerKeyNumber: 2,
      signature: Buffer.alloc(32, 1),
    } as const;
    const trips = await roundTrips(() =>
      store.transact(async (tx) => {
        await tx.putAccount(row);
        expect(await tx.account(7n)).toEqual(row);
      }),
    );
    expect(trips).toEqual([['BEGIN ISOLATION'], ['WITH w0', 'SELECT *'], ['COMMIT']]);
    // Each round trip's statements in one write: each write wakes the server's process, which on
    // a busy machine takes the core from the device (the held writes and the read were two).
    const writes = await socketWrites(() =>
      store.transact(async (tx) => {
        await tx.putAccount({ ...row, balance: 90n });
        await tx.account(7n);
      }),
    );
    expect(writes).toBe(3);
    await store.close();
  });

  it('that fail make the transaction fail with their own error, and nothing of it is kept', async () => {
    const { store } = await transactionStoreWith('taken');
    await expect(
      store.transact(async (tx) => {
        await tx.reserveOperations([open('new'), open('taken')]);
        await tx.operations(['new']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect([...(await store.transact((tx) => tx.operations(['new', 'taken']))).keys()]).toEqual([
      'taken',
    ]);
    expect(await store.transact((tx) => tx.nextTransactionNumber())).toBe(7n);
    await store.close();
  });
});

describe.skipIf(!available)('records appended with the held writes (PostgreSQL)', () => {
  /** A record of operation `remittanceId` at `transactionNumber`, signed with `byte`s. */
  const record = (transactionNumber: bigint, byte = 1): SignedRecord => ({
    record: {
      transactionNumber,
      remittanceId: 'appended',
      transactionType: 'remittance_request',
      dateTime: 1_700_000_000_000n,
      signerKeyNumber: 7,
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 500n,
      currencyType: 'JPY',
    },
    signature: Buffer.alloc(32, byte),
  });

  it('go out with the COMMIT; a number taken runs the transaction again, appending checked', async () => {
    const store = await openAccountStoreAt(freshStoreLocation('account').location);
    const appended = async (records: SignedRecord[]) => {
      let answer: boolean | undefined;
      const trips = await roundTrips(async () => {
        answer = await store.transact((tx) => tx.appendRecords(records));
      });
      return { answer, trips };
    };
    expect(await appended([record(1n), record(2n)])).toEqual({
      answer: true,
      trips: [['BEGIN ISOLATION'], ['WITH w0', 'COMMIT']],
    });
    // A repeat: the held insert fails on the server; checked, it is told a repeat, and kept once.
    const checked = [['BEGIN ISOLATION'], ['INSERT INTO'], ['SELECT *'], ['COMMIT']];
    expect(await appended([record(2n), record(3n)])).toEqual({
      answer: true,
      trips: [['BEGIN ISOLATION'], ['WITH w0', 'COMMIT'], ['ROLLBACK'], ...checked],
    });
    // A conflict: refused, and nothing of the call is kept.
    const conflict = await appended([record(4n), record(3n, 9)]);
    expect(conflict.answer).toBe(false);
    const stored = await store.transact((tx) => tx.recordsOfOperation('appended'));
    expect(stored).toEqual([record(1n), record(2n), record(3n)]);
    await store.close();
  });
});

describe.skipIf(!available)('the transaction counter read with the first read (PostgreSQL)', () => {
  it('a batch that reads its operations first numbers them in two round trips', async () => {
    const { store } = await transactionStoreWith('first');
    const trips = await roundTrips(() =>
      store.transact(async (tx) => {
        expect((await tx.operations(['a', 'b'])).size).toBe(0);
        expect(await tx.reserveOperations([open('a'), open('b')])).toEqual([7n, 13n]);
      }),
    );
    expect(trips).toEqual([
      ['BEGIN ISOLATION', 'SELECT value', 'SELECT *'],
      ['WITH w0', 'COMMIT'],
    ]);
    expect(await store.transact((tx) => tx.nextTransactionNumber())).toBe(19n);
    await store.close();
  });

  it('a counter moved by another writer after the read: the batch runs again from the new value', async () => {
    const { schema, store } = await transactionStoreWith('first');
    let attempts = 0;
    const bases = await store.transact(async (tx) => {
      attempts += 1;
      expect((await tx.operations(['a', 'b'])).size).toBe(0);
      if (attempts === 1)
        await onPostgres(schema, (query) =>
          query("UPDATE counters SET value = 50 WHERE name = 'transaction_number'"),
        );
      return tx.reserveOperations([open('a'), open('b')]);
    });
    expect(attempts).toBe(2);
    expect(bases).toEqual([50n, 56n]);
    const stored = await onPostgres(schema, (query) =>
      query('SELECT remittance_id, base_number FROM operations ORDER BY base_number'),
    );
    expect(stored).toEqual([
      { remittance_id: 'first', base_number: 1n },
      { remittance_id: 'a', base_number: 50n },
      { remittance_id: 'b', base_number: 56n },
    ]);
    expect(await store.transact((tx) => tx.nextTransactionNumber())).toBe(62n);
    await store.close();
  });
});
