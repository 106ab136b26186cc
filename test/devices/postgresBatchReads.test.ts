// The reads of a batch of exchanges at account and currency go out together: on PostgreSQL in one
// round trip, with the transaction's BEGIN (devices/account/service.ts, devices/currency/service.ts:
// #exchangeAll); so do currency's checks and reservations before it writes (#write), and a
// settlement's units with its plans (#settleAll). Each used to wait for the answer to the one
// before. Counted at the client (test/helpers/postgres.ts
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

/** The issuer's request (a redemption from, or an issuance to, `account`), opened at block 1: a1, a2. */
function opened(id: string, kind: 'redemption' | 'issuance', account: bigint): SignedRecord[] {
  const common = { requestId: id, dateTime: new Date(nowMs).toISOString(), currencyType: 'JPY' };
  const request = requestRecordOf(
    kind === 'redemption'
      ? {
          kind,
          body: {
            ...common,
            sourceAccount: `${account}`,
            amount: '30',
            signerKeyNumber: keys.issuerKeyNumber,
          },
        }
      : {
          kind,
          body: {
            ...common,
            destinationAccount: `${account}`,
            values: ['100'],
            signerKeyNumber: keys.issuerKeyNumber,
          },
        },
  );
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

/** a3 accepting, signed by account, and the record the transaction device signs after it (a4). */
function acceptedAtAccount(records: readonly SignedRecord[]): SignedRecord[] {
  const a3 = signedNext(contextOf('account'), records, {
    transactionType: 'account_update_response',
    outcome: 'ok',
  });
  return [...records, a3, transactionNext([...records, a3])];
}

/** The record the transaction device signs next (a4, or a6), as the machine names it. */
function transactionNext(records: readonly SignedRecord[]): SignedRecord {
  const next = nextAction(
    records.map((r) => r.record),
    limits,
  );
  if (next.kind !== 'sign')
    throw new Error(`the transaction device does not sign next: ${next.kind}`);
  return signedNext(transaction, records, next.fields);
}

/** The currency device's service on a store in a fresh schema. */
async function currencyService(): Promise<CurrencyService> {
  const store = await openCurrencyStoreAt(freshStoreLocation('currency').location);
  return new CurrencyService(contextOf('currency'), store);
}

describe.skipIf(!available)('a batch of exchanges reads in one round trip (PostgreSQL)', () => {
  it('at account: the operations, the accounts and their openings with the BEGIN', async () => {
    const store = await openAccountStoreAt(freshStoreLocation('account').location);
    const service = new AccountService(contextOf('account'), store);
    const records = opened('r-account', 'redemption', 7n);
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
    const service = await currencyService();
    const records = acceptedAtAccount(opened('r-currency', 'redemption', 7n));
    let answers: unknown;
    const trips = await roundTrips(async () => {
      answers = await service.exchangeBatch([{ records, expired: false }]);
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

  it('at currency, settling: the units a plan changes with the plans held for them', async () => {
    const service = await currencyService();
    const exchanged = acceptedAtAccount(opened('i-currency', 'issuance', 7n));
    const [answer] = await service.exchangeBatch([{ records: exchanged, expired: false }]);
    expect(answer).toMatchObject({ ok: true, value: { record: { outcome: 'ok' } } });
    const a5 = (answer as { value: SignedRecord }).value;
    const operation = [...exchanged, a5, transactionNext([...exchanged, a5])];
    let answers: unknown;
    const trips = await roundTrips(async () => {
      // What currency lacks of the operation: a6 (it stored a1-a5 with its answer).
      answers = await service.settleBatch([operation.slice(5)]);
    });
    expect(answers).toEqual([{ ok: true, value: undefined }]);
    expect(trips).toEqual([
      ['BEGIN ISOLATION', 'SELECT t.*'],
      // The units the plan in a5 changes, and the plans held for the operations (one after the
      // other before).
      ['SELECT *', 'SELECT remittance_id,'],
      ['INSERT INTO'],
      ['COMMIT'],
    ]);
  });
});
