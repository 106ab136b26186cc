// `npm run bench -- signature`: the signature device against raw node:crypto, in the same run.
//
// Four operations over a 200-byte record: HMAC-SHA256 sign and verify, Ed25519 sign and verify.
// Each is measured through the device (key lookup, authority check, typed result) and raw
// (node:crypto called directly with a ready key), in interleaved rounds on one core, so that both
// see the same machine state; the median round counts. Target: device >= 0.9x raw.

import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { systemEnvironment } from '../src/model/environment.js';
import { SignatureDevice } from '../src/signature/device.js';
import { progressLine } from './progress.js';

const recordBytes = 200;
const roundMs = 300;
const rounds = 7;
const targetRatio = 0.9;

interface Case {
  readonly name: string;
  readonly raw: () => unknown;
  readonly device: () => unknown;
}

export interface SignatureBenchResult {
  readonly operation: string;
  readonly rawPerSecond: number;
  readonly devicePerSecond: number;
  readonly ratio: number;
}

function opsPerSecond(operation: () => unknown): number {
  const deadline = process.hrtime.bigint() + BigInt(roundMs) * 1_000_000n;
  let count = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 256; i++) operation();
    count += 256;
    now = process.hrtime.bigint();
  }
  return (count * 1e9) / Number(now - start);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function runSignatureBench(): SignatureBenchResult[] {
  const message = systemEnvironment.randomBytes(recordBytes);
  const device = new SignatureDevice(systemEnvironment);
  const hmacSecret = systemEnvironment.randomBytes(32);
  const edSeed = systemEnvironment.randomBytes(32);
  const check = <T>(result: { ok: true; value: T } | { ok: false; message: string }): T => {
    if (!result.ok) throw new Error(result.message);
    return result.value;
  };
  check(
    device.addKey({
      keyNumber: 1,
      owner: 'bench',
      algorithm: 'hmac-sha256',
      material: hmacSecret,
      authorities: ['sign', 'verify'],
    }),
  );
  check(
    device.addKey({
      keyNumber: 2,
      owner: 'bench',
      algorithm: 'ed25519-private',
      material: edSeed,
      authorities: ['sign', 'verify'],
    }),
  );

  const edPrivate = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), edSeed]),
    format: 'der',
    type: 'pkcs8',
  });
  const edPublic = createPublicKey(edPrivate);
  const hmacSignature = check(device.sign(1, message));
  const edSignature = check(device.sign(2, message));

  const cases: Case[] = [
    {
      name: 'HMAC-SHA256 sign',
      raw: () => createHmac('sha256', hmacSecret).update(message).digest(),
      device: () => device.sign(1, message),
    },
    {
      name: 'HMAC-SHA256 verify',
      raw: () =>
        timingSafeEqual(createHmac('sha256', hmacSecret).update(message).digest(), hmacSignature),
      device: () => device.verify(1, message, hmacSignature),
    },
    {
      name: 'Ed25519 sign',
      raw: () => sign(null, message, edPrivate),
      device: () => device.sign(2, message),
    },
    {
      name: 'Ed25519 verify',
      raw: () => verify(null, message, edPublic, edSignature),
      device: () => device.verify(2, message, edSignature),
    },
  ];

  const progress = progressLine();
  const results: SignatureBenchResult[] = [];
  for (const benchCase of cases) {
    const raw: number[] = [];
    const viaDevice: number[] = [];
    for (let round = 0; round < rounds; round++) {
      progress.update(`signature: ${benchCase.name}, round ${round + 1}/${rounds}`);
      // Alternate which goes first, so neither always gets the warmer cache.
      if (round % 2 === 0) {
        raw.push(opsPerSecond(benchCase.raw));
        viaDevice.push(opsPerSecond(benchCase.device));
      } else {
        viaDevice.push(opsPerSecond(benchCase.device));
        raw.push(opsPerSecond(benchCase.raw));
      }
    }
    const rawPerSecond = median(raw);
    const devicePerSecond = median(viaDevice);
    results.push({
      operation: benchCase.name,
      rawPerSecond,
      devicePerSecond,
      ratio: devicePerSecond / rawPerSecond,
    });
  }
  progress.done();
  return results;
}

export const signatureTargetRatio = targetRatio;
export const signatureBenchSettings = { recordBytes, roundMs, rounds };
