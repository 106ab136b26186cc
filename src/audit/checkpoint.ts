// Signed checkpoints: where an audit may start instead of the beginning of the log.
//
// A checkpoint at transaction number n holds the digest of A up to n, and B and C as the replay of A
// gives them at n (the snapshot, with their digests). Its header, "TLK2" || u64 n || digest A ||
// digest B || digest C, is signed by all three devices and kept by all three; the transaction
// device, which audits, also keeps the snapshot (its digests are in the signed header). A device
// signs only after computing the digest of its own copy of A up to n and finding it equal, so no
// single device's store can make a checkpoint up.
//
// Digest of A: a hash chain over the blocks of six transaction numbers (one operation each), in
// order: d0 = 32 zero bytes, d(b) = SHA-256(d(b-1) || digest of block b), where the digest of a
// block is SHA-256 over each of its records: u32 len || encoded record || u16 len || signature
// (./blockDigests.ts: the same digests the audit compares copies by, so each record is hashed once).
// It continues from one checkpoint to the next (they sit at block ends), and each device computes
// it by streaming its own copy. Header version 2 ("TLK2"): version 1 chained the records directly.
// Digest of B (of C): SHA-256 over each snapshot row's signed encoding, in key order
// (for C followed by the next plan sequence as u64).
//
// An audit from a checkpoint (devices/transaction/admin.ts) first checks the newest checkpoint whose
// signatures and snapshot digests verify, then asks each device for the digest of its own copy up
// to n: if all three equal the checkpoint's, only what came after n is read and verified, and the
// replay starts from the snapshot; if any differs, that copy was changed before n and the audit
// runs in full.

import { createHash, hash } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { assert } from '../model/assert.js';
import { fail, ok, type Result } from '../model/errors.js';
import { baseOfBlock } from '../protocol/records.js';
import {
  type AccountRowContent,
  accountRowBytes,
  type CurrencyRowContent,
  currencyRowBytes,
} from '../protocol/rows.js';
import {
  accountContentFromWire,
  accountContentToWire,
  currencyContentFromWire,
  currencyContentToWire,
  WireAccountContent,
  WireCurrencyContent,
} from '../protocol/rowWire.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import { DecimalString, Hex, signatureBytesMax } from '../protocol/wire.js';
import type { PeerBlock } from './blockDigests.js';

export const digestBytes = 32;
export const digestZero = Buffer.alloc(digestBytes);

export interface AccountKeyEntry {
  readonly accountNumber: bigint;
  readonly keyNumber: number;
  /** Ed25519 accounts: the public key their issuing request carried. */
  readonly publicKeyHex?: string;
}

export interface ReplayState {
  /** Who signs for each account (learned from account issuing records before the checkpoint). */
  readonly accountKeys: readonly AccountKeyEntry[];
  readonly accounts: readonly AccountRowContent[];
  readonly units: readonly CurrencyRowContent[];
  /** The sequence of the next unit plan the replay of C expects. */
  readonly nextPlanSequence: bigint;
}

export interface CheckpointBody {
  readonly transactionNumber: bigint;
  readonly digestA: Buffer;
  readonly state: ReplayState;
}

export type CheckpointSignatures = Readonly<Record<'transaction' | 'account' | 'currency', Buffer>>;

export interface Checkpoint extends CheckpointBody {
  readonly signatures: CheckpointSignatures;
}

/** What is signed: the number and the three digests (B's and C's computed from the snapshot). */
export interface CheckpointHeader {
  readonly transactionNumber: bigint;
  readonly digestA: Buffer;
  readonly digestB: Buffer;
  readonly digestC: Buffer;
}

/**
 * The running digest of A in transaction-number order, a block digest at a time (./blockDigests.ts):
 * the audit adds the digests of the correct blocks, a device those of its own copy's blocks.
 */
export class RecordDigest {
  #digest: Buffer;
  #block: bigint | undefined;

  constructor(start: Buffer = digestZero) {
    this.#digest = start;
  }

  /** A whole block, by its digest (undefined: a block the device could not encode). */
  addBlock({ block, digest }: PeerBlock): void {
    assert(this.#block === undefined || block > this.#block, 'blocks are added in order');
    this.#block = block;
    this.#digest = chainStep(this.#digest, digest ?? unreadableBlockDigest(block));
  }

  /** The digest up to the last block added. */
  get value(): Buffer {
    return this.#digest;
  }
}

function chainStep(previous: Buffer, blockDigest: Buffer): Buffer {
  return hash('sha256', Buffer.concat([previous, blockDigest]), 'buffer');
}

/** Stands for a block with a record that cannot be encoded: equal to no block's real digest. */
function unreadableBlockDigest(block: bigint): Buffer {
  return createHash('sha256').update(`unreadable block ${block}`).digest();
}

/** The digest of a copy of A from its first block up to `upTo` (inclusive, a block end), by blocks. */
export async function digestOfCopy(
  blocks: AsyncIterable<PeerBlock>,
  upTo: bigint,
): Promise<Buffer> {
  const digest = new RecordDigest();
  for await (const entry of blocks) {
    if (baseOfBlock(entry.block) > upTo) break;
    digest.addBlock(entry);
  }
  return digest.value;
}

export function stateDigests(state: ReplayState): { digestB: Buffer; digestC: Buffer } {
  return {
    digestB: accountStateDigest(state.accounts, state.accountKeys),
    digestC: currencyStateDigest(state.units, state.nextPlanSequence),
  };
}

/** Digest B: the rows of B in account order, then who signs for each account. */
export function accountStateDigest(
  accounts: readonly AccountRowContent[],
  accountKeys: readonly AccountKeyEntry[],
): Buffer {
  const b = createHash('sha256');
  for (const row of accounts) b.update(accountRowBytes(row));
  for (const key of accountKeys)
    b.update(`${key.accountNumber}:${key.keyNumber}:${key.publicKeyHex ?? ''};`);
  return b.digest();
}

/** Digest C: the rows of C in unit order, then the next plan sequence (u64). */
export function currencyStateDigest(
  units: readonly CurrencyRowContent[],
  nextPlanSequence: bigint,
): Buffer {
  const c = createHash('sha256');
  for (const row of units) c.update(currencyRowBytes(row));
  const sequence = Buffer.alloc(8);
  sequence.writeBigUInt64BE(nextPlanSequence);
  c.update(sequence);
  return c.digest();
}

export function headerOf(body: CheckpointBody): CheckpointHeader {
  return {
    transactionNumber: body.transactionNumber,
    digestA: body.digestA,
    ...stateDigests(body.state),
  };
}

/** What each device signs. */
export function checkpointBytes(header: CheckpointHeader): Buffer {
  const head = Buffer.alloc(12);
  head.write('TLK2', 0, 'ascii');
  head.writeBigUInt64BE(header.transactionNumber, 4);
  return Buffer.concat([head, header.digestA, header.digestB, header.digestC]);
}

/** Every signature by its own device's key, over the header. */
export function verifyHeader(
  keys: VerifyingKeys,
  header: CheckpointHeader,
  signatures: CheckpointSignatures,
): Result<undefined> {
  if ([header.digestA, header.digestB, header.digestC].some((d) => d.length !== digestBytes))
    return fail('SignatureInvalid', 'a checkpoint digest has the wrong length');
  const bytes = checkpointBytes(header);
  for (const device of ['transaction', 'account', 'currency'] as const) {
    const verified = keys.signatures.verify(keys.deviceKeys[device], bytes, signatures[device]);
    if (!verified.ok)
      return fail(
        'SignatureInvalid',
        `checkpoint ${header.transactionNumber}: the ${device} device's signature does not verify`,
      );
  }
  return ok(undefined);
}

/** A whole checkpoint: the signatures over the header that its snapshot gives. */
export function verifyCheckpoint(keys: VerifyingKeys, checkpoint: Checkpoint): Result<undefined> {
  return verifyHeader(keys, headerOf(checkpoint), checkpoint.signatures);
}

// ---- JSON: the header (sent between devices, kept by all three) and the whole checkpoint ------

const Digest = Type.String({ pattern: '^[0-9a-f]{64}$' });

/** A checkpoint header as JSON; `signatures` once all three devices have signed. */
export const HeaderJson = Type.Object({
  transactionNumber: DecimalString,
  digestA: Digest,
  digestB: Digest,
  digestC: Digest,
  signatures: Type.Optional(
    Type.Object(
      {
        transaction: Hex(signatureBytesMax),
        account: Hex(signatureBytesMax),
        currency: Hex(signatureBytesMax),
      },
      { additionalProperties: false },
    ),
  ),
});
export type HeaderJson = Static<typeof HeaderJson>;

/** The whole checkpoint as the transaction device keeps it: the header and the snapshot. */
const CheckpointJson = Type.Object({
  ...HeaderJson.properties,
  accountKeys: Type.Array(
    Type.Object(
      {
        accountNumber: DecimalString,
        keyNumber: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
        publicKeyHex: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
      },
      { additionalProperties: false },
    ),
  ),
  accounts: Type.Array(WireAccountContent),
  units: Type.Array(WireCurrencyContent),
  nextPlanSequence: DecimalString,
});
type CheckpointJson = Static<typeof CheckpointJson>;

const headerShape = Compile(HeaderJson);
const checkpointShape = Compile(CheckpointJson);

export function headerToJson(
  header: CheckpointHeader,
  signatures?: CheckpointSignatures,
): HeaderJson {
  return {
    transactionNumber: header.transactionNumber.toString(),
    digestA: header.digestA.toString('hex'),
    digestB: header.digestB.toString('hex'),
    digestC: header.digestC.toString('hex'),
    ...(signatures
      ? {
          signatures: {
            transaction: signatures.transaction.toString('hex'),
            account: signatures.account.toString('hex'),
            currency: signatures.currency.toString('hex'),
          },
        }
      : {}),
  };
}

/** A header that its schema has checked (at the HTTP edge, or by readHeader). */
export function headerFromJson(json: HeaderJson): {
  header: CheckpointHeader;
  signatures?: CheckpointSignatures;
} {
  const hex = (text: string) => Buffer.from(text, 'hex');
  return {
    header: {
      transactionNumber: BigInt(json.transactionNumber),
      digestA: hex(json.digestA),
      digestB: hex(json.digestB),
      digestC: hex(json.digestC),
    },
    ...(json.signatures
      ? {
          signatures: {
            transaction: hex(json.signatures.transaction),
            account: hex(json.signatures.account),
            currency: hex(json.signatures.currency),
          },
        }
      : {}),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The number of a stored checkpoint (any device's), if it is well formed and all three devices'
 * signatures over its header verify; a damaged or forged one is undefined, never an error.
 */
export function verifiedNumberOf(keys: VerifyingKeys, stored: string): bigint | undefined {
  const json = parseJson(stored);
  if (!headerShape.Check(json)) return undefined;
  const { header, signatures } = headerFromJson(json);
  return signatures && verifyHeader(keys, header, signatures).ok
    ? header.transactionNumber
    : undefined;
}

export function checkpointToJson(checkpoint: Checkpoint): string {
  const json: CheckpointJson = {
    ...headerToJson(headerOf(checkpoint), checkpoint.signatures),
    accountKeys: checkpoint.state.accountKeys.map(({ accountNumber, keyNumber, publicKeyHex }) => ({
      accountNumber: accountNumber.toString(),
      keyNumber,
      ...(publicKeyHex === undefined ? {} : { publicKeyHex }),
    })),
    accounts: checkpoint.state.accounts.map(accountContentToWire),
    units: checkpoint.state.units.map(currencyContentToWire),
    nextPlanSequence: checkpoint.state.nextPlanSequence.toString(),
  };
  return JSON.stringify(json);
}

/**
 * A stored whole checkpoint read back, only if it is well formed, its signatures verify and its
 * snapshot is the one the header's digests name.
 */
export function verifiedCheckpointOf(keys: VerifyingKeys, stored: string): Checkpoint | undefined {
  const json = parseJson(stored);
  if (!checkpointShape.Check(json)) return undefined;
  const { header, signatures } = headerFromJson(json);
  if (!signatures) return undefined;
  const accounts: AccountRowContent[] = [];
  for (const wire of json.accounts) {
    const content = accountContentFromWire(wire);
    if (!content.ok) return undefined;
    accounts.push(content.value);
  }
  const units: CurrencyRowContent[] = [];
  for (const wire of json.units) {
    const content = currencyContentFromWire(wire);
    if (!content.ok) return undefined;
    units.push(content.value);
  }
  const checkpoint: Checkpoint = {
    transactionNumber: header.transactionNumber,
    digestA: header.digestA,
    state: {
      accountKeys: json.accountKeys.map(({ accountNumber, keyNumber, publicKeyHex }) => ({
        accountNumber: BigInt(accountNumber),
        keyNumber,
        ...(publicKeyHex === undefined ? {} : { publicKeyHex }),
      })),
      accounts,
      units,
      nextPlanSequence: BigInt(json.nextPlanSequence),
    },
    signatures,
  };
  const { digestB, digestC } = headerOf(checkpoint);
  if (!digestB.equals(header.digestB) || !digestC.equals(header.digestC)) return undefined;
  return verifyHeader(keys, header, signatures).ok ? checkpoint : undefined;
}
