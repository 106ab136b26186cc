// Signed checkpoints: where an audit may start instead of the beginning of the log.
//
// A checkpoint at transaction number n holds the digest of A up to n, and B and C as the replay of A
// gives them at n (the snapshot, with their digests). Its header, "TLK1" || u64 n || digest A ||
// digest B || digest C, is signed by all three devices and kept by all three; the transaction
// device, which audits, also keeps the snapshot (its digests are in the signed header). A device
// signs only after computing the digest of its own copy of A up to n and finding it equal, so no
// single device's store can make a checkpoint up.
//
// Digest of A: a hash chain over the blocks of six transaction numbers (one operation each), in
// order: d0 = 32 zero bytes, d(b) = SHA-256(d(b-1) || for each record of block b: u32 len ||
// encoded record || u16 len || signature). It continues from one checkpoint to the next (they sit
// at block ends), and each device computes it by streaming its own copy. Digest of B (of C): SHA-256 over each snapshot row's signed encoding, in key order
// (for C followed by the next plan sequence as u64).
//
// An audit from a checkpoint (devices/transaction/admin.ts) first checks the newest checkpoint whose
// signatures and snapshot digests verify, then asks each device for the digest of its own copy up
// to n: if all three equal the checkpoint's, only what came after n is read and verified, and the
// replay starts from the snapshot; if any differs, that copy was changed before n and the audit
// runs in full.

import { createHash, type Hash } from 'node:crypto';
import { encodeRecord } from '../model/encoding.js';
import { fail, ok, type Result } from '../model/errors.js';
import { transactionRecordType } from '../model/records.js';
import type { SignedRecord } from '../protocol/records.js';
import {
  type AccountRowContent,
  accountRowBytes,
  type CurrencyRowContent,
  currencyRowBytes,
} from '../protocol/rows.js';
import type { VerifyingKeys } from '../protocol/verify.js';

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

/** The running digest of A, fed one record at a time in transaction-number order. */
export class RecordDigest {
  #digest: Buffer;
  #block: bigint | undefined;
  #pending: Hash | undefined;

  constructor(start: Buffer = digestZero) {
    this.#digest = start;
  }

  add(signed: SignedRecord): void {
    const block = (signed.record.transactionNumber - 1n) / 6n;
    if (block !== this.#block) {
      if (this.#pending) this.#digest = this.#pending.digest();
      this.#pending = createHash('sha256').update(this.#digest);
      this.#block = block;
    }
    const encoded = encodeRecord(transactionRecordType, { ...signed.record });
    const lengths = Buffer.alloc(6);
    lengths.writeUInt32BE(encoded.length, 0);
    lengths.writeUInt16BE(signed.signature.length, 4);
    this.#pending!.update(lengths.subarray(0, 4))
      .update(encoded)
      .update(lengths.subarray(4))
      .update(signed.signature);
  }

  /** The digest up to the last record added (the block it is in counts as complete). */
  get value(): Buffer {
    return this.#pending ? this.#pending.copy().digest() : this.#digest;
  }
}

/** The digest of a copy of A from its first record up to `upTo` (inclusive). */
export async function digestOfCopy(
  records: AsyncIterable<SignedRecord>,
  upTo: bigint,
): Promise<Buffer> {
  const digest = new RecordDigest();
  for await (const signed of records) {
    if (signed.record.transactionNumber > upTo) break;
    digest.add(signed);
  }
  return digest.value;
}

export function stateDigests(state: ReplayState): { digestB: Buffer; digestC: Buffer } {
  const b = createHash('sha256');
  for (const row of state.accounts) b.update(accountRowBytes(row));
  for (const key of state.accountKeys)
    b.update(`${key.accountNumber}:${key.keyNumber}:${key.publicKeyHex ?? ''};`);
  const c = createHash('sha256');
  for (const row of state.units) c.update(currencyRowBytes(row));
  const sequence = Buffer.alloc(8);
  sequence.writeBigUInt64BE(state.nextPlanSequence);
  c.update(sequence);
  return { digestB: b.digest(), digestC: c.digest() };
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
  head.write('TLK1', 0, 'ascii');
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

export interface HeaderJson {
  transactionNumber: string;
  digestA: string;
  digestB: string;
  digestC: string;
  signatures?: Record<'transaction' | 'account' | 'currency', string>;
}

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

/** A header as the schema at the HTTP edge has checked it (decimal number, hex digests). */
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

// ---- JSON (stored in every device's checkpoints table, and sent between devices) --------------

export interface CheckpointJson {
  transactionNumber: string;
  digestA: string;
  accountKeys: Record<string, string>[];
  accounts: Record<string, string>[];
  units: Record<string, string>[];
  nextPlanSequence: string;
  signatures: Record<'transaction' | 'account' | 'currency', string>;
}

const text = (row: object) =>
  Object.fromEntries(Object.entries(row).map(([name, value]) => [name, String(value)]));

export function checkpointToJson(checkpoint: CheckpointBody & Partial<Checkpoint>): CheckpointJson {
  return {
    transactionNumber: checkpoint.transactionNumber.toString(),
    digestA: checkpoint.digestA.toString('hex'),
    accountKeys: checkpoint.state.accountKeys.map(text),
    accounts: checkpoint.state.accounts.map(text),
    units: checkpoint.state.units.map(text),
    nextPlanSequence: checkpoint.state.nextPlanSequence.toString(),
    signatures: {
      transaction: checkpoint.signatures?.transaction.toString('hex') ?? '',
      account: checkpoint.signatures?.account.toString('hex') ?? '',
      currency: checkpoint.signatures?.currency.toString('hex') ?? '',
    },
  };
}

/** Read back a stored or received checkpoint; anything malformed is a failure, never a crash. */
export function checkpointFromJson(json: unknown): Result<Checkpoint> {
  try {
    const value = json as CheckpointJson;
    const number = (s: string) => {
      if (!/^[0-9]{1,20}$/.test(s)) throw new Error(`not a number: ${s}`);
      return BigInt(s);
    };
    const hex = (s: string) => {
      if (!/^([0-9a-f]{2})*$/.test(s)) throw new Error('not hex');
      return Buffer.from(s, 'hex');
    };
    const currency = (s: string) => {
      if (!/^[A-Za-z0-9_-]{1,16}$/.test(s)) throw new Error(`not a currency type: ${s}`);
      return s;
    };
    const status = <T extends string>(s: string, allowed: readonly T[]) => {
      if (!allowed.includes(s as T)) throw new Error(`not a status: ${s}`);
      return s as T;
    };
    return ok({
      transactionNumber: number(value.transactionNumber),
      digestA: hex(value.digestA),
      state: {
        accountKeys: value.accountKeys.map((key) => {
          const keyNumber = Number(number(key['keyNumber']!));
          const publicKeyHex = key['publicKeyHex'];
          if (publicKeyHex !== undefined && !/^[0-9a-f]{64}$/.test(publicKeyHex))
            throw new Error('not a public key');
          return {
            accountNumber: number(key['accountNumber']!),
            keyNumber,
            ...(publicKeyHex === undefined ? {} : { publicKeyHex }),
          };
        }),
        accounts: value.accounts.map((row) => ({
          accountNumber: number(row['accountNumber']!),
          currencyType: currency(row['currencyType']!),
          balance: number(row['balance']!),
          held: number(row['held']!),
          status: status(row['status']!, ['open', 'closed'] as const),
          lastUpdate: number(row['lastUpdate']!),
        })),
        units: value.units.map((row) => ({
          currencyNumber: number(row['currencyNumber']!),
          currencyType: currency(row['currencyType']!),
          value: number(row['value']!),
          ownerAccount: number(row['ownerAccount']!),
          status: status(row['status']!, ['active', 'held', 'retired'] as const),
          lastUpdate: number(row['lastUpdate']!),
        })),
        nextPlanSequence: number(value.nextPlanSequence),
      },
      signatures: {
        transaction: hex(value.signatures.transaction),
        account: hex(value.signatures.account),
        currency: hex(value.signatures.currency),
      },
    });
  } catch (error) {
    return fail(
      'InvalidInput',
      `a checkpoint is malformed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
