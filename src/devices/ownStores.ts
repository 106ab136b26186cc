// A device's own stores as its continuous audit (audit/continuous.ts) reads them: its copy of A,
// the rows of B or C it signs, the account keys it knows, and where its last checkpoint ends.
// Shared by the running device (start.ts) and the simulator, which run the same audit.

import type { OwnStores, SignedRow } from '../audit/continuous.js';
import { typedRecordPages } from '../audit/exportLines.js';
import { accountRowBytes, currencyRowBytes } from '../protocol/rows.js';
import type { AccountStore, CurrencyStore, LedgerTx, Store } from '../store/types.js';
import { heldAccountKey, usableAccountKey } from './accountKeys.js';
import type { DeviceContext } from './context.js';

export function ownStores<Tx extends LedgerTx>(
  context: DeviceContext,
  store: Store<Tx>,
  checkpoints: { newestVerifiedNumber(): Promise<bigint> },
  rows?: (afterKey: bigint) => AsyncIterable<SignedRow>,
): OwnStores {
  return {
    // A row that fits no record reads as the audit's unreadable placeholder (a finding, not a
    // crash): of no known type here, otherwise when the audit finds it differs from its copy.
    recordPages: (after) => typedRecordPages(store.exportRecordPages(after)),
    ...(rows ? { rows } : {}),
    // A key the signature device holds needs no store transaction (one per operation checked,
    // each waiting in the store's queue behind the device's own work); the others read A.
    accountKeyNumber: async (n) => {
      const held = heldAccountKey(context, n);
      if (held !== undefined) return held;
      const usable = await store.transact((tx) => usableAccountKey(context, tx, n));
      return usable.ok ? usable.value : undefined;
    },
    checkpointedUpTo: () => checkpoints.newestVerifiedNumber(),
  };
}

/** The rows of B as signed: the bytes the account device's signature covers. */
export async function* signedAccountRows(
  store: AccountStore,
  afterAccount = 0n,
): AsyncGenerator<SignedRow> {
  for await (const row of store.exportAccounts(afterAccount))
    yield {
      key: row.accountNumber,
      bytes: accountRowBytes(row),
      signerKeyNumber: row.signerKeyNumber,
      signature: row.signature,
    };
}

/** The rows of C as signed: the bytes the currency device's signature covers. */
export async function* signedUnitRows(
  store: CurrencyStore,
  afterUnit = 0n,
): AsyncGenerator<SignedRow> {
  for await (const row of store.exportUnits(afterUnit))
    yield {
      key: row.currencyNumber,
      bytes: currencyRowBytes(row),
      signerKeyNumber: row.signerKeyNumber,
      signature: row.signature,
    };
}
