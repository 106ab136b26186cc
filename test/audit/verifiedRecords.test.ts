// The copies of what a device verified or signed (audit/verifiedRecords.ts), and the continuous
// audit comparing a stored operation with them instead of verifying it again: a record that reads
// back as it was verified costs no verification; a record changed in the store after it was
// verified is verified, and found. Real HMAC keys, a real signed operation.
import { describe, expect, it } from 'vitest';
import { ContinuousAudit, type OwnStores } from '../../src/audit/continuous.js';
import { typedRecordPages } from '../../src/audit/exportLines.js';
import {
  VerifiedRecords,
  verifiedRecordSlotBytes,
  verifiedRecordSlots,
} from '../../src/audit/verifiedRecords.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { baseOfBlock, type SignedRecord, signRecord } from '../../src/protocol/records.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { remittanceRequestAt } from '../helpers/records.js';

const transactionKey = 1;
const payerKey = 7;
const signatureZero = Buffer.alloc(32, 0x5a);

function signatureDevice(): SignatureDevice {
  const signatures = new SignatureDevice(deterministicEnvironment('verified-records'));
  for (const [keyNumber, owner] of [
    [transactionKey, 'transaction'],
    [payerKey, 'account:1'],
  ] as const)
    expect(
      signatures.addKey({
        keyNumber,
        owner,
        algorithm: 'hmac-sha256',
        material: Buffer.alloc(32, keyNumber),
        authorities: ['sign', 'verify'],
      }).ok,
    ).toBe(true);
  return signatures;
}

function signed(signatures: SignatureDevice, signed: SignedRecord, previous: Buffer): SignedRecord {
  const result = signRecord(signatures, signed.record.signerKeyNumber, signed.record, previous);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

/**
 * A complete operation in `block`: the payer's request (signed with transaction number 0, as a
 * terminal signs it, and stored at its block's first number) and the transaction device's response.
 */
function operation(signatures: SignatureDevice, block: bigint) {
  const base = baseOfBlock(block);
  const unsigned = remittanceRequestAt(0n);
  const request = signed(
    signatures,
    {
      ...unsigned,
      record: { ...unsigned.record, remittanceId: `r-${block}`, signerKeyNumber: payerKey },
    },
    signatureZero,
  );
  const stored = { ...request, record: { ...request.record, transactionNumber: base } };
  const response = signed(
    signatures,
    {
      record: {
        transactionNumber: base + 5n,
        remittanceId: `r-${block}`,
        transactionType: 'remittance_response',
        outcome: 'ok',
        dateTime: stored.record.dateTime,
        signerKeyNumber: transactionKey,
      },
      signature: Buffer.alloc(0),
    },
    request.signature,
  );
  return { request, stored: [stored, response] };
}

/** A device's stores holding `records`, read as a device reads them (devices/ownStores.ts). */
function storesOf(records: SignedRecord[]): OwnStores {
  async function* rows(after: bigint) {
    yield records.filter((record) => record.record.transactionNumber > after);
  }
  return {
    recordPages: (after) => typedRecordPages(rows(after)),
    accountKeyNumber: async () => payerKey,
    checkpointedUpTo: async () => 0n,
  };
}

/** A continuous audit over `records`, and how many verifications its signature device made. */
function auditOver(signatures: SignatureDevice, copies: VerifiedRecords, records: SignedRecord[]) {
  const verifications = { count: 0 };
  signatures.observe((_, authority) => {
    if (authority === 'verify') verifications.count += 1;
  });
  const keys = {
    signatures,
    deviceKeys: { transaction: transactionKey, account: 2, currency: 3 },
    issuerKeyNumbers: [],
    signatureZero,
    verifiedRecords: copies,
  };
  const audit = new ContinuousAudit(
    keys,
    2,
    storesOf(records),
    () => 0,
    () => {},
  );
  return { audit, verifications };
}

describe('the continuous audit compares what this process verified', () => {
  it('an operation read back as it was verified and signed is checked without a verification', async () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { request, stored } = operation(signatures, 0n);
    copies.remember([request], 0, signatureZero);
    copies.rememberSigned(stored[1]!, request.signature);
    expect(copies.size).toBe(2);
    const { audit, verifications } = auditOver(signatures, copies, [...stored]);
    expect(await audit.tick()).toMatchObject({ clean: true, recordsChecked: 2 });
    expect(verifications.count).toBe(0);
    // Each record is checked once: its copy goes with the check.
    expect(copies.size).toBe(0);
  });

  it('a record changed in the store after it was verified is verified, and found', async () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { request, stored } = operation(signatures, 0n);
    copies.remember(stored, 0, signatureZero);
    const changed = { ...stored[1]!, record: { ...stored[1]!.record, outcome: 'refused' } };
    expect(copies.trustedPrefix([stored[0]!, changed], signatureZero)).toBe(1);
    const { audit, verifications } = auditOver(signatures, copies, [stored[0]!, changed]);
    const result = await audit.tick();
    expect(result).toMatchObject({ clean: false, findingsCount: 1 });
    expect(result?.findings[0]).toMatch(/record 1 \(remittance_response, key 1\)/);
    // The request still equals its copy; only the changed response was verified.
    expect(verifications.count).toBe(1);
    expect(request.signature.equals(stored[0]!.signature)).toBe(true);
  });

  it('a record changed to fields no record has is found unreadable, not encoded to compare', async () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { stored } = operation(signatures, 0n);
    copies.remember(stored, 0, signatureZero);
    const lone = { ...stored[1]!, record: { ...stored[1]!.record, detail: '\uD800' } };
    expect(copies.trustedPrefix([stored[0]!, lone], signatureZero)).toBe(1);
    const { audit, verifications } = auditOver(signatures, copies, [stored[0]!, lone]);
    const result = await audit.tick();
    expect(result).toMatchObject({ clean: false, findingsCount: 1 });
    expect(result?.findings[0]).toMatch(/^A transactions 1-6: /);
    expect(verifications.count).toBe(0);
  });

  it('a row of no known type, or a number no record has, is found unreadable, not a crash', async () => {
    for (const change of [
      (records: SignedRecord[]) => [
        { ...records[0]!, record: { ...records[0]!.record, transactionType: 'no_such_type' } },
        records[1]!,
      ],
      (records: SignedRecord[]) => [
        records[0]!,
        { ...records[1]!, record: { ...records[1]!.record, amount: -5n } },
      ],
    ]) {
      const signatures = signatureDevice();
      const copies = new VerifiedRecords(() => signatures.revocations);
      const { stored } = operation(signatures, 0n);
      copies.remember(stored, 0, signatureZero);
      const { audit } = auditOver(signatures, copies, change(stored) as SignedRecord[]);
      expect(await audit.tick()).toMatchObject({ clean: false, findingsCount: 1 });
    }
  });

  it('without copies (a device started since), every record is verified as before', async () => {
    const signatures = signatureDevice();
    const { stored } = operation(signatures, 0n);
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { audit, verifications } = auditOver(signatures, copies, [...stored]);
    expect(await audit.tick()).toMatchObject({ clean: true, recordsChecked: 2 });
    expect(verifications.count).toBe(2);
  });
});

describe('the copies kept (audit/verifiedRecords.ts)', () => {
  it('trusts a record only with the same signed bytes, signature and previous signature', () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { stored } = operation(signatures, 0n);
    copies.remember(stored, 0, signatureZero);
    expect(copies.trustedPrefix(stored, signatureZero)).toBe(2);
    // The request is kept under its step: stored at its block's number, it is the record verified.
    expect(stored[0]!.record.transactionNumber).toBe(1n);
    const otherBytes = { ...stored[1]!, record: { ...stored[1]!.record, dateTime: 1n } };
    expect(copies.trustedPrefix([stored[0]!, otherBytes], signatureZero)).toBe(1);
    const otherSignature = { ...stored[1]!, signature: Buffer.alloc(32, 1) };
    expect(copies.trustedPrefix([stored[0]!, otherSignature], signatureZero)).toBe(1);
    // The request's signature changed: its own copy and the response's link both differ.
    const relinked = { ...stored[0]!, signature: Buffer.alloc(32, 2) };
    expect(copies.trustedPrefix([relinked, stored[1]!], signatureZero)).toBe(0);
    expect(copies.trustedPrefix(stored, Buffer.alloc(32))).toBe(0);
  });

  it('a key that loses an authority empties the copies', () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const { stored } = operation(signatures, 0n);
    copies.remember(stored, 0, signatureZero);
    expect(signatures.revoke(payerKey, 'sign').ok).toBe(true);
    expect(copies.trustedPrefix(stored, signatureZero)).toBe(0);
    expect(copies.size).toBe(0);
  });

  it('keeps the last verifiedRecordSlots records, and none whose signatures overflow a slot', () => {
    const signatures = signatureDevice();
    const copies = new VerifiedRecords(() => signatures.revocations);
    const first = operation(signatures, 0n).stored;
    copies.remember(first, 0, signatureZero);
    for (let block = 1n; block <= BigInt(verifiedRecordSlots / 2); block++)
      copies.remember(operation(signatures, block).stored, 0, signatureZero);
    expect(copies.size).toBe(verifiedRecordSlots);
    expect(copies.trustedPrefix(first, signatureZero)).toBe(0);
    const { stored } = operation(signatures, 1n);
    expect(copies.trustedPrefix(stored, signatureZero)).toBe(2);
    const long = { ...stored[1]!, signature: Buffer.alloc(verifiedRecordSlotBytes, 3) };
    copies.remember([stored[0]!, long], 1, signatureZero);
    expect(copies.trustedPrefix([stored[0]!, long], signatureZero)).toBe(1);
    // A long record is kept: its fields are compared, never copied.
    const fresh = new VerifiedRecords(() => signatures.revocations);
    const detailed = { ...stored[1]!, record: { ...stored[1]!.record, detail: 'x'.repeat(4096) } };
    fresh.remember([stored[0]!, detailed], 0, signatureZero);
    expect(fresh.trustedPrefix([stored[0]!, detailed], signatureZero)).toBe(2);
  });
});
