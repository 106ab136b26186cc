// B and C rows on the wire: the JSON shape of a signed account row (FIG. 4) and currency unit row
// (FIG. 5), and their conversion both ways.
//
// Numbers are decimal strings, lastUpdate ISO 8601 UTC with milliseconds, the signature hex, as for
// records (./wire.ts). Reading a row back checks what its schema cannot: ranges and round trips.

import Type, { type Static } from 'typebox';
import { fail, ok, type Result } from '../model/errors.js';
import { amountMax } from '../model/money.js';
import type { AccountRow, CurrencyRow } from '../store/types.js';
import type { AccountRowContent, CurrencyRowContent } from './rows.js';
import {
  CurrencyType,
  DecimalString,
  Hex,
  IsoTime,
  isoOf,
  KeyNumber,
  parseIso,
  signatureBytesMax,
} from './wire.js';

export const WireAccountRow = Type.Object(
  {
    accountNumber: DecimalString,
    currencyType: CurrencyType,
    balance: DecimalString,
    held: DecimalString,
    status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
    lastUpdate: IsoTime,
    signerKeyNumber: KeyNumber,
    signature: Hex(signatureBytesMax),
  },
  { additionalProperties: false },
);
export type WireAccountRow = Static<typeof WireAccountRow>;

export const WireCurrencyRow = Type.Object(
  {
    currencyNumber: DecimalString,
    currencyType: CurrencyType,
    value: DecimalString,
    ownerAccount: DecimalString,
    status: Type.Union([Type.Literal('active'), Type.Literal('held'), Type.Literal('retired')]),
    lastUpdate: IsoTime,
    signerKeyNumber: KeyNumber,
    signature: Hex(signatureBytesMax),
  },
  { additionalProperties: false },
);
export type WireCurrencyRow = Static<typeof WireCurrencyRow>;

export function accountRowToWire(row: AccountRow): WireAccountRow {
  return {
    accountNumber: row.accountNumber.toString(),
    currencyType: row.currencyType,
    balance: row.balance.toString(),
    held: row.held.toString(),
    status: row.status,
    lastUpdate: isoOf(row.lastUpdate),
    signerKeyNumber: row.signerKeyNumber,
    signature: row.signature.toString('hex'),
  };
}

export function currencyRowToWire(row: CurrencyRow): WireCurrencyRow {
  return {
    currencyNumber: row.currencyNumber.toString(),
    currencyType: row.currencyType,
    value: row.value.toString(),
    ownerAccount: row.ownerAccount.toString(),
    status: row.status,
    lastUpdate: isoOf(row.lastUpdate),
    signerKeyNumber: row.signerKeyNumber,
    signature: row.signature.toString('hex'),
  };
}

function u64(text: string, field: string): Result<bigint> {
  const value = BigInt(text);
  return value > amountMax
    ? fail('InvalidInput', `${field} is beyond the 64-bit range`)
    : ok(value);
}

/** A schema-valid wire row back to a typed row. */
export function accountRowFromWire(wire: WireAccountRow): Result<AccountRow> {
  const accountNumber = u64(wire.accountNumber, 'accountNumber');
  const balance = u64(wire.balance, 'balance');
  const held = u64(wire.held, 'held');
  const lastUpdate = parseIso(wire.lastUpdate, 'lastUpdate');
  if (!accountNumber.ok) return accountNumber;
  if (!balance.ok) return balance;
  if (!held.ok) return held;
  if (!lastUpdate.ok) return lastUpdate;
  return ok({
    accountNumber: accountNumber.value,
    currencyType: wire.currencyType,
    balance: balance.value,
    held: held.value,
    status: wire.status,
    lastUpdate: lastUpdate.value,
    signerKeyNumber: wire.signerKeyNumber,
    signature: Buffer.from(wire.signature, 'hex'),
  });
}

/** A schema-valid wire row back to a typed row. */
export function currencyRowFromWire(wire: WireCurrencyRow): Result<CurrencyRow> {
  const currencyNumber = u64(wire.currencyNumber, 'currencyNumber');
  const value = u64(wire.value, 'value');
  const ownerAccount = u64(wire.ownerAccount, 'ownerAccount');
  const lastUpdate = parseIso(wire.lastUpdate, 'lastUpdate');
  if (!currencyNumber.ok) return currencyNumber;
  if (!value.ok) return value;
  if (!ownerAccount.ok) return ownerAccount;
  if (!lastUpdate.ok) return lastUpdate;
  return ok({
    currencyNumber: currencyNumber.value,
    currencyType: wire.currencyType,
    value: value.value,
    ownerAccount: ownerAccount.value,
    status: wire.status,
    lastUpdate: lastUpdate.value,
    signerKeyNumber: wire.signerKeyNumber,
    signature: Buffer.from(wire.signature, 'hex'),
  });
}

// Row content without its signature: what recovery sends a device to sign and store.
export const WireAccountContent = Type.Omit(WireAccountRow, ['signerKeyNumber', 'signature'], {
  additionalProperties: false,
});
export type WireAccountContent = Static<typeof WireAccountContent>;
export const WireCurrencyContent = Type.Omit(WireCurrencyRow, ['signerKeyNumber', 'signature'], {
  additionalProperties: false,
});
export type WireCurrencyContent = Static<typeof WireCurrencyContent>;

const unsigned = { signerKeyNumber: 0, signature: Buffer.alloc(0) };

export function accountContentToWire(content: AccountRowContent): WireAccountContent {
  const {
    signerKeyNumber: _,
    signature: __,
    ...wire
  } = accountRowToWire({
    ...content,
    ...unsigned,
  });
  return wire;
}

export function currencyContentToWire(content: CurrencyRowContent): WireCurrencyContent {
  const {
    signerKeyNumber: _,
    signature: __,
    ...wire
  } = currencyRowToWire({
    ...content,
    ...unsigned,
  });
  return wire;
}

export function accountContentFromWire(wire: WireAccountContent): Result<AccountRowContent> {
  const row = accountRowFromWire({ ...wire, signerKeyNumber: 0, signature: '' });
  if (!row.ok) return row;
  const { signerKeyNumber: _, signature: __, ...content } = row.value;
  return ok(content);
}

export function currencyContentFromWire(wire: WireCurrencyContent): Result<CurrencyRowContent> {
  const row = currencyRowFromWire({ ...wire, signerKeyNumber: 0, signature: '' });
  if (!row.ok) return row;
  const { signerKeyNumber: _, signature: __, ...content } = row.value;
  return ok(content);
}
