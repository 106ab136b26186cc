// How the audit reads a peer's copy by block digests (audit/copyReaders.ts): a block whose digest
// equals the own copy's is not fetched; one that differs alone is fetched alone; a run of
// differing blocks (an own copy restored empty) is fetched in ranges that double in length, up to
// blocksFetchedAtOnceMax, instead of one request per block; a peer answering records outside the
// range asked for is refused.
import { describe, expect, it } from 'vitest';
import { blockDigest, type PeerBlock } from '../../src/audit/blockDigests.js';
import {
  blocksFetchedAtOnceMax,
  type DigestedCopy,
  DigestReader,
  LastBlockDigest,
} from '../../src/audit/copyReaders.js';
import { StreamFailure } from '../../src/audit/exportLines.js';
import { remittanceRequestAt } from '../helpers/records.js';

const record = remittanceRequestAt;

/** A peer copy of `blocks` blocks, two records each, that logs the ranges it is asked for. */
function peerCopy(blocks: number, answer = (first: bigint, last: bigint) => [first, last]) {
  const records = Array.from({ length: blocks }, (_, b) => [
    record(BigInt(b) * 6n + 1n),
    record(BigInt(b) * 6n + 2n),
  ]);
  const ranges: string[] = [];
  const copy: DigestedCopy = {
    blocks: (async function* () {
      yield records.map((rs, b): PeerBlock => ({ block: BigInt(b), digest: blockDigest(rs) }));
    })(),
    async fetchBlocks(first, last) {
      ranges.push(`${first}-${last}`);
      const [from, to] = answer(first, last);
      return records.slice(Number(from), Number(to) + 1).flat();
    },
  };
  return { records, ranges, copy };
}

describe('a peer copy read by block digests', () => {
  it('fetches a run of differing blocks in ranges that double, and each block once', async () => {
    const { records, ranges, copy } = peerCopy(40);
    const reader = new DigestReader('account', copy, new LastBlockDigest());
    await reader.start();
    for (let block = 0n; block < 40n; block++) {
      expect(reader.nextBlock()).toBe(block);
      expect(await reader.take(block, [])).toEqual(records[Number(block)]);
    }
    expect(reader.nextBlock()).toBeUndefined();
    expect(ranges).toEqual(['0-0', '1-2', '3-6', '7-14', '15-30', '31-62']);
  });

  it('fetches nothing for blocks equal to the own copy, and a lone differing block alone', async () => {
    const { records, ranges, copy } = peerCopy(10);
    const reader = new DigestReader('account', copy, new LastBlockDigest());
    await reader.start();
    for (let block = 0n; block < 10n; block++) {
      const own = block === 4n ? [record(25n)] : records[Number(block)]!;
      expect(await reader.take(block, own)).toEqual(records[Number(block)]);
    }
    expect(ranges).toEqual(['4-4']);
  });

  it('never holds more than blocksFetchedAtOnceMax blocks at once', async () => {
    const blocks = Number(blocksFetchedAtOnceMax) * 3;
    const { ranges, copy } = peerCopy(blocks);
    const reader = new DigestReader('account', copy, new LastBlockDigest());
    await reader.start();
    for (let block = 0n; block < BigInt(blocks); block++) await reader.take(block, []);
    const lengths = ranges.map((range) => {
      const [first, last] = range.split('-').map(BigInt);
      return last! - first! + 1n;
    });
    expect(lengths.every((length) => length <= blocksFetchedAtOnceMax)).toBe(true);
    expect(lengths.at(-1)).toBe(blocksFetchedAtOnceMax);
  });

  it('refuses records outside the range it asked for', async () => {
    const { copy } = peerCopy(5, (first, last) => [first, last + 1n]);
    const reader = new DigestReader('account', copy, new LastBlockDigest());
    await reader.start();
    await expect(reader.take(0n, [])).rejects.toThrow(StreamFailure);
  });
});
