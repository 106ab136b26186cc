// What the console and the wallet do in the page: Ed25519 keys in WebCrypto, the operator's request
// signature (the same envelope as protocol/envelope.ts), request records signed exactly as a
// terminal signs them, and receipts checked link by link.
//
// The record encoding and the chain message come from the devices' own modules (protocol/
// recordBytes.ts, signature/chain.ts), so the page signs and checks the very bytes the devices do.
// The page has no power of its own: every admin call is signed here with the operator's key and
// checked by the transaction device.

import { toHex } from '../model/hex.js';
import { timeOrderedUuid, uuidRandomBytes } from '../model/timeOrderedUuid.js';
import {
  envelopeHeader,
  envelopeHeaderValue,
  envelopeMessage,
  envelopeNonceBytes,
  signedTarget,
} from '../protocol/envelopeBytes.js';
import type { SignedRecord, TransactionRecord } from '../protocol/recordBytes.js';
import { signingBytes } from '../protocol/recordBytes.js';
import { type AnyRequest, requestRecordOf } from '../protocol/requests.js';
import { stepOf, transactionTypes } from '../protocol/transactionTypes.js';
import { recordsFromWire, type WireRecord } from '../protocol/wire.js';
import { chainMessage } from '../signature/chain.js';

export interface Deployment {
  readonly signatureZeroHex: string;
  readonly mode: string;
  readonly deviceKeys: { transaction: number; account: number; currency: number };
  readonly devicePublicKeys: Record<'transaction' | 'account' | 'currency', string | null>;
  readonly issuerKeyNumbers: number[];
  readonly accountKeyNumberBase: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const hex = (bytes: Uint8Array) => toHex(bytes);

/** A copy on its own ArrayBuffer: what WebCrypto takes. */
export const own = (data: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(data);

/** A request id in time order (model/timeOrderedUuid.ts), with the page's randomness. */
export function timeOrderedId(nowMs: number = Date.now()): string {
  return timeOrderedUuid(nowMs, crypto.getRandomValues(new Uint8Array(uuidRandomBytes)));
}

export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new ApiError('InvalidInput', 'not hex');
  return Uint8Array.from(text.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}

async function jsonOf(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    const error = body['error'] as { code?: string; message?: string } | undefined;
    throw new ApiError(
      error?.code ?? `HTTP ${response.status}`,
      error?.message ?? response.statusText,
    );
  }
  return body;
}

export async function getJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return (await jsonOf(await fetch(path))) as T;
}

export async function postJson(path: string, body: unknown): Promise<Record<string, unknown>> {
  return jsonOf(
    await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

// ---- Ed25519 keys ------------------------------------------------------------------------------

/** PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410), the form WebCrypto imports. */
const pkcs8Prefix = fromHex('302e020100300506032b657004220420');

export function pkcs8OfSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new ApiError('InvalidInput', 'an Ed25519 key is 32 bytes (64 hex)');
  const der = new Uint8Array(pkcs8Prefix.length + 32);
  der.set(pkcs8Prefix);
  der.set(seed, pkcs8Prefix.length);
  return der;
}

export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKeyHex: string;
}

/** Import a PKCS#8 Ed25519 private key; its public key is read from the JWK form. */
export async function importPrivateKey(pkcs8: Uint8Array): Promise<KeyPair> {
  const extractable = await crypto.subtle.importKey(
    'pkcs8',
    own(pkcs8),
    { name: 'Ed25519' },
    true,
    ['sign'],
  );
  const jwk = await crypto.subtle.exportKey('jwk', extractable);
  const publicKey = Uint8Array.from(atob(jwk.x!.replace(/-/g, '+').replace(/_/g, '/')), (c) =>
    c.charCodeAt(0),
  );
  const privateKey = await crypto.subtle.importKey(
    'pkcs8',
    own(pkcs8),
    { name: 'Ed25519' },
    false,
    ['sign'],
  );
  return { privateKey, publicKeyHex: hex(publicKey) };
}

export async function sign(key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, own(message)));
}

// ---- The operator's envelope (protocol/envelopeBytes.ts) --------------------------------------

/** The envelope header of one request to the transaction device, signed in the page. */
export async function signedEnvelope(
  keyNumber: number,
  key: CryptoKey,
  method: string,
  path: string,
  body: Uint8Array,
): Promise<string> {
  const target = signedTarget(path);
  if (target === undefined) throw new ApiError('InvalidInput', `cannot sign the path ${path}`);
  const sentAtMs = BigInt(Date.now());
  const nonce = crypto.getRandomValues(new Uint8Array(envelopeNonceBytes));
  const bodyDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', own(body)));
  const message = envelopeMessage(
    { receiver: 'transaction', method, target, sentAtMs, nonce },
    bodyDigest,
  );
  return envelopeHeaderValue(keyNumber, sentAtMs, nonce, await sign(key, message));
}

/** A GET signed with `key` (an account's own reads, which answer only its key or an operator's). */
export async function signedGetJson<T = Record<string, unknown>>(
  path: string,
  keyNumber: number,
  key: CryptoKey,
): Promise<T> {
  const envelope = await signedEnvelope(keyNumber, key, 'GET', path, new Uint8Array(0));
  return (await jsonOf(await fetch(path, { headers: { [envelopeHeader]: envelope } }))) as T;
}

/** An operator signed in: every call it makes carries its signature, checked by the device. */
export class OperatorSession {
  constructor(
    readonly keyNumber: number,
    private readonly key: CryptoKey,
  ) {}

  async fetch(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    const bytes = new TextEncoder().encode(body === undefined ? '' : JSON.stringify(body));
    return fetch(path, {
      method,
      headers: {
        [envelopeHeader]: await signedEnvelope(this.keyNumber, this.key, method, path, bytes),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: bytes }),
    });
  }

  async get<T = Record<string, unknown>>(path: string): Promise<T> {
    return (await jsonOf(await this.fetch('GET', path))) as T;
  }

  /** A streamed admin job (audit, recover): each JSON line to `onEvent`, in order. */
  async stream(path: string, body: unknown, onEvent: (event: Record<string, unknown>) => void) {
    const response = await this.fetch('POST', path, body);
    if (!response.ok || !response.body) await jsonOf(response);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line) onEvent(JSON.parse(line) as Record<string, unknown>);
      }
    }
  }
}

// ---- Requests and receipts ---------------------------------------------------------------------

/** The step-1 record of a request, signed over signature 0 as a terminal signs it. */
export async function signRequest(
  deployment: Deployment,
  request: AnyRequest,
  key: CryptoKey,
): Promise<{ record: TransactionRecord; signature: Uint8Array }> {
  const record = requestRecordOf(request);
  if (!record.ok) throw new ApiError(record.code, record.message);
  const message = chainMessage(signingBytes(record.value), fromHex(deployment.signatureZeroHex));
  return { record: record.value, signature: await sign(key, message) };
}

export interface ReceiptLine {
  readonly step: number;
  readonly record: TransactionRecord;
  readonly signer: string;
  /** 'verified', 'not checkable here' (HMAC device keys), or what failed. */
  readonly check: string;
  /** Nothing wrong was found with this link. */
  readonly ok: boolean;
  /** The link was checked in this page (false for a link signed with an HMAC device key). */
  readonly checked: boolean;
}

/** What a receipt says as a whole: only the links it checked count as checked. */
export function receiptVerdict(lines: readonly ReceiptLine[]): {
  readonly ok: boolean;
  readonly text: string;
} {
  if (!lines.every((line) => line.ok)) return { ok: false, text: 'does not verify' };
  const checked = lines.filter((line) => line.checked).length;
  return checked === lines.length
    ? { ok: true, text: 'every link checked' }
    : {
        ok: true,
        text: `${checked} of ${lines.length} links checked here; the others are signed with HMAC device keys, which only the devices hold (the ledger's audit checks them)`,
      };
}

/**
 * Check a reply's records link by link: the first is exactly the request signed here; each later
 * one is signed by the device its step belongs to, over the previous signature. Device signatures
 * are checked with the devices' Ed25519 public keys; HMAC device keys cannot be checked outside
 * the devices, and are reported as such.
 */
export async function checkReceipt(
  deployment: Deployment,
  signed: { record: TransactionRecord; signature: Uint8Array },
  wire: WireRecord[],
): Promise<ReceiptLine[]> {
  const parsed = recordsFromWire(wire);
  if (!parsed.ok) throw new ApiError('SignatureInvalid', 'the reply carries a malformed record');
  const records: readonly SignedRecord[] = parsed.value;
  const lines: ReceiptLine[] = [];
  let previous: Uint8Array = fromHex(deployment.signatureZeroHex);
  for (const [index, { record, signature }] of records.entries()) {
    const step = stepOf(record.transactionType);
    const role = transactionTypes[record.transactionType].signer;
    let check: string;
    let ok: boolean;
    let checked = true;
    if (index === 0) {
      ok =
        hex(signature) === hex(signed.signature) &&
        hex(signingBytes(record)) === hex(signingBytes(signed.record));
      check = ok ? 'the request signed here' : 'not the request signed here';
    } else if (role === 'requester' || record.signerKeyNumber !== deployment.deviceKeys[role]) {
      ok = false;
      check = `signed by key ${record.signerKeyNumber}, not the ${role} device`;
    } else {
      const publicKeyHex = deployment.devicePublicKeys[role];
      if (publicKeyHex === null) {
        ok = true;
        checked = false;
        check = 'not checkable here (HMAC device key)';
      } else {
        const key = await crypto.subtle.importKey(
          'raw',
          fromHex(publicKeyHex),
          { name: 'Ed25519' },
          false,
          ['verify'],
        );
        ok = await crypto.subtle.verify(
          { name: 'Ed25519' },
          key,
          own(signature),
          own(chainMessage(signingBytes(record), previous)),
        );
        check = ok ? 'verified' : 'SIGNATURE DOES NOT VERIFY';
      }
    }
    lines.push({ step, record, signer: role === 'requester' ? 'you' : role, check, ok, checked });
    previous = signature;
  }
  return lines;
}

export function formatTime(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC') : '';
}
