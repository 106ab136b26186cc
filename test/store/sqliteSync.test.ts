// What only the SQLite store does with a lazy commit (store/types.ts Durability): it lowers the
// connection's sync level to NORMAL for that group's commit and puts back the level it found, FULL
// in a device, or whatever the store's owner set (the audit benchmark builds its ledger with OFF).
// Regression tests: the first version put FULL back whatever it found, and stopped the audit
// benchmark on its own assertion; it kept prepared `PRAGMA synchronous = ...` statements, which
// SQLite applies when it compiles them too, so that the store opened at FULL only because FULL was
// prepared after NORMAL (a mend that dropped the FULL one left every commit unsynced, and never
// landed); and a lazy group that came after the store was closed threw outside the group's error
// handling.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAccountStore } from '../../src/store/sqlite.js';
import type { AccountRow } from '../../src/store/types.js';
import { openAccountRow } from '../helpers/rows.js';

function account(accountNumber: bigint, balance: bigint): AccountRow {
  return {
    ...openAccountRow(accountNumber, balance),
    signerKeyNumber: 2,
    signature: Buffer.alloc(32),
  };
}

const levelOf = (store: ReturnType<typeof openAccountStore>) =>
  store.db.pragma('synchronous', { simple: true });

describe('a lazy commit on SQLite', () => {
  it('leaves a store as it opens: FULL, every synced commit on disk', async () => {
    const store = openAccountStore(
      join(mkdtempSync(join(tmpdir(), 'triledger-sync-')), 'a.sqlite'),
    );
    expect(levelOf(store)).toBe(2n);
    await store.transact((tx) => tx.putAccount(account(1n, 10n)), 'lazy');
    await store.transact((tx) => tx.putAccount(account(2n, 20n)));
    expect(levelOf(store)).toBe(2n);
    await store.close();
  });

  it('after the store is closed, refuses the work (it does not stop the process)', async () => {
    const store = openAccountStore(
      join(mkdtempSync(join(tmpdir(), 'triledger-sync-')), 'a.sqlite'),
    );
    await store.close();
    await expect(store.transact((tx) => tx.putAccount(account(1n, 10n)), 'lazy')).rejects.toThrow(
      /not open/,
    );
  });

  it.each([
    ['FULL, as a device runs', 'FULL', 2n],
    ['OFF, as the audit benchmark builds', 'OFF', 0n],
    ['EXTRA', 'EXTRA', 3n],
  ])('keeps the sync level its owner set: %s', async (_, setting, level) => {
    const store = openAccountStore(
      join(mkdtempSync(join(tmpdir(), 'triledger-sync-')), 'a.sqlite'),
    );
    store.db.pragma(`synchronous = ${setting}`);
    await store.transact((tx) => tx.putAccount(account(1n, 10n)), 'lazy');
    expect(levelOf(store)).toBe(level);
    await store.transact((tx) => tx.putAccount(account(2n, 20n)));
    await store.transact((tx) => tx.putAccount(account(1n, 11n)), 'lazy');
    expect(levelOf(store)).toBe(level);
    expect((await store.transact((tx) => tx.account(1n)))?.balance).toBe(11n);
    await store.close();
  });
});
