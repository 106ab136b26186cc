// The three kinds of stored data of the patent, as record types for the canonical encoding.
//
// A: transaction information (FIG. 1B, FIG. 2B), one record per request or response.
// B: account information (FIG. 1C, FIG. 4), one row per account.
// C: currency information (FIG. 1D, FIG. 5), one row per numbered currency unit.
// Every field listed here is covered by the record's signature; the signature itself is not.
// `detail` carries what an operation needs beyond the columns of FIG. 1B as compact JSON (the
// verification key of a new account, the values of issued units, the units a remittance moves), so
// that replaying A alone rebuilds B and C.
// Amounts are bigint minor units; timestamps are bigint milliseconds since the Unix epoch, UTC.

import { defineRecordType } from './encoding.js';

export const transactionRecordType = defineRecordType('TransactionRecord', 0x41, [
  { name: 'transactionNumber', type: 'u64' },
  { name: 'remittanceId', type: 'text' },
  { name: 'transactionType', type: 'text' },
  { name: 'sourceAccount', type: 'u64', optional: true },
  { name: 'destinationAccount', type: 'u64', optional: true },
  { name: 'amount', type: 'u64', optional: true },
  { name: 'currencyType', type: 'text', optional: true },
  { name: 'outcome', type: 'text', optional: true },
  { name: 'detail', type: 'text', optional: true },
  { name: 'dateTime', type: 'timestamp' },
  { name: 'signerKeyNumber', type: 'u32' },
]);

export const accountRowType = defineRecordType('AccountRow', 0x42, [
  { name: 'accountNumber', type: 'u64' },
  { name: 'currencyType', type: 'text' },
  { name: 'balance', type: 'u64' },
  { name: 'held', type: 'u64' },
  { name: 'status', type: 'text' },
  { name: 'lastUpdate', type: 'timestamp' },
]);

export const currencyRowType = defineRecordType('CurrencyRow', 0x43, [
  { name: 'currencyNumber', type: 'u64' },
  { name: 'currencyType', type: 'text' },
  { name: 'value', type: 'u64' },
  { name: 'ownerAccount', type: 'u64' },
  { name: 'status', type: 'text' },
  { name: 'lastUpdate', type: 'timestamp' },
]);
