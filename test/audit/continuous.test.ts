// The continuous audit's walk over the rows of B or C (audit/continuous.ts): a tick checks at most
// rowsPerTickMax rows and the next goes on after them, then from the first again, so that every
// row is checked again and again however many there are, and no tick takes a burst of the
// device's time. Over a real (in-memory) currency store, rows signed with a real key. And the
// walk over A: a tick checks at most blocksPerTickMax operations; while more wait, the next tick
// follows after a short pause instead of the whole interval, so the audit keeps up with the ledger;
// caught up, it checks what arrived every operationsTickMsMax, and walks the rows once an interval.
// Within a tick, the device's other work gets a turn of the event loop after every slice.
import { describe, expect, it, vi } from 'vitest';
import {
  blocksPerSliceMax,
  blocksPerTickMax,
  ContinuousAudit,
  catchUpPauseMsMin,
  catchUpPauseRatio,
  type OwnStores,
  operationsTickMsMax,
  rowsPerSliceMax,
  rowsPerTickMax,
} from '../../src/audit/continuous.js';
import type { DeviceContext } from '../../src/devices/context.js';
import { ownStores, signedUnitRows } from '../../src/devices/ownStores.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { baseOfBlock, type SignedRecord } from '../../src/protocol/records.js';
import { currencyRowBytes } from '../../src/protocol/rows.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { MemoryDatabase, openMemoryCurrencyStore } from '../../src/store/memory.js';
import { remittanceRequestAt } from '../helpers/records.js';

const currencyKey = 3;

/** Where a test's started audit hands damage it meets: none is there to meet. */
const noDamage = (damage: Error) => {
  throw new Error(`no damage in this store, yet the audit met: ${damage.message}`);
};

describe('the continuous audit over the rows of C', () => {
  it('checks a bounded share of the rows per tick, goes on where it stopped, and finds a changed row', async () => {
    const environment = deterministicEnvironment('continuous');
    const signatures = new SignatureDevice(environment);
    expect(
      signatures.addKey({
        keyNumber: currencyKey,
        owner: 'currency',
        algorithm: 'hmac-sha256',
        material: Buffer.alloc(32, 7),
        authorities: ['sign', 'verify'],
      }).ok,
    ).toBe(true);
    const store = openMemoryCurrencyStore(new MemoryDatabase());
    const unitCount = rowsPerTickMax + 10;
    await store.transact(async (tx) => {
      for (let n = 1n; n <= BigInt(unitCount); n++) {
        const content = {
          currencyNumber: n,
          currencyType: 'JPY',
          value: 1n,
          ownerAccount: 1n,
          status: 'active' as const,
          lastUpdate: 1n,
        };
        const signature = signatures.sign(currencyKey, currencyRowBytes(content));
        if (!signature.ok) throw new Error(signature.message);
        await tx.putUnit({ ...content, signerKeyNumber: currencyKey, signature: signature.value });
      }
    });
    const context: DeviceContext = {
      device: 'currency',
      signatures,
      signingKeyNumber: currencyKey,
      deviceKeys: { transaction: 1, account: 2, currency: currencyKey },
      issuerKeyNumbers: [],
      signatureZero: Buffer.alloc(32),
      mode: 'confirm',
      environment,
    };
    const own = ownStores(context, store, { newestVerifiedNumber: async () => 0n }, (after) =>
      signedUnitRows(store, after),
    );
    let slices = 0;
    const audit = new ContinuousAudit(
      context,
      currencyKey,
      own,
      environment.nowMs,
      () => {},
      async () => {
        slices += 1;
      },
    );
    expect(await audit.tick()).toMatchObject({ clean: true, rowsChecked: rowsPerTickMax });
    expect(slices).toBe(rowsPerTickMax / rowsPerSliceMax - 1); // a turn for other work after each
    expect(await audit.tick()).toMatchObject({ clean: true, rowsChecked: 10 });
    // Changed behind the device's back: found when the walk comes round to it.
    await store.transact(async (tx) => {
      const row = await tx.unit(5n);
      await tx.putUnit({ ...row!, value: 1000n });
    });
    expect(await audit.tick()).toMatchObject({
      clean: false,
      rowsChecked: rowsPerTickMax,
      findings: ['row 5: its signature does not verify'],
    });
  });
});

/** An operation's response (step 6) in `block` (unsigned). */
function responseIn(block: bigint): SignedRecord {
  const response = remittanceRequestAt(baseOfBlock(block) + 5n);
  return {
    ...response,
    record: { ...response.record, transactionType: 'remittance_response', outcome: 'ok' },
  };
}

/**
 * A copy of A of `operations` complete operations (a request and a response each, unsigned), but
 * for those in `inFlight` (a request only); `records` may be added to in order.
 */
function copyOfA(
  operations: number,
  inFlight: ReadonlySet<bigint> = new Set(),
  records: SignedRecord[] = [],
): OwnStores {
  for (let block = 0n; block < BigInt(operations); block++) {
    records.push(remittanceRequestAt(baseOfBlock(block)));
    if (!inFlight.has(block)) records.push(responseIn(block));
  }
  return {
    // In pages of seven records, so that operations (two records each) straddle pages.
    async *recordPages(after) {
      const read = records.filter((signed) => signed.record.transactionNumber > after);
      for (let from = 0; from < read.length; from += 7) yield read.slice(from, from + 7);
    },
    accountKeyNumber: async () => undefined,
    checkpointedUpTo: async () => 0n,
  };
}

describe('the continuous audit over A, under load', () => {
  const keys = {
    signatures: new SignatureDevice(deterministicEnvironment('continuous-a')),
    deviceKeys: { transaction: 1, account: 2, currency: currencyKey },
    issuerKeyNumbers: [],
    signatureZero: Buffer.alloc(32),
  };
  /** An audit of `stores` on the wall clock whose slices go on at once, its results unread. */
  const turningAuditOf = (stores: OwnStores) =>
    new ContinuousAudit(
      keys,
      currencyKey,
      stores,
      Date.now,
      () => {},
      async () => {},
    );
  /**
   * One operation more than a tick checks, on the wall clock (faked where a test fakes timers);
   * its slices within a tick are counted in `slices` and go on at once.
   */
  const auditOfA = (slices = { count: 0 }) =>
    new ContinuousAudit(
      keys,
      currencyKey,
      copyOfA(blocksPerTickMax + 1),
      Date.now,
      () => {},
      async () => {
        slices.count += 1;
      },
    );

  it("gives the device's other work a turn after every slice of a tick", async () => {
    const slices = { count: 0 };
    const audit = auditOfA(slices);
    expect(await audit.tick()).toMatchObject({ behind: true });
    expect(slices.count).toBe(blocksPerTickMax / blocksPerSliceMax - 1);
  });

  it('a tick on the default turns lets a request waiting on the event loop in', async () => {
    const audit = new ContinuousAudit(
      keys,
      currencyKey,
      copyOfA(blocksPerTickMax + 1),
      Date.now,
      () => {},
    );
    let servedDuringTick = false;
    let ticking = true;
    setImmediate(() => {
      servedDuringTick = ticking;
    });
    await audit.tick();
    ticking = false;
    expect(servedDuringTick).toBe(true);
  });

  it('while operations wait past its share, the next tick follows after a short pause', async () => {
    const audit = auditOfA();
    // Nothing checked yet: the interval or operationsTickMsMax, whichever is sooner.
    expect(audit.nextTickInMs(30_000, 5)).toBe(operationsTickMsMax);
    expect(audit.nextTickInMs(200, 5)).toBe(200);
    expect(await audit.tick()).toMatchObject({
      behind: true,
      recordsChecked: blocksPerTickMax * 2,
    });
    expect(audit.nextTickInMs(30_000, 5)).toBe(5 * catchUpPauseRatio);
    expect(audit.nextTickInMs(30_000, 0)).toBe(catchUpPauseMsMin);
    expect(audit.nextTickInMs(30_000, 60_000)).toBe(operationsTickMsMax);
    expect(await audit.tick()).toMatchObject({ behind: false, recordsChecked: 2 });
    expect(audit.nextTickInMs(30_000, 5)).toBe(operationsTickMsMax);
  });

  it('meeting damage in the store, it stops and hands the damage on, the process going on', async () => {
    vi.useFakeTimers();
    try {
      let walks = 0;
      const corrupt = Object.assign(new Error('database disk image is malformed'), {
        code: 'SQLITE_CORRUPT',
      });
      const stores: OwnStores = {
        ...copyOfA(2),
        // biome-ignore lint/correctness/useYield: the walk fails before its first row
        async *rows() {
          walks += 1;
          throw corrupt;
        },
      };
      const audit = turningAuditOf(stores);
      const damages: Error[] = [];
      audit.start(30_000, (damage) => damages.push(damage));
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      expect(damages).toEqual([corrupt]);
      // Stopped: no tick reads the damaged store again.
      await vi.advanceTimersByTimeAsync(60_000);
      expect([walks, damages.length]).toEqual([1, 1]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('checking operations every second, it walks the rows once an interval', async () => {
    vi.useFakeTimers();
    try {
      const rowsWalked: number[] = [];
      const stores: OwnStores = {
        ...copyOfA(blocksPerTickMax * 3),
        async *rows(after) {
          rowsWalked.push(Date.now());
          for (let key = after + 1n; key <= 3n; key++)
            yield {
              key,
              bytes: Buffer.from([1]),
              signerKeyNumber: 99,
              signature: Buffer.alloc(32),
            };
        },
      };
      const audit = turningAuditOf(stores);
      audit.start(30_000, noDamage);
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      expect(audit.last).toMatchObject({ behind: true, rowsChecked: 3 });
      await vi.advanceTimersByTimeAsync(catchUpPauseMsMin);
      expect(audit.last).toMatchObject({ behind: true, rowsChecked: 0 }); // caught up on A alone
      await vi.advanceTimersByTimeAsync(catchUpPauseMsMin);
      expect(audit.last).toMatchObject({ behind: false, rowsChecked: 0 });
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      expect(audit.last).toMatchObject({ behind: false, rowsChecked: 0 }); // a tick, no walk
      expect(rowsWalked).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(rowsWalked).toHaveLength(2);
      expect(rowsWalked[1]! - rowsWalked[0]!).toBeGreaterThanOrEqual(30_000);
      audit.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('checks each operation once: those after one in flight are not checked again', async () => {
    const records: SignedRecord[] = [];
    const audit = new ContinuousAudit(
      keys,
      currencyKey,
      copyOfA(10, new Set([3n]), records),
      Date.now,
      () => {},
    );
    const base3 = baseOfBlock(3n);
    // Unsigned, every operation checked is a finding: the findings count the checks.
    expect(await audit.tick()).toMatchObject({
      recordsChecked: 9 * 2,
      findingsCount: 9,
      checkedUpTo: String(base3 - 1n),
    });
    expect(await audit.tick()).toMatchObject({
      recordsChecked: 0,
      findingsCount: 0,
      checkedUpTo: String(base3 - 1n),
    });
    // Operation 3's response arrives, after its request.
    records.splice(
      records.findIndex((r) => r.record.transactionNumber === base3) + 1,
      0,
      responseIn(3n),
    );
    expect(await audit.tick()).toMatchObject({
      recordsChecked: 2,
      findingsCount: 1,
      checkedUpTo: String(baseOfBlock(10n) - 1n),
    });
  });

  it('keeps a finding in its results for an interval, reported by the tick that made it', async () => {
    vi.useFakeTimers();
    try {
      const seen: { clean: boolean; findingsCount: number; foundNow: number }[] = [];
      const audit = new ContinuousAudit(
        keys,
        currencyKey,
        copyOfA(3), // unsigned: each operation is a finding
        Date.now,
        (result, foundNow) =>
          seen.push({ clean: result.clean, findingsCount: result.findingsCount, foundNow }),
        async () => {},
      );
      audit.start(30_000, noDamage);
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      expect(seen).toEqual([
        { clean: false, findingsCount: 3, foundNow: 3 },
        { clean: false, findingsCount: 3, foundNow: 0 }, // carried on, not found again
      ]);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(seen.at(-1)).toEqual({ clean: true, findingsCount: 0, foundNow: 0 });
      expect(audit.last?.findings).toEqual([]);
      audit.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('started, it checks every operation within operationsTickMsMax and a pause', async () => {
    vi.useFakeTimers();
    try {
      const audit = auditOfA();
      audit.start(30_000, noDamage);
      await vi.advanceTimersByTimeAsync(operationsTickMsMax);
      expect(audit.last?.behind).toBe(true);
      await vi.advanceTimersByTimeAsync(catchUpPauseMsMin);
      expect(audit.last).toMatchObject({
        behind: false,
        checkedUpTo: String(baseOfBlock(BigInt(blocksPerTickMax)) + 5n),
      });
      audit.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
