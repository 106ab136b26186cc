// Copies of the rows of B or C whose signatures this process made or checked, so that a row read
// back unchanged is checked by comparison instead of a second signature check.
//
// A device verifies every row it reads before it decides with it (context.ts: verifiedRow). A row's
// check is a function of three things: the bytes its signature covers, the signature, and the key
// that made it (with the authorities that key holds). A row read with the very content and
// signature this process signed, or verified before, with the same key would verify again, so
// verifiedRow compares them with a copy kept in this process's memory (where a change to the store
// cannot reach) and verifies by signature only a row it holds no copy of, or one that differs: a
// row changed in the store, one written before the process started, one whose copy is gone. The
// content is copied and compared field by field (protocol/rows.ts RowKind: equal fields encode
// alike), so a row read back is not encoded to be compared. A key that loses an authority
// (`SignatureDevice.revocations`) empties the copies, as the continuous audit's copies of records
// are (audit/verifiedRecords.ts), and a row is kept only while its key may verify (context.ts:
// signOwnRow), so that no copy passes what the key could not. A row signed in a store transaction
// that rolls back leaves a copy that is still true: its signature still covers that content.
//
// Bounded: at most `rowCopiesMax` copies, found by signature; the oldest go first, a sixteenth of
// the bound at once (model/oldestFirst.ts). The account device reads each account of a remittance
// twice (its exchange and its settlement) and the currency device each unit it spends, so a copy
// is read again within a remittance's time. A device keeps rows of one kind (B at account, C at
// currency): its copies are all of that kind.

import { assert } from '../model/assert.js';
import { trimOldest } from '../model/oldestFirst.js';
import type { RowKind } from '../protocol/rows.js';
import { RevocationWatch } from '../signature/revocationWatch.js';

/** Copies kept at most: a few seconds of this machine's highest rate (five rows per remittance). */
export const rowCopiesMax = 16_384;

interface RowCopy {
  readonly keyNumber: number;
  /** The row's content as signed or verified: its fields alone, copied (RowKind.contentOf). */
  readonly content: unknown;
}

export class RowCopies {
  /** By signature (its bytes as latin1 text), in the order they were kept. */
  readonly #copies = new Map<string, RowCopy>();
  readonly #revocations: RevocationWatch;

  /** `revocations`: the signature device's count of authorities taken from keys (it only grows). */
  constructor(revocations: () => number) {
    this.#revocations = new RevocationWatch(revocations);
  }

  /** Copies kept. */
  get size(): number {
    return this.#copies.size;
  }

  /** A row's content and signature that `keyNumber` made, or that verified with it. */
  remember<Content>(
    keyNumber: number,
    kind: RowKind<Content>,
    content: Content,
    signature: Buffer,
  ): void {
    this.#keepUpToDate();
    const id = signature.toString('latin1');
    this.#copies.delete(id); // kept again as the newest
    this.#copies.set(id, { keyNumber, content: kind.contentOf(content) });
    trimOldest(this.#copies, rowCopiesMax);
    assert(this.#copies.size <= rowCopiesMax, 'row copies are bounded');
  }

  /** Whether this content and signature are a copy kept for `keyNumber`: they would verify. */
  holds<Content>(
    keyNumber: number,
    kind: RowKind<Content>,
    content: Content,
    signature: Buffer,
  ): boolean {
    this.#keepUpToDate();
    const copy = this.#copies.get(signature.toString('latin1'));
    return (
      copy !== undefined &&
      copy.keyNumber === keyNumber &&
      kind.sameContent(copy.content as Content, content)
    );
  }

  /** A key lost an authority since the copies were made: none of them is trusted any more. */
  #keepUpToDate(): void {
    if (!this.#revocations.revokedSince()) return;
    this.#copies.clear();
  }
}
