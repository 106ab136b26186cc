// The reads of a batch of exchanges at account and currency go out together: on PostgreSQL in one
// round trip, with the transaction's BEGIN (devices/account/service.ts, devices/currency/service.ts:
// #exchangeAll); so do currency's checks and reservations before it writes (#write). Each used to
// wait for the answer to the one before. Counted at the client (test/helpers/postgres.ts
// roundTrips) on a real server in fresh schemas, with the devices' own services and the
// simulator's deployment keys; the records are signed as the transaction device signs them.
import { describe, expect, it } from 'vitest';
import { accountRequestFields, nextAction, type RecordFields } from '../../src/core/transaction.js';
import { AccountService } from '../../src/devices/account/service.js';
import { accountKeyNumberBase, accountNumberMax } from '../../src/devices/accountKeys.js';
import { type DeviceContext, type DeviceName, signOwnRecord } from '../../src/devices/context.js';
import { CurrencyService } from '../../src/devices/currency/service.js';
import type { Environment } from '../../src/model/environment.js';
import {
  numberOfStep,
  type SignedRecord,
  signingBytes,
  type TransactionRecord,
} from '../../src/protocol/records.js';
import { requestRecordOf } from '../../src/protocol/requests.js';
import { stepOf } from '../../src/protocol/transactionTypes.js';
import { chainMessage } from '../../src/signature/chain.js';
import { DeploymentKeys } from '../../src/simulator/keys.js';
import { SeededRandom } from '../../src/simulator/random.js';
import { openAccountStoreAt, openCurrencyStoreAt } from '../../src/store/open.js';
import { freshStoreLocation, postgresAvailable, roundTrips } from '../helpers/postgres.js';

const available = await postgresAvailable();

const nowMs = 1_780_000_000_000;
const random = new SeededRandom(17);
const environment: Environment = { nowMs: () => nowMs, randomBytes: (n) => random.bytes(n) };
const keys = new DeploymentKeys(random, environment);
const limits = { nowMs, operationTimeoutMs: 60_000, mode: 'confirm' } as const;

function contextOf(device: DeviceName): DeviceContext {
  return {
    device,
    signatures: keys.signatureDeviceOf(device, environment),
    signingKeyNumber: keys.deviceKeys[device],
    deviceKeys: keys.deviceKeys,
    issuerKeyNumbers: [keys.issuerKeyNumber],
    signatureZero: keys.signatureZero,
    mode: 'confirm',
    environment,
  };
}

const transaction = contextOf('transaction');

/** An operation's next record, signed by `context` on the record before (as #signNext does). */
function signedNext(
  context: DeviceContext,
  records: readonly SignedRecord[],
  fields: RecordFields,
): SignedRecord {
  const record: TransactionRecord = Object.assign({}, fields, {
    transactionNumber: numberOfStep(
      records[0]!.record.transactionNumber,
      stepOf(fields.transactionType),
    ),
    remittanceId: records[0]!.record.remittanceId,
    dateTime: fields.dateTime ?? BigInt(nowMs),
    signerKeyNumber: context.signingKeyNumber,
  });
  return signOwnRecord(context, record, records.at(-1)!.signature);
}

/** The issuer's redemption from `account`, opened at block 1: its request and a2. */
function redemption(id: string, account: bigint): SignedRecord[] {
  const request = requestRecordOf({
    kind: 'redemption',
    body: {
      requestId: id,
      dateTime: new Date(nowMs).toISOString(),
      sourceAccount: account.toString(),
      amount: '30',
      currencyType: 'JPY',
      signerKeyNumber: keys.issuerKeyNumber,
    },
  });
  if (!request.ok) throw new Error(request.message);
  const signature = keys
    .issuerKeys(environment)
    .sign(keys.issuerKeyNumber, chainMessage(signingBytes(request.value), keys.signatureZero));
  if (!signature.ok) throw new Error(signature.message);
  const a1 = { record: { ...request.value, transactionNumber: 1n }, signature: signature.value };
  const numbering = { accountKeyNumberBase, accountNumberMax };
  return [
    a1,
    signedNext(transaction, [a1], accountRequestFields(a1.record, 'confirm', undefined, numbering)),
  ];
}

describe.skipIf(!available)('a batch of exchanges reads in one round trip (PostgreSQL)', () => {
  it('at account: the operations, the accounts and their openings with the BEGIN', async () => {
    const store = await openAccountStoreAt(freshStoreLocation('account').location);
    const service = new AccountService(contextOf('account'), store);
    const records = redemption('r-account', 7n);
    let answers: unknown;
    const trips = await roundTrips(async () => {
      answers = await service.exchangeBatch([{ records, expired: false }]);
    });
    // Account 7 is not open here: account answers a3 with the refusal (UnknownAccount).
    expect(answers).toMatchObject([{ ok: true, value: { record: { outcome: 'UnknownAccount' } } }]);
    expect(trips).toEqual([
      // The operation's stored records, the accounts named and their openings (three round
      // trips before).
      ['BEGIN ISOLATION', 'SELECT t.*', 'SELECT *', 'SELECT ids.account,'],
      // The payer's key, from its opening (a device holds a key it has used; this one has none).
      ['SELECT *'],
      ['INSERT INTO'],
      ['COMMIT'],
    ]);
  });

  it("at currency: the operations, both counters and the payer's first units with the BEGIN", async () => {
    const store = await openCurrencyStoreAt(freshStoreLocation('currency').location);
    const service = new CurrencyService(contextOf('currency'), store);
    const [a1, a2] = redemption('r-currency', 7n) as [SignedRecord, SignedRecord];
    const a3 = signedNext(contextOf('account'), [a1, a2], {
      transactionType: 'account_update_response',
      outcome: 'ok',
    });
    const next = nextAction(
      [a1, a2, a3].map((r) => r.record),
      limits,
    );
    expect(next.kind).toBe('sign');
    const a4 = signedNext(transaction, [a1, a2, a3], (next as { fields: RecordFields }).fields);
    let answers: unknown;
    const trips = await roundTrips(async () => {
      answers = await service.exchangeBatch([{ records: [a1, a2, a3, a4], expired: false }]);
    });
    // The payer holds no units here: currency answers a5 with the refusal.
    expect(answers).toMatchObject([
      { ok: true, value: { record: { outcome: 'InsufficientBalance' } } },
    ]);
    expect(trips).toEqual([
      // The operation's stored records, the next unit number and plan sequence, and the payer's
      // first units (four round trips before).
      ['BEGIN ISOLATION', 'SELECT t.*', 'SELECT value', 'SELECT value', 'SELECT payer.i,'],
      // The payer's key, from its opening (as at account).
      ['SELECT *'],
      // The new units free and the numbers reserved: none taken here (three round trips before).
      ['SELECT *', 'SELECT value', 'SELECT value'],
      ['INSERT INTO'],
      ['COMMIT'],
    ]);
  });
});
