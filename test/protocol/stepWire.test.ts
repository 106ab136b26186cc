// The binary step wire between the transaction device and its peers: what is encoded decodes to the
// same steps and answers, each record keeping the very bytes its signature covers; a message that
// is not exactly a well-formed run of steps is refused whole (never a throw), whatever its bytes.
import { describe, expect, it } from 'vitest';
import { recordBytes, type SignedRecord } from '../../src/protocol/records.js';
import {
  decodeAnswers,
  decodeSteps,
  encodeAnswers,
  encodeSteps,
  type PeerStep,
  type PeerStepAnswer,
  refusalMessageBytesMax,
} from '../../src/protocol/stepWire.js';
import { remittanceRequestAt } from '../helpers/records.js';

const stepsMax = 64;
const request = remittanceRequestAt(6n);
const response: SignedRecord = {
  record: {
    transactionNumber: 11n,
    remittanceId: request.record.remittanceId,
    transactionType: 'remittance_response',
    outcome: 'ok',
    detail: '{"units":["1","2"]}',
    dateTime: 1_601_631_000_100n,
    signerKeyNumber: 3,
  },
  signature: Buffer.alloc(64, 7),
};
const steps: PeerStep[] = [
  { operation: 'exchange', records: [request], expired: true, traceId: 'trace-1' },
  { operation: 'exchange', records: [request], expired: false },
  { operation: 'settle', records: [request, response], traceId: 'trace-2' },
];

describe('the step wire', () => {
  it('decodes what it encodes, each record with the bytes its signature covers', () => {
    const decoded = decodeSteps(encodeSteps(steps), stepsMax);
    expect(decoded).toEqual({ ok: true, value: steps });
    const settled = decoded.ok ? decoded.value[2]!.records[1]! : response;
    expect(recordBytes(settled.record).equals(recordBytes(response.record))).toBe(true);
    expect(settled.record).not.toBe(response.record);

    const answers: PeerStepAnswer[] = [
      { record: response },
      { settled: true },
      { error: { code: 'InsufficientBalance', message: 'account 1: 5 < 500 – ünïcode' } },
    ];
    expect(decodeAnswers(encodeAnswers(answers), 3)).toEqual({ ok: true, value: answers });
  });

  it('writes every byte as the grammar of docs/protocol.md lays it out', () => {
    const u8 = (value: number) => Buffer.from([value]);
    const u16 = (value: number) => Buffer.from([value >> 8, value & 0xff]);
    const u32 = (value: number) =>
      Buffer.from([value >>> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
    const record = ({ record, signature }: SignedRecord) => {
      const bytes = recordBytes(record);
      return [u32(bytes.length), bytes, u8(signature.length), signature];
    };
    const message = Buffer.concat([
      Buffer.from('TS'),
      u8(1),
      u8(steps.length),
      ...steps.flatMap((step) => [
        u8(step.operation === 'exchange' ? 1 : 2),
        u8(step.operation === 'exchange' && step.expired ? 1 : 0),
        u8((step.traceId ?? '').length),
        Buffer.from(step.traceId ?? '', 'latin1'),
        u8(step.records.length),
        ...step.records.flatMap(record),
      ]),
    ]);
    expect(encodeSteps(steps).equals(message)).toBe(true);
    const refusal = 'account 1: 5 < 500 – ünïcode';
    const reply = Buffer.concat([
      Buffer.from('TA'),
      u8(1),
      u8(3),
      u8(1),
      ...record(response),
      u8(2),
      u8(3),
      u8('PeerUnavailable'.length),
      Buffer.from('PeerUnavailable'),
      u16(Buffer.byteLength(refusal)),
      Buffer.from(refusal),
    ]);
    const answers: PeerStepAnswer[] = [
      { record: response },
      { settled: true },
      { error: { code: 'PeerUnavailable', message: refusal } },
    ];
    expect(encodeAnswers(answers).equals(reply)).toBe(true);
  });

  it('cuts a long refusal between characters', () => {
    const message = 'é'.repeat(refusalMessageBytesMax);
    const decoded = decodeAnswers(encodeAnswers([{ error: { code: 'X', message } }]), 1);
    const cut = decoded.ok && 'error' in decoded.value[0]! ? decoded.value[0].error.message : '';
    expect(Buffer.byteLength(cut)).toBe(refusalMessageBytesMax);
    expect(message.startsWith(cut)).toBe(true);
  });

  it('refuses every message cut short, and one with bytes after its last step', () => {
    const bytes = encodeSteps(steps);
    for (let length = 0; length < bytes.length; length++)
      expect(decodeSteps(bytes.subarray(0, length), stepsMax)).toMatchObject({
        ok: false,
        code: 'InvalidInput',
      });
    expect(decodeSteps(Buffer.concat([bytes, Buffer.from([0])]), stepsMax).ok).toBe(false);
    const reply = encodeAnswers([{ record: response }]);
    for (let length = 0; length < reply.length; length++)
      expect(decodeAnswers(reply.subarray(0, length), 1)).toMatchObject({
        ok: false,
        code: 'PeerUnavailable',
      });
    expect(decodeAnswers(reply, 2).ok).toBe(false);
  });

  it('refuses a message whose every single byte was changed, or says what it now carries', () => {
    // A flipped byte either breaks the message or changes a value that is still well-formed (a
    // digit of a number, a letter of an id): never a throw, never more or fewer steps.
    const bytes = encodeSteps(steps);
    for (let at = 0; at < bytes.length; at++) {
      const changed = Buffer.from(bytes);
      changed[at] = changed[at]! ^ 0xff;
      const decoded = decodeSteps(changed, stepsMax);
      if (decoded.ok) expect(decoded.value).toHaveLength(steps.length);
    }
  });

  it('refuses records whose fields the JSON wire would refuse', () => {
    const withRecord = (record: SignedRecord['record']) =>
      decodeSteps(
        encodeSteps([{ operation: 'settle', records: [{ ...request, record }] }]),
        stepsMax,
      );
    for (const [field, value] of [
      ['remittanceId', 'has space'],
      ['currencyType', 'J P Y'],
      ['amount', 2n ** 63n],
      ['dateTime', 253_402_300_800_000n],
    ] as const)
      expect(withRecord({ ...request.record, [field]: value })).toMatchObject({ ok: false });
    const unknownType = {
      ...request.record,
      transactionType: 'gift_request' as 'remittance_request',
    };
    expect(withRecord(unknownType)).toMatchObject({ ok: false });
  });

  it('refuses more steps than the receiver takes, or a step with no or seven records', () => {
    const many = Array.from({ length: stepsMax + 1 }, () => steps[1]!);
    expect(decodeSteps(encodeSteps(many), stepsMax).ok).toBe(false);
    const seven = encodeSteps([{ operation: 'settle', records: [request] }]);
    seven[7] = 7; // the record count of the only step (after "TS", version, count, kind, flags, 0)
    expect(decodeSteps(seven, stepsMax)).toMatchObject({ ok: false });
    seven[7] = 0;
    expect(decodeSteps(seven, stepsMax)).toMatchObject({ ok: false });
  });
});
