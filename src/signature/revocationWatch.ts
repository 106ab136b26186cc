// Whether a key lost an authority since a cache of checks last looked: what was checked with the
// keys before may not hold with them now. The copies of records and rows a device checked
// (audit/verifiedRecords.ts, devices/rowCopies.ts) empty themselves when it says so.

import { assert } from '../model/assert.js';

export class RevocationWatch {
  #seen: number;

  /** `revocations`: the signature device's count of authorities taken from keys (it only grows). */
  constructor(private readonly revocations: () => number) {
    this.#seen = revocations();
  }

  /** Whether a key lost an authority since the last call (or since this watch began). */
  revokedSince(): boolean {
    const revocations = this.revocations();
    if (revocations === this.#seen) return false;
    assert(revocations > this.#seen, 'revocations are only counted up');
    this.#seen = revocations;
    return true;
  }
}
