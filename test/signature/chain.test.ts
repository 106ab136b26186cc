// Chained signatures (Embodiment 3, FIG. 3): the committed vector, and the first broken link found
// for every kind of change.
import { describe, expect, it } from 'vitest';
import { encodeRecord } from '../../src/model/encoding.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { transactionRecordType } from '../../src/model/records.js';
import { type ChainLink, signChained, verifyChain } from '../../src/signature/chain.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { flipBit } from '../bytes.js';
import fig3 from '../vectors/chain-fig3-hmac.json' with { type: 'json' };
import { valuesFromJson } from '../vectors/values.js';

const fig6Secrets: Record<number, string> = {
  1: '62a6724b3f439ef24571ff01114a2709',
  2: 'd0742b450c46f4d2e6c34b12a1cd7a4c',
  3: 'b6fad2ee4dcafadd0aa26c6e46b269da',
  4: '763b7518363ca1addee279e664727dd6',
};

/** A device with the FIG. 6 keys; `signing` lists the key numbers it may sign with. */
function deviceWith(signing: number[]): SignatureDevice {
  const device = new SignatureDevice(deterministicEnvironment('chain'));
  for (const [number, secretHex] of Object.entries(fig6Secrets)) {
    const keyNumber = Number(number);
    device.addKey({
      keyNumber,
      owner: 'fig6',
      algorithm: 'hmac-sha256',
      material: Buffer.from(secretHex, 'hex'),
      authorities: signing.includes(keyNumber) ? ['sign', 'verify'] : ['verify'],
    });
  }
  return device;
}

const signatureZero = Buffer.from(fig3.signatureZeroHex, 'hex');

function vectorLinks(): ChainLink[] {
  return fig3.links.map((link) => ({
    signerKeyNumber: link.signerKeyNumber,
    recordBytes: Buffer.from(link.recordHex, 'hex'),
    signature: Buffer.from(link.signatureHex, 'hex'),
  }));
}

describe('FIG. 3: the six records of a remittance, chained', () => {
  it('signing each record over the previous signature reproduces the committed vector', () => {
    // Each signer uses its own device, as in FIG. 2B: a1 terminal, a2/a4/a6 transaction, a3 account, a5 currency.
    let previous: Buffer = signatureZero;
    for (const link of fig3.links) {
      const recordBytes = encodeRecord(
        transactionRecordType,
        valuesFromJson(transactionRecordType, link.values),
      );
      expect(recordBytes.toString('hex')).toBe(link.recordHex);
      const signed = signChained(
        deviceWith([link.signerKeyNumber]),
        link.signerKeyNumber,
        recordBytes,
        previous,
      );
      if (!signed.ok) throw new Error(signed.message);
      expect(signed.value.toString('hex')).toBe(link.signatureHex);
      previous = signed.value;
    }
  });

  it('the whole chain verifies with verify-only keys', () => {
    expect(verifyChain(deviceWith([]), vectorLinks(), signatureZero)).toEqual({
      ok: true,
      linksChecked: 6,
    });
  });

  it('another signature 0 breaks the first link', () => {
    const result = verifyChain(deviceWith([]), vectorLinks(), Buffer.alloc(32));
    expect(result).toMatchObject({ ok: false, code: 'ChainBroken', brokenAt: 0 });
  });

  it.each([0, 2, 3, 5])('a changed byte in record %i is reported at that link', (index) => {
    const links = vectorLinks();
    const bytes = flipBit(links[index]!.recordBytes, -5); // inside dateTime: timestamps are covered too
    links[index] = { ...links[index]!, recordBytes: bytes };
    expect(verifyChain(deviceWith([]), links, signatureZero)).toMatchObject({
      ok: false,
      code: 'ChainBroken',
      brokenAt: index,
    });
  });

  it('a replaced signature is reported at its own link, not later', () => {
    const links = vectorLinks();
    links[3] = { ...links[3]!, signature: Buffer.alloc(32, 0xee) };
    expect(verifyChain(deviceWith([]), links, signatureZero)).toMatchObject({
      ok: false,
      brokenAt: 3,
    });
  });

  it('a re-signed record with a valid own signature still breaks the next link', () => {
    // An attacker with key 1 changes a4's amount and re-signs a4 over a3's signature:
    // a4 now verifies, but a5 was signed over the old a4 signature.
    const attacker = deviceWith([1]);
    const links = vectorLinks();
    const values = valuesFromJson(transactionRecordType, fig3.links[3]!.values);
    const forged = encodeRecord(transactionRecordType, { ...values, amount: 5_000n });
    const resigned = signChained(attacker, 1, forged, links[2]!.signature);
    if (!resigned.ok) throw new Error(resigned.message);
    links[3] = { signerKeyNumber: 1, recordBytes: forged, signature: resigned.value };
    expect(verifyChain(deviceWith([]), links, signatureZero)).toMatchObject({
      ok: false,
      code: 'ChainBroken',
      brokenAt: 4,
    });
  });

  it('swapped records, a deleted record and a truncated record are found', () => {
    const swapped = vectorLinks();
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(verifyChain(deviceWith([]), swapped, signatureZero)).toMatchObject({
      ok: false,
      brokenAt: 1,
    });

    const deleted = vectorLinks();
    deleted.splice(2, 1);
    expect(verifyChain(deviceWith([]), deleted, signatureZero)).toMatchObject({
      ok: false,
      brokenAt: 2,
    });

    const truncated = vectorLinks();
    truncated[5] = { ...truncated[5]!, recordBytes: truncated[5]!.recordBytes.subarray(0, 10) };
    expect(verifyChain(deviceWith([]), truncated, signatureZero)).toMatchObject({
      ok: false,
      brokenAt: 5,
    });
  });

  it('a signer key missing from the verifier is reported as UnknownKey at that link', () => {
    const device = new SignatureDevice(deterministicEnvironment('partial'));
    device.addKey({
      keyNumber: 4,
      owner: 'fig6',
      algorithm: 'hmac-sha256',
      material: Buffer.from(fig6Secrets[4]!, 'hex'),
      authorities: ['verify'],
    });
    expect(verifyChain(device, vectorLinks(), signatureZero)).toMatchObject({
      ok: false,
      code: 'UnknownKey',
      brokenAt: 1,
    });
  });
});
