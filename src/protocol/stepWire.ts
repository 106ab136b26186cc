// The binary wire between the transaction device and its peers: the protocol's steps (exchanges
// S102 / S104, settlements S108 / S110) in one message, and their answers in one reply.
//
// Records travel in the very bytes their signatures cover (model/encoding.ts, docs/encoding.md),
// each followed by its signature: the sender has those bytes already (it signed or verified them),
// and the receiver decodes them once, strictly (one encoding per record), and keeps them for its
// signature checks and its store. No JSON, no decimal or hex text, no second encoding. Every length
// is bounded, and a message that is not exactly a well-formed run of steps is refused whole.
//
//   message := "TS" version:u8 count:u8 step{count}
//   step    := kind:u8 (1 exchange, 2 settlement) flags:u8 (bit 0: expired)
//              traceIdLength:u8 traceId(ASCII) recordCount:u8 record{recordCount}
//   record  := length:u32 bytes(the record's encoding) signatureLength:u8 signature
//   reply   := "TA" version:u8 count:u8 answer{count}
//   answer  := 1 record | 2 (settled) | 3 codeLength:u8 code(ASCII) messageLength:u16 message(UTF-8)
// Integers are big-endian. Specified with an example in docs/protocol.md.

import { assert } from '../model/assert.js';
import { fail, ok, type Result } from '../model/errors.js';
import { keyNumberMax } from '../model/keyNumbers.js';
import { amountMax } from '../model/money.js';
import {
  decodedRecord,
  recordBytes,
  type SignedRecord,
  type TransactionRecord,
} from './records.js';
import { detailBytesMax, fieldPatterns, signatureBytesMax } from './wire.js';

export const stepWireVersion = 1;
/** The content type of a message and of its reply over HTTP. */
export const stepWireType = 'application/octet-stream';
/** Records in one step: an operation has six at most. */
export const stepRecordsMax = 6;
/** The bytes of a refusal's message kept on the wire (longer ones are cut). */
export const refusalMessageBytesMax = 1024;
/** Steps in one message or answers in one reply (a byte counts them). */
export const wireStepsMax = 255;

const messageMagic = Buffer.from('TS');
const replyMagic = Buffer.from('TA');
const kinds = { exchange: 1, settle: 2 } as const;
const answerTags = { record: 1, settled: 2, error: 3 } as const;

/** One protocol step for a peer: an exchange (S102 / S104) or a settlement (S108 / S110). */
export type PeerStep = (
  | {
      readonly operation: 'exchange';
      readonly records: readonly SignedRecord[];
      readonly expired?: boolean;
    }
  | { readonly operation: 'settle'; readonly records: readonly SignedRecord[] }
) & {
  /** The request id of the user request that began the operation (devices/requestIds.ts). */
  readonly traceId?: string;
};

/** A step's answer inside a reply: its record, settled, or its refusal. */
export type PeerStepAnswer =
  | { readonly record: SignedRecord }
  | { readonly settled: true }
  | { readonly error: { readonly code: string; readonly message: string } };

export function encodeSteps(steps: readonly PeerStep[]): Buffer {
  assert(steps.length > 0 && steps.length <= wireStepsMax, 'a message carries 1 to 255 steps');
  // Measured first, then written into one buffer: a message carries a few hundred records under
  // load, and a small buffer per length byte, joined at the end, was a device's largest
  // allocation on the wire.
  let size = messageMagic.length + 2;
  for (const step of steps) {
    assert(
      step.records.length > 0 && step.records.length <= stepRecordsMax,
      'a step has 1-6 records',
    );
    size += 4 + (step.traceId?.length ?? 0);
    for (const record of step.records) size += recordWireBytes(record);
  }
  const out = Buffer.allocUnsafe(size);
  let offset = messageMagic.copy(out, 0);
  out[offset++] = stepWireVersion;
  out[offset++] = steps.length;
  for (const step of steps) {
    const traceId = step.traceId ?? '';
    assert(traceId.length < 256, 'a trace id fits its length byte');
    out[offset++] = kinds[step.operation];
    out[offset++] = step.operation === 'exchange' && step.expired === true ? 1 : 0;
    out[offset++] = traceId.length;
    offset += out.write(traceId, offset, 'latin1');
    out[offset++] = step.records.length;
    for (const record of step.records) offset = writeRecord(out, offset, record);
  }
  assert(offset === size, 'a message fills exactly the bytes measured');
  return out;
}

export function encodeAnswers(answers: readonly PeerStepAnswer[]): Buffer {
  assert(answers.length > 0 && answers.length <= wireStepsMax, 'a reply carries 1 to 255 answers');
  const refusals = answers.map((answer) =>
    'error' in answer
      ? {
          code: Buffer.from(answer.error.code, 'latin1'),
          message: utf8Cut(answer.error.message, refusalMessageBytesMax),
        }
      : undefined,
  );
  let size = replyMagic.length + 2;
  answers.forEach((answer, index) => {
    const refusal = refusals[index];
    if ('record' in answer) size += 1 + recordWireBytes(answer.record);
    else if (refusal === undefined) size += 1;
    else size += 2 + refusal.code.length + 2 + refusal.message.length;
  });
  const out = Buffer.allocUnsafe(size);
  let offset = replyMagic.copy(out, 0);
  out[offset++] = stepWireVersion;
  out[offset++] = answers.length;
  answers.forEach((answer, index) => {
    const refusal = refusals[index];
    if ('record' in answer) {
      out[offset++] = answerTags.record;
      offset = writeRecord(out, offset, answer.record);
    } else if (refusal === undefined) out[offset++] = answerTags.settled;
    else {
      assert(refusal.code.length < 256, 'an error code fits its length byte');
      out[offset++] = answerTags.error;
      out[offset++] = refusal.code.length;
      offset += refusal.code.copy(out, offset);
      offset = out.writeUInt16BE(refusal.message.length, offset);
      offset += refusal.message.copy(out, offset);
    }
  });
  assert(offset === size, 'a reply fills exactly the bytes measured');
  return out;
}

/** The bytes a record takes on the wire: its length, its encoding, its signature's length and it. */
function recordWireBytes({ record, signature }: SignedRecord): number {
  return 4 + recordBytes(record).length + 1 + signature.length;
}

function writeRecord(out: Buffer, at: number, { record, signature }: SignedRecord): number {
  const bytes = recordBytes(record);
  assert(signature.length <= signatureBytesMax, 'a signature fits its length byte');
  let offset = out.writeUInt32BE(bytes.length, at);
  offset += bytes.copy(out, offset);
  out[offset++] = signature.length;
  return offset + signature.copy(out, offset);
}

/** The longest prefix of `text` in at most `bytesMax` bytes of UTF-8, cut between characters. */
function utf8Cut(text: string, bytesMax: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= bytesMax) return bytes;
  let end = bytesMax;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1; // not inside a character
  return bytes.subarray(0, end);
}

/** The steps of a message, every record decoded and checked; InvalidInput when malformed. */
export function decodeSteps(bytes: Buffer, stepsMax: number): Result<PeerStep[]> {
  const reader = new Reader(bytes);
  const count = reader.header(messageMagic);
  if (count === undefined || count === 0 || count > stepsMax)
    return fail('InvalidInput', `a batch carries 1 to ${stepsMax} steps in the step wire`);
  const steps: PeerStep[] = [];
  for (let index = 0; index < count; index++) {
    const [kind, flags, traceLength] = [reader.u8(), reader.u8(), reader.u8()];
    const traceId = traceLength === undefined ? undefined : reader.latin1(traceLength);
    const recordCount = reader.u8();
    if (traceId === undefined || recordCount === undefined || (flags ?? 2) > 1)
      return malformed(index);
    if (recordCount === 0 || recordCount > stepRecordsMax)
      return fail('InvalidInput', `step ${index}: a step carries 1 to ${stepRecordsMax} records`);
    const records: SignedRecord[] = [];
    for (let r = 0; r < recordCount; r++) {
      const record = reader.record();
      if (!record.ok) return fail('InvalidInput', `step ${index}: ${record.message}`);
      records.push(record.value);
    }
    const traced = traceLength === 0 ? {} : { traceId };
    if (kind === kinds.exchange)
      steps.push({ operation: 'exchange', records, expired: flags === 1, ...traced });
    else if (kind === kinds.settle && flags === 0)
      steps.push({ operation: 'settle', records, ...traced });
    else return malformed(index);
  }
  if (!reader.atEnd()) return fail('InvalidInput', 'bytes follow the last step');
  return ok(steps);
}

/** The answers of a reply to `count` steps; PeerUnavailable (garbage from the peer) when malformed. */
export function decodeAnswers(bytes: Buffer, count: number): Result<PeerStepAnswer[]> {
  const garbage = (what: string) => fail('PeerUnavailable', `the reply to a batch ${what}`);
  const reader = new Reader(bytes);
  if (reader.header(replyMagic) !== count) return garbage(`does not carry ${count} answers`);
  const answers: PeerStepAnswer[] = [];
  for (let index = 0; index < count; index++) {
    const tag = reader.u8();
    if (tag === answerTags.settled) answers.push({ settled: true });
    else if (tag === answerTags.record) {
      const record = reader.record();
      if (!record.ok) return garbage(`carries a bad record: ${record.message}`);
      answers.push({ record: record.value });
    } else if (tag === answerTags.error) {
      const codeLength = reader.u8();
      const code = codeLength === undefined ? undefined : reader.latin1(codeLength);
      const messageLength = reader.u16();
      const message = messageLength === undefined ? undefined : reader.utf8(messageLength);
      if (code === undefined || message === undefined) return garbage('breaks off in a refusal');
      answers.push({ error: { code, message } });
    } else return garbage(`has an answer of unknown kind ${String(tag)}`);
  }
  return reader.atEnd() ? ok(answers) : garbage('goes on after its last answer');
}

function malformed(index: number): Result<never> {
  return fail('InvalidInput', `step ${index} is not an exchange or a settlement in the step wire`);
}

const remittanceIdPattern = new RegExp(fieldPatterns.requestId);
const currencyTypePattern = new RegExp(fieldPatterns.currencyType);
const outcomePattern = new RegExp(fieldPatterns.outcome);
/** The times a record may carry: those ISO 8601 writes with a four-digit year (as the JSON wire). */
const dateTimeMsMin = Date.parse('0000-01-01T00:00:00.000Z');
const dateTimeMsMax = Date.parse('9999-12-31T23:59:59.999Z');

/** What a record's fields must hold beyond its encoding: the JSON wire's schema, once more. */
function recordRefusal(record: TransactionRecord): string | undefined {
  if (!remittanceIdPattern.test(record.remittanceId)) return 'a malformed remittance id';
  for (const value of [
    record.transactionNumber,
    record.sourceAccount,
    record.destinationAccount,
    record.amount,
  ])
    if (value !== undefined && value > amountMax) return 'a number beyond the 64-bit range';
  if (record.currencyType !== undefined && !currencyTypePattern.test(record.currencyType))
    return 'a malformed currency type';
  if (record.outcome !== undefined && !outcomePattern.test(record.outcome))
    return 'a malformed outcome';
  if (record.detail !== undefined && record.detail.length > detailBytesMax)
    return 'a detail too long';
  if (record.dateTime < BigInt(dateTimeMsMin) || record.dateTime > BigInt(dateTimeMsMax))
    return 'a time out of range';
  if (record.signerKeyNumber > keyNumberMax) return 'a key number out of range';
  return undefined;
}

/** Reads a message front to back; every read is undefined past the end (never a throw). */
class Reader {
  #offset = 0;
  constructor(private readonly bytes: Buffer) {}

  header(magic: Buffer): number | undefined {
    const start = this.#take(magic.length);
    if (start === undefined || !this.bytes.subarray(start, start + magic.length).equals(magic))
      return undefined;
    return this.u8() === stepWireVersion ? this.u8() : undefined;
  }

  u8(): number | undefined {
    const at = this.#take(1);
    return at === undefined ? undefined : this.bytes[at];
  }

  u16(): number | undefined {
    const at = this.#take(2);
    return at === undefined ? undefined : this.bytes.readUInt16BE(at);
  }

  latin1(length: number): string | undefined {
    const at = this.#take(length);
    return at === undefined ? undefined : this.bytes.toString('latin1', at, at + length);
  }

  utf8(length: number): string | undefined {
    const at = this.#take(length);
    return at === undefined ? undefined : this.bytes.toString('utf8', at, at + length);
  }

  record(): Result<SignedRecord> {
    const lengthAt = this.#take(4);
    const length = lengthAt === undefined ? undefined : this.bytes.readUInt32BE(lengthAt);
    const at = length === undefined ? undefined : this.#take(length);
    const signatureLength = this.u8();
    const signatureAt = signatureLength === undefined ? undefined : this.#take(signatureLength);
    if (at === undefined || signatureAt === undefined || signatureLength! > signatureBytesMax)
      return fail('InvalidInput', 'a record breaks off');
    const record = decodedRecord(this.bytes.subarray(at, at + length!));
    if (record === undefined)
      return fail(
        'InvalidInput',
        'a record that is not well-formed, or of an unknown transaction type',
      );
    const refusal = recordRefusal(record);
    if (refusal !== undefined) return fail('InvalidInput', refusal);
    const signature = Buffer.from(this.bytes.subarray(signatureAt, signatureAt + signatureLength!));
    return ok({ record, signature });
  }

  atEnd(): boolean {
    return this.#offset === this.bytes.length;
  }

  /** The offset of the next `length` bytes, consumed; undefined when fewer remain. */
  #take(length: number): number | undefined {
    if (this.#offset + length > this.bytes.length) return undefined;
    const at = this.#offset;
    this.#offset += length;
    return at;
  }
}
