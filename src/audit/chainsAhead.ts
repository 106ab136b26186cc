// The transaction device's own copy of A, its signatures verified ahead in a worker thread.
//
// In a full audit the transaction device is the busy one: it reads, encodes and verifies every
// record of its own copy, decides every block and replays A, while the other two devices only hash
// their copies. An Ed25519 verification costs about 140 us here, the rest of a record's work a few:
// so the blocks with an Ed25519 link are verified in a worker thread (./chainWorker.ts), on the
// other core, while the audit reads on. The own copy's records are read in batches of blocks; the
// batch's Ed25519 blocks go to the worker as links (the key a record names, the bytes its signature
// covers, the signature), and the records are handed to the audit once the worker has said how
// many leading links of each of those blocks verify (signature/chain.ts, from signature 0). An HMAC
// link (about 4 us) costs the audit more to send than to verify (measured: a full HMAC audit was no
// faster with every block sent): HMAC blocks are verified by the audit itself, and an audit without
// an Ed25519 link never starts the worker.
//
// The audit still decides everything itself (checkOperation: step order, who signs each step, and
// every link the worker did not verify); the worker's answer only spares it the signature checks of
// the links it verified. A record counts as verified only next to the very record object its link
// was verified against (`trustedPrefix`), and the worker holds no key the audit does not: it starts
// with the audit's keys and learns each account key after the audit does (`addKey`). A key it does
// not know yet fails its link there, and the audit verifies that link itself. A new account's
// self-signed request (key 0, checked with the public key it carries) is never sent: the audit
// verifies it and the links after it.
//
// Packed links (main thread to worker): per block u8 link count, then per link u32 key number ||
// u32 length || the bytes the signature covers || u16 length || signature. The answer: one byte per
// block, how many of its leading links verify.

import { Worker } from 'node:worker_threads';
import { assert } from '../model/assert.js';
import { blockOf, blockSize, type SignedRecord, signingBytes } from '../protocol/records.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import { type ChainLink, verifyChain } from '../signature/chain.js';
import type { NewKey, SignatureDevice } from '../signature/device.js';
import { type CopyReader, RecordReader } from './copyReaders.js';

/** Blocks per message to the worker. */
export const chainBatchBlocksMax = 256;
/** Messages sent to the worker and not yet handed to the audit: bounds the records read ahead. */
export const chainBatchesAheadMax = 4;

// From src/audit (tests) and from dist/audit (the devices) alike, the built worker: `npm test`
// builds dist before it runs.
const workerUrl = new URL('../../dist/audit/chainWorker.js', import.meta.url);

export type ChainWorkerMessage =
  | { readonly kind: 'addKey'; readonly key: NewKey }
  | { readonly kind: 'verify'; readonly id: number; readonly packed: Uint8Array };

export interface ChainWorkerAnswer {
  readonly id: number;
  /** Per block, how many leading links verify; undefined when the worker failed. */
  readonly prefixes?: Uint8Array;
  readonly failure?: string;
}

export interface ChainWorkerData {
  /** The audit's keys, as SignatureDevice.serialize writes them; the worker zeroes it. */
  readonly table: Uint8Array;
  readonly signatureZero: Uint8Array;
}

/** Runs `run` with a chain worker that holds `keys`, and closes the worker after. */
export async function withChainWorker<T>(
  keys: VerifyingKeys,
  run: (worker: ChainWorker) => Promise<T>,
): Promise<T> {
  const worker = new ChainWorker(keys); // started when first asked
  try {
    return await run(worker);
  } finally {
    await worker.close();
  }
}

/**
 * The worker thread that verifies chains, one per audit; started when first asked, with the keys
 * the audit holds then, and told every key the audit learns after.
 */
export class ChainWorker {
  #worker: Worker | undefined;
  readonly #waiting = new Map<
    number,
    { resolve: (prefixes: Uint8Array) => void; reject: (error: Error) => void }
  >();
  #nextId = 0;
  #failed: Error | undefined;
  #blocksSent = 0;
  /** Per key number: whether its links are worth sending (Ed25519). */
  readonly #expensive = new Map<number, boolean>();

  constructor(private readonly keys: VerifyingKeys) {}

  /** Whether a block is worth verifying here: one of the links it would send is Ed25519. */
  wants(records: readonly SignedRecord[]): boolean {
    for (const { record } of records) {
      if (record.signerKeyNumber === 0) return false; // the links from here on are not sent
      if (this.#isExpensive(record.signerKeyNumber)) return true;
    }
    return false;
  }

  /** Blocks sent to the worker so far. */
  get blocksSent(): number {
    return this.#blocksSent;
  }

  /** Per block, how many leading links verify (each record's signature, chained from signature 0). */
  verify(blocks: readonly (readonly SignedRecord[])[]): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    const worker = this.#started();
    this.#blocksSent += blocks.length;
    const id = this.#nextId++;
    const packed = packBlocks(blocks);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      const message: ChainWorkerMessage = { kind: 'verify', id, packed };
      worker.postMessage(message, [packed.buffer as ArrayBuffer]);
    });
  }

  /** A key the audit has just learned (an account's); messages are taken in order. */
  addKey(key: NewKey): void {
    const message: ChainWorkerMessage = { kind: 'addKey', key };
    this.#worker?.postMessage(message); // a worker started later loads it with the rest
  }

  async close(): Promise<void> {
    this.#worker?.removeAllListeners('exit');
    await this.#worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const table = this.keys.signatures.serialize();
    const data: ChainWorkerData = { table, signatureZero: this.keys.signatureZero };
    // The table holds secrets: it is copied to the worker once and zeroed here at once.
    const worker = new Worker(workerUrl, { workerData: data });
    table.fill(0);
    worker.on('message', (answer: ChainWorkerAnswer) => this.#answered(answer));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', () => this.#fail(new Error('the chain worker exited')));
    this.#worker = worker;
    return worker;
  }

  #isExpensive(keyNumber: number): boolean {
    const known = this.#expensive.get(keyNumber);
    if (known !== undefined) return known;
    const key = this.keys.signatures.describe(keyNumber);
    if (!key.ok) return false; // not learned yet: asked again next time
    const expensive = key.value.algorithm !== 'hmac-sha256';
    this.#expensive.set(keyNumber, expensive);
    return expensive;
  }

  #answered({ id, prefixes, failure }: ChainWorkerAnswer): void {
    const waiting = this.#waiting.get(id);
    assert(waiting, 'the chain worker answers what it was asked');
    this.#waiting.delete(id);
    if (prefixes) waiting.resolve(prefixes);
    else waiting.reject(new Error(`the chain worker failed: ${failure}`));
  }

  #fail(error: Error): void {
    this.#failed = error;
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }
}

/**
 * The own copy read block by block like any copy (./copyReaders.ts), its Ed25519 blocks verified
 * ahead by the worker; and how many leading records of a block need no signature check
 * (`trustedPrefix`). Blocks the worker does not want pass straight through while nothing waits.
 */
export class VerifiedAhead implements CopyReader {
  readonly #source: RecordReader;
  /** A record whose link verified, and the record before it in its block (null: the first). */
  readonly #verifiedAfter = new WeakMap<SignedRecord, SignedRecord | null>();
  /** Blocks read and answered for, in order: what `take` hands out. */
  readonly #ready: SignedRecord[][] = [];
  readonly #inFlight: Batch[] = [];
  #batch: SignedRecord[][] = [];

  constructor(
    private readonly worker: ChainWorker,
    pages: AsyncIterable<readonly SignedRecord[]>,
  ) {
    this.#source = new RecordReader(pages);
  }

  async start(): Promise<void> {
    await this.#source.start();
    await this.#fill();
  }

  nextBlock(): bigint | undefined {
    const first = this.#ready[0]?.[0];
    return first && blockOf(first.record.transactionNumber);
  }

  async take(block: bigint): Promise<SignedRecord[]> {
    if (this.nextBlock() !== block) return [];
    const records = this.#ready.shift()!;
    if (this.#ready.length === 0) await this.#fill();
    return records;
  }

  /** How many leading records of `version` the worker verified, each next to the record before it. */
  trustedPrefix(version: readonly SignedRecord[]): number {
    let count = 0;
    while (
      count < version.length &&
      this.#verifiedAfter.get(version[count]!) === (count === 0 ? null : version[count - 1])
    )
      count += 1;
    return count;
  }

  /** Reads on until a block is ready or the copy ends, keeping the worker fed meanwhile. */
  async #fill(): Promise<void> {
    while (this.#ready.length === 0) {
      const next = this.#source.nextBlock();
      const ended = next === undefined;
      if (ended && this.#batch.length > 0) this.#send();
      // At most chainBatchesAheadMax batches wait for the worker; at the end, all are collected.
      if (this.#inFlight.length >= (ended ? 1 : chainBatchesAheadMax)) {
        this.#ready.push(...(await this.#release(this.#inFlight.shift()!)));
        continue;
      }
      if (ended) return;
      const block = await this.#source.take(next);
      if (this.#inFlight.length === 0 && this.#batch.length === 0 && !this.worker.wants(block))
        this.#ready.push(block);
      else {
        this.#batch.push(block);
        if (this.#batch.length === chainBatchBlocksMax) this.#send();
      }
    }
  }

  /** Sends the batch's blocks the worker wants; the others get no verified records. */
  #send(): void {
    const blocks = this.#batch;
    this.#batch = [];
    const wanted = blocks.filter((records) => this.worker.wants(records));
    const verified =
      wanted.length > 0 ? this.worker.verify(wanted) : Promise.resolve(new Uint8Array(0));
    verified.catch(() => {}); // awaited in order by #release; a failure ends the audit there
    this.#inFlight.push({ blocks, wanted, verified });
  }

  /** A batch's blocks, once the worker has answered for those it was sent. */
  async #release({ blocks, wanted, verified }: Batch): Promise<SignedRecord[][]> {
    const prefixes = await verified;
    assert(prefixes.length === wanted.length, 'the worker answers for every block it was sent');
    for (const [index, records] of wanted.entries()) {
      const count = prefixes[index]!;
      assert(count <= records.length, 'the worker verifies links it was sent');
      for (let i = 0; i < count; i++)
        this.#verifiedAfter.set(records[i]!, i === 0 ? null : records[i - 1]!);
    }
    return blocks;
  }
}

interface Batch {
  readonly blocks: SignedRecord[][];
  /** The blocks sent to the worker, in order. */
  readonly wanted: SignedRecord[][];
  readonly verified: Promise<Uint8Array>;
}

/** A block's links, up to a new account's self-signed request (which only the audit checks). */
function linksOf(records: readonly SignedRecord[]): { record: SignedRecord; bytes: Buffer }[] {
  const links: { record: SignedRecord; bytes: Buffer }[] = [];
  for (const signed of records) {
    if (signed.record.signerKeyNumber === 0) break;
    links.push({ record: signed, bytes: signingBytes(signed.record) });
  }
  return links;
}

export function packBlocks(blocks: readonly (readonly SignedRecord[])[]): Buffer {
  const linked = blocks.map((records) => {
    assert(
      records.length > 0 && records.length <= Number(blockSize),
      'a block holds 1 to 6 records',
    );
    return linksOf(records);
  });
  let size = 0;
  for (const links of linked) {
    size += 1;
    for (const { record, bytes } of links) size += 8 + bytes.length + 2 + record.signature.length;
  }
  // Its own memory (never Node's shared pool): it is transferred to the worker.
  const packed = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const links of linked) {
    packed[offset++] = links.length;
    for (const { record, bytes } of links) {
      offset = packed.writeUInt32BE(record.record.signerKeyNumber, offset);
      offset = packed.writeUInt32BE(bytes.length, offset);
      offset += bytes.copy(packed, offset);
      offset = packed.writeUInt16BE(record.signature.length, offset);
      offset += record.signature.copy(packed, offset);
    }
  }
  assert(offset === size, 'the packed links fill exactly the bytes measured');
  return packed;
}

/** The worker's side: each block's links. */
export function unpackBlocks(packed: Buffer): ChainLink[][] {
  const blocks: ChainLink[][] = [];
  let offset = 0;
  while (offset < packed.length) {
    const count = packed[offset++]!;
    const links: ChainLink[] = [];
    for (let i = 0; i < count; i++) {
      const signerKeyNumber = packed.readUInt32BE(offset);
      const length = packed.readUInt32BE(offset + 4);
      const recordBytes = packed.subarray(offset + 8, offset + 8 + length);
      offset += 8 + length;
      const signatureLength = packed.readUInt16BE(offset);
      const signature = packed.subarray(offset + 2, offset + 2 + signatureLength);
      offset += 2 + signatureLength;
      links.push({ signerKeyNumber, recordBytes, signature });
    }
    blocks.push(links);
  }
  assert(offset === packed.length, 'packed blocks end where their last link ends');
  return blocks;
}

/** How many leading links of one block verify, chained from signature 0. */
export function verifiedPrefix(
  signatures: SignatureDevice,
  signatureZero: Uint8Array,
  links: readonly ChainLink[],
): number {
  const chain = verifyChain(signatures, links, signatureZero);
  return chain.ok ? links.length : chain.brokenAt;
}
