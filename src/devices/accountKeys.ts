// Who signs for an account, read from the ledger itself.
//
// An account's key is named by the records of the account issuing that opened it: its a2 (signed
// by the transaction device) carries the key, its a6 names the account. A device reads those
// records from its own copy of A (LedgerTx.accountOpening, one indexed lookup), verifies them as
// it verifies any operation, and only then makes the key usable in its signature device, which
// holds the account keys used lately (KeyPolicy.accountKeysHeldMax) and drops the rest. So
// accounts are as many as A holds, not as many as fit in memory, and there is no table of keys
// that a changed store could rewrite: to lend an account another key, a store would have to hold
// an opening signed by the transaction device that never happened. An account with a shared HMAC
// key (a keystore key) is remembered the same way, bounded alike (SharedKeyAccounts).

import { assert } from '../model/assert.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import { trimOldest } from '../model/oldestFirst.js';
import { accountKeyDetail, parseDetail } from '../protocol/details.js';
import type { SignedRecord } from '../protocol/records.js';
import { stepOf } from '../protocol/transactionTypes.js';
import { checkOperation } from '../protocol/verify.js';
import { keyNumberMax } from '../signature/keys.js';
import type { LedgerTx } from '../store/types.js';
import type { DeviceContext } from './context.js';

/** Ed25519 account keys are numbered from here: key number = base + account number. */
export const accountKeyNumberBase = 1_000_000;
/** The most accounts a deployment holds, so that every account key number stays a valid key number. */
export const accountNumberMax = BigInt(keyNumberMax - accountKeyNumberBase);

/** An account's key as its opening names it. */
export interface AccountKey {
  readonly accountNumber: bigint;
  readonly keyNumber: number;
  readonly algorithm: 'ed25519-public' | 'hmac-sha256';
  /** Raw Ed25519 public key; absent for a shared HMAC key held in the keystores. */
  readonly publicKey?: Buffer;
}

/** The new account's key, as the transaction device's account request (a2) names it. */
export function accountKeyOf(records: readonly SignedRecord[]): AccountKey | undefined {
  const accountRequest = records.find((r) => stepOf(r.record.transactionType) === 2)?.record;
  const detail = parseDetail(accountKeyDetail, accountRequest?.detail);
  const accountNumber = accountRequest?.destinationAccount;
  if (!detail || accountNumber === undefined) return undefined;
  return {
    accountNumber,
    keyNumber: detail.keyNumber,
    algorithm: detail.algorithm,
    ...(detail.publicKeyHex ? { publicKey: Buffer.from(detail.publicKeyHex, 'hex') } : {}),
  };
}

/**
 * Make an account's key usable for verification in this device's signature device (an HMAC key is
 * a keystore key, held already). A key number held by anything but that account's key is refused.
 */
export function registerAccountKey(context: DeviceContext, key: AccountKey): Result<undefined> {
  const held = context.signatures.describe(key.keyNumber);
  if (key.algorithm === 'hmac-sha256') return held.ok ? ok(undefined) : held;
  if (held.ok)
    return heldFor(context, key.keyNumber, key.accountNumber)
      ? ok(undefined)
      : fail(
          'KeyNumberTaken',
          `key ${key.keyNumber} is not the key of account ${key.accountNumber}`,
        );
  const added = context.signatures.addKey({
    keyNumber: key.keyNumber,
    owner: `account:${key.accountNumber}`,
    algorithm: 'ed25519-public',
    ...(key.publicKey ? { material: key.publicKey } : {}),
    authorities: ['verify'],
  });
  return added.ok ? ok(undefined) : added;
}

/**
 * The number of the key that signs for an account, made usable here; undefined when A holds no
 * accepted opening of it (openingKey). Verify synchronously after this call, so that nothing can
 * drop the key from the signature device in between.
 */
export async function usableAccountKey(
  context: DeviceContext,
  tx: LedgerTx,
  accountNumber: bigint,
): Promise<Result<number | undefined>> {
  if (accountNumber < 1n || accountNumber > accountNumberMax) return ok(undefined);
  const held = heldAccountKey(context, accountNumber);
  if (held !== undefined) return ok(held);
  const key = await openingKey(context, tx, accountNumber);
  if (!key.ok) return key;
  if (key.value === undefined) return ok(undefined);
  const usable = usableKey(context, key.value);
  if (usable.ok && key.value.algorithm === 'hmac-sha256')
    sharedKeysOf(context).remember(accountNumber, usable.value);
  return usable;
}

/**
 * The number of the key that signs for an account when the signature device already holds it (its
 * Ed25519 key, or the shared HMAC key an earlier lookup found in A): no read of the store. Else
 * undefined, and usableAccountKey reads the account's opening.
 */
export function heldAccountKey(context: DeviceContext, accountNumber: bigint): number | undefined {
  if (accountNumber < 1n || accountNumber > accountNumberMax) return undefined;
  const ed25519KeyNumber = accountKeyNumberBase + Number(accountNumber);
  if (heldFor(context, ed25519KeyNumber, accountNumber)) return ed25519KeyNumber;
  const sharedKeyNumber = sharedKeysOf(context).get(accountNumber);
  if (sharedKeyNumber !== undefined && context.signatures.holds(sharedKeyNumber))
    return sharedKeyNumber;
  return undefined;
}

/**
 * The accounts whose verified opening names a shared HMAC key, with that key's number: what the
 * signature device's held Ed25519 account keys are for accounts with their own key, so that a
 * step does not read and verify the opening again. The least recently used go first, past the
 * signature device's accountKeysHeldMax.
 */
class SharedKeyAccounts {
  readonly #keyNumbers = new Map<bigint, number>();

  constructor(readonly heldMax: number) {
    assert(heldMax >= 1, 'at least one account is held');
  }

  get(accountNumber: bigint): number | undefined {
    const keyNumber = this.#keyNumbers.get(accountNumber);
    if (keyNumber === undefined) return undefined;
    this.#keyNumbers.delete(accountNumber);
    this.#keyNumbers.set(accountNumber, keyNumber);
    return keyNumber;
  }

  remember(accountNumber: bigint, keyNumber: number): void {
    this.#keyNumbers.delete(accountNumber);
    this.#keyNumbers.set(accountNumber, keyNumber);
    trimOldest(this.#keyNumbers, this.heldMax);
    assert(this.#keyNumbers.size <= this.heldMax, 'shared-key accounts held are bounded');
  }
}

const sharedKeyAccounts = new WeakMap<DeviceContext, SharedKeyAccounts>();

function sharedKeysOf(context: DeviceContext): SharedKeyAccounts {
  let held = sharedKeyAccounts.get(context);
  if (!held) {
    held = new SharedKeyAccounts(context.signatures.accountKeysHeldMax);
    sharedKeyAccounts.set(context, held);
  }
  return held;
}

/**
 * The key of an account as the verified records of its opening in this device's copy of A name it;
 * undefined when there is no accepted opening. Records that do not verify are refused as
 * UnknownKey: the account cannot sign at this device until recovery repairs its copy of A.
 */
export async function openingKey(
  context: DeviceContext,
  tx: LedgerTx,
  accountNumber: bigint,
): Promise<Result<AccountKey | undefined>> {
  const opening = await tx.accountOpening(accountNumber);
  if (opening.length === 0) return ok(undefined);
  const key = accountKeyOf(opening);
  const refused =
    checkOperation(context, opening, undefined) ??
    (key?.accountNumber === accountNumber
      ? undefined
      : fail('RecordConflict', 'the opening names another account'));
  if (refused) return unusable(accountNumber, refused);
  return ok(key);
}

/** A key made usable here, by its number; one that cannot be (weak, a number taken) as UnknownKey. */
export function usableKey(context: DeviceContext, key: AccountKey): Result<number> {
  const registered = registerAccountKey(context, key);
  return registered.ok ? ok(key.keyNumber) : unusable(key.accountNumber, registered);
}

function unusable(accountNumber: bigint, why: Failure): Failure {
  return fail(
    'UnknownKey',
    `account ${accountNumber}'s key cannot be used here (${why.code}: ${why.message}); it cannot sign until recovery repairs this device's copy of A`,
  );
}

/** Whether the signature device holds `keyNumber` as account `accountNumber`'s Ed25519 key. */
function heldFor(context: DeviceContext, keyNumber: number, accountNumber: bigint): boolean {
  // The owner's name is made only for a key held (in an HMAC deployment, none is).
  return (
    context.signatures.holds(keyNumber) &&
    context.signatures.holds(keyNumber, `account:${accountNumber}`, 'ed25519-public')
  );
}
