// Rows of B for tests of the account machine and the stores: an open JPY account with a balance,
// nothing held, last changed at time 1.
import type { AccountRowContent } from '../../src/protocol/rows.js';

export function openAccountRow(accountNumber: bigint, balance: bigint): AccountRowContent {
  return {
    accountNumber,
    currencyType: 'JPY',
    balance,
    held: 0n,
    status: 'open',
    lastUpdate: 1n,
  };
}
