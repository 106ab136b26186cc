// The export line format: every stored row becomes a line, a row that fits no shape becomes an
// `unreadable` line that reads back as a record that cannot verify, and a peer's line identical to
// the transaction device's own is recalled rather than parsed again.
import { describe, expect, it } from 'vitest';
import {
  accountLine,
  accountOfLine,
  ownRecordPages,
  peerRecords,
  recordLine,
  recordOfLine,
  StreamFailure,
} from '../../src/audit/exportLines.js';
import type { SignedRecord } from '../../src/protocol/records.js';

const record: SignedRecord = {
  record: {
    transactionNumber: 19n,
    remittanceId: 'r-1',
    transactionType: 'remittance_request',
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount: 500n,
    currencyType: 'JPY',
    dateTime: 1_601_631_000_000n,
    signerKeyNumber: 1_000_001,
  },
  signature: Buffer.alloc(32, 7),
};

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('export lines', () => {
  it('a record goes out and comes back unchanged', () => {
    expect(recordOfLine(JSON.parse(recordLine(record)))).toEqual(record);
  });

  it('a row an attacker made unreadable (text in a time column) is a line with its key, read back as a placeholder', () => {
    const damaged = {
      ...record,
      record: { ...record.record, dateTime: 'garbage' as unknown as bigint },
    };
    const line = JSON.parse(recordLine(damaged));
    expect(line).toEqual({ transactionNumber: '19', unreadable: true });
    const placeholder = recordOfLine(line) as SignedRecord;
    expect(placeholder.record.transactionNumber).toBe(19n);
    expect(placeholder.signature.toString()).toBe('unreadable');
  });

  it('a detail with a lone surrogate (no encoding) reads back as a placeholder, not a crash', () => {
    const wire = JSON.parse(recordLine({ ...record, record: { ...record.record, detail: 'x' } }));
    wire.detail = '\ud800';
    expect((recordOfLine(wire) as SignedRecord).record.remittanceId).toBe('unreadable');
  });

  it('a line without even a key is broken', () => {
    expect(recordOfLine({ hello: 1 })).toEqual({ broken: 'a line without a transaction number' });
    expect(accountOfLine(null)).toEqual({ broken: 'a line without an account number' });
  });

  it('an account row goes out and comes back unchanged', () => {
    const row = {
      accountNumber: 2n,
      currencyType: 'JPY',
      balance: 500n,
      held: 0n,
      status: 'open' as const,
      lastUpdate: 1_601_631_000_000n,
      signerKeyNumber: 2,
      signature: Buffer.alloc(32, 1),
    };
    expect(accountOfLine(JSON.parse(accountLine(row)))).toEqual(row);
  });

  it("a peer's line is parsed to its record; garbage ends the stream", async () => {
    const mine = (await collect(ownRecordPages(from([[record]]))))[0]?.[0];
    const changed = recordLine({ ...record, record: { ...record.record, amount: 5000n } });
    const [same, other] = await collect(
      peerRecords(from([recordLine(record), changed]), 'account'),
    );
    expect(same).toEqual(mine);
    expect(other?.record.amount).toBe(5000n);
    await expect(collect(peerRecords(from(['{not json']), 'account'))).rejects.toBeInstanceOf(
      StreamFailure,
    );
  });
});
