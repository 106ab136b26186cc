// Block digests: a peer's line per block equals the digest the audit computes of the same records;
// a record that cannot be encoded marks its block unreadable; malformed or disordered lines end
// the stream.
import { describe, expect, it } from 'vitest';
import {
  blockDigest,
  blockDigestLines,
  blockDigestsOf,
  peerBlockOf,
  peerBlocks,
} from '../../src/audit/blockDigests.js';
import { StreamFailure } from '../../src/audit/exportLines.js';
import type { SignedRecord } from '../../src/protocol/records.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

const record = (transactionNumber: bigint, amount = 500n): SignedRecord => ({
  record: {
    transactionNumber,
    remittanceId: `r-${(transactionNumber - 1n) / 6n}`,
    transactionType: 'remittance_request',
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount,
    currencyType: 'JPY',
    dateTime: 1_601_631_000_000n,
    signerKeyNumber: 1_000_001,
  },
  signature: Buffer.alloc(32, Number(transactionNumber)),
});

describe('block digests', () => {
  it("one line per block, equal to the audit's digest of the same records, across pages", async () => {
    const records = [record(1n), record(2n), record(7n), record(12n)];
    // Pages of the export end anywhere, here inside the second block.
    const pages = [records.slice(0, 3), [], records.slice(3)];
    const lines = await collect(blockDigestLines(blockDigestsOf(from(pages))));
    expect(lines).toHaveLength(2);
    // Lines arrive in pages too (a chunk each): here one line per page.
    const blocks = (await collect(peerBlocks(from(lines.map((line) => [line])), 'account'))).flat();
    expect(blocks.map((b) => b.block)).toEqual([0n, 1n]);
    expect(blocks[0]!.digest).toEqual(blockDigest(records.slice(0, 2)));
    expect(blocks[1]!.digest).toEqual(blockDigest(records.slice(2)));
    expect(blocks[1]!.digest).not.toEqual(blockDigest([record(7n, 501n), record(12n)]));
  });

  it('a record that cannot be encoded makes its block unreadable, not the export', async () => {
    const broken = { ...record(2n), record: { ...record(2n).record, amount: -1n } };
    const lines = await collect(
      blockDigestLines(blockDigestsOf(from([[record(1n), broken, record(7n)]]))),
    );
    const [blocks] = await collect(peerBlocks(from([lines]), 'account'));
    expect(blocks![0]).toEqual({ block: 0n, digest: undefined });
    expect(blocks![1]!.digest).toEqual(blockDigest([record(7n)]));
  });

  it('a malformed or out-of-order line ends the stream', async () => {
    for (const lines of [
      ['{"block":"1","digest":"zz"}'],
      ['{"block":"1"}'],
      ['not json'],
      [`{"block":"2","digest":"${'0'.repeat(64)}"}`, `{"block":"1","digest":"${'0'.repeat(64)}"}`],
    ]) {
      await expect(collect(peerBlocks(from([lines]), 'account'))).rejects.toBeInstanceOf(
        StreamFailure,
      );
      // Out of order across pages alike.
      await expect(
        collect(peerBlocks(from(lines.map((line) => [line])), 'account')),
      ).rejects.toBeInstanceOf(StreamFailure);
    }
  });

  it('a line is read alike whether it is written exactly as devices write it or otherwise', () => {
    const digest = 'ab'.repeat(32);
    const exact = peerBlockOf(`{"block":"7","digest":"${digest}"}`);
    expect(exact).toEqual({ block: 7n, digest: Buffer.from(digest, 'hex') });
    expect(peerBlockOf(`{ "digest": "${digest}", "block": "7" }`)).toEqual(exact);
    expect(peerBlockOf('{"block":"7","unreadable":true}')).toEqual({
      block: 7n,
      digest: undefined,
    });
    for (const line of [
      `{"block":"7","digest":"${digest.toUpperCase()}"}`,
      `{"block":"7","digest":"${digest}0"}`,
      `{"block":"7","digest":"${digest}","extra":1}`,
      `{"block":"${'1'.repeat(21)}","digest":"${digest}"}`,
      `{"block":7,"digest":"${digest}"}`,
    ])
      expect(peerBlockOf(line), line).toBeUndefined();
  });
});
