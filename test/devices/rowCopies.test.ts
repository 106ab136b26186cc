// The copies of the rows a device signed or verified (devices/rowCopies.ts), and verifiedRow
// comparing a row read back with them instead of verifying it again: a row that reads back as it
// was signed costs no verification; a row changed in the store is verified, and refused; a key
// that loses an authority empties the copies. Real HMAC keys, real account rows.
import { describe, expect, it } from 'vitest';
import {
  type DeviceContext,
  signOwnRow,
  UnverifiedRow,
  verifiedRow,
} from '../../src/devices/context.js';
import { RowCopies, rowCopiesMax } from '../../src/devices/rowCopies.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { evictedShareDivisor } from '../../src/model/oldestFirst.js';
import { accountRowType, currencyRowType } from '../../src/model/records.js';
import {
  type AccountRowContent,
  accountRows,
  type CurrencyRowContent,
  currencyRows,
} from '../../src/protocol/rows.js';
import { SignatureDevice } from '../../src/signature/device.js';

const accountKey = 2;

function contextWithCopies() {
  const environment = deterministicEnvironment('row-copies');
  const signatures = new SignatureDevice(environment);
  expect(
    signatures.addKey({
      keyNumber: accountKey,
      owner: 'account',
      algorithm: 'hmac-sha256',
      material: Buffer.alloc(32, 2),
      authorities: ['sign', 'verify'],
    }).ok,
  ).toBe(true);
  const verifications = { count: 0 };
  signatures.observe((_, authority) => {
    if (authority === 'verify') verifications.count += 1;
  });
  const rowCopies = new RowCopies(() => signatures.revocations);
  const context = {
    device: 'account',
    signatures,
    signingKeyNumber: accountKey,
    deviceKeys: { transaction: 1, account: accountKey, currency: 3 },
    issuerKeyNumbers: [],
    signatureZero: Buffer.alloc(32),
    mode: 'confirm',
    environment,
    rowCopies,
  } satisfies DeviceContext;
  return { context, signatures, rowCopies, verifications };
}

const content = (accountNumber: bigint, balance: bigint): AccountRowContent => ({
  accountNumber,
  currencyType: 'JPY',
  balance,
  held: 0n,
  status: 'open',
  lastUpdate: 1_601_631_000_000n,
});

/** A row as the store holds it after the device signed `row`. */
function stored(context: DeviceContext, row: AccountRowContent) {
  return {
    ...row,
    signerKeyNumber: accountKey,
    signature: signOwnRow(context, accountRows, row),
  };
}

const read = (context: DeviceContext, row: ReturnType<typeof stored>) =>
  verifiedRow(context, row, accountRows, `account ${row.accountNumber}`);

describe('verifiedRow with the copies of signed rows', () => {
  it('trusts a row read back as this process signed it, without a verification', () => {
    const { context, verifications } = contextWithCopies();
    const row = stored(context, content(1n, 500n));
    expect(read(context, row)).toBe(row);
    expect(read(context, { ...row })).toEqual(row);
    expect(verifications.count).toBe(0);
  });

  it('verifies a row changed in the store, and refuses it', () => {
    const { context, verifications } = contextWithCopies();
    const row = stored(context, content(1n, 500n));
    const changed = { ...row, balance: 5_000n };
    expect(() => read(context, changed)).toThrow(UnverifiedRow);
    expect(verifications.count).toBe(1);
    // The signature of another of its rows does not pass for it either.
    const other = stored(context, content(1n, 400n));
    expect(() => read(context, { ...row, signature: other.signature })).toThrow(UnverifiedRow);
    expect(verifications.count).toBe(2);
  });

  it('verifies a row it holds no copy of once, and compares it from then on', () => {
    const { context, verifications } = contextWithCopies();
    const row = stored(context, content(1n, 500n));
    const fresh = contextWithCopies(); // a restarted process: the same key, no copies
    expect(read(fresh.context, row)).toBe(row);
    expect(read(fresh.context, row)).toBe(row);
    expect(fresh.verifications.count).toBe(1);
    expect(verifications.count).toBe(0);
  });

  it('keeps no copy for a key that may sign but not verify: its rows are refused as before', () => {
    const { context, signatures, rowCopies, verifications } = contextWithCopies();
    expect(signatures.revoke(accountKey, 'verify').ok).toBe(true);
    const row = stored(context, content(1n, 500n));
    expect(rowCopies.size).toBe(0);
    expect(() => read(context, row)).toThrow(UnverifiedRow);
    expect(verifications.count).toBe(1);
  });

  it('verifies again after a key lost an authority', () => {
    const { context, signatures, verifications, rowCopies } = contextWithCopies();
    const row = stored(context, content(1n, 500n));
    expect(signatures.revoke(accountKey, 'sign').ok).toBe(true);
    expect(read(context, row)).toBe(row);
    expect(verifications.count).toBe(1);
    expect(rowCopies.size).toBe(1); // the copy that verification made
    expect(signatures.revoke(accountKey, 'verify').ok).toBe(true);
    expect(() => read(context, row)).toThrow(UnverifiedRow);
    expect(rowCopies.size).toBe(0);
  });
});

describe('RowCopies', () => {
  it('keeps at most rowCopiesMax copies, the oldest going first (a sixteenth at once)', () => {
    const copies = new RowCopies(() => 0);
    const row = content(1n, 500n);
    const signatureOf = (n: number) => Buffer.from(n.toString(16).padStart(8, '0'), 'hex');
    const holds = (n: number) => copies.holds(accountKey, accountRows, row, signatureOf(n));
    for (let n = 0; n < rowCopiesMax; n++)
      copies.remember(accountKey, accountRows, row, signatureOf(n));
    copies.remember(accountKey, accountRows, row, signatureOf(0)); // used again: now the newest
    expect(copies.size).toBe(rowCopiesMax);
    copies.remember(accountKey, accountRows, row, signatureOf(rowCopiesMax));
    const evicted = rowCopiesMax / evictedShareDivisor + 1;
    expect(copies.size).toBe(rowCopiesMax + 1 - evicted);
    expect(holds(1)).toBe(false);
    expect(holds(evicted)).toBe(false);
    expect(holds(evicted + 1)).toBe(true);
    expect(holds(0)).toBe(true);
    expect(holds(rowCopiesMax)).toBe(true);
  });

  it('holds a copy only for its key and its very content', () => {
    const copies = new RowCopies(() => 0);
    const signature = Buffer.alloc(32, 9);
    copies.remember(accountKey, accountRows, content(1n, 500n), signature);
    expect(copies.holds(accountKey, accountRows, content(1n, 500n), signature)).toBe(true);
    expect(copies.holds(accountKey + 1, accountRows, content(1n, 500n), signature)).toBe(false);
    expect(copies.holds(accountKey, accountRows, content(1n, 5000n), signature)).toBe(false);
    expect(copies.holds(accountKey, accountRows, content(2n, 500n), signature)).toBe(false);
    expect(copies.holds(accountKey, accountRows, content(1n, 500n), Buffer.alloc(32))).toBe(false);
  });
});

describe('the row kinds (protocol/rows.ts)', () => {
  const unit: CurrencyRowContent = {
    currencyNumber: 9n,
    currencyType: 'JPY',
    value: 100n,
    ownerAccount: 1n,
    status: 'active',
    lastUpdate: 1_601_631_000_000n,
  };
  const cases = [
    { kind: accountRows, type: accountRowType, row: content(1n, 500n) },
    { kind: currencyRows, type: currencyRowType, row: unit },
  ] as const;

  it('compare every field the encoding covers, and copy those fields alone', () => {
    for (const { kind, type, row } of cases) {
      const compare = kind.sameContent as (a: object, b: object) => boolean;
      const copy = (kind.contentOf as (row: object) => object)({
        ...row,
        signature: Buffer.alloc(4),
      });
      expect(copy).toEqual(row);
      expect(compare(copy, row)).toBe(true);
      for (const { name } of type.fields) {
        const value = (row as unknown as Record<string, unknown>)[name];
        const other = typeof value === 'bigint' ? value + 1n : `${String(value)}x`;
        const changed = { ...row, [name]: other };
        expect(compare(changed, row), `${type.name}.${name}`).toBe(false);
        expect(
          (kind.bytesOf as (row: object) => Buffer)(changed).equals(
            (kind.bytesOf as (row: object) => Buffer)(row),
          ),
        ).toBe(false);
      }
    }
  });
});
