// What this machine's CPU allows a remittance, measured in the same run as the throughput benchmark
// (issue 17), so that a rate target can be set against what no code of this protocol could pass
// here, not only against what the devices do today.
//
// - The Ed25519 crypto limit: the remittances per second that the signatures and verifications each
//   one needs at the devices (cryptoWorkOf) allow on all cores, each operation timed bare on a
//   200-byte message; and what the terminals' own (terminalCryptoWork) take beside them.
// - The least CPU of a remittance with HMAC keys, from unit costs timed bare: an HMAC-SHA256 of the
//   same 200 bytes through node:crypto with a key object, as the signature device makes them; a
//   record's row written into a device's own SQLite schema, recordRowsPerCommit to a durable commit
//   as the stores' group commits write them (the process's CPU, the commits' system calls included,
//   their waits not); and a bare HTTP round trip's CPU at both ends (bench/lightFloor.ts). Every
//   remittance makes at least the devices' HMACs (counted in the run) and its terminal's (its
//   request signed, each link of its answer checked), its six records' rows at each of the three
//   devices, and, one remittance per request, its terminal's round trip. Nothing else is counted
//   (the devices' messages to each other, their reads, the rows of B and C, the
//   commits' waits, the continuous audit, the terminal's other work), so the rate it gives is a
//   ceiling: a target above it is beyond this machine.

import {
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert } from '../src/model/assert.js';
import { blockSize, type SignedRecord, type TransactionRecord } from '../src/protocol/records.js';
import { recordColumns, recordValues } from '../src/store/rows.js';
import { openSqliteDatabase } from '../src/store/sqlite.js';
import type { Mode } from './throughput.js';

/**
 * The signatures and verifications the three devices must make per remittance of this benchmark
 * (issue 17: records and rows). Records (issue 7): a2, a4, a6 signed by transaction, a3 by account,
 * a5 by currency; verified where they are received: transaction a1, a3, a5; account a1, a2, a4,
 * a5, a6; currency a1 to a4, a6. Rows, each verified when read and signed when changed: account
 * reads the two accounts at a3 and at the settlement, holds on the payer at a3 and changes both at
 * the settlement; currency, paying with one unit, reads and holds it at a5 and reads and hands it
 * over at the settlement in confirm mode, and in update mode reads and hands it over at a5. A row
 * read back as its device signed it is now compared with a copy, not verified again
 * (src/devices/rowCopies.ts): the limit still counts those reads' verifications, as the issue's
 * count of the protocol's work does, so that it stays comparable from run to run; the table's
 * signatures and verifications per remittance show what each device made.
 */
export const cryptoWorkOf: Readonly<Record<Mode, { records: CryptoWork; rows: CryptoWork }>> = {
  confirm: { records: { sign: 5, verify: 13 }, rows: { sign: 3 + 2, verify: 4 + 2 } },
  update: { records: { sign: 5, verify: 13 }, rows: { sign: 3 + 1, verify: 4 + 1 } },
};
export interface CryptoWork {
  readonly sign: number;
  readonly verify: number;
}

/** The message each signature operation is timed on: about a record's signing bytes. */
const signedMessageBytes = 200;
/** How long each unit cost is timed, after as long a warm-up for the row writes. */
const timedMs = 1_000;
/** A remittance's records stored at every device: six at each of three. */
export const recordRowsPerRemittance = Number(blockSize) * 3;
/** Record rows to a durable commit: about a group commit's under load. */
export const recordRowsPerCommit = 64;

/** Unit costs of a remittance's least work here, us of CPU each. */
export interface UnitCosts {
  readonly hmacUs: number;
  readonly recordRowUs: number;
}

/** Operations of `work` per second of one core, timed for timedMs of wall time. */
function perSecond(work: () => void): number {
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < timedMs) {
    for (let i = 0; i < 100; i++) work();
    count += 100;
  }
  return count / ((performance.now() - started) / 1000);
}

/** Ed25519 operations per second of one core, on a signedMessageBytes message. */
export interface Ed25519Rates {
  readonly signsPerSecond: number;
  readonly verifiesPerSecond: number;
}

/** Ed25519 signatures and verifications timed now, one after another on one core. */
export function measureEd25519Rates(): Ed25519Rates {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const message = Buffer.alloc(signedMessageBytes, 7);
  const signature = sign(null, message, privateKey);
  return {
    signsPerSecond: perSecond(() => sign(null, message, privateKey)),
    verifiesPerSecond: perSecond(() => verify(null, message, publicKey, signature)),
  };
}

/**
 * What a terminal signs and verifies per remittance: its request a1, and every link of the answer
 * after it (src/client/terminal.ts checks the whole chain before it believes an answer).
 */
export const terminalCryptoWork: CryptoWork = { sign: 1, verify: Number(blockSize) - 1 };

/** Cores that `work` per remittance takes at `perSecond` remittances. */
export function cryptoCores(rates: Ed25519Rates, work: CryptoWork, perSecond: number): number {
  return perSecond * (work.sign / rates.signsPerSecond + work.verify / rates.verifiesPerSecond);
}

/** The devices' crypto work per remittance in `mode`: records and rows (cryptoWorkOf). */
export function devicesCryptoWork(mode: Mode): CryptoWork {
  const { records, rows } = cryptoWorkOf[mode];
  return { sign: records.sign + rows.sign, verify: records.verify + rows.verify };
}

/** Remittances per second the devices' Ed25519 work alone allows on `cores` cores. */
export function ed25519CryptoLimit(
  rates: Ed25519Rates,
  mode: Mode,
  cores: number = availableParallelism(),
): number {
  return cores / cryptoCores(rates, devicesCryptoWork(mode), 1);
}

/** The unit costs timed now: after the load, with the devices stopped. */
export function measureUnitCosts(): UnitCosts {
  const key = createSecretKey(randomBytes(32));
  const message = Buffer.alloc(signedMessageBytes, 7);
  const hmacUs = 1e6 / perSecond(() => createHmac('sha256', key).update(message).digest());
  return { hmacUs, recordRowUs: recordRowUs() };
}

/** The six records of a remittance in confirm mode, in step order. */
const remittanceTypes = [
  'remittance_request',
  'account_confirmation_request',
  'account_confirmation_response',
  'currency_confirmation_request',
  'currency_confirmation_response',
  'remittance_response',
] as const;

/**
 * CPU per record row written into a device's own schema (the account device's: the indexes every
 * device keeps on A), as remittances write them: time-ordered remittance ids, accounts at random,
 * a 32-byte signature; recordRowsPerCommit rows to a durable commit, timed after a warm-up.
 */
function recordRowUs(): number {
  const dir = mkdtempSync(join(tmpdir(), 'triledger-cpu-limits-'));
  const db = openSqliteDatabase(join(dir, 'account.sqlite'), 'account');
  try {
    // The stores' own columns and values (store/rows.ts), as their inserts write a record.
    const insert = db.prepare(
      `INSERT INTO transactions (${recordColumns.join(', ')}) VALUES (${recordColumns.map(() => '?').join(', ')})`,
    );
    const signatures = Array.from({ length: recordRowsPerCommit }, () => randomBytes(32));
    let number = 0n;
    /** The next commit's records, made before it is timed: a device has its records at hand. */
    const nextRows = (): SignedRecord[] =>
      signatures.map((signature) => {
        number += 1n;
        const remittance = (number - 1n) / blockSize;
        const record: TransactionRecord = {
          transactionNumber: number,
          remittanceId: `0190a1b2-c3d4-7e5f-8a9b-${remittance.toString(16).padStart(12, '0')}`,
          transactionType: remittanceTypes[Number((number - 1n) % blockSize)]!,
          sourceAccount: 1n + ((remittance * 7n) % 1000n),
          destinationAccount: 1n + ((remittance * 13n) % 1000n),
          amount: 100n,
          currencyType: 'JPY',
          outcome: 'ok',
          dateTime: BigInt(Date.now()),
          signerKeyNumber: 1,
        };
        return { record, signature };
      });
    const commit = db.transaction((rows: readonly SignedRecord[]) => {
      for (const signed of rows) insert.run(...recordValues(signed));
    });
    /** CPU per row of the commits made for `ms` of wall time. */
    const rowsTimed = (ms: number) => {
      const started = performance.now();
      let cpuUs = 0;
      let rows = 0;
      while (performance.now() - started < ms) {
        const values = nextRows();
        const before = process.cpuUsage();
        commit(values);
        const spent = process.cpuUsage(before);
        cpuUs += spent.user + spent.system;
        rows += values.length;
      }
      return cpuUs / rows;
    };
    rowsTimed(timedMs);
    const us = rowsTimed(timedMs);
    assert(us > 0, 'a row costs some CPU');
    return us;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The least CPU of one remittance here, us: with its own round trip, and in a client batch. */
export function remittanceCpuFloorUs(
  costs: UnitCosts,
  roundTripCpuUs: number,
  hmacsPerRemittance: number,
): { readonly single: number; readonly batched: number } {
  assert(hmacsPerRemittance > 0 && roundTripCpuUs > 0, 'a remittance is signed and requested');
  const batched = hmacsPerRemittance * costs.hmacUs + recordRowsPerRemittance * costs.recordRowUs;
  return { single: batched + roundTripCpuUs, batched };
}

/** Remittances per second that `cpuUs` each allow on `cores` cores. */
export function ceilingPerSecond(cpuUs: number, cores: number = availableParallelism()): number {
  assert(cpuUs > 0, 'a remittance costs some CPU');
  return (cores * 1e6) / cpuUs;
}
