// Block digests: how the audit compares the peers' copies of A without moving them.
//
// A peer's copy agrees with the transaction device's own almost always. So instead of streaming
// every record to `transaction`, each peer streams one line per block of its copy with the digest
// of that block's records (SHA-256 over each record framed: u32 len || encoded record || u16 len
// || signature; the digest of A in checkpoint.ts chains these). The audit computes the same digest of its own block:
// equal digests mean equal bytes, and the peer's block is the own one. Only a block whose digest
// differs (or that the peer could not encode: a row that fits no shape) is fetched in full and
// decided record by record, as before. The peers hash in their own processes, on the other core,
// while `transaction` verifies.
//
// Line: {"block":"N","digest":"<64 hex>"} or {"block":"N","unreadable":true}.

import { hash } from 'node:crypto';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { assert } from '../model/assert.js';
import { fail } from '../model/errors.js';
import { blockOf, recordBytes, type SignedRecord, storedEncoding } from '../protocol/records.js';
import { DecimalString } from '../protocol/wire.js';
import { StreamFailure } from './exportLines.js';

/**
 * The digest of one block's records, in transaction-number order: SHA-256 over each record framed
 * (the digest of A chains these, ./checkpoint.ts). The framed records are laid out in one buffer and
 * hashed at once. `encode`: the audit keeps each record's bytes (it needs them again); a device
 * hashing its copy does not.
 */
export function blockDigest(
  records: readonly SignedRecord[],
  encode: (record: SignedRecord['record']) => Buffer = recordBytes,
): Buffer {
  const encoded = records.map(({ record }) => encode(record));
  let size = 0;
  for (const [index, bytes] of encoded.entries())
    size += 4 + bytes.length + 2 + records[index]!.signature.length;
  const framed = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const [index, bytes] of encoded.entries()) {
    const { signature } = records[index]!;
    offset = framed.writeUInt32BE(bytes.length, offset);
    offset += bytes.copy(framed, offset);
    offset = framed.writeUInt16BE(signature.length, offset);
    offset += signature.copy(framed, offset);
  }
  assert(offset === size, 'the framed records fill exactly the bytes measured');
  return hash('sha256', framed, 'buffer');
}

/** A device's side: the digest of each block of its copy (pages of records in ascending number). */
export async function* blockDigestsOf(
  pages: AsyncIterable<readonly SignedRecord[]>,
): AsyncGenerator<PeerBlock> {
  let block: bigint | undefined;
  let pending: SignedRecord[] = [];
  const digestOfPending = (): PeerBlock => {
    let digest: Buffer | undefined;
    try {
      digest = blockDigest(pending, storedEncoding);
    } catch {
      digest = undefined; // a stored row that fits no shape: the audit reads the block in full
    }
    return { block: block!, digest };
  };
  for await (const page of pages)
    for (const signed of page) {
      const next = blockOf(signed.record.transactionNumber);
      if (next !== block) {
        if (block !== undefined) yield digestOfPending();
        assert(block === undefined || next > block, 'an export is in ascending transaction number');
        block = next;
        pending = [];
      }
      pending.push(signed);
    }
  if (block !== undefined) yield digestOfPending();
}

/** The export lines of block digests. */
export async function* blockDigestLines(blocks: AsyncIterable<PeerBlock>): AsyncGenerator<string> {
  for await (const { block, digest } of blocks)
    yield digest
      ? `{"block":"${block}","digest":"${digest.toString('hex')}"}`
      : `{"block":"${block}","unreadable":true}`;
}

export interface PeerBlock {
  readonly block: bigint;
  /** Undefined when the peer could not encode a record of the block. */
  readonly digest: Buffer | undefined;
}

const DigestLine = Compile(
  Type.Union([
    Type.Object(
      { block: DecimalString, digest: Type.String({ pattern: '^[0-9a-f]{64}$' }) },
      { additionalProperties: false },
    ),
    Type.Object(
      { block: DecimalString, unreadable: Type.Literal(true) },
      { additionalProperties: false },
    ),
  ]),
);

/**
 * The transaction device's side: a peer's digest lines, a page at a time (as they arrive), checked
 * and in ascending block order.
 */
export async function* peerBlocks(
  linePages: AsyncIterable<readonly string[]>,
  source: string,
): AsyncGenerator<PeerBlock[]> {
  let previous = -1n;
  for await (const lines of linePages)
    yield lines.map((text) => {
      const entry = peerBlockOf(text);
      if (!entry)
        throw new StreamFailure(fail('PeerUnavailable', `${source} sent a malformed block digest`));
      if (entry.block <= previous)
        throw new StreamFailure(
          fail('PeerUnavailable', `${source}'s block digests are out of order`),
        );
      previous = entry.block;
      return entry;
    });
}

// A digest line exactly as blockDigestLines writes it: read without JSON.parse (there is one per
// block of each peer's copy). It accepts nothing DigestLine refuses.
const exactDigestLine = /^\{"block":"([0-9]{1,20})","digest":"([0-9a-f]{64})"\}$/;

/** One digest line, checked; undefined when it is malformed. */
export function peerBlockOf(text: string): PeerBlock | undefined {
  const exact = exactDigestLine.exec(text);
  if (exact) return { block: BigInt(exact[1]!), digest: Buffer.from(exact[2]!, 'hex') };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!DigestLine.Check(parsed)) return undefined;
  const block = BigInt(parsed.block);
  return { block, digest: 'digest' in parsed ? Buffer.from(parsed.digest, 'hex') : undefined };
}
