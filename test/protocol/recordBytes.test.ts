// What a record's signature covers: a request's signing bytes, taken from its stored encoding with
// the transaction number zeroed, are exactly the encoding of the same request numbered 0 (as its
// requester signed it), for every kind of request and every optional field present or absent.
// Two records are the same when their signatures and bytes are, whether or not their fields were
// compared one by one first.
import { describe, expect, it } from 'vitest';
import { encodeRecord } from '../../src/model/encoding.js';
import { transactionRecordType } from '../../src/model/records.js';
import {
  decodedRecord,
  recordBytes,
  sameRecord,
  sameSignedFields,
  signingBytes,
  type TransactionRecord,
} from '../../src/protocol/recordBytes.js';
import {
  stepOf,
  type TransactionType,
  transactionTypes,
} from '../../src/protocol/transactionTypes.js';

const types = Object.keys(transactionTypes) as TransactionType[];
const requestTypes = types.filter((type) => stepOf(type) === 1);

/** A record of `type` with the optional fields chosen by the bits of `mask`. */
function recordOf(
  type: TransactionType,
  transactionNumber: bigint,
  mask: number,
): TransactionRecord {
  return {
    transactionNumber,
    remittanceId: '0193a5b2-7c1d-7000-8000-0123456789ab',
    transactionType: type,
    ...(mask & 1 ? { sourceAccount: 2n ** 64n - 1n } : {}),
    ...(mask & 2 ? { destinationAccount: 42n } : {}),
    ...(mask & 4 ? { amount: 1_000_000n } : {}),
    ...(mask & 8 ? { currencyType: 'JPY' } : {}),
    ...(mask & 16 ? { outcome: 'refused' } : {}),
    ...(mask & 32 ? { detail: 'détail: 送金 🙂' } : {}),
    dateTime: 1_601_631_000_000n,
    signerKeyNumber: 7,
  };
}

const numberedZero = (record: TransactionRecord) =>
  encodeRecord(transactionRecordType, { ...record, transactionNumber: 0n });

describe('signingBytes', () => {
  it('is a request’s encoding numbered 0, whatever number it is stored under', () => {
    expect(requestTypes.length).toBeGreaterThan(0);
    for (const type of requestTypes)
      for (let mask = 0; mask < 64; mask++)
        for (const number of [0n, 1n, 7_000_000_001n, 2n ** 64n - 1n]) {
          const record = recordOf(type, number, mask);
          expect(signingBytes(record).equals(numberedZero(record))).toBe(true);
          // The stored encoding is left as it was: it still carries the number.
          expect(recordBytes(record).equals(encodeRecord(transactionRecordType, record))).toBe(
            true,
          );
        }
  });

  it('is the same for a request decoded from its stored bytes (its encoding kept)', () => {
    const record = recordOf('remittance_request', 123_456n, 63);
    const decoded = decodedRecord(encodeRecord(transactionRecordType, record))!;
    expect(decoded.transactionNumber).toBe(123_456n);
    expect(signingBytes(decoded).equals(numberedZero(record))).toBe(true);
  });

  it('is every other record’s stored encoding, its number included', () => {
    for (const type of types.filter((each) => stepOf(each) !== 1)) {
      const record = recordOf(type, 99n, 63);
      expect(signingBytes(record).equals(encodeRecord(transactionRecordType, record))).toBe(true);
      expect(signingBytes(record).equals(numberedZero(record))).toBe(false);
    }
  });
});

describe('the bytes kept on a record', () => {
  it('are never carried to a record made from it, nor seen by its fields or its equality', () => {
    const record = recordOf('remittance_request', 5n, 63);
    const stored = recordBytes(record);
    const signing = signingBytes(record);
    // A copy with another number (a spread, Object.assign) is encoded afresh, not given the bytes.
    const renumbered = { ...record, transactionNumber: 6n };
    expect(recordBytes(renumbered).equals(stored)).toBe(false);
    expect(recordBytes(renumbered).equals(encodeRecord(transactionRecordType, renumbered))).toBe(
      true,
    );
    expect(signingBytes(Object.assign({}, record)).equals(signing)).toBe(true);
    expect(recordBytes(Object.assign({}, record, { transactionNumber: 9n })).equals(stored)).toBe(
      false,
    );
    // The record's fields and its equality are those of a record that was never encoded.
    expect(Object.keys(record)).toEqual(Object.keys(recordOf('remittance_request', 5n, 63)));
    expect(record).toStrictEqual(recordOf('remittance_request', 5n, 63));
    expect(JSON.stringify(record, (_key, value) => String(value))).toBe(
      JSON.stringify(recordOf('remittance_request', 5n, 63), (_key, value) => String(value)),
    );
    // And they stay what they were: the same buffers each time.
    expect(recordBytes(record)).toBe(stored);
    expect(signingBytes(record)).toBe(signing);
  });
});

describe('sameRecord', () => {
  const signature = Buffer.alloc(32, 9);
  const signed = (record: TransactionRecord, bytes = signature) => ({
    record,
    signature: Buffer.from(bytes),
  });
  const byBytes = (a: ReturnType<typeof signed>, b: ReturnType<typeof signed>) =>
    a.signature.equals(b.signature) &&
    encodeRecord(transactionRecordType, a.record).equals(
      encodeRecord(transactionRecordType, b.record),
    );

  it('is true for a copy read as a new object, every optional field present or absent', () => {
    for (const type of types)
      for (let mask = 0; mask < 64; mask++) {
        const kept = signed(recordOf(type, 7n, mask));
        recordBytes(kept.record);
        expect(sameRecord(signed(recordOf(type, 7n, mask)), kept)).toBe(true);
      }
  });

  it('is false when any one field or the signature differs, as the bytes say', () => {
    const kept = signed(recordOf('remittance_response', 7n, 63));
    const changes: Partial<Record<keyof TransactionRecord, unknown>> = {
      transactionNumber: 8n,
      remittanceId: '0193a5b2-7c1d-7000-8000-0123456789ac',
      transactionType: 'remittance_request',
      sourceAccount: 3n,
      destinationAccount: undefined,
      amount: 1_000_001n,
      currencyType: 'USD',
      outcome: 'ok',
      detail: 'détail',
      dateTime: 1_601_631_000_001n,
      signerKeyNumber: 8,
    };
    expect(Object.keys(changes)).toEqual(transactionRecordType.fields.map((field) => field.name));
    for (const [name, value] of Object.entries(changes)) {
      const changed = signed({ ...kept.record, [name]: value } as TransactionRecord);
      expect(sameRecord(changed, kept), name).toBe(false);
      expect(byBytes(changed, kept), name).toBe(false);
    }
    expect(sameRecord(signed(kept.record, Buffer.alloc(32, 8)), kept)).toBe(false);
  });
});

describe('sameSignedFields', () => {
  it('holds exactly where the signing bytes are equal: a request at any number', () => {
    for (const type of types)
      for (const mask of [0, 63]) {
        const kept = recordOf(type, 7n, mask);
        for (const other of [
          recordOf(type, 7n, mask),
          recordOf(type, 0n, mask),
          recordOf(type, 8n, mask),
        ])
          expect(sameSignedFields(other, kept), type).toBe(
            signingBytes(other).equals(signingBytes(kept)),
          );
        expect(sameSignedFields({ ...kept, dateTime: 1n }, kept)).toBe(false);
      }
  });

  it('tells a record with fields no record can hold from its copy without encoding it', () => {
    const kept = recordOf('remittance_response', 7n, 63);
    expect(sameSignedFields({ ...kept, amount: -5n }, kept)).toBe(false);
    expect(sameSignedFields({ ...kept, detail: '\uD800' }, kept)).toBe(false);
    const untyped = { ...kept, transactionType: 'no_such_type' } as unknown as TransactionRecord;
    expect(sameSignedFields(untyped, kept)).toBe(false);
    expect(sameSignedFields(untyped, untyped)).toBe(true);
  });
});
