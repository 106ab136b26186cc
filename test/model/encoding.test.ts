// The canonical record encoding: committed vectors, round trips, and that no two records share bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, type RecordType } from '../../src/model/encoding.js';
import { accountRowType, currencyRowType, transactionRecordType } from '../../src/model/records.js';
import vectors from '../vectors/record-encoding.json' with { type: 'json' };
import { valuesFromJson } from '../vectors/values.js';

const recordTypes: Record<string, RecordType> = {
  TransactionRecord: transactionRecordType,
  AccountRow: accountRowType,
  CurrencyRow: currencyRowType,
};

/** A response record's required fields, for the decoder's cases below. */
const responseFields = {
  transactionNumber: 1n,
  remittanceId: '0193a5b2-7c1d-7000-8000-0123456789ab',
  transactionType: 'remittance_response',
  dateTime: 1_601_631_000_000n,
  signerKeyNumber: 3,
};

describe('record encoding vectors (test/vectors/record-encoding.json)', () => {
  for (const vector of vectors.vectors) {
    it(vector.description, () => {
      const type = recordTypes[vector.recordType]!;
      const values = valuesFromJson(type, vector.values);
      const bytes = encodeRecord(type, values);
      expect(bytes.toString('hex')).toBe(vector.hex);
      expect(decodeRecord(type, bytes)).toEqual(
        Object.fromEntries(type.fields.map((f) => [f.name, values[f.name]])),
      );
    });
  }

  it('the worked example of docs/encoding.md, byte by byte', () => {
    const bytes = encodeRecord(accountRowType, {
      accountNumber: 2n,
      currencyType: 'JPY',
      balance: 500n,
      held: 0n,
      status: 'open',
      lastUpdate: 1_601_631_000_000n,
    });
    const expected = [
      '544c0142', // "TL", version 1, tag 0x42 (AccountRow)
      '0000000000000002', // accountNumber u64
      '00000003' + '4a5059', // currencyType: length 3, "JPY"
      '00000000000001f4', // balance 500
      '0000000000000000', // held 0
      '00000004' + '6f70656e', // status: length 4, "open"
      '00000174e8a595c0', // lastUpdate 2020-10-02T09:30:00Z in ms
    ].join('');
    expect(bytes.toString('hex')).toBe(expected);
  });
});

describe('the encoding is injective and strict', () => {
  it('decoding refuses truncated, extended, retagged or re-versioned bytes', () => {
    const bytes = Buffer.from(vectors.vectors[0]!.hex, 'hex');
    expect(
      decodeRecord(transactionRecordType, bytes.subarray(0, bytes.length - 1)),
    ).toBeUndefined();
    expect(
      decodeRecord(transactionRecordType, Buffer.concat([bytes, Buffer.from([0])])),
    ).toBeUndefined();
    expect(decodeRecord(accountRowType, bytes)).toBeUndefined();
    const reversioned = Buffer.from(bytes);
    reversioned[2] = 2;
    expect(decodeRecord(transactionRecordType, reversioned)).toBeUndefined();
  });

  it('decoding leaves an absent optional field out, as the encoder takes it', () => {
    const record = { ...responseFields, outcome: 'ok' };
    const decoded = decodeRecord(
      transactionRecordType,
      encodeRecord(transactionRecordType, record),
    );
    expect(decoded && Object.keys(decoded).sort()).toEqual(Object.keys(record).sort());
  });

  it('decoding takes text only in its canonical UTF-8, ASCII or not', () => {
    const record = { ...responseFields, detail: 'QZ' };
    const bytes = encodeRecord(transactionRecordType, record);
    const at = bytes.indexOf('QZ');
    const withDetail = (two: readonly number[]) => {
      const changed = Buffer.from(bytes);
      changed.set(two, at);
      return decodeRecord(transactionRecordType, changed)?.['detail'];
    };
    expect(withDetail([0x51, 0x5a])).toBe('QZ');
    expect(withDetail([0xc3, 0xa9])).toBe('é');
    expect(withDetail([0xc1, 0x81])).toBeUndefined(); // an overlong 'A'
    expect(withDetail([0xff, 0x41])).toBeUndefined(); // no UTF-8 at all
    expect(withDetail([0x41, 0xc3])).toBeUndefined(); // a character cut short
    expect(withDetail([0xed, 0xa0])).toBeUndefined(); // the start of a surrogate
  });

  it('encoding a field the type does not declare is a bug, not a silent drop', () => {
    expect(() => encodeRecord(accountRowType, { accountNumber: 1n, nickname: 'x' })).toThrow(
      /unknown field/,
    );
  });

  it('round-trips and separates any two different transaction records (property)', () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const recordArbitrary = fc.record(
      {
        transactionNumber: u64,
        remittanceId: fc.string({ maxLength: 40, unit: 'grapheme' }),
        transactionType: fc.constantFrom('remittance_request', 'remittance_response'),
        sourceAccount: fc.option(u64, { nil: undefined }),
        destinationAccount: fc.option(u64, { nil: undefined }),
        amount: fc.option(u64, { nil: undefined }),
        currencyType: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
        outcome: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
        dateTime: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        signerKeyNumber: fc.integer({ min: 0, max: 0xffff_ffff }),
      },
      {
        requiredKeys: [
          'transactionNumber',
          'remittanceId',
          'transactionType',
          'dateTime',
          'signerKeyNumber',
        ],
      },
    );
    fc.assert(
      fc.property(recordArbitrary, recordArbitrary, (a, b) => {
        const bytesA = encodeRecord(transactionRecordType, a);
        const decoded = decodeRecord(transactionRecordType, bytesA);
        expect(decoded).toEqual(
          Object.fromEntries(
            transactionRecordType.fields.map((f) => [f.name, a[f.name as keyof typeof a]]),
          ),
        );
        const same =
          JSON.stringify(decoded, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ===
          JSON.stringify(
            decodeRecord(transactionRecordType, encodeRecord(transactionRecordType, b)),
            (_k, v) => (typeof v === 'bigint' ? `${v}n` : v),
          );
        expect(bytesA.equals(encodeRecord(transactionRecordType, b))).toBe(same);
      }),
      { seed: 20_201_002, numRuns: 500 },
    );
  });
});
