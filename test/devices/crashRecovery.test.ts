// Crash scenarios, one per named step (docs/faults.md): the device that owns the step dies there
// (TRILEDGER_FAULT_CRASH, SIGKILL), is started again, and the remittance ends applied exactly once,
// with the three copies of A identical, without an operator. Then a hold that outlives its limit
// is settled by the device that holds it asking transaction (the pull path).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, openAccount } from '../../src/cli/clientCommands.js';
import {
  type OperationRefusal,
  type OperationResult,
  TerminalClient,
} from '../../src/client/terminal.js';
import {
  createDeployment,
  type DeviceName,
  deploymentInfo,
  passphraseOf,
  walletPath,
} from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { type FaultStep, faultSteps } from '../../src/devices/faultHooks.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { loadKeystoreFile } from '../../src/signature/keystoreFile.js';
import { cheapenKeystores } from '../helpers/deployment.js';
import { DeviceProcess, editJson, freePorts, shortTimeLimits, sleep } from '../helpers/devices.js';

const ownerOf: Record<FaultStep, DeviceName> = {
  S101: 'transaction',
  S102: 'account',
  S103: 'transaction',
  S104: 'transaction',
  S105: 'currency',
  S106: 'transaction',
  S107: 'transaction',
  S108: 'account',
  S109: 'account',
  S110: 'currency',
  S111: 'currency',
};
const amount = 100n;
const waitMsMax = 60_000;

let dir: string;
let devices: Record<DeviceName, DeviceProcess>;
let client: TerminalClient;
let sender: bigint;
let receiver: bigint;

function database(device: DeviceName) {
  return new Database(join(dir, `${device}.sqlite`), { readonly: true }).defaultSafeIntegers(true);
}

function balances(): { sender: bigint; receiver: bigint; held: bigint } {
  const db = database('account');
  try {
    const balance = (n: bigint) =>
      db.prepare('SELECT balance, held FROM accounts WHERE account_number = ?').get(n) as {
        balance: bigint;
        held: bigint;
      };
    return {
      sender: balance(sender).balance,
      receiver: balance(receiver).balance,
      held: balance(sender).held,
    };
  } finally {
    db.close();
  }
}

/** Invariant 5: the three copies of A are identical, row for row. */
function expectCopiesOfAIdentical(): void {
  const [a, b, c] = copiesOfA();
  expect(b).toBe(a);
  expect(c).toBe(a);
}

function copiesOfA(): string[] {
  return (['transaction', 'account', 'currency'] as const).map((device) => {
    const db = database(device);
    try {
      const rows = db.prepare('SELECT * FROM transactions ORDER BY transaction_number').all();
      return JSON.stringify(rows, (_key, value) =>
        typeof value === 'bigint'
          ? value.toString()
          : value instanceof Uint8Array
            ? Buffer.from(value).toString('hex')
            : value,
      );
    } finally {
      db.close();
    }
  });
}

/** How many records of an operation a device's copy of A holds. */
function recordCount(device: DeviceName, remittanceId: string): number {
  const db = database(device);
  try {
    const row = db
      .prepare('SELECT count(*) AS n FROM transactions WHERE remittance_id = ?')
      .get(remittanceId) as { n: bigint };
    return Number(row.n);
  } finally {
    db.close();
  }
}

async function health(): Promise<{ open: number; unsettled: number } | undefined> {
  try {
    return (await healthOf('operations')) as { open: number; unsettled: number };
  } catch {
    return undefined;
  }
}

async function healthOf(field: string): Promise<unknown> {
  const response = await fetch(`${deploymentInfo(dir).transactionUrl}/health`);
  return ((await response.json()) as Record<string, unknown>)[field];
}

async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + waitMsMax;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(
        `not within ${waitMsMax / 1000} s: ${what} (transaction reports ${JSON.stringify(await health())})`,
      );
    await sleep(50);
  }
}

/**
 * Start `device` again (it is stopped first) with a plan to die at `step`, the first time it gets
 * there: `died` resolves once it has (a death after that one is no longer watched).
 */
async function restartToDieAt(
  device: DeviceProcess,
  step: FaultStep,
): Promise<{ died: Promise<void> }> {
  await device.stop();
  const died = new Promise<void>((resolve) => {
    device.onDeath = () => {
      device.onDeath = () => {};
      resolve();
    };
  });
  await device.start(`${step}:1`);
  return { died };
}

/** The test's remittance: `amount` from sender to receiver, signed with this id and time. */
function remit(requestId: string, atMs: bigint): Promise<OperationResult | OperationRefusal> {
  return client.remit({
    sourceAccount: sender,
    destinationAccount: receiver,
    amount,
    currencyType: 'JPY',
    keyNumber: accountKeyNumberBase + Number(sender),
    requestId,
    atMs,
  });
}

/** Send the same signed remittance until the answer is definitive, as a careful user would. */
async function remitUntilDefinitive(
  requestId: string,
  atMs: bigint,
): Promise<OperationResult | OperationRefusal> {
  const deadline = Date.now() + waitMsMax;
  for (;;) {
    const answer = await remit(requestId, atMs);
    if (answer.ok || !['PeerUnavailable', 'RequestInProgress'].includes(answer.code)) return answer;
    if (Date.now() > deadline) return answer;
    await sleep(50);
  }
}

beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'triledger-crash-')), 'data');
  const portBase = await freePorts(3);
  createDeployment(
    dir,
    { scheme: 'hmac', mode: 'confirm', portBase, host: '127.0.0.1' },
    systemEnvironment,
  );
  cheapenKeystores(dir);
  shortTimeLimits(dir, { operationTimeoutMs: 4_000, holdTimeoutMs: 5_000, resumeIntervalMs: 100 });
  devices = {
    transaction: new DeviceProcess('transaction', dir),
    account: new DeviceProcess('account', dir),
    currency: new DeviceProcess('currency', dir),
  };
  for (const device of ['account', 'currency', 'transaction'] as const)
    await devices[device].start();
  sender = (await openAccount(dir, 'JPY')).accountNumber;
  receiver = (await openAccount(dir, 'JPY')).accountNumber;
  await issue(dir, sender, 'JPY', [5_000n, 5_000n]);
  const wallet = loadKeystoreFile(walletPath(dir, sender), passphraseOf(dir), {
    environment: systemEnvironment,
  });
  if (!wallet.ok) throw new Error(wallet.message);
  client = new TerminalClient(deploymentInfo(dir), wallet.value);
}, 90_000);

afterAll(async () => {
  await client?.close();
  for (const device of Object.values(devices ?? {})) await device.stop();
});

describe('a device crashes at a named step and is started again', () => {
  for (const step of faultSteps) {
    it(`${step}: the ${ownerOf[step]} device dies there; after a restart the remittance is applied once and the copies of A agree`, async () => {
      const before = balances();
      const device = devices[ownerOf[step]];
      const { died } = await restartToDieAt(device, step);
      const requestId = `crash-${step}-${Date.now()}`;
      const atMs = BigInt(Date.now());
      const first = remitUntilDefinitive(requestId, atMs);
      await died;
      // S104: a4 went to currency before it was stored here (it is a function of a1-a3): the
      // resumer must sign the very a4 that currency holds, or the operation stays open.
      if (step === 'S104')
        expect([recordCount('transaction', requestId), recordCount('currency', requestId)]).toEqual(
          [2, 5],
        );
      await device.start();
      const firstAnswer = await first;
      const answer = await remitUntilDefinitive(requestId, atMs);
      expect(answer.ok ? 'ok' : `${answer.code}: ${answer.message}`).toBe('ok');
      if (firstAnswer.ok) expect(firstAnswer.records).toEqual(answer.ok && answer.records);
      await until(async () => {
        const pending = await health();
        return pending?.open === 0 && pending.unsettled === 0;
      }, 'every operation settled');
      expect(balances()).toEqual({
        sender: before.sender - amount,
        receiver: before.receiver + amount,
        held: 0n,
      });
      expectCopiesOfAIdentical();
    }, 120_000);
  }
});

describe('a hold outlives holdTimeoutMs', () => {
  it('account missed the settlement and transaction does not resend it: account asks transaction and settles the hold itself', async () => {
    const before = balances();
    // transaction resumes only at start, then not for ten minutes: the push path is out.
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 600_000;
    });
    await devices.transaction.stop();
    await devices.transaction.start();
    const { died } = await restartToDieAt(devices.account, 'S108');
    const answer = await remitUntilDefinitive(`hold-${Date.now()}`, BigInt(Date.now()));
    expect(answer.ok).toBe(true);
    await died;
    await devices.account.start();
    await until(() => balances().held === 0n, 'the hold is settled');
    expect(balances()).toEqual({
      sender: before.sender - amount,
      receiver: before.receiver + amount,
      held: 0n,
    });
    expect(await health()).toEqual({ open: 0, unsettled: 1 });
    // transaction's own resend, when it comes, is acknowledged and applies nothing twice.
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 100;
    });
    await devices.transaction.stop();
    await devices.transaction.start();
    await until(async () => (await health())?.unsettled === 0, 'the resend is acknowledged');
    expect(balances().sender).toBe(before.sender - amount);
    expectCopiesOfAIdentical();
  }, 120_000);
});

describe('a device is unreachable past operationTimeoutMs', () => {
  it('currency is down after account held the amount: 503 meanwhile, then currency itself refuses (OperationExpired), every retry gets that one outcome, and the hold is released', async () => {
    const before = balances();
    await devices.currency.stop();
    const requestId = `expired-${Date.now()}`;
    const atMs = BigInt(Date.now());
    const first = await remit(requestId, atMs);
    expect(first.ok ? 'ok' : first.code).toBe('PeerUnavailable');
    expect(balances().held).toBe(amount);
    expect((await health())?.open).toBe(1);
    await sleep(4_500); // past operationTimeoutMs
    await devices.currency.start();
    // Eight impatient retries at once: they wait for one another, and all get the one outcome.
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => remitUntilDefinitive(requestId, atMs)),
    );
    expect(answers.map((a) => (a.ok ? 'ok' : a.code))).toEqual(Array(8).fill('OperationExpired'));
    const answer = answers[0]!;
    expect(answer.ok ? undefined : answer.records?.at(-2)?.record).toMatchObject({
      transactionType: 'currency_confirmation_response',
      outcome: 'OperationExpired',
    });
    await until(async () => (await health())?.unsettled === 0, 'the refusal is settled');
    expect(balances()).toEqual({ ...before, held: 0n });
    expectCopiesOfAIdentical();
  }, 120_000);
});

describe('a row a settlement needs is gone from the store', () => {
  it('currency refuses the settlement (RowSignatureInvalid) and stays up; once the rows are back it settles', async () => {
    const before = balances();
    const { died } = await restartToDieAt(devices.transaction, 'S107');
    const requestId = `gone-${Date.now()}`;
    const atMs = BigInt(Date.now());
    const first = remit(requestId, atMs);
    await died; // a6 is stored; the settlement was never sent
    await first;
    // The units currency holds for the remittance are deleted behind its back.
    const db = new Database(join(dir, 'currency.sqlite')).defaultSafeIntegers(true);
    const held = db.prepare("SELECT * FROM currency_units WHERE status = 'held'").all();
    expect(held.length).toBeGreaterThan(0);
    db.prepare("DELETE FROM currency_units WHERE status = 'held'").run();
    await devices.transaction.start();
    await until(async () => (await health())?.open === 0, 'the operation is done');
    await sleep(1_000); // several settlement attempts
    expect(devices.currency.child?.exitCode).toBeNull();
    expect(await health()).toEqual({ open: 0, unsettled: 1 });
    // The rows come back as they were: the next attempt settles, applied once.
    const columns = Object.keys(held[0] as object);
    const insert = db.prepare(
      `INSERT INTO currency_units (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    );
    for (const row of held) insert.run(row);
    db.close();
    await until(async () => (await health())?.unsettled === 0, 'the settlement is acknowledged');
    expect(balances()).toEqual({
      sender: before.sender - amount,
      receiver: before.receiver + amount,
      held: 0n,
    });
    expectCopiesOfAIdentical();
  }, 120_000);
});

describe('account is down while remittances arrive', () => {
  it('the operations it left open are driven together once it is back: their steps share messages to account, and each ends once', async () => {
    const before = balances();
    const count = 12;
    await devices.account.stop();
    const atMs = BigInt(Date.now());
    const ids = Array.from({ length: count }, (_, k) => `resumed-${k}-${Date.now()}`);
    const first = await Promise.all(ids.map((id) => remit(id, atMs)));
    expect(first.map((answer) => (answer.ok ? 'ok' : answer.code))).toEqual(
      Array(count).fill('PeerUnavailable'),
    );
    // transaction resumes only at its start: one pass of the resumer drives them all, past
    // operationTimeoutMs (so that account refuses each, OperationExpired, whenever it comes back).
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 600_000;
    });
    await devices.transaction.stop();
    await sleep(4_500);
    await devices.account.start();
    await devices.transaction.start();
    await until(async () => {
      const pending = await health();
      return pending?.open === 0 && pending.unsettled === 0;
    }, 'every operation decided and settled');
    const sent = (await healthOf('peerBatches')) as Record<
      string,
      { batches: number; steps: number }
    >;
    // An exchange and a settlement each, in a few messages (one at a time, at least one each).
    expect(sent['account']!.steps).toBeGreaterThanOrEqual(2 * count);
    expect(sent['account']!.batches * 3).toBeLessThan(sent['account']!.steps);
    const answers = await Promise.all(ids.map((id) => remitUntilDefinitive(id, atMs)));
    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.code))).toEqual(
      Array(count).fill('OperationExpired'),
    );
    expect(balances()).toEqual({ ...before, held: 0n });
    expectCopiesOfAIdentical();
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 100;
    });
    await devices.transaction.stop();
    await devices.transaction.start();
  }, 120_000);
});

describe("a done operation lost its response from the transaction device's store", () => {
  it('the resumer settles the other operations of its pass and leaves that one until the record is back', async () => {
    const before = balances();
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 600_000;
    });
    const a6Of = (remittanceId: string) => ({
      remittance_id: remittanceId,
      transaction_type: 'remittance_response',
    });
    const where = 'remittance_id = @remittance_id AND transaction_type = @transaction_type';
    // Two remittances decided and stored, then not settled: transaction dies at S107 each time;
    // the first one's a6 goes from its store before it starts again (kept, to put back).
    const ids: string[] = [];
    let lost: object | undefined;
    for (let k = 0; k < 2; k++) {
      const { died } = await restartToDieAt(devices.transaction, 'S107');
      const requestId = `lost-a6-${k}-${Date.now()}`;
      ids.push(requestId);
      const first = remit(requestId, BigInt(Date.now()));
      await died;
      await first;
      if (k > 0) continue;
      const db = new Database(join(dir, 'transaction.sqlite'));
      lost = db.prepare(`SELECT * FROM transactions WHERE ${where}`).get(a6Of(requestId)) as object;
      expect(
        db.prepare(`DELETE FROM transactions WHERE ${where}`).run(a6Of(requestId)).changes,
      ).toBe(1);
      db.close();
    }
    // One pass of the resumer, both in its batch: the second is settled, the first left alone.
    await devices.transaction.start();
    await until(async () => recordCount('currency', ids[1]!) === 6, 'the second is settled');
    await until(async () => (await health())?.unsettled === 1, 'its acknowledgement is stored');
    expect(recordCount('account', ids[1]!)).toBe(6);
    expect(recordCount('account', ids[0]!)).toBe(3);
    expect(devices.transaction.child?.exitCode).toBeNull();
    // The record back (as a recovery would put it), the next pass settles it, once.
    const db = new Database(join(dir, 'transaction.sqlite'));
    const columns = Object.keys(lost!);
    db.prepare(
      `INSERT INTO transactions (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    ).run(lost);
    db.close();
    editJson(join(dir, 'transaction.json'), (config) => {
      config['resumeIntervalMs'] = 100;
    });
    await devices.transaction.stop();
    await devices.transaction.start();
    await until(async () => (await health())?.unsettled === 0, 'both settlements are done');
    expect(balances()).toEqual({
      sender: before.sender - 2n * amount,
      receiver: before.receiver + 2n * amount,
      held: 0n,
    });
    expectCopiesOfAIdentical();
  }, 120_000);
});
