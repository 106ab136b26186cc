// The fault test (docs/design.md section 7, issue 5): a bank workload against three real device
// processes while devices are killed (`kill -9`), crash at named protocol steps (S101-S111, through
// the TRILEDGER_FAULT_CRASH hook) and the network between `transaction` and the other two drops,
// delays and cuts connections (./proxy.ts). Then every fault stops, the system is left to settle by
// itself (no operator), and the ledger is checked: nothing lost, nothing doubled, no money made or
// destroyed, the three copies of A identical, the audit clean.
//
// Clients behave as a careful user would: a remittance whose answer does not come (a device down,
// PeerUnavailable, RequestInProgress) is sent again, the same signed request with the same request
// id, until a definitive answer comes; that answer is what the client was told.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { issue, openAccount } from '../../src/cli/clientCommands.js';
import { TerminalClient } from '../../src/client/terminal.js';
import {
  createDeployment,
  type DeviceName,
  deploymentInfo,
  passphraseOf,
  walletPath,
} from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import type { FaultStep } from '../../src/devices/faultHooks.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { loadKeystoreFile } from '../../src/signature/keystoreFile.js';
import { binPath } from '../cli/run.js';
import { cheapenKeystores } from '../helpers/deployment.js';
import { DeviceProcess, editJson, freePorts, shortTimeLimits, sleep } from '../helpers/devices.js';
import { FaultProxy, noFaults } from './proxy.js';

export interface FaultRunOptions {
  readonly operations: number;
  /** Crashes to inject (kills and step crashes together). */
  readonly crashes: number;
  readonly clients: number;
  readonly accounts: number;
  readonly scheme: 'hmac' | 'ed25519';
  readonly mode: 'confirm' | 'update';
  /** Progress lines (a long run shows how far it is); none by default. */
  readonly log?: (line: string) => void;
}

export interface FaultRunSummary {
  readonly operations: number;
  readonly acknowledged: number;
  readonly refused: number;
  readonly retries: number;
  readonly kills: number;
  readonly stepCrashes: number;
  readonly networkFaults: number;
  readonly violations: readonly string[];
  readonly seconds: number;
  readonly line: string;
}

/** Each account starts with this many units of this value. */
const unitsPerAccount = 10;
const unitValue = 1_000n;
const amountMax = 300;
const settleWaitMsMax = 120_000;
/** A client that gets no definitive answer for this long counts a violation and moves on. */
const answerWaitMsMax = 60_000;

const stepsOf: Record<DeviceName, readonly FaultStep[]> = {
  transaction: ['S101', 'S103', 'S104', 'S106', 'S107'],
  account: ['S102', 'S108', 'S109'],
  currency: ['S105', 'S110', 'S111'],
};

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

export async function runFaultScenario(options: FaultRunOptions): Promise<FaultRunSummary> {
  const log = options.log ?? (() => {});
  const startedMs = Date.now();
  const dir = join(mkdtempSync(join(tmpdir(), 'triledger-faults-')), 'data');
  const portBase = await freePorts(5);
  createDeployment(
    dir,
    { scheme: options.scheme, mode: options.mode, portBase, host: '127.0.0.1' },
    systemEnvironment,
  );
  cheapenKeystores(dir);
  // transaction reaches account and currency through the proxies; time limits short, so that
  // holds and undecided operations are settled within the run.
  const proxies = {
    account: new FaultProxy(portBase + 3, portBase + 1),
    currency: new FaultProxy(portBase + 4, portBase + 2),
  };
  editJson(join(dir, 'transaction.json'), (config) => {
    config['peers'] = {
      account: `http://127.0.0.1:${portBase + 3}`,
      currency: `http://127.0.0.1:${portBase + 4}`,
    };
  });
  shortTimeLimits(dir, { operationTimeoutMs: 2_000, holdTimeoutMs: 4_000, resumeIntervalMs: 200 });

  await Promise.all(Object.values(proxies).map((proxy) => proxy.listen()));
  const devices = {
    transaction: new DeviceProcess('transaction', dir),
    account: new DeviceProcess('account', dir),
    currency: new DeviceProcess('currency', dir),
  };
  const violations: string[] = [];
  try {
    for (const device of ['account', 'currency', 'transaction'] as const)
      await devices[device].start();

    // ---- Accounts and their money, before any fault ------------------------------------------
    const accounts: bigint[] = [];
    for (let i = 0; i < options.accounts; i++) {
      const { accountNumber } = await openAccount(dir, 'JPY');
      await issue(
        dir,
        accountNumber,
        'JPY',
        Array.from({ length: unitsPerAccount }, () => unitValue),
      );
      accounts.push(accountNumber);
    }
    const issued = BigInt(options.accounts * unitsPerAccount) * unitValue;
    log(`faults: ${accounts.length} accounts opened, ${issued} JPY issued`);

    // ---- Faults ---------------------------------------------------------------------------------
    let kills = 0;
    let stepCrashes = 0;
    let chaos = true;
    const crashBudgetLeft = () => options.crashes - kills - stepCrashes;
    const restarts = new Set<Promise<void>>();
    const restart = async (device: DeviceProcess) => {
      await sleep(50 + Math.floor(Math.random() * 250));
      if (stopping) return;
      // While crashes are still to come, half of the restarts carry a step crash.
      const plan =
        chaos && crashBudgetLeft() > 0 && Math.random() < 0.5
          ? `${pick(stepsOf[device.device])}:0.05`
          : undefined;
      try {
        await device.start(plan);
      } catch (error) {
        violations.push(`${device.device} did not start again: ${(error as Error).message}`);
      }
    };
    let stopping = false;
    for (const device of Object.values(devices))
      device.onDeath = (signal) => {
        if (signal === 'SIGKILL' && device.crashPlan) stepCrashes += 1;
        const restarted = restart(device).finally(() => restarts.delete(restarted));
        restarts.add(restarted);
      };
    for (const proxy of Object.values(proxies))
      proxy.faults = { dropPerMille: 20, cutPerMille: 20, delayMsMax: 20 };

    // ---- The workload ---------------------------------------------------------------------------
    const passphrase = passphraseOf(dir);
    const info = deploymentInfo(dir);
    const expected = new Map<bigint, bigint>(
      accounts.map((a) => [a, BigInt(unitsPerAccount) * unitValue]),
    );
    const outcomes = new Map<string, { ok: boolean; code: string }>();
    let next = 0;
    let done = 0;
    let retries = 0;
    const client = async () => {
      const wallets = new Map(
        accounts.map((a) => {
          const keys = loadKeystoreFile(walletPath(dir, a), passphrase, {
            environment: systemEnvironment,
          });
          if (!keys.ok) throw new Error(keys.message);
          return [a, new TerminalClient(info, keys.value)] as const;
        }),
      );
      try {
        while (next < options.operations) {
          next += 1;
          const source = pick(accounts);
          const destination = pick(accounts.filter((a) => a !== source));
          const amount = BigInt(1 + Math.floor(Math.random() * amountMax));
          const requestId = randomUUID();
          const atMs = BigInt(Date.now());
          for (;;) {
            const answer = await wallets.get(source)!.remit({
              sourceAccount: source,
              destinationAccount: destination,
              amount,
              currencyType: 'JPY',
              keyNumber: accountKeyNumberBase + Number(source),
              requestId,
              atMs,
            });
            const undecided =
              !answer.ok &&
              ['PeerUnavailable', 'RequestInProgress', 'Maintenance'].includes(answer.code);
            if (undecided && Date.now() - Number(atMs) > answerWaitMsMax) {
              violations.push(
                `${requestId}: no definitive answer after ${answerWaitMsMax / 1000} s`,
              );
              outcomes.set(requestId, { ok: false, code: answer.code });
              break;
            }
            if (undecided) {
              retries += 1;
              await sleep(20 + Math.floor(Math.random() * 80));
              continue;
            }
            outcomes.set(requestId, { ok: answer.ok, code: answer.ok ? 'ok' : answer.code });
            if (answer.ok) {
              expected.set(source, expected.get(source)! - amount);
              expected.set(destination, expected.get(destination)! + amount);
            }
            break;
          }
          done += 1;
          if (done % 1000 === 0) log(`faults: ${done} operations, ${kills + stepCrashes} crashes`);
        }
      } finally {
        await Promise.all([...wallets.values()].map((w) => w.close()));
      }
    };
    const chaosLoop = async () => {
      // Spread the crashes over the run, one every so many operations, the last well before its
      // end. A kill goes to a device that is up: one picked while down (restarting) used to be
      // skipped, and a run could end a crash short of its budget.
      const spacing = Math.max(1, Math.floor(options.operations / (options.crashes + 1)));
      const alive = () => Object.values(devices).filter((device) => device.child);
      while (chaos && crashBudgetLeft() > 0) {
        const target = Math.min(options.operations, done + spacing);
        while (chaos && done < target) await sleep(10);
        while (chaos && alive().length === 0) await sleep(10);
        if (!chaos || crashBudgetLeft() <= 0) break;
        const device = pick(alive());
        kills += 1;
        device.kill9();
        device.onDeath(null);
      }
    };
    const chaosDone = chaosLoop();
    await Promise.all(Array.from({ length: options.clients }, client));
    chaos = false;
    await chaosDone;

    // ---- Every fault off; the system settles by itself -----------------------------------------
    for (const proxy of Object.values(proxies)) proxy.faults = noFaults;
    stopping = true;
    for (const device of Object.values(devices)) device.onDeath = () => {};
    while (restarts.size > 0) await Promise.all([...restarts]);
    for (const device of Object.values(devices)) await device.stop();
    for (const device of ['account', 'currency', 'transaction'] as const)
      await devices[device].start();
    const settled = await waitUntilSettled(info.transactionUrl);
    if (!settled)
      violations.push(`open or unsettled operations remain after ${settleWaitMsMax / 1000} s`);

    // ---- The checks ----------------------------------------------------------------------------
    // The proxies live in this process: the audit runs asynchronously so that they keep forwarding.
    const audit = await runAudit(dir);
    if (audit.status !== 0)
      violations.push(
        `the audit is not clean (exit ${audit.status}): ${audit.output.slice(0, 1000)}`,
      );
    for (const device of Object.values(devices)) await device.stop();
    violations.push(...checkStores(dir, expected, outcomes, issued));

    const networkFaults = proxies.account.injected + proxies.currency.injected;
    const acknowledged = [...outcomes.values()].filter((o) => o.ok).length;
    const seconds = (Date.now() - startedMs) / 1000;
    const line = `faults: ${outcomes.size} operations (${acknowledged} acknowledged, ${outcomes.size - acknowledged} refused, ${retries} retries), ${kills + stepCrashes} crashes injected (${kills} kill -9, ${stepCrashes} at named steps), ${networkFaults} connections dropped or cut; violations: ${violations.length}; ${seconds.toFixed(0)} s`;
    log(line);
    return {
      operations: outcomes.size,
      acknowledged,
      refused: outcomes.size - acknowledged,
      retries,
      kills,
      stepCrashes,
      networkFaults,
      violations,
      seconds,
      line,
    };
  } finally {
    for (const device of Object.values(devices)) {
      device.onDeath = () => {};
      await device.stop();
    }
    await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
  }
}

function runAudit(dir: string): Promise<{ status: number | null; output: string }> {
  const child = spawn(process.execPath, [binPath, 'audit', '--full', '--json', '--data', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, output })));
}

/** Wait until transaction reports no open operation and no unsettled one. */
async function waitUntilSettled(transactionUrl: string): Promise<boolean> {
  const deadline = Date.now() + settleWaitMsMax;
  while (Date.now() < deadline) {
    try {
      const health = (await (await fetch(`${transactionUrl}/health`)).json()) as {
        operations?: { open: number; unsettled: number };
      };
      if (health.operations?.open === 0 && health.operations.unsettled === 0) return true;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  return false;
}

/** Read the three stores (read-only, devices stopped) and check the invariants of docs/design.md and the outcomes. */
function checkStores(
  dir: string,
  expected: ReadonlyMap<bigint, bigint>,
  outcomes: ReadonlyMap<string, { ok: boolean; code: string }>,
  issued: bigint,
): string[] {
  const violations: string[] = [];
  const open = (device: DeviceName) =>
    new Database(join(dir, `${device}.sqlite`), { readonly: true }).defaultSafeIntegers(true);
  const db = {
    transaction: open('transaction'),
    account: open('account'),
    currency: open('currency'),
  };
  try {
    // Invariant 5: the three copies of A are identical.
    const copy = (device: DeviceName) =>
      db[device]
        .prepare('SELECT * FROM transactions ORDER BY transaction_number')
        .all()
        .map((row) =>
          JSON.stringify(row, (_k, v) =>
            typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v,
          ),
        );
    const [a, b, c] = (['transaction', 'account', 'currency'] as const).map(copy);
    if (a!.length !== b!.length || a!.some((row, i) => row !== b![i]))
      violations.push(
        `account's copy of A differs from transaction's (${b!.length} records against ${a!.length})`,
      );
    if (a!.length !== c!.length || a!.some((row, i) => row !== c![i]))
      violations.push(
        `currency's copy of A differs from transaction's (${c!.length} records against ${a!.length})`,
      );

    // Every acknowledged remittance applied exactly once; every refused one zero times.
    const responses = new Map<string, string[]>();
    for (const row of db.transaction
      .prepare(
        "SELECT remittance_id, outcome FROM transactions WHERE transaction_type = 'remittance_response'",
      )
      .all() as { remittance_id: string; outcome: string }[])
      responses.set(row.remittance_id, [...(responses.get(row.remittance_id) ?? []), row.outcome]);
    for (const [requestId, told] of outcomes) {
      const stored = responses.get(requestId) ?? [];
      if (stored.length > 1) violations.push(`${requestId}: ${stored.length} responses stored`);
      if (told.ok && stored[0] !== 'ok')
        violations.push(`${requestId}: acknowledged, but A says ${stored[0] ?? 'nothing'}`);
      if (!told.ok && stored.length === 1 && stored[0] === 'ok')
        violations.push(`${requestId}: refused (${told.code}), but applied in A`);
    }
    const undecided = db.transaction
      .prepare("SELECT count(*) AS n FROM operations WHERE state != 'done'")
      .get() as { n: bigint };
    if (undecided.n !== 0n) violations.push(`${undecided.n} operations are still open`);

    // B: each balance is what the acknowledged remittances make it; nothing held.
    let total = 0n;
    for (const row of db.account
      .prepare('SELECT account_number, balance, held FROM accounts')
      .all() as {
      account_number: bigint;
      balance: bigint;
      held: bigint;
    }[]) {
      total += row.balance;
      const want = expected.get(row.account_number);
      if (want !== undefined && row.balance !== want)
        violations.push(
          `account ${row.account_number}: balance ${row.balance}, the acknowledged remittances give ${want}`,
        );
      if (row.held !== 0n) violations.push(`account ${row.account_number}: ${row.held} still held`);
      if (row.balance < 0n) violations.push(`account ${row.account_number}: negative balance`);
      // Invariant 1: balance = the values of its active and held units.
      const units = db.currency
        .prepare(
          "SELECT coalesce(sum(value), 0) AS total FROM currency_units WHERE owner_account = ? AND status IN ('active', 'held')",
        )
        .get(row.account_number) as { total: bigint };
      if (units.total !== row.balance)
        violations.push(
          `account ${row.account_number}: balance ${row.balance}, units worth ${units.total}`,
        );
    }
    // Invariant 2: supply = issued (nothing redeemed).
    if (total !== issued) violations.push(`total balance ${total}, issued ${issued}`);
    for (const [table, device] of [
      ['holds', 'account'],
      ['unit_plans', 'currency'],
    ] as const) {
      const left = db[device].prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: bigint };
      if (left.n !== 0n) violations.push(`${left.n} rows left in ${device}'s ${table}`);
    }
  } finally {
    for (const handle of Object.values(db)) handle.close();
  }
  return violations;
}
