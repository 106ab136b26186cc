// Vectors of whole signed requests, receipts and envelopes, for both signature schemes, made by the
// project's own code (src/) with fixed keys: what another language's client must reproduce byte for
// byte (clients/python checks every one). `npm run docs:vectors` writes
// test/vectors/signed-requests.json; test/clients/requestVectors.test.ts fails when the committed
// file and the code disagree. The signing specification they illustrate: docs/signing.md.

import { createHash } from 'node:crypto';
import { deviceKeyNumbers, issuerKeyNumber } from '../src/deployment/demo.js';
import { accountKeyNumberBase } from '../src/devices/accountKeys.js';
import { assert } from '../src/model/assert.js';
import { deterministicEnvironment } from '../src/model/environment.js';
import {
  envelopeHeaderValue,
  envelopeMessage,
  signedTarget,
} from '../src/protocol/envelopeBytes.js';
import {
  numberOfStep,
  type SignedRecord,
  signingBytes,
  signRecord,
  type TransactionRecord,
} from '../src/protocol/records.js';
import { type AnyRequest, requestRecordOf } from '../src/protocol/requests.js';
import { recordToWire } from '../src/protocol/wire.js';
import { chainMessage } from '../src/signature/chain.js';
import { SignatureDevice } from '../src/signature/device.js';

type Scheme = 'hmac' | 'ed25519';
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
/** Fixed key material: 32 bytes derived from a label, so the vectors never change by chance. */
const material = (label: string) =>
  createHash('sha256').update(`triledger vector ${label}`).digest();
const signatureZero = material('signature zero');
const userKeyNumber = accountKeyNumberBase + 1;
const at = '2026-12-03T09:30:00.000Z';

interface KeySpec {
  readonly keyNumber: number;
  readonly algorithm: 'hmac-sha256' | 'ed25519-private';
  readonly materialHex: string;
  readonly publicKeyHex?: string;
}

function keysOf(scheme: Scheme): { device: SignatureDevice; keys: Record<string, KeySpec> } {
  const device = new SignatureDevice(deterministicEnvironment('vectors'));
  const keys: Record<string, KeySpec> = {};
  const add = (name: string, keyNumber: number, algorithm: KeySpec['algorithm']) => {
    const secret = material(`${scheme} ${name}`);
    const added = device.addKey({
      keyNumber,
      owner: name === 'user' ? 'account:1' : name === 'newAccount' ? 'account:2' : name,
      algorithm,
      material: secret,
      authorities: ['sign', 'verify'],
    });
    assert(added.ok, 'a vector key is added');
    const exported = device.exportPublic(keyNumber);
    keys[name] = {
      keyNumber,
      algorithm,
      materialHex: hex(secret),
      ...(exported.ok ? { publicKeyHex: exported.value.publicKeyHex } : {}),
    };
  };
  const deviceAlgorithm = scheme === 'hmac' ? 'hmac-sha256' : 'ed25519-private';
  for (const [name, keyNumber] of Object.entries(deviceKeyNumbers))
    add(name, keyNumber, deviceAlgorithm);
  add('issuer', issuerKeyNumber, deviceAlgorithm);
  add('user', userKeyNumber, deviceAlgorithm);
  add('newAccount', accountKeyNumberBase + 2, 'ed25519-private');
  return { device, keys };
}

/** Each kind of request, as a terminal sends it (without its signature). */
function requestsOf(
  keys: Record<string, KeySpec>,
): { path: string; request: AnyRequest; keyNumber: number }[] {
  const newKey = keys['newAccount']!;
  return [
    {
      path: '/v1/remittances',
      keyNumber: userKeyNumber,
      request: {
        kind: 'remittance',
        body: {
          requestId: 'vector-remittance',
          sourceAccount: '1',
          destinationAccount: '2',
          amount: '500',
          currencyType: 'JPY',
          dateTime: at,
          signerKeyNumber: userKeyNumber,
        },
      },
    },
    {
      path: '/v1/accounts',
      keyNumber: newKey.keyNumber,
      request: {
        kind: 'account_issuing',
        body: {
          requestId: 'vector-opening',
          currencyType: 'JPY',
          publicKeyHex: newKey.publicKeyHex!,
          dateTime: at,
        },
      },
    },
    {
      path: '/v1/account-closures',
      keyNumber: userKeyNumber,
      request: {
        kind: 'account_closing',
        body: {
          requestId: 'vector-closing',
          accountNumber: '1',
          dateTime: at,
          signerKeyNumber: userKeyNumber,
        },
      },
    },
    {
      path: '/v1/issuances',
      keyNumber: issuerKeyNumber,
      request: {
        kind: 'issuance',
        body: {
          requestId: 'vector-issuance',
          destinationAccount: '2',
          currencyType: 'JPY',
          values: ['100', '400'],
          dateTime: at,
          signerKeyNumber: issuerKeyNumber,
        },
      },
    },
    {
      path: '/v1/redemptions',
      keyNumber: issuerKeyNumber,
      request: {
        kind: 'redemption',
        body: {
          requestId: 'vector-redemption',
          sourceAccount: '2',
          amount: '100',
          currencyType: 'JPY',
          dateTime: at,
          signerKeyNumber: issuerKeyNumber,
        },
      },
    },
  ];
}

/** A request signed as a terminal signs it: its step-1 record, chained over signature 0. */
function signedRequest(device: SignatureDevice, spec: ReturnType<typeof requestsOf>[number]) {
  const record = requestRecordOf(spec.request);
  assert(record.ok, 'a vector request is well-formed');
  const message = chainMessage(signingBytes(record.value), signatureZero);
  const signature = device.sign(spec.keyNumber, message);
  assert(signature.ok, 'a vector request is signed');
  return {
    kind: spec.request.kind,
    path: spec.path,
    keyNumber: spec.keyNumber,
    body: spec.request.body,
    record: recordToWire({ record: record.value, signature: signature.value }),
    signingBytesHex: hex(signingBytes(record.value)),
    chainMessageHex: hex(message),
    signatureHex: hex(signature.value),
    httpBody: { ...spec.request.body, signature: hex(signature.value) },
  };
}

/** The six records a remittance's answer carries, each signed by its step's key, chained. */
function receiptOf(device: SignatureDevice, remittance: SignedRecord): SignedRecord[] {
  const base = 601n; // the first number of block 100
  const request = remittance.record;
  const dateTime = request.dateTime + 7n;
  const steps: [TransactionRecord['transactionType'], number, Partial<TransactionRecord>][] = [
    ['account_confirmation_request', deviceKeyNumbers.transaction, {}],
    ['account_confirmation_response', deviceKeyNumbers.account, { outcome: 'ok' }],
    ['currency_confirmation_request', deviceKeyNumbers.transaction, {}],
    [
      'currency_confirmation_response',
      deviceKeyNumbers.currency,
      { outcome: 'ok', detail: '{"sequence":"1","moved":["1"],"retired":[],"issued":[]}' },
    ],
    ['remittance_response', deviceKeyNumbers.transaction, { outcome: 'ok' }],
  ];
  const records: SignedRecord[] = [
    { record: { ...request, transactionNumber: base }, signature: remittance.signature },
  ];
  for (const [index, [transactionType, keyNumber, fields]] of steps.entries()) {
    const { sourceAccount, destinationAccount, amount, currencyType, remittanceId } = request;
    const money =
      transactionType === 'remittance_response'
        ? {}
        : { sourceAccount, destinationAccount, amount, currencyType };
    const signed = signRecord(
      device,
      keyNumber,
      {
        transactionNumber: numberOfStep(base, index + 2),
        remittanceId,
        transactionType,
        ...(money.sourceAccount === undefined ? {} : money),
        ...fields,
        dateTime,
        signerKeyNumber: keyNumber,
      } as TransactionRecord,
      records.at(-1)!.signature,
    );
    assert(signed.ok, 'a receipt record is signed');
    records.push(signed.value);
  }
  return records;
}

function envelopeOf(device: SignatureDevice) {
  const body = Buffer.from('', 'utf8');
  const fields = {
    receiver: 'transaction',
    method: 'GET',
    target: signedTarget('/v1/accounts/1')!,
    sentAtMs: BigInt(Date.parse(at)),
    nonce: material('nonce').subarray(0, 16),
  };
  const message = envelopeMessage(fields, createHash('sha256').update(body).digest());
  const signature = device.sign(userKeyNumber, message);
  assert(signature.ok, 'a vector envelope is signed');
  return {
    keyNumber: userKeyNumber,
    receiver: fields.receiver,
    method: fields.method,
    url: '/v1/accounts/1',
    bodyHex: hex(body),
    sentAtMs: fields.sentAtMs.toString(),
    nonceHex: hex(fields.nonce),
    messageHex: hex(message),
    header: envelopeHeaderValue(userKeyNumber, fields.sentAtMs, fields.nonce, signature.value),
  };
}

export function requestVectors() {
  const schemes = (['hmac', 'ed25519'] as const).map((scheme) => {
    const { device, keys } = keysOf(scheme);
    const requests = requestsOf(keys).map((spec) => signedRequest(device, spec));
    const remittance = requestRecordOf(requestsOf(keys)[0]!.request);
    assert(remittance.ok, 'the remittance vector is well-formed');
    const signature = Buffer.from(requests[0]!.signatureHex, 'hex');
    const receipt = receiptOf(device, { record: remittance.value, signature });
    return [
      scheme,
      {
        keys,
        requests,
        receipt: { remittanceId: 'vector-remittance', records: receipt.map(recordToWire) },
        envelope: envelopeOf(device),
      },
    ] as const;
  });
  return {
    note: 'Written by `npm run docs:vectors` from src/ (scripts/requestVectors.ts); specification: docs/signing.md. Key material: HMAC-SHA256 secrets and Ed25519 seeds, hex. Never use these keys.',
    signatureZeroHex: hex(signatureZero),
    deviceKeys: deviceKeyNumbers,
    issuerKeyNumbers: [issuerKeyNumber],
    accountKeyNumberBase,
    schemes: Object.fromEntries(schemes),
  };
}
