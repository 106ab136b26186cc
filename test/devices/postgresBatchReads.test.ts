// The reads of a batch of exchanges at account and currency go out together: on PostgreSQL in one
// round trip, with the transaction's BEGIN (devices/account/service.ts, devices/currency/service.ts:
// #exchangeAll); so do currency's checks and reservations before it writes (#write), and a
// settlement's units with its plans (#settleAll). Each used to wait for the answer to the one
// before. Their writes, records included, go with the COMMIT. Counted at the client (test/helpers/postgres.ts
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
  baseOfBlock,
  numberOfStep,
  type SignedRecord,
  signingBytes,
  type TransactionRecord,
} from '../../src/protocol/records.js';
import { type AnyRequest, requestRecordOf } from '../../src/protocol/requests.js';
import { stepOf, type TransactionType } from '../../src/protocol/transactionTypes.js';
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
/** The users' keys and the issuer's, as the terminals hold them. */
const wallets = keys.issuerKeys(environment);
const walletKeyNumberBase = 1_000;

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

const common = (id: string) => ({
  requestId: id,
  dateTime: new Date(nowMs).toISOString(),
  currencyType: 'JPY',
});

/** A request signed by `keyNumber` and opened at `block`: a1, and a2 (`newAccount`: an opening's). */
function openedRequest(
  request: AnyRequest,
  keyNumber: number,
  block: bigint,
  newAccount?: bigint,
): SignedRecord[] {
  const record = requestRecordOf(request);
  if (!record.ok) throw new Error(record.message);
  const signature = wallets.sign(
    keyNumber,
    chainMessage(signingBytes(record.value), keys.signatureZero),
  );
  if (!signature.ok) throw new Error(signature.message);
  const a1 = {
    record: { ...record.value, transactionNumber: baseOfBlock(block) },
    signature: signature.value,
  };
  const numbering = { accountKeyNumberBase, accountNumberMax };
  return [
    a1,
    signedNext(
      transaction,
      [a1],
      accountRequestFields(a1.record, 'confirm', newAccount, numbering),
    ),
  ];
}

/** The issuer's request (a redemption from, or an issuance to, `account`), opened at `block`: a1, a2. */
function opened(
  id: string,
  kind: 'redemption' | 'issuance',
  account: bigint,
  block = 0n,
): SignedRecord[] {
  const signerKeyNumber = keys.issuerKeyNumber;
  const request: AnyRequest =
    kind === 'redemption'
      ? {
          kind,
          body: { ...common(id), sourceAccount: `${account}`, amount: '30', signerKeyNumber },
        }
      : {
          kind,
          body: {
            ...common(id),
            destinationAccount: `${account}`,
            values: ['100'],
            signerKeyNumber,
          },
        };
  return openedRequest(request, signerKeyNumber, block);
}

/**
 * An account's opening at `block` (a1, a2), its wallet's Ed25519 key held by `wallets` under the
 * opening's number and under the account's own (as the simulator's terminals hold them).
 */
function openingOf(id: string, account: bigint, block: bigint): SignedRecord[] {
  const material = random.bytes(32);
  for (const keyNumber of [
    walletKeyNumberBase + Number(account),
    accountKeyNumberBase + Number(account),
  ]) {
    const added = wallets.addKey({
      keyNumber,
      owner: 'wallet',
      algorithm: 'ed25519-private',
      material,
      authorities: ['sign'],
    });
    if (!added.ok) throw new Error(added.message);
  }
  const exported = wallets.exportPublic(walletKeyNumberBase + Number(account));
  if (!exported.ok) throw new Error(exported.message);
  const request: AnyRequest = {
    kind: 'account_issuing',
    body: { ...common(id), publicKeyHex: exported.value.publicKeyHex },
  };
  return openedRequest(request, walletKeyNumberBase + Number(account), block, account);
}

/**
 * What account lacks to settle an operation it answered with `a3`: the records the transaction
 * device signs after it, as its machine names them, and currency's answers accepting.
 */
function settlementAfter(records: readonly SignedRecord[], a3: SignedRecord): SignedRecord[] {
  const all = [...records, a3];
  for (;;) {
    const next = nextAction(
      all.map((r) => r.record),
      limits,
    );
    if (next.kind === 'decided') return all.slice(records.length + 1);
    const request = all.at(-1)!.record.transactionType;
    all.push(
      next.kind === 'sign'
        ? signedNext(transaction, all, next.fields)
        : signedNext(contextOf('currency'), all, {
            transactionType: request.replace(/_request$/, '_response') as TransactionType,
            outcome: 'ok',
          }),
    );
  }
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

/** What `work` answers, and the round trips it took. */
async function answeredIn<T>(work: () => Promise<T>): Promise<{ answers: T; trips: string[][] }> {
  let answers: T | undefined;
  const trips = await roundTrips(async () => {
    answers = await work();
  });
  return { answers: answers as T, trips };
}

/**
 * What a currency exchange batch reads with its BEGIN: its operations' records, the next unit
 * number and plan sequence, and the highest unit number stored (and its payers' first units).
 */
const currencyFirstReads = [
  'BEGIN ISOLATION',
  'SELECT t.*',
  'SELECT value',
  'SELECT value',
  'SELECT coalesce(max(currency_number),',
];

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
    const { answers, trips } = await answeredIn(() =>
      service.exchangeBatch([{ records, expired: false }]),
    );
    // Account 7 is not open here: account answers a3 with the refusal (UnknownAccount).
    expect(answers).toMatchObject([{ ok: true, value: { record: { outcome: 'UnknownAccount' } } }]);
    expect(trips).toEqual([
      // The operation's stored records, the accounts named and their openings (three round
      // trips before).
      ['BEGIN ISOLATION', 'SELECT t.*', 'SELECT *', 'SELECT ids.account,'],
      // The payer's key, from its opening (a device holds a key it has used; this one has none).
      ['SELECT *'],
      // The records with the batch's other writes, and the COMMIT (the records were a round trip
      // of their own before).
      ['WITH w0', 'COMMIT'],
    ]);
  });

  it('at account, settling: the holds it ends with the operations, then the accounts', async () => {
    const store = await openAccountStoreAt(freshStoreLocation('account').location);
    const service = new AccountService(contextOf('account'), store);
    // Accounts 7 and 8 opened, 100 issued to 7, then 30 from 7 to 8 (a hold at 7 until settled).
    const exchangedAndSettled = async (records: SignedRecord[]) => {
      const [a3] = await service.exchangeBatch([{ records, expired: false }]);
      expect(a3).toMatchObject({ ok: true, value: { record: { outcome: 'ok' } } });
      const settlement = settlementAfter(records, (a3 as { value: SignedRecord }).value);
      return { settle: () => service.settleBatch([settlement]) };
    };
    for (const [k, account] of [7n, 8n].entries())
      expect(
        await (await exchangedAndSettled(openingOf(`o-${account}`, account, BigInt(k)))).settle(),
      ).toEqual([{ ok: true, value: undefined }]);
    const issued = await exchangedAndSettled(opened('i-7', 'issuance', 7n, 2n));
    expect(await issued.settle()).toEqual([{ ok: true, value: undefined }]);
    const remittance = openedRequest(
      {
        kind: 'remittance',
        body: {
          ...common('r-7-8'),
          sourceAccount: '7',
          destinationAccount: '8',
          amount: '30',
          signerKeyNumber: accountKeyNumberBase + 7,
        },
      },
      accountKeyNumberBase + 7,
      3n,
    );
    const remitted = await exchangedAndSettled(remittance);
    const { answers, trips } = await answeredIn(() => remitted.settle());
    expect(answers).toEqual([{ ok: true, value: undefined }]);
    expect(trips).toEqual([
      // The operation's stored records and its hold (two round trips before).
      ['BEGIN ISOLATION', 'SELECT t.*', 'SELECT *'],
      // The accounts the settlement changes: 7 and 8 (known from the records stored).
      ['SELECT *'],
      // The accounts' rows, the hold's end and the records, held back, with the COMMIT (the
      // hold's end and the records were a round trip each).
      ['WITH w0', 'COMMIT'],
    ]);
  });

  it("at currency: the operations, both counters and the payer's first units with the BEGIN", async () => {
    const service = await currencyService();
    const records = acceptedAtAccount(opened('r-currency', 'redemption', 7n));
    const { answers, trips } = await answeredIn(() =>
      service.exchangeBatch([{ records, expired: false }]),
    );
    // The payer holds no units here: currency answers a5 with the refusal.
    expect(answers).toMatchObject([
      { ok: true, value: { record: { outcome: 'InsufficientBalance' } } },
    ]);
    expect(trips).toEqual([
      // The operation's stored records, the next unit number and plan sequence, the highest unit
      // number stored, and the payer's first units (four round trips before).
      [...currencyFirstReads, 'SELECT payer.i,'],
      // The payer's key, from its opening (as at account).
      ['SELECT *'],
      // Its writes with the COMMIT: the new units' numbers checked free and reserved, and then
      // the records, took a round trip each before.
      ['WITH w0', 'COMMIT'],
    ]);
  });

  it('at currency, issuing: the numbers taken reserved with the writes', async () => {
    const service = await currencyService();
    const first = acceptedAtAccount(opened('i-first', 'issuance', 7n, 0n));
    expect(await service.exchangeBatch([{ records: first, expired: false }])).toMatchObject([
      { ok: true, value: { record: { outcome: 'ok' } } },
    ]);
    // The counters are stored now: the next issuance advances them from what it read.
    const records = acceptedAtAccount(opened('i-second', 'issuance', 7n, 1n));
    const { answers, trips } = await answeredIn(() =>
      service.exchangeBatch([{ records, expired: false }]),
    );
    expect(answers).toMatchObject([{ ok: true, value: { record: { outcome: 'ok' } } }]);
    expect(trips).toEqual([
      currencyFirstReads,
      // The new unit, both counters' advances and the records, held back, with the COMMIT (the
      // advances and the records were a round trip each).
      ['WITH w0', 'COMMIT'],
    ]);
  });

  it('at currency, settling: the units a plan changes with the plans held for them', async () => {
    const service = await currencyService();
    const exchanged = acceptedAtAccount(opened('i-currency', 'issuance', 7n));
    const [answer] = await service.exchangeBatch([{ records: exchanged, expired: false }]);
    expect(answer).toMatchObject({ ok: true, value: { record: { outcome: 'ok' } } });
    const a5 = (answer as { value: SignedRecord }).value;
    const operation = [...exchanged, a5, transactionNext([...exchanged, a5])];
    // What currency lacks of the operation: a6 (it stored a1-a5 with its answer).
    const { answers, trips } = await answeredIn(() => service.settleBatch([operation.slice(5)]));
    expect(answers).toEqual([{ ok: true, value: undefined }]);
    expect(trips).toEqual([
      ['BEGIN ISOLATION', 'SELECT t.*'],
      // The units the plan in a5 changes, and the plans held for the operations (one after the
      // other before).
      ['SELECT *', 'SELECT remittance_id,'],
      // The records with the batch's other writes, and the COMMIT (the records were a round trip
      // of their own before).
      ['WITH w0', 'COMMIT'],
    ]);
  });
});
