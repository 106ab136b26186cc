// The transaction device's account history on SQLite, indexed after the records are stored
// (store/sqlite.ts accountHistory): its mark of what is indexed is derived from A, so a store that
// lost it (deleted behind the device) indexes again from the start instead of missing operations.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTransactionStore } from '../../src/store/sqlite.js';
import { remittanceRequestAt } from '../helpers/records.js';

describe('the account history of a SQLite transaction store', () => {
  it('indexes again from the start when its mark is gone', async () => {
    const store = openTransactionStore(join(mkdtempSync(join(tmpdir(), 'triledger-')), 't.sqlite'));
    try {
      const first = remittanceRequestAt(1n);
      await store.transact((tx) => tx.appendRecords([first]));
      expect(await store.transact((tx) => tx.indexAccountHistory(100))).toBe(1);
      store.db.exec('DELETE FROM account_history_indexed');
      await store.transact((tx) => tx.appendRecords([remittanceRequestAt(7n)]));
      const source = first.record.sourceAccount!;
      expect(await store.transact((tx) => tx.operationsOfAccount(source, 0n, 10))).toHaveLength(2);
    } finally {
      await store.close();
    }
  });
});
