// B and C rows as signed data (Embodiments 4 and 5, FIG. 4 and FIG. 5).
//
// Each account row is signed by the account device's key and each currency unit row by the currency
// device's key, over the row's canonical encoding: a changed row is found without replaying A.

import { assert } from '../model/assert.js';
import { encodeRecord, type RecordType } from '../model/encoding.js';
import { accountRowType, currencyRowType } from '../model/records.js';

// Types, not interfaces: the encoder takes a row's content as its values (accountRowBytes).
export type AccountRowContent = {
  readonly accountNumber: bigint;
  readonly currencyType: string;
  readonly balance: bigint;
  readonly held: bigint;
  readonly status: 'open' | 'closed';
  readonly lastUpdate: bigint;
};

export type CurrencyRowContent = {
  readonly currencyNumber: bigint;
  readonly currencyType: string;
  readonly value: bigint;
  readonly ownerAccount: bigint;
  readonly status: 'active' | 'held' | 'retired';
  readonly lastUpdate: bigint;
};

/** A row's content alone: what its signature covers, without the signature and its key. */
function accountContentOf(row: AccountRowContent): AccountRowContent {
  const { accountNumber, currencyType, balance, held, status, lastUpdate } = row;
  return { accountNumber, currencyType, balance, held, status, lastUpdate };
}

function currencyContentOf(row: CurrencyRowContent): CurrencyRowContent {
  const { currencyNumber, currencyType, value, ownerAccount, status, lastUpdate } = row;
  return { currencyNumber, currencyType, value, ownerAccount, status, lastUpdate };
}

export function accountRowBytes(row: AccountRowContent): Buffer {
  return encodeRecord(accountRowType, accountContentOf(row));
}

export function currencyRowBytes(row: CurrencyRowContent): Buffer {
  return encodeRecord(currencyRowType, currencyContentOf(row));
}

/**
 * One kind of signed row as a device handles it: the bytes its signature covers, and its content
 * copied and compared field by field. Equal fields encode to equal bytes, so a row read back is
 * compared with a copy of what was signed (devices/rowCopies.ts) without being encoded: that took
 * about 3.5 us a row more (a throwaway loop). Rows whose fields differ are reported different and
 * then verified by signature, so the comparison can cost a verification but never pass a change.
 */
export interface RowKind<Content> {
  bytesOf(content: Content): Buffer;
  /** The content's fields alone, copied (a row read carries its signature, a view of a buffer). */
  contentOf(content: Content): Content;
  sameContent(a: Content, b: Content): boolean;
}

/** The encoding lists exactly these fields, in this order: the comparisons below cover them all. */
function assertFields(type: RecordType, names: readonly string[]): void {
  assert(
    type.fields.map((field) => field.name).join() === names.join(),
    `a ${type.name} is copied and compared field by field as its encoding lists them`,
  );
}

export const accountRows: RowKind<AccountRowContent> = {
  bytesOf: accountRowBytes,
  contentOf: accountContentOf,
  sameContent: (a, b) =>
    a.accountNumber === b.accountNumber &&
    a.currencyType === b.currencyType &&
    a.balance === b.balance &&
    a.held === b.held &&
    a.status === b.status &&
    a.lastUpdate === b.lastUpdate,
};
assertFields(accountRowType, [
  'accountNumber',
  'currencyType',
  'balance',
  'held',
  'status',
  'lastUpdate',
]);

export const currencyRows: RowKind<CurrencyRowContent> = {
  bytesOf: currencyRowBytes,
  contentOf: currencyContentOf,
  sameContent: (a, b) =>
    a.currencyNumber === b.currencyNumber &&
    a.currencyType === b.currencyType &&
    a.value === b.value &&
    a.ownerAccount === b.ownerAccount &&
    a.status === b.status &&
    a.lastUpdate === b.lastUpdate,
};
assertFields(currencyRowType, [
  'currencyNumber',
  'currencyType',
  'value',
  'ownerAccount',
  'status',
  'lastUpdate',
]);
