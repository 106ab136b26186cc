// The transaction device's store batches in flight follow its store: several where the store
// commits queued transactions together (SQLite's group commit), one where it commits each alone
// (PostgreSQL, the memory store), so that what arrives meanwhile joins the next batch.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeBatchLimits, transactionBatchLimits } from '../../src/devices/transaction/service.js';
import { MemoryDatabase, openMemoryTransactionStore } from '../../src/store/memory.js';
import { openTransactionStoreAt } from '../../src/store/open.js';

describe('the transaction device store batches in flight', () => {
  it('several on a store that commits together, as many as the limit allows', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'triledger-limits-')), 'transaction.sqlite');
    const store = await openTransactionStoreAt({ backend: 'sqlite', path });
    expect(store.transactionsCommittedTogetherMax).toBeGreaterThan(1);
    expect(storeBatchLimits(store)).toEqual(transactionBatchLimits);
    await store.close();
  });

  it('one on a store that commits each transaction alone', async () => {
    const store = openMemoryTransactionStore(new MemoryDatabase());
    expect(store.transactionsCommittedTogetherMax).toBe(1);
    expect(storeBatchLimits(store)).toEqual({ ...transactionBatchLimits, batchesInFlightMax: 1 });
    await store.close();
  });
});
