// What every device knows about the deployment, and the checks all three make on records.
//
// A record's signature proves which key signed it; `checkSigners` then proves that key is the
// right one for the record's step: the requester's (the source account's key, an issuer key, or
// the new account's own key), the transaction device's for steps 2, 4 and 6, the account device's
// for step 3, the currency device's for step 5. Both checks run before a device acts.

import type { VerifiedRecords } from '../audit/verifiedRecords.js';
import { assert } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import { type Failure, fail, ok, type Result } from '../model/errors.js';
import { type SignedRecord, signRecord, type TransactionRecord } from '../protocol/records.js';
import type { RowKind } from '../protocol/rows.js';
import { type ProtocolMode, settlementWithHeld, stepOf } from '../protocol/transactionTypes.js';
import { checkOperation, heldPrefixLength } from '../protocol/verify.js';
import type { SignatureDevice } from '../signature/device.js';
import type { LedgerTx } from '../store/types.js';
import { usableAccountKey } from './accountKeys.js';
import type { FaultStep } from './faultHooks.js';
import type { RowCopies } from './rowCopies.js';

// The account key numbering, where devices and tools have always found it.
export { accountKeyNumberBase, accountNumberMax } from './accountKeys.js';

export type DeviceName = 'transaction' | 'account' | 'currency';

export interface DeviceContext {
  readonly device: DeviceName;
  readonly signatures: SignatureDevice;
  readonly signingKeyNumber: number;
  readonly deviceKeys: Readonly<Record<DeviceName, number>>;
  readonly issuerKeyNumbers: readonly number[];
  readonly signatureZero: Buffer;
  readonly mode: ProtocolMode;
  readonly environment: Environment;
  /**
   * Copies of the records this process verified or signed, for its continuous audit to compare
   * instead of verifying again (audit/verifiedRecords.ts); unset: none kept.
   */
  readonly verifiedRecords?: VerifiedRecords;
  /**
   * Copies of the rows this process signed or verified, so that a row read back unchanged is
   * compared, not verified again (./rowCopies.ts); unset: every row read is verified.
   */
  readonly rowCopies?: RowCopies;
  /** Where a crash may be injected (devices/faultHooks.ts): the simulator's; unset in a deployment. */
  readonly crashPoint?: (step: FaultStep) => void;
}

/**
 * A row of B or C that a step must act on fails its signature check. Thrown inside the step's
 * store transaction (so everything it wrote is rolled back) and turned into the step's refusal
 * (RowSignatureInvalid) where the step began: the device never decides with, nor re-signs, a row
 * it did not verify. The continuous audit and the audit report the row; recovery repairs it.
 */
export class UnverifiedRow extends Error {
  override readonly name = 'UnverifiedRow';
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/**
 * `row`, once its signature verifies with this device's own key (rows of B or C it keeps): by
 * signature, or as the very content and signature this process signed or verified before
 * (./rowCopies.ts).
 */
export function verifiedRow<
  Content,
  Row extends Content & { signerKeyNumber: number; signature: Buffer },
>(
  context: DeviceContext,
  row: Row | undefined,
  kind: RowKind<Content>,
  name: string,
): Row | undefined {
  if (row === undefined) return undefined;
  const verified =
    row.signerKeyNumber === context.signingKeyNumber && verifiedContent(context, kind, row);
  if (!verified)
    throw new UnverifiedRow(
      fail(
        'RowSignatureInvalid',
        `${name}: its row signature does not verify; nothing is done with it until recovery repairs it`,
      ),
    );
  return row;
}

function verifiedContent<Content>(
  context: DeviceContext,
  kind: RowKind<Content>,
  row: Content & { signature: Buffer },
): boolean {
  const { rowCopies, signingKeyNumber } = context;
  if (rowCopies?.holds(signingKeyNumber, kind, row, row.signature)) return true;
  if (!context.signatures.verify(signingKeyNumber, kind.bytesOf(row), row.signature).ok)
    return false;
  rowCopies?.remember(signingKeyNumber, kind, row, row.signature);
  return true;
}

/**
 * A row's signature over `content`, made with this device's own key; its copy is kept
 * (./rowCopies.ts) if that key may also verify, as a copy stands in for verifying the row when it
 * is read back.
 */
export function signOwnRow<Content>(
  context: DeviceContext,
  kind: RowKind<Content>,
  content: Content,
): Buffer {
  const signature = context.signatures.sign(context.signingKeyNumber, kind.bytesOf(content));
  assert(signature.ok, `the ${context.device} device signs its rows`);
  if (context.signatures.allows(context.signingKeyNumber, 'verify'))
    context.rowCopies?.remember(context.signingKeyNumber, kind, content, signature.value);
  return signature.value;
}

/** Rows a batch read, each verified first (verifiedRow): the same map, or a thrown UnverifiedRow. */
export function verifiedRows<
  Key,
  Content,
  Row extends Content & { signerKeyNumber: number; signature: Buffer },
>(
  context: DeviceContext,
  found: ReadonlyMap<Key, Row>,
  kind: RowKind<Content>,
  nameOf: (key: Key) => string,
): ReadonlyMap<Key, Row> {
  for (const [key, row] of found) verifiedRow(context, row, kind, nameOf(key));
  return found;
}

/**
 * What a step's verified records say must be stored (a held unit, the account a hold is on): when
 * the store disagrees (a row deleted or changed under the device), the step is refused like an
 * unverified row, never an assertion that would stop the device. What the store holds is a
 * finding for the audit, not an invariant of this process.
 */
export function expectStored(condition: unknown, what: string): asserts condition {
  if (!condition)
    throw new UnverifiedRow(
      fail(
        'RowSignatureInvalid',
        `${what}, but the store disagrees; nothing is done until recovery repairs it`,
      ),
    );
}

/** A step's work; a row that fails its signature refuses the step instead of stopping it. */
export async function refusingUnverifiedRows<T>(
  work: () => Promise<Result<T>>,
): Promise<Result<T>> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof UnverifiedRow) return error.failure;
    throw error;
  }
}

/**
 * Verify an operation's records as this device receives them (protocol/verify.ts); `tx` knows the
 * account keys. `stored`: this device's own records of the operation, verified when they were
 * stored; the leading received records identical to them are not verified again.
 */
export async function verifyOperation(
  context: DeviceContext,
  tx: LedgerTx,
  records: readonly SignedRecord[],
  stored: readonly SignedRecord[] = [],
): Promise<Failure | undefined> {
  const source = records[0]?.record.sourceAccount;
  const keyNumber =
    source === undefined ? ok(undefined) : await usableAccountKey(context, tx, source);
  if (!keyNumber.ok) return keyNumber;
  return verifyOperationWithKey(context, records, keyNumber.value, stored);
}

/**
 * verifyOperation with the requester's key number already known (undefined: the operation names
 * no account that signs it): no read of the store, so it runs outside a store transaction.
 */
export function verifyOperationWithKey(
  context: DeviceContext,
  records: readonly SignedRecord[],
  keyNumber: number | undefined,
  stored: readonly SignedRecord[] = [],
): Failure | undefined {
  const held = heldPrefixLength(records, stored);
  const refused = checkOperation(context, records, keyNumber, held);
  // What was held was kept when it was first verified; what was verified now is kept from here.
  if (!refused) context.verifiedRecords?.remember(records, held, context.signatureZero);
  return refused;
}

/**
 * A record of this device's own step, signed with its key and chained on `previous`; its copy is
 * kept for the continuous audit.
 */
export function signOwnRecord(
  context: DeviceContext,
  record: TransactionRecord,
  previous: Buffer,
): SignedRecord {
  const signed = signRecord(context.signatures, context.signingKeyNumber, record, previous);
  assert(signed.ok, `the ${context.device} device signs with its own key`);
  // Its copy stands in for verifying it later with the same key: kept only if that key may verify.
  if (context.signatures.allows(context.signingKeyNumber, 'verify'))
    context.verifiedRecords?.rememberSigned(signed.value, previous);
  return signed.value;
}

export function now(context: DeviceContext): bigint {
  return BigInt(context.environment.nowMs());
}

/** What a batch of steps reads of its operations before it decides: their stored records, by id. */
export type StoredOperations = ReadonlyMap<string, readonly SignedRecord[]>;

/** The stored records of every operation a batch of steps names (by its first record), in one read. */
export function storedOperationsOf(
  tx: LedgerTx,
  steps: readonly (readonly SignedRecord[])[],
): Promise<StoredOperations> {
  const ids = steps.flatMap((records) => records[0]?.record.remittanceId ?? []);
  return tx.recordsOfOperations(ids);
}

/** A retried exchange gets the answer already given, provided it carries the same records. */
export function answered(
  stored: StoredOperations,
  records: readonly SignedRecord[],
  step: number,
): Result<SignedRecord> | undefined {
  const remittanceId = records[0]?.record.remittanceId;
  if (remittanceId === undefined) return undefined;
  const kept = stored.get(remittanceId) ?? [];
  const previous = kept.find((r) => stepOf(r.record.transactionType) === step);
  if (!previous) return undefined;
  const same = records.every((r) => kept.some((s) => s.signature.equals(r.signature)));
  return same
    ? ok(previous)
    : fail('RecordConflict', `a different exchange for ${remittanceId} was answered already`);
}

/** A settlement a device accepted: the operation's records, whole, and whether it settled it before. */
export interface AcceptedSettlement {
  readonly records: readonly SignedRecord[];
  readonly again: boolean;
}

/**
 * S108/S110: a settlement's records verified as received, made whole with the records this device
 * stored up to its own answer (the transaction device leaves those out:
 * protocol/transactionTypes.ts recordsLackedBy). `again` when this device settled the operation
 * before (the records are stored and compared, and nothing is applied twice); RecordsMissing when
 * it lacks records the settlement left out; or the refusal.
 */
export async function checkSettlement(
  context: DeviceContext,
  tx: LedgerTx,
  received: readonly SignedRecord[],
  storedOperations: StoredOperations,
): Promise<Result<AcceptedSettlement>> {
  const response = received.at(-1);
  if (!response || stepOf(response.record.transactionType) !== 6)
    return fail('InvalidInput', 'settlement ends with the response');
  assert(context.device !== 'transaction', 'the peers of the transaction device settle');
  const stored = storedOperations.get(response.record.remittanceId) ?? [];
  const records = settlementWithHeld(context.device, received, stored);
  if (records === undefined)
    return fail(
      'RecordsMissing',
      `the settlement of ${response.record.remittanceId} leaves out records this device does not hold`,
    );
  const refused = await verifyOperation(context, tx, records, stored);
  if (refused) return refused;
  return ok({ records, again: stored.some((r) => stepOf(r.record.transactionType) === 6) });
}
