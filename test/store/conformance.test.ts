// One conformance suite for every implementation of the store interfaces (src/store/types.ts):
// SQLite files, PostgreSQL schemas and memory databases run exactly the same cases. What a device relies on is
// here: atomic transactions that undo refusals, records that are never overwritten, counters
// without gaps, settlement bits, holds in order, quarantine, consistent streaming exports, the
// external change mark, and no lost update under concurrent transactions.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fail, ok } from '../../src/model/errors.js';
import type { SignedRecord, TransactionRecord } from '../../src/protocol/records.js';
import {
  MemoryDatabase,
  openMemoryAccountStore,
  openMemoryCurrencyStore,
  openMemoryTransactionStore,
} from '../../src/store/memory.js';
import {
  openAccountStoreAt,
  openCurrencyStoreAt,
  openTransactionStoreAt,
  parseStoreLocation,
  type StoreLocation,
} from '../../src/store/open.js';
import type {
  AccountRow,
  AccountStore,
  CurrencyRow,
  CurrencyStore,
  DeviceKind,
  Store,
  TransactionTx,
} from '../../src/store/types.js';
import {
  freshSchemaPrefix,
  onPostgres,
  postgresAvailable,
  postgresStoreSpec,
} from '../helpers/postgres.js';

/** Where one device's store lives: a file or schema (StoreLocation), or a memory database. */
type Place = StoreLocation | MemoryDatabase;

interface Backend {
  readonly name: 'sqlite' | 'postgres' | 'memory';
  readonly available: boolean;
  /** A fresh, empty place for one device's store. */
  location(kind: DeviceKind): Place;
  openTransaction(place: Place): Promise<Store<TransactionTx>>;
  openAccount(place: Place): Promise<AccountStore>;
  openCurrency(place: Place): Promise<CurrencyStore>;
  /** Change a record's amount from outside the store (another connection, a hand edit). */
  changeAmountAside(place: Place, transactionNumber: bigint, amount: bigint): Promise<void>;
}

const amountAside = 'UPDATE transactions SET amount = ? WHERE transaction_number = ?';

/** Opening a store at a StoreLocation, as the devices do (SQLite and PostgreSQL). */
const atLocation = {
  openTransaction: (place: Place) => openTransactionStoreAt(place as StoreLocation),
  openAccount: (place: Place) => openAccountStoreAt(place as StoreLocation),
  openCurrency: (place: Place) => openCurrencyStoreAt(place as StoreLocation),
};

const postgresPrefix = freshSchemaPrefix();
let schemaCount = 0;

const backends: Backend[] = [
  {
    name: 'sqlite',
    available: true,
    location: (kind) => ({
      backend: 'sqlite',
      path: join(mkdtempSync(join(tmpdir(), 'triledger-store-')), `${kind}.sqlite`),
    }),
    ...atLocation,
    async changeAmountAside(place, transactionNumber, amount) {
      const location = place as StoreLocation;
      if (location.backend !== 'sqlite') throw new Error('an SQLite location');
      const db = new Database(location.path);
      db.prepare(amountAside).run(amount, transactionNumber);
      db.close();
    },
  },
  {
    name: 'postgres',
    available: await postgresAvailable(),
    location(kind) {
      schemaCount += 1;
      const parsed = parseStoreLocation(
        postgresStoreSpec(`${postgresPrefix}_${schemaCount}_${kind}`),
        kind,
      );
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value;
    },
    ...atLocation,
    async changeAmountAside(place, transactionNumber, amount) {
      const location = place as StoreLocation;
      if (location.backend !== 'postgres') throw new Error('a PostgreSQL location');
      let index = 0;
      const numbered = amountAside.replace(/\?/g, () => `$${++index}`);
      await onPostgres(location.schema, (query) => query(numbered, [amount, transactionNumber]));
    },
  },
  {
    name: 'memory',
    available: true,
    location: () => new MemoryDatabase(),
    openTransaction: async (place) => openMemoryTransactionStore(place as MemoryDatabase),
    openAccount: async (place) => openMemoryAccountStore(place as MemoryDatabase),
    openCurrency: async (place) => openMemoryCurrencyStore(place as MemoryDatabase),
    async changeAmountAside(place, transactionNumber, amount) {
      (place as MemoryDatabase).changeAside('transactions', String(transactionNumber), { amount });
    },
  },
];

function record(
  transactionNumber: bigint,
  fields: Partial<TransactionRecord> = {},
  signatureByte = 1,
): SignedRecord {
  return {
    record: {
      transactionNumber,
      remittanceId: `r-${(transactionNumber - 1n) / 6n}`,
      transactionType: 'remittance_request',
      dateTime: 1_700_000_000_000n + transactionNumber,
      signerKeyNumber: 7,
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 500n,
      currencyType: 'JPY',
      ...fields,
    },
    signature: Buffer.alloc(32, signatureByte),
  };
}

function account(accountNumber: bigint, balance: bigint, held = 0n): AccountRow {
  return {
    accountNumber,
    currencyType: 'JPY',
    balance,
    held,
    status: 'open',
    lastUpdate: 1_700_000_000_000n,
    signerKeyNumber: 2,
    signature: Buffer.alloc(32, Number(balance % 256n)),
  };
}

function unit(currencyNumber: bigint, ownerAccount: bigint, value: bigint): CurrencyRow {
  return {
    currencyNumber,
    currencyType: 'JPY',
    value,
    ownerAccount,
    status: 'active',
    lastUpdate: 1_700_000_000_000n,
    signerKeyNumber: 3,
    signature: Buffer.alloc(32, 3),
  };
}

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const row of rows) all.push(row);
  return all;
}

const int64Max = 2n ** 63n - 1n;

/** One new operation opened under `id` (its digest the id's bytes): its block's first number. */
async function openOne(tx: TransactionTx, id: string): Promise<bigint> {
  const [base] = await tx.reserveOperations([{ remittanceId: id, requestDigest: Buffer.from(id) }]);
  return base!;
}

describe.each(backends)('store conformance: $name', (backend) => {
  describe.skipIf(!backend.available)('every store', () => {
    it('opens again without migrating twice, and refuses to open as another device', async () => {
      const location = backend.location('account');
      const first = await backend.openAccount(location);
      await first.transact((tx) => tx.putAccount(account(1n, 10n)));
      await first.close();
      const again = await backend.openAccount(location);
      expect(await again.transact((tx) => tx.account(1n))).toEqual(account(1n, 10n));
      await again.close();
      await expect(backend.openCurrency(location)).rejects.toThrow(/account device, not currency/);
    });

    it('stores records once, skips an identical copy, and refuses a conflicting one', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const records = [1n, 2n, 3n].map((n) => record(n));
      expect(await store.transact((tx) => tx.appendRecords(records))).toBe(true);
      expect(await store.transact((tx) => tx.appendRecords(records.slice(1)))).toBe(true);
      const changed = record(2n, { amount: 501n });
      expect(await store.transact((tx) => tx.appendRecords([changed]))).toBe(false);
      const resigned = record(3n, {}, 9);
      expect(await store.transact((tx) => tx.appendRecords([resigned]))).toBe(false);
      // A conflict stores none of the call's records, those before it and after it alike: the
      // transaction it ran in commits without them (the transaction device refusing one answer).
      const around = [record(4n), changed, record(5n)];
      expect(await store.transact((tx) => tx.appendRecords(around))).toBe(false);
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toEqual(records);
      // A batch's read: each operation that has records, in number order; the others left out.
      const later = [record(8n), record(7n)];
      const found = await store.transact(async (tx) => {
        expect(await tx.appendRecords(later)).toBe(true);
        return tx.recordsOfOperations(['r-1', 'missing', 'r-0', 'r-1']);
      });
      expect([...found.keys()].sort()).toEqual(['r-0', 'r-1']);
      expect(found.get('r-0')).toEqual(records);
      expect(found.get('r-1')).toEqual([record(7n), record(8n)]);
      expect((await store.transact((tx) => tx.recordsOfOperations([]))).size).toBe(0);
      await store.transact((tx) => tx.quarantineRecord(7n, 'test', 1n));
      await store.transact((tx) => tx.quarantineRecord(8n, 'test', 1n));
      expect(await store.transact((tx) => tx.recordCount())).toBe(3n);
      expect(await store.transact((tx) => tx.recordCount(2n))).toBe(1n);
      expect(await store.transact((tx) => tx.lastRecordNumber())).toBe(3n);
      await store.close();
    });

    it('stores records at reserved numbers, seen by the next read; a taken number (even by the same record) fails the whole transaction', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const large = record(3n, { amount: int64Max, sourceAccount: int64Max - 1n });
      const seen = await store.transact(async (tx) => {
        await tx.appendReserved([record(1n), record(2n)]);
        await tx.appendReserved([large]);
        return tx.recordsOfOperation('r-0'); // a read in the same transaction sees them
      });
      expect(seen).toEqual([record(1n), record(2n), large]);
      await expect(
        store.transact(async (tx) => {
          await tx.appendReserved([record(4n)]);
          await tx.appendReserved([record(2n, { amount: 501n })]);
          return tx.lastRecordNumber();
        }),
      ).rejects.toThrow();
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toEqual(seen);
      // Taken by the very same record is no less an error: a reserved number was never used.
      await expect(
        store.transact(async (tx) => {
          await tx.appendReserved([record(2n)]);
          return tx.lastRecordNumber();
        }),
      ).rejects.toThrow();
      await store.close();
    });

    it('keeps absent fields absent and 64-bit integers whole', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const sparse: SignedRecord = {
        record: {
          transactionNumber: 6n,
          remittanceId: 'r-0',
          transactionType: 'remittance_response',
          outcome: 'ok',
          detail: 'a detail with "quotes" and ünïcode',
          dateTime: int64Max,
          signerKeyNumber: 2 ** 31 - 1,
        },
        signature: Buffer.from([0, 255, 0]),
      };
      const large = record(1n, { amount: int64Max, sourceAccount: int64Max - 1n });
      await store.transact((tx) => tx.appendRecords([large, sparse]));
      const [readLarge, readSparse] = await store.transact((tx) => tx.recordsOfOperation('r-0'));
      expect(readLarge).toEqual(large);
      expect(readSparse).toEqual(sparse);
      expect(Object.keys(readSparse!.record)).not.toContain('amount');
      await store.close();
    });

    it('undoes all of a transaction whose held-back writes fail as it commits', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact((tx) => tx.appendReserved([record(1n)]));
      // The taken number fails the writes a PostgreSQL store holds back until the COMMIT (sent
      // right behind them), after a write that went out at once: nothing of the two is kept.
      await expect(
        store.transact(async (tx) => {
          await tx.appendRecords([record(5n)]);
          await tx.appendReserved([record(3n), record(1n, { amount: 501n })]);
        }),
      ).rejects.toThrow();
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toEqual([record(1n)]);
      // The store goes on: the next transaction commits.
      await store.transact((tx) => tx.appendReserved([record(2n)]));
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toEqual([
        record(1n),
        record(2n),
      ]);
      await store.close();
    });

    it('undoes all of a transaction whose work refuses or throws', async () => {
      const store = await backend.openAccount(backend.location('account'));
      const refused = await store.transact(async (tx) => {
        await tx.putAccount(account(1n, 10n));
        await tx.appendRecords([record(1n)]);
        return fail('InsufficientBalance', 'refused after writing');
      });
      expect(refused.ok).toBe(false);
      await expect(
        store.transact(async (tx) => {
          await tx.putHold({ remittanceId: 'r-9', accountNumber: 1n, amount: 5n });
          throw new Error('the work broke');
        }),
      ).rejects.toThrow('the work broke');
      // A constraint the database enforces (held <= balance) also undoes the whole transaction.
      await expect(
        store.transact(async (tx) => {
          await tx.appendRecords([record(7n)]);
          await tx.putAccount(account(2n, 5n, 6n));
        }),
      ).rejects.toThrow();
      const state = await store.transact(async (tx) => ({
        accounts: [await tx.account(1n), await tx.account(2n)],
        hold: (await tx.holds(['r-9'])).get('r-9'),
        records: await tx.recordCount(),
      }));
      expect(state).toEqual({ accounts: [undefined, undefined], hold: undefined, records: 0n });
      expect((await store.transact(async () => ok(1))).ok).toBe(true);
      await store.close();
    });

    it('keeps each of many concurrent transactions whole: refusals and errors undo only their own writes', async () => {
      const store = await backend.openAccount(backend.location('account'));
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          store.transact(async (tx) => {
            await tx.putAccount(account(BigInt(i + 1), 10n));
            if (i % 3 === 1) return fail('InsufficientBalance', 'refused after writing');
            if (i % 3 === 2) throw new Error(`work ${i} broke`);
            return ok(i);
          }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(
        Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? 'rejected' : 'fulfilled')),
      );
      const stored = (await collect(store.exportAccounts())).map((row) => row.accountNumber);
      expect(stored).toEqual([1n, 4n, 7n, 10n]);
      await store.close();
    });

    it('commits no more queued transactions together than it says it does', async () => {
      const store = await backend.openAccount(backend.location('account'));
      const together = store.transactionsCommittedTogetherMax;
      expect(together).toBeGreaterThanOrEqual(1);
      const counted: number[] = [];
      store.observeCommits((works) => counted.push(works));
      const queued = 2 * Math.min(together, 8) + 1;
      await Promise.all(
        Array.from({ length: queued }, (_, i) =>
          store.transact((tx) => tx.putAccount(account(BigInt(i + 1), 10n))),
        ),
      );
      expect(counted.reduce((sum, works) => sum + works, 0)).toBe(queued);
      expect(Math.max(...counted)).toBeLessThanOrEqual(together);
      // A store that commits together does so for transactions queued behind a commit.
      if (together > 1) expect(counted.length).toBeLessThan(queued);
      await store.close();
    });

    it('commits a lazy transaction for every later one to see, and counts only synced commits', async () => {
      const location = backend.location('account');
      const store = await backend.openAccount(location);
      const counted: number[] = [];
      store.observeCommits((works) => counted.push(works));
      await store.transact((tx) => tx.putAccount(account(1n, 10n)), 'lazy');
      expect(await store.transact((tx) => tx.account(1n), 'lazy')).toEqual(account(1n, 10n));
      expect(counted).toEqual([]);
      await store.transact((tx) => tx.putAccount(account(2n, 20n)));
      expect(counted).toEqual([1]);
      // Queued with a synced one (SQLite commits them together, and syncs both).
      await Promise.all([
        store.transact((tx) => tx.putAccount(account(3n, 30n)), 'lazy'),
        store.transact((tx) => tx.putAccount(account(4n, 40n))),
      ]);
      expect(counted.length).toBe(2);
      await store.transact((tx) => tx.putAccount(account(5n, 50n)), 'lazy');
      await store.close();
      const again = await backend.openAccount(location);
      const balances = await again.transact((tx) =>
        Promise.all([1n, 2n, 3n, 4n, 5n].map(async (n) => (await tx.account(n))?.balance)),
      );
      expect(balances).toEqual([10n, 20n, 30n, 40n, 50n]);
      await again.close();
    });

    it('keeps checkpoints newest first, one per transaction number', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact(async (tx) => {
        await tx.putCheckpoint(6n, '{"n":6}');
        await tx.putCheckpoint(12n, '{"n":12}');
        await tx.putCheckpoint(6n, '{"n":"6 again"}');
      });
      expect(await store.transact((tx) => tx.checkpoints(5))).toEqual([
        '{"n":12}',
        '{"n":"6 again"}',
      ]);
      expect(await store.transact((tx) => tx.checkpoints(1))).toEqual(['{"n":12}']);
      await store.close();
    });

    it('finds the accepted opening of an account, and whether a key opened one', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const opening = (base: bigint, id: string, account: bigint, outcome: string, signer = 4) => [
        record(base, {
          remittanceId: id,
          transactionType: 'account_issuing_request',
          signerKeyNumber: signer,
        }),
        record(base + 5n, {
          remittanceId: id,
          transactionType: 'account_issuing_response',
          destinationAccount: account,
          outcome,
        }),
      ];
      const refused = opening(1n, 'refused', 3n, 'InvalidInput', 9);
      const accepted = opening(7n, 'accepted', 3n, 'ok');
      const later = opening(13n, 'later', 3n, 'ok');
      await store.transact((tx) => tx.appendRecords([...refused, ...accepted, ...later]));
      expect(await store.transact((tx) => tx.accountOpening(3n))).toEqual(accepted);
      expect(await store.transact((tx) => tx.accountOpening(4n))).toEqual([]);
      const openedAt = await store.transact((tx) => tx.accountsOpenedAt([4n, 3n, 3n]));
      expect([...openedAt]).toEqual([[3n, 12n]]);
      expect(await store.transact((tx) => tx.accountOpenedWithKey(4))).toBe(true);
      expect(await store.transact((tx) => tx.accountOpenedWithKey(9))).toBe(false);
      await store.close();
    });

    it('moves a removed record into quarantine and returns what was there', async () => {
      const location = backend.location('transaction');
      const store = await backend.openTransaction(location);
      await store.transact((tx) => tx.appendRecords([record(1n), record(2n)]));
      const removed = await store.transact((tx) => tx.quarantineRecord(2n, 'changed', 99n));
      expect(removed).toEqual(record(2n));
      expect(await store.transact((tx) => tx.quarantineRecord(2n, 'again', 99n))).toBeUndefined();
      expect(await collect(store.exportRecords())).toEqual([record(1n)]);
      await store.close();
    });

    it('exports A in order within bounds, as a snapshot while the device writes', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const count = 2_500; // more than one page of the PostgreSQL export
      const records = Array.from({ length: count }, (_, i) => record(BigInt(i + 1)));
      await store.transact((tx) => tx.appendRecords(records));
      expect(await collect(store.exportRecords(10n, 20n))).toEqual(records.slice(10, 20));
      const exported: SignedRecord[] = [];
      for await (const signed of store.exportRecords()) {
        exported.push(signed);
        if (exported.length === 1)
          await store.transact((tx) => tx.appendRecords([record(BigInt(count + 1))]));
      }
      expect(exported).toEqual(records);
      expect(await collect(store.exportRecords(BigInt(count)))).toEqual([
        record(BigInt(count + 1)),
      ]);
      // A reader that stops early leaves nothing open behind it.
      for await (const _ of store.exportRecords()) break;
      expect(await store.transact((tx) => tx.recordCount())).toBe(BigInt(count + 1));
      // In pages (what the audit reads): none empty, bounded, together the same records.
      const pages = await collect(store.exportRecordPages(0n, BigInt(count)));
      expect(pages.length).toBeGreaterThan(1);
      expect(pages.every((page) => page.length > 0 && page.length <= 2_000)).toBe(true);
      expect(pages.flat()).toEqual(records);
      await store.close();
    });

    it('changes the external change mark for another connection, never for its own writes', async () => {
      const location = backend.location('transaction');
      const store = await backend.openTransaction(location);
      const before = await store.externalChangeMark();
      await store.transact((tx) => tx.appendRecords([record(1n), record(2n)]));
      await store.transact((tx) => tx.quarantineRecord(2n, 'repair', 1n));
      expect(await store.externalChangeMark()).toBe(before);
      await backend.changeAmountAside(location, 1n, 1n);
      expect(await store.externalChangeMark()).not.toBe(before);
      await store.close();
    });
  });

  describe.skipIf(!backend.available)('dump and load (export archives)', () => {
    it.each(backends.filter((b) => b.available))(
      'dumps every table and loads it into an empty store on $name, row for row and in arrival order',
      async (target) => {
        const source = await backend.openAccount(backend.location('account'));
        await source.transact(async (tx) => {
          await tx.appendRecords([record(1n), record(2n, { amount: int64Max })]);
          await tx.putAccount(account(1n, 10n, 4n));
          for (const id of ['z', 'a', 'm'])
            await tx.putHold({ remittanceId: id, accountNumber: 1n, amount: 1n });
          await tx.putCheckpoint(6n, '{}');
          await tx.quarantineRecord(1n, 'second', 2n);
        });
        await source.transact((tx) => tx.quarantineRecord(2n, 'first', 1n));
        const dumped = await collect(source.dumpRows());
        expect(dumped.map((d) => d.table)).toEqual([
          'checkpoints',
          'quarantine',
          'quarantine',
          'accounts',
          'holds',
          'holds',
          'holds',
        ]);
        expect(
          dumped.filter((d) => d.table === 'holds').map((d) => d.row['remittance_id']),
        ).toEqual(['z', 'a', 'm']);

        const copy = await target.openAccount(target.location('account'));
        expect(await copy.isEmpty()).toBe(true);
        async function* replay() {
          yield* dumped;
        }
        expect(await copy.loadRows(replay())).toBe(dumped.length);
        expect(await copy.isEmpty()).toBe(false);
        expect(await collect(copy.dumpRows())).toEqual(dumped);
        expect(await copy.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['z', 'a', 'm']);
        // Arrival order goes on after the loaded rows.
        await copy.transact((tx) =>
          tx.putHold({ remittanceId: 'b', accountNumber: 1n, amount: 1n }),
        );
        expect(await copy.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['z', 'a', 'm', 'b']);
        await Promise.all([source.close(), copy.close()]);
      },
    );
  });

  describe.skipIf(!backend.available)('transaction store', () => {
    it('recovery restores operation rows and raises counters, which never go back', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      expect(await store.transact((tx) => tx.lastRecordNumber())).toBe(0n);
      await store.transact((tx) => openOne(tx, 'a'));
      await store.transact(async (tx) => {
        await tx.restoreOperation({
          remittanceId: 'a',
          requestDigest: Buffer.from('a'),
          baseNumber: 1n,
          state: 'done',
          responseJson: '{"outcome":"ok"}',
          settled: 3,
        });
        await tx.restoreOperation({
          remittanceId: 'r',
          requestDigest: Buffer.from('r'),
          baseNumber: 31n,
          state: 'open',
          settled: 0,
        });
        await tx.raiseCounter('transaction_number', 37n);
        await tx.raiseCounter('transaction_number', 13n);
        await tx.raiseCounter('account_number', 5n);
      });
      expect(await store.transact((tx) => tx.operation('a'))).toMatchObject({
        state: 'done',
        settled: 3,
      });
      expect(await store.transact((tx) => tx.openOperations(10))).toEqual(['r']);
      expect(await store.transact((tx) => openOne(tx, 'n'))).toBe(37n);
      expect(await store.transact((tx) => tx.nextAccountNumber({ reserve: false }))).toBe(5n);
      await store.close();
    });

    it('reserves blocks of six numbers without gaps and tracks each operation to settled', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const bases = [];
      for (const id of ['a', 'b', 'c']) bases.push(await store.transact((tx) => openOne(tx, id)));
      expect(bases).toEqual([1n, 7n, 13n]);
      expect(await store.transact((tx) => tx.openOperations(10))).toEqual(['a', 'b', 'c']);
      expect(await store.transact((tx) => tx.settledUpTo())).toBe(0n);
      await store.transact(async (tx) => {
        await tx.finishOperations(['a', 'b']);
        await tx.markSettled([{ remittanceId: 'a', peers: 1 }]);
        await tx.markSettled([
          { remittanceId: 'a', peers: 2 },
          { remittanceId: 'b', peers: 2 },
          { remittanceId: 'c', peers: 3 }, // still open: bits wait for the response
        ]);
      });
      expect(await store.transact((tx) => tx.operation('a'))).toEqual({
        remittanceId: 'a',
        requestDigest: Buffer.from('a'),
        baseNumber: 1n,
        state: 'done',
        settled: 3,
      });
      expect((await store.transact((tx) => tx.operation('b')))?.settled).toBe(2);
      expect((await store.transact((tx) => tx.operation('c')))?.state).toBe('open');
      expect(await store.transact((tx) => tx.settledUpTo())).toBe(6n);
      expect(await store.transact((tx) => tx.unsettledOperations(10))).toEqual([
        { remittanceId: 'b', settled: 2 },
      ]);
      expect(await store.transact((tx) => tx.pendingCounts())).toEqual({ open: 1, unsettled: 1 });
      await store.transact(async (tx) => {
        await tx.markSettled([]);
        await tx.finishOperations(['c']);
        await tx.markSettled([
          { remittanceId: 'c', peers: 1 },
          { remittanceId: 'b', peers: 1 },
          { remittanceId: 'c', peers: 2 }, // named twice: both bits
        ]);
      });
      expect(await store.transact((tx) => tx.settledUpTo())).toBe(18n);
      expect(await store.transact((tx) => tx.pendingCounts())).toEqual({ open: 0, unsettled: 0 });
      await expect(store.transact((tx) => tx.finishOperations(['c', 'nobody']))).rejects.toThrow(
        /operation being finished exists/,
      );
      await store.close();
    });

    it("stores a turn's records and finishes its operation in one transaction, or neither", async () => {
      // On PostgreSQL the records are held back and written before the finish's statement.
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact((tx) => openOne(tx, 'r-0'));
      await store.transact(async (tx) => {
        await tx.appendReserved([record(1n), record(2n)]);
        await tx.finishOperations(['r-0']);
        await tx.markSettled([{ remittanceId: 'r-0', peers: 3 }]);
      });
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toEqual([
        record(1n),
        record(2n),
      ]);
      expect(await store.transact((tx) => tx.operation('r-0'))).toMatchObject({
        state: 'done',
        settled: 3,
      });
      const refused = store.transact(async (tx) => {
        await tx.appendReserved([record(3n)]);
        await tx.finishOperations(['nobody']);
      });
      await expect(refused).rejects.toThrow(/operation being finished exists/);
      expect(await store.transact((tx) => tx.recordsOfOperation('r-0'))).toHaveLength(2);
      await store.close();
    });

    it('reads the next account number without taking it, and takes it once', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const numbers = await store.transact(async (tx) => [
        await tx.nextAccountNumber({ reserve: false }),
        await tx.nextAccountNumber({ reserve: true }),
        await tx.nextAccountNumber({ reserve: true }),
        await tx.nextAccountNumber({ reserve: false }),
      ]);
      expect(numbers).toEqual([1n, 1n, 2n, 3n]);
      await store.close();
    });

    it('lists the operations that touch an account after a number, by the records that name it', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact((tx) =>
        tx.appendRecords([
          record(1n, { sourceAccount: 5n, destinationAccount: 6n }), // r-0: pays from 5
          record(7n, { sourceAccount: 6n, destinationAccount: 5n }), // r-1: pays to 5
          record(13n, { sourceAccount: 7n, destinationAccount: 8n }), // r-2: not 5
          record(19n, { transactionType: 'issuance_request', destinationAccount: 5n }), // r-3
          // r-4, an opening: its response names the new account.
          record(25n, { transactionType: 'account_issuing_request' }),
          record(30n, { transactionType: 'account_issuing_response', destinationAccount: 5n }),
          record(31n, { sourceAccount: 5n, destinationAccount: 5n }), // r-5: 5 to itself
          // r-6: only an exchange step names 5 (not a record the history is found by).
          record(38n, { transactionType: 'account_confirmation_request', sourceAccount: 5n }),
        ]),
      );
      const ids = (after: bigint, limit: number) =>
        store.transact((tx) => tx.operationsOfAccount(5n, after, limit));
      expect(await ids(0n, 10)).toEqual(['r-0', 'r-1', 'r-3', 'r-4', 'r-5']);
      expect(await ids(1n, 2)).toEqual(['r-1', 'r-3']);
      expect(await ids(30n, 10)).toEqual(['r-5']);
      await store.close();
    });

    it('lists a request stored below what the history had indexed (a recovery putting it back)', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact(async (tx) => {
        await tx.appendRecords([record(13n, { sourceAccount: 5n, destinationAccount: 6n })]);
        await tx.indexAccountHistory(100);
        await tx.appendRecords([record(7n, { sourceAccount: 7n, destinationAccount: 5n })]);
      });
      expect(await store.transact((tx) => tx.operationsOfAccount(5n, 0n, 10))).toEqual([
        'r-1',
        'r-2',
      ]);
      await store.close();
    });

    it('opens a batch of operations in one call: consecutive blocks, seen by a read in the same transaction', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      await store.transact((tx) => openOne(tx, 'first'));
      const opened = ['x', 'y', 'z'].map((id) => ({
        remittanceId: id,
        requestDigest: Buffer.from(id),
      }));
      const seen = await store.transact(async (tx) => {
        expect(await tx.reserveOperations(opened)).toEqual([7n, 13n, 19n]);
        return tx.operations(['first', 'y', 'unknown', 'z']);
      });
      expect([...seen.keys()].sort()).toEqual(['first', 'y', 'z']);
      expect(seen.get('y')).toEqual({
        remittanceId: 'y',
        requestDigest: Buffer.from('y'),
        baseNumber: 13n,
        state: 'open',
        settled: 0,
      });
      // An id already open fails the whole transaction: nothing of it is left, no number taken.
      await expect(
        store.transact(async (tx) => {
          await tx.reserveOperations([
            opened[0]!,
            { remittanceId: 'w', requestDigest: Buffer.from('w') },
          ]);
          await tx.operations(['w']);
        }),
      ).rejects.toThrow();
      expect((await store.transact((tx) => tx.operations(['w']))).size).toBe(0);
      expect(await store.transact((tx) => tx.nextTransactionNumber())).toBe(25n);
      expect(await store.transact((tx) => tx.reserveOperations([]))).toEqual([]);
      await store.close();
    });

    it('numbers a batch read first as one read after: blocks in order, a raise between them followed', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      // The device's order: the batch's operations read, then its new ones numbered (on
      // PostgreSQL from the counter read with that first read, store/postgres.ts transactionTx).
      const numbered = await store.transact(async (tx) => {
        expect((await tx.operations(['a', 'b'])).size).toBe(0);
        const first = await openOne(tx, 'a');
        const second = await openOne(tx, 'b');
        await tx.raiseCounter('transaction_number', 100n);
        return [first, second, await openOne(tx, 'c')];
      });
      expect(numbered).toEqual([1n, 7n, 100n]);
      const again = await store.transact(async (tx) => {
        expect([...(await tx.operations(['a', 'd'])).keys()]).toEqual(['a']);
        const d = await openOne(tx, 'd');
        // A read between two numberings sees the first (and what it held back is written).
        expect([...(await tx.operations(['d'])).keys()]).toEqual(['d']);
        return [d, await openOne(tx, 'e')];
      });
      expect(again).toEqual([106n, 112n]);
      expect(await store.transact((tx) => tx.nextTransactionNumber())).toBe(118n);
      // A batch that fails numbers nothing: the next takes the same block.
      await expect(
        store.transact(async (tx) => {
          await tx.operations(['f']);
          await openOne(tx, 'f');
          await openOne(tx, 'a'); // open already: the transaction fails
        }),
      ).rejects.toThrow();
      expect(
        await store.transact(async (tx) => {
          await tx.operations(['f']);
          return openOne(tx, 'f');
        }),
      ).toBe(118n);
      await store.close();
    });

    it('loses no update when many transactions take numbers at once', async () => {
      const store = await backend.openTransaction(backend.location('transaction'));
      const ids = Array.from({ length: 24 }, (_, i) => `op-${i}`);
      const bases = await Promise.all(ids.map((id) => store.transact((tx) => openOne(tx, id))));
      const sorted = [...bases].sort((a, b) => (a < b ? -1 : 1));
      expect(sorted).toEqual(ids.map((_, i) => BigInt(i * 6 + 1)));
      await store.close();
    });
  });

  describe.skipIf(!backend.available)('account store', () => {
    it('replaces account rows, keeps holds in arrival order, quarantines and exports B', async () => {
      const store = await backend.openAccount(backend.location('account'));
      await store.transact(async (tx) => {
        await tx.putAccount(account(2n, 10n));
        await tx.putAccount(account(1n, 10n));
        await tx.putAccount(account(2n, 20n, 5n));
        for (const id of ['z', 'a', 'm'])
          await tx.putHold({ remittanceId: id, accountNumber: 2n, amount: 1n });
        await tx.deleteHolds(['a', 'never-held']);
      });
      expect(await store.transact((tx) => tx.account(2n))).toEqual(account(2n, 20n, 5n));
      const rows = await store.transact(async (tx) => {
        await tx.putAccount(account(3n, 30n)); // held back on PostgreSQL: the read sees it
        return tx.accounts([3n, 9n, 2n, 3n]);
      });
      expect([...rows.keys()].sort()).toEqual([2n, 3n]);
      expect(rows.get(2n)).toEqual(account(2n, 20n, 5n));
      expect(rows.get(3n)).toEqual(account(3n, 30n));
      await store.transact((tx) => tx.quarantineAccount(3n, 'test', 1n));
      const holds = await store.transact(async (tx) => {
        await tx.putHold({ remittanceId: 'n', accountNumber: 3n, amount: 4n }); // held back on PostgreSQL
        return tx.holds(['z', 'a', 'n', 'z']);
      });
      expect([...holds.keys()].sort()).toEqual(['n', 'z']);
      expect(holds.get('z')).toEqual({ remittanceId: 'z', accountNumber: 2n, amount: 1n });
      expect(holds.get('n')).toEqual({ remittanceId: 'n', accountNumber: 3n, amount: 4n });
      await store.transact((tx) => tx.deleteHolds(['n']));
      expect((await store.transact((tx) => tx.holds(['a', 'n']))).size).toBe(0);
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['z', 'm']);
      expect(await store.transact((tx) => tx.heldRemittanceIds(1))).toEqual(['z']);
      expect(await collect(store.exportAccounts())).toEqual([
        account(1n, 10n),
        account(2n, 20n, 5n),
      ]);
      expect(await collect(store.exportAccounts(1n))).toEqual([account(2n, 20n, 5n)]);
      const removed = await store.transact((tx) => tx.quarantineAccount(1n, 'changed', 5n));
      expect(removed).toEqual(account(1n, 10n));
      expect(await collect(store.exportAccounts())).toEqual([account(2n, 20n, 5n)]);
      await store.close();
    });

    it("writes a settlement's row and ends its holds in one transaction", async () => {
      // On PostgreSQL the row is held back and written before the holds' delete.
      const store = await backend.openAccount(backend.location('account'));
      await store.transact(async (tx) => {
        await tx.putAccount(account(1n, 10n, 4n));
        await tx.putHold({ remittanceId: 'h', accountNumber: 1n, amount: 4n });
      });
      await store.transact(async (tx) => {
        await tx.putAccount(account(1n, 6n));
        await tx.deleteHolds(['h']);
      });
      expect(await store.transact((tx) => tx.account(1n))).toEqual(account(1n, 6n));
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual([]);
      await store.close();
    });

    it('loses no update when many transactions change one balance at once', async () => {
      const store = await backend.openAccount(backend.location('account'));
      await store.transact((tx) => tx.putAccount(account(1n, 0n)));
      const increments = 20;
      await Promise.all(
        Array.from({ length: increments }, () =>
          store.transact(async (tx) => {
            const current = await tx.account(1n);
            await tx.putAccount(account(1n, current!.balance + 1n));
          }),
        ),
      );
      expect((await store.transact((tx) => tx.account(1n)))?.balance).toBe(BigInt(increments));
      await store.close();
    });
  });

  describe.skipIf(!backend.available)('currency store', () => {
    it('recovery raises the unit and plan counters, which never go back', async () => {
      const store = await backend.openCurrency(backend.location('currency'));
      await store.transact(async (tx) => {
        await tx.raiseCounter('currency_number', 9n);
        await tx.raiseCounter('currency_number', 4n);
        await tx.raiseCounter('plan_sequence', 3n);
      });
      expect(
        await store.transact(async (tx) => [
          await tx.reserveUnitNumbers(2),
          await tx.reservePlanSequences(1),
          await tx.reserveUnitNumbers(0),
        ]),
      ).toEqual([9n, 3n, 11n]);
      await store.close();
    });

    it('keeps units by owner and status, plans in order, numbers without gaps; quarantines and exports C', async () => {
      const store = await backend.openCurrency(backend.location('currency'));
      const first = await store.transact((tx) => tx.reserveUnitNumbers(3));
      const next = await store.transact((tx) => tx.reserveUnitNumbers(2));
      expect([first, next]).toEqual([1n, 4n]);
      const sequences = await store.transact(async (tx) => [
        await tx.reservePlanSequences(0),
        await tx.reservePlanSequences(1),
        await tx.reservePlanSequences(2),
        await tx.reservePlanSequences(0),
        await tx.reserveUnitNumbers(0),
      ]);
      expect(sequences).toEqual([1n, 1n, 2n, 4n, 6n]);
      // A batch's shape: a counter read with its first reads, advanced once the batch is decided
      // (held back on PostgreSQL), then read and advanced again.
      const batch = await store.transact(async (tx) => [
        await tx.reserveUnitNumbers(0),
        await tx.reserveUnitNumbers(2),
        await tx.reserveUnitNumbers(0),
        await tx.reserveUnitNumbers(1),
      ]);
      expect(batch).toEqual([6n, 6n, 8n, 8n]);
      expect(await store.transact((tx) => tx.reserveUnitNumbers(0))).toBe(9n);
      expect(await store.transact((tx) => tx.highestUnitNumber())).toBe(0n);
      await store.transact(async (tx) => {
        await tx.putUnit(unit(3n, 1n, 500n));
        await tx.putUnit(unit(1n, 1n, 1000n));
        await tx.putUnit(unit(2n, 2n, 700n));
        await tx.putUnit({ ...unit(4n, 1n, 5n), status: 'retired' });
        await tx.putPlan({ remittanceId: 'q', planJson: '{"q":1}' });
        await tx.putPlan({ remittanceId: 'b', planJson: '{"b":1}' });
      });
      const active = await store.transact((tx) => tx.unitsOf(1n, 'JPY', 'active'));
      expect(active.map((u) => u.currencyNumber)).toEqual([1n, 3n]);
      expect(await store.transact((tx) => tx.unitsOf(1n, 'USD', 'active'))).toEqual([]);
      // In payment order (largest value first, then highest number), as many as asked.
      await store.transact(async (tx) => {
        await tx.putUnit(unit(7n, 1n, 500n));
        await tx.putUnit(unit(8n, 1n, 20n));
      });
      const toPay = (limit: number) =>
        store.transact(async (tx) => {
          const payers = [
            { ownerAccount: 1n, currencyType: 'JPY' },
            { ownerAccount: 9n, currencyType: 'JPY' },
            { ownerAccount: 2n, currencyType: 'JPY' },
            { ownerAccount: 1n, currencyType: 'USD' },
          ];
          const lists = await tx.unitsToPay(payers, limit);
          return lists.map((units) => units.map((u) => u.currencyNumber));
        });
      // One list per payer, in the order asked: a payer with no units gets an empty one.
      expect(await toPay(10)).toEqual([[1n, 7n, 3n, 8n], [], [2n], []]);
      expect(await toPay(2)).toEqual([[1n, 7n], [], [2n], []]);
      // Every limit lists the first that many: more limits than a store keeps statements for
      // (SQLite writes each limit into its statement's text).
      for (let limit = 0; limit <= 12; limit++)
        expect(await toPay(limit)).toEqual([
          [1n, 7n, 3n, 8n].slice(0, limit),
          [],
          [2n].slice(0, limit),
          [],
        ]);
      expect(await store.transact((tx) => tx.unitsToPay([], 2))).toEqual([]);
      await store.transact(async (tx) => {
        await tx.putUnit({ ...unit(7n, 1n, 500n), status: 'retired' });
        await tx.putUnit({ ...unit(8n, 1n, 20n), status: 'retired' });
      });
      expect(await store.transact((tx) => tx.unit(2n))).toEqual(unit(2n, 2n, 700n));
      const units = await store.transact((tx) => tx.units([2n, 99n, 3n]));
      expect([...units.keys()].sort()).toEqual([2n, 3n]);
      expect(units.get(2n)).toEqual(unit(2n, 2n, 700n));
      expect(units.get(3n)).toEqual(unit(3n, 1n, 500n));
      const plans = await store.transact((tx) => tx.plans(['b', 'nope', 'b']));
      expect([...plans.entries()]).toEqual([['b', { remittanceId: 'b', planJson: '{"b":1}' }]]);
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['q', 'b']);
      await store.transact(async (tx) => {
        await tx.deletePlans(['q', 'never-planned']);
        await tx.putPlan({ remittanceId: 'c', planJson: '{"c":1}' }); // held back on PostgreSQL
        await tx.putPlan({ remittanceId: 'a', planJson: '{"a":1}' });
      });
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['b', 'c', 'a']);
      await store.transact((tx) => tx.deletePlans(['c', 'a']));
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual(['b']);
      // A settlement's shape: a unit written (held back on PostgreSQL, written before the delete)
      // and a plan ended, in one transaction.
      await store.transact(async (tx) => {
        await tx.putUnit({ ...unit(8n, 1n, 20n), status: 'retired' });
        await tx.deletePlans(['b']);
      });
      expect(await store.transact((tx) => tx.heldRemittanceIds(10))).toEqual([]);
      expect(await store.transact((tx) => tx.unit(8n))).toEqual({
        ...unit(8n, 1n, 20n),
        status: 'retired',
      });
      expect(await store.transact((tx) => tx.quarantineUnit(2n, 'changed', 1n))).toEqual(
        unit(2n, 2n, 700n),
      );
      const exported = await collect(store.exportUnits());
      expect(exported.map((u) => u.currencyNumber)).toEqual([1n, 3n, 4n, 7n, 8n]);
      expect(await store.transact((tx) => tx.highestUnitNumber())).toBe(8n);
      const after = await collect(store.exportUnits(3n));
      expect(after.map((u) => u.currencyNumber)).toEqual([4n, 7n, 8n]);
      await store.close();
    });
  });
});
