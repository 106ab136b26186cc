// B and C rows as signed data (Embodiments 4 and 5, FIG. 4 and FIG. 5).
//
// Each account row is signed by the account device's key and each currency unit row by the currency
// device's key, over the row's canonical encoding: a changed row is found without replaying A.

import { encodeRecord } from '../model/encoding.js';
import { accountRowType, currencyRowType } from '../model/records.js';

export interface AccountRowContent {
  readonly accountNumber: bigint;
  readonly currencyType: string;
  readonly balance: bigint;
  readonly held: bigint;
  readonly status: 'open' | 'closed';
  readonly lastUpdate: bigint;
}

export interface CurrencyRowContent {
  readonly currencyNumber: bigint;
  readonly currencyType: string;
  readonly value: bigint;
  readonly ownerAccount: bigint;
  readonly status: 'active' | 'held' | 'retired';
  readonly lastUpdate: bigint;
}

export function accountRowBytes(row: AccountRowContent): Buffer {
  const { accountNumber, currencyType, balance, held, status, lastUpdate } = row;
  return encodeRecord(accountRowType, {
    accountNumber,
    currencyType,
    balance,
    held,
    status,
    lastUpdate,
  });
}

export function currencyRowBytes(row: CurrencyRowContent): Buffer {
  const { currencyNumber, currencyType, value, ownerAccount, status, lastUpdate } = row;
  return encodeRecord(currencyRowType, {
    currencyNumber,
    currencyType,
    value,
    ownerAccount,
    status,
    lastUpdate,
  });
}
