// What only the memory store does (the rest is the conformance suite's): a simulated device crash.
// The transaction in flight never committed and is forgotten; what was committed stays, except lazy
// transactions no synced write came after (a disk would not have them); the store open at the
// crash answers no more, and a work it was running cannot write into what comes after.
import { describe, expect, it } from 'vitest';
import { MemoryDatabase, openMemoryAccountStore } from '../../src/store/memory.js';
import type { AccountRow } from '../../src/store/types.js';
import { openAccountRow } from '../helpers/rows.js';

function account(accountNumber: bigint, balance: bigint): AccountRow {
  return {
    ...openAccountRow(accountNumber, balance),
    signerKeyNumber: 2,
    signature: Buffer.alloc(32, 2),
  };
}

describe('a crash of a memory store', () => {
  it('forgets the transaction in flight, keeps what was committed, and fences the old store', async () => {
    const db = new MemoryDatabase();
    const store = openMemoryAccountStore(db);
    await store.transact((tx) => tx.putAccount(account(1n, 10n)));
    let resume: () => void = () => {};
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const inFlight = store.transact(async (tx) => {
      await tx.putAccount(account(2n, 20n));
      await paused;
      await tx.putAccount(account(3n, 30n)); // after the crash: refused, never written
    });
    await new Promise((resolve) => setImmediate(resolve));
    db.crash();
    const reopened = openMemoryAccountStore(db);
    // A transaction of the new opening runs while the old work wakes up and tries to write.
    const during = reopened.transact(async (tx) => {
      resume();
      await new Promise((resolve) => setImmediate(resolve));
      await tx.putAccount(account(4n, 40n));
    });
    await expect(inFlight).rejects.toThrow(/crash/);
    await during;
    await expect(store.transact((tx) => tx.account(1n))).rejects.toThrow(/crash/);
    const held = await reopened.transact(async (tx) =>
      Promise.all([1n, 2n, 3n, 4n].map((n) => tx.account(n))),
    );
    expect(held.map((row) => row?.balance)).toEqual([10n, undefined, undefined, 40n]);
  });

  it('loses the lazy transactions after the last synced write, newest first, and nothing else', async () => {
    const db = new MemoryDatabase();
    const store = openMemoryAccountStore(db);
    await store.transact((tx) => tx.putAccount(account(1n, 10n)));
    await store.transact((tx) => tx.putAccount(account(1n, 11n)), 'lazy');
    await store.transact((tx) => tx.putAccount(account(2n, 20n))); // syncs the lazy one before it
    await store.transact((tx) => tx.putAccount(account(2n, 21n)), 'lazy');
    await store.transact((tx) => tx.putAccount(account(3n, 30n)), 'lazy');
    await store.transact((tx) => tx.putAccount(account(2n, 22n)), 'lazy');
    await store.transact((tx) => tx.account(1n)); // synced, but writes nothing: syncs nothing
    db.crash();
    const reopened = openMemoryAccountStore(db);
    const held = await reopened.transact(async (tx) =>
      Promise.all([1n, 2n, 3n].map(async (n) => (await tx.account(n))?.balance)),
    );
    expect(held).toEqual([11n, 20n, undefined]);
    expect(db.lazyTransactionsLost).toBe(3);
  });
});
