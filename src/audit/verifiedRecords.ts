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
// checked with the keys as they are.
//
// The bytes a signature covers are kept as the fields of the record they were computed from
// (numbers and text, copied), and compared field by field (sameSignedFields): equal fields encode
// to equal bytes, so the record read back is not encoded to compare (that took about 5 us a record
// under load, a third of the audit's time; docs/performance.md). The signatures are copied into a
// ring of bytes, since a record's signature may be a view of a buffer that is used again. Keeping
// and comparing an operation's six copies takes a few microseconds here, where verifying them takes
// about 20 us on HMAC and 330 on Ed25519 (docs/performance.md).
//
// Bounded: a ring of `verifiedRecordSlots` slots of `verifiedRecordSlotBytes` each, written in the
// order records are verified; a record whose two signatures do not fit a slot is not kept, and a
// copy whose slot a later record took is gone. Either way the audit verifies that record by
// signature.

import { assert } from '../model/assert.js';
import {
  type SignedRecord,
  sameSignedFields,
  type TransactionRecord,
} from '../protocol/records.js';
import { stepOf } from '../protocol/transactionTypes.js';
import { signatureBytesMax } from '../protocol/wire.js';
import { RevocationWatch } from '../signature/revocationWatch.js';

/** Records kept at most: about two seconds of this machine's highest rate (six per remittance). */
export const verifiedRecordSlots = 16_384;
/** A slot holds the previous signature and the signature, each as long as any key makes (2 MiB). */
export const verifiedRecordSlotBytes = 2 * signatureBytesMax;

/** A step's place in an operation's list of slots (steps are 1 to 6). */
const stepIndex = (signed: SignedRecord): number => stepOf(signed.record.transactionType) - 1;
const noSlot = -1;

export class VerifiedRecords {
  readonly #slots = Buffer.alloc(verifiedRecordSlots * verifiedRecordSlotBytes);
  /** Per slot: the lengths of its previous signature and signature. */
  readonly #lengths = new Uint16Array(verifiedRecordSlots * 2);
  /** Per slot: the fields of the record verified or signed, cloned (undefined: none). */
  readonly #records: (TransactionRecord | undefined)[] = new Array(verifiedRecordSlots);
  /**
   * Per operation (its remittance id, never its transaction numbers: a request is stored under a
   * number it was not signed with), the slot of each step's copy, noSlot where none.
   */
  readonly #slotsOf = new Map<string, number[]>();
  /** Per slot: the operation and step whose copy it holds (undefined: none). */
  readonly #operationInSlot: (string | undefined)[] = new Array(verifiedRecordSlots);
  readonly #stepInSlot = new Uint8Array(verifiedRecordSlots);
  #kept = 0;
  #nextSlot = 0;
  readonly #revocations: RevocationWatch;

  /** `revocations`: the signature device's count of authorities taken from keys (it only grows). */
  constructor(revocations: () => number) {
    this.#revocations = new RevocationWatch(revocations);
  }

  /** Copies kept. */
  get size(): number {
    return this.#kept;
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
    const remittanceId = block[0]?.record.remittanceId;
    const slots = remittanceId === undefined ? undefined : this.#slotsOf.get(remittanceId);
    if (slots === undefined) return 0;
    let count = 0;
    for (; count < block.length; count++) {
      const signed = block[count]!;
      const slot = signed.record.remittanceId === remittanceId ? slots[stepIndex(signed)]! : noSlot;
      const previous = count === 0 ? signatureZero : block[count - 1]!.signature;
      if (slot === noSlot || !this.#holds(slot, signed, previous)) break;
    }
    return count;
  }

  /** The block's copies, once the audit has checked it (each record is checked once). */
  forget(block: readonly SignedRecord[]): void {
    for (const { record } of block) {
      const slots = this.#slotsOf.get(record.remittanceId);
      if (slots === undefined) continue;
      for (const slot of slots) if (slot !== noSlot) this.#free(slot);
      this.#slotsOf.delete(record.remittanceId);
    }
  }

  #put(signed: SignedRecord, previous: Buffer): void {
    const { record, signature } = signed;
    if (previous.length + signature.length > verifiedRecordSlotBytes) return;
    const slot = this.#nextSlot;
    this.#nextSlot = (slot + 1) % verifiedRecordSlots;
    const evicted = this.#operationInSlot[slot];
    if (evicted !== undefined) {
      const slots = this.#slotsOf.get(evicted);
      assert(slots?.[this.#stepInSlot[slot]!] === slot, "a slot in use is its operation step's");
      slots[this.#stepInSlot[slot]!] = noSlot;
      this.#free(slot);
      if (slots.every((each) => each === noSlot)) this.#slotsOf.delete(evicted);
    }
    const { remittanceId } = record;
    let slots = this.#slotsOf.get(remittanceId);
    if (slots === undefined) {
      slots = [noSlot, noSlot, noSlot, noSlot, noSlot, noSlot];
      this.#slotsOf.set(remittanceId, slots);
    }
    const step = stepIndex(signed);
    if (slots[step] !== noSlot) this.#free(slots[step]!);
    slots[step] = slot;
    const at = slot * verifiedRecordSlotBytes;
    this.#slots.set(previous, at);
    this.#slots.set(signature, at + previous.length);
    this.#lengths[slot * 2] = previous.length;
    this.#lengths[slot * 2 + 1] = signature.length;
    // Its fields only: a record may carry its encoding (recordBytes), a view of a shared buffer.
    this.#records[slot] = { ...record };
    this.#operationInSlot[slot] = remittanceId;
    this.#stepInSlot[slot] = step;
    this.#kept += 1;
    assert(this.#kept <= verifiedRecordSlots, 'copies kept are bounded by the slots');
  }

  #free(slot: number): void {
    assert(this.#operationInSlot[slot] !== undefined, 'a slot freed holds a copy');
    this.#operationInSlot[slot] = undefined;
    this.#records[slot] = undefined;
    this.#kept -= 1;
  }

  #holds(slot: number, signed: SignedRecord, previous: Buffer): boolean {
    const kept = this.#records[slot];
    assert(kept !== undefined, 'a slot compared holds a copy');
    const previousEnd = slot * verifiedRecordSlotBytes + this.#lengths[slot * 2]!;
    const signatureEnd = previousEnd + this.#lengths[slot * 2 + 1]!;
    return (
      previous.compare(this.#slots, slot * verifiedRecordSlotBytes, previousEnd) === 0 &&
      signed.signature.compare(this.#slots, previousEnd, signatureEnd) === 0 &&
      sameSignedFields(kept, signed.record)
    );
  }

  /** A key lost an authority since the copies were made: none of them is trusted any more. */
  #keepUpToDate(): void {
    if (!this.#revocations.revokedSince()) return;
    this.#slotsOf.clear();
    this.#operationInSlot.fill(undefined);
    this.#records.fill(undefined);
    this.#kept = 0;
  }
}
