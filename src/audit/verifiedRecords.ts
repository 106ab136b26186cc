// What this process verified or signed, kept until its continuous audit reads the records back.
//
// The continuous audit (./continuous.ts) checks every record a device stores once it is stored:
// the pair assertion of data checked before it is written and after it is read back. Before a
// record is written its signature is verified (a record received) or made (a record this device
// signs). Read back, the audit verified it again. But a signature's check is a function of three
// things and the key its record names: the bytes the signature covers, the signature, and the
// signature before it in the chain. A record that reads back with the very three this process
// verified or made would verify again with the same keys. So the audit compares them instead,
// against a copy this process keeps in its own memory (where a change to the store cannot reach),
// and verifies by signature only what it holds no copy of, or what differs: a record changed in the
// store, one stored before the process started, one whose copy was overwritten. Every other check
// of the audit (each record at its step's number, each signer in its role) runs as before. A key
// that loses an authority (`SignatureDevice.revocations`) empties the copies: a record is then
// checked with the keys as they are. On HMAC a copy is compared in about a tenth of a
// verification's time, on Ed25519 in about a three-hundredth (docs/performance.md).
//
// Bounded: a ring of `verifiedRecordSlots` slots of `verifiedRecordSlotBytes` each, written in the
// order records are verified; a record whose three parts do not fit a slot is not kept, and a copy
// whose slot a later record took is gone. Either way the audit verifies that record by signature.

import { assert } from '../model/assert.js';
import { type SignedRecord, signingBytes } from '../protocol/records.js';
import { stepOf } from '../protocol/transactionTypes.js';

/** Records kept at most: about two seconds of this machine's highest rate (six per remittance). */
export const verifiedRecordSlots = 16_384;
/** A slot holds the previous signature, the signed bytes and the signature (6 MiB in all). */
export const verifiedRecordSlotBytes = 384;

/** An operation's step, as the key of its copy: a request is stored under a number it was not signed with. */
const keyOf = (signed: SignedRecord): string =>
  `${signed.record.remittanceId} ${stepOf(signed.record.transactionType)}`;

export class VerifiedRecords {
  readonly #slots = Buffer.alloc(verifiedRecordSlots * verifiedRecordSlotBytes);
  /** Per slot: the lengths of its previous signature, signed bytes and signature. */
  readonly #lengths = new Uint16Array(verifiedRecordSlots * 3);
  /** Per slot: the key whose copy it holds (undefined: none). */
  readonly #keyInSlot: (string | undefined)[] = new Array(verifiedRecordSlots);
  readonly #slotOfKey = new Map<string, number>();
  #nextSlot = 0;
  #revocations: number;

  /** `revocations`: the signature device's count of authorities taken from keys (it only grows). */
  constructor(private readonly revocations: () => number) {
    this.#revocations = revocations();
  }

  get size(): number {
    return this.#slotOfKey.size;
  }

  /**
   * An operation's records from `from` on, each just verified or signed, chained from signature 0
   * (`signatureZero`) in step order, as verifyOperationChain checked them.
   */
  remember(records: readonly SignedRecord[], from: number, signatureZero: Buffer): void {
    assert(from >= 0 && from <= records.length, 'the records remembered lie in the run');
    this.#keepUpToDate();
    for (let index = from; index < records.length; index++)
      this.#put(records[index]!, index === 0 ? signatureZero : records[index - 1]!.signature);
  }

  /** One record this device signed, chained on `previous`. */
  rememberSigned(signed: SignedRecord, previous: Buffer): void {
    this.#keepUpToDate();
    this.#put(signed, previous);
  }

  /**
   * How many of a stored block's first records (in step order, chained from `signatureZero`) equal
   * a copy kept: checkStoredBlock's `trustedCount`.
   */
  trustedPrefix(block: readonly SignedRecord[], signatureZero: Buffer): number {
    this.#keepUpToDate();
    let count = 0;
    while (count < block.length) {
      const previous = count === 0 ? signatureZero : block[count - 1]!.signature;
      if (!this.#holds(block[count]!, previous)) break;
      count += 1;
    }
    return count;
  }

  /** The block's copies, once the audit has checked it (each record is checked once). */
  forget(block: readonly SignedRecord[]): void {
    for (const signed of block) {
      const key = keyOf(signed);
      const slot = this.#slotOfKey.get(key);
      if (slot === undefined) continue;
      this.#slotOfKey.delete(key);
      this.#keyInSlot[slot] = undefined;
    }
  }

  #put(signed: SignedRecord, previous: Buffer): void {
    const bytes = signingBytes(signed.record);
    const { signature } = signed;
    if (previous.length + bytes.length + signature.length > verifiedRecordSlotBytes) return;
    const key = keyOf(signed);
    const slot = this.#nextSlot;
    this.#nextSlot = (slot + 1) % verifiedRecordSlots;
    const evicted = this.#keyInSlot[slot];
    if (evicted !== undefined) this.#slotOfKey.delete(evicted);
    const replaced = this.#slotOfKey.get(key);
    if (replaced !== undefined) this.#keyInSlot[replaced] = undefined;
    let at = slot * verifiedRecordSlotBytes;
    at += previous.copy(this.#slots, at);
    at += bytes.copy(this.#slots, at);
    signature.copy(this.#slots, at);
    this.#lengths[slot * 3] = previous.length;
    this.#lengths[slot * 3 + 1] = bytes.length;
    this.#lengths[slot * 3 + 2] = signature.length;
    this.#keyInSlot[slot] = key;
    this.#slotOfKey.set(key, slot);
    assert(this.#slotOfKey.size <= verifiedRecordSlots, 'copies kept are bounded by the slots');
  }

  #holds(signed: SignedRecord, previous: Buffer): boolean {
    const slot = this.#slotOfKey.get(keyOf(signed));
    if (slot === undefined) return false;
    const previousEnd = slot * verifiedRecordSlotBytes + this.#lengths[slot * 3]!;
    const bytesEnd = previousEnd + this.#lengths[slot * 3 + 1]!;
    const signatureEnd = bytesEnd + this.#lengths[slot * 3 + 2]!;
    return (
      previous.compare(this.#slots, slot * verifiedRecordSlotBytes, previousEnd) === 0 &&
      signingBytes(signed.record).compare(this.#slots, previousEnd, bytesEnd) === 0 &&
      signed.signature.compare(this.#slots, bytesEnd, signatureEnd) === 0
    );
  }

  /** A key lost an authority since the copies were made: none of them is trusted any more. */
  #keepUpToDate(): void {
    const revocations = this.revocations();
    if (revocations === this.#revocations) return;
    assert(revocations > this.#revocations, 'revocations are only counted up');
    this.#revocations = revocations;
    this.#slotOfKey.clear();
    this.#keyInSlot.fill(undefined);
  }
}
