// `npm run bench -- audit [--scheme hmac|ed25519] [--remittances N]`: the audit and recovery figures.
//
// 1. Builds a ledger of N remittances (default 100,000: 600,000 records in each of the three copies
//    of A) among 100 accounts, by running the devices' own services in one process over the real
//    SQLite stores (the HTTP hops are left out and commits are not synced while building, so that
//    the build takes minutes, not hours). The result is cached in bench/cache/ for later runs, its
//    account history indexed as a running transaction device would hold it (indexHistory).
// 2. Starts the three devices as processes on it (`triledger up`) and times a full audit through
//    the admin endpoint, reading the copies through the devices' streaming exports, three times
//    (runs on this machine vary by a second or more): the median, records checked per second, each
//    device's CPU time in that run, and the transaction device's peak memory (VmHWM).
// 3. Deletes every row of B and C under the running devices and times `recover`, which audits,
//    re-creates and re-signs them from the replay of A, and audits again.
// 4. Rebuilds each device's store in turn (issue 18): with the deployment stopped, the store set
//    aside (`triledger set-aside`), the device started on an empty one, and `recover` timed, which
//    puts A back from the other two copies, replays B or C and derives the other tables.
// 5. For Ed25519, times the verifications alone (as many as the audit made, records of A and rows
//    of B and C, on raw node:crypto) to compare with.

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { storeLocationsOf } from '../src/audit/offline.js';
import { OperatorClient } from '../src/client/operator.js';
import {
  createDeployment,
  deploymentInfo,
  issuerKeyNumber,
  operatorKeyNumber,
  passphraseOf,
  type Scheme,
} from '../src/deployment/demo.js';
import { AccountService } from '../src/devices/account/service.js';
import type { DeviceContext, DeviceName } from '../src/devices/context.js';
import { accountKeyNumberBase } from '../src/devices/context.js';
import { CurrencyService } from '../src/devices/currency/service.js';
import { runBatch } from '../src/devices/internalRoutes.js';
import { type PeerLink, stepResultOf } from '../src/devices/peerClient.js';
import type { BatchService } from '../src/devices/stepBatches.js';
import { TransactionService } from '../src/devices/transaction/service.js';
import { assert } from '../src/model/assert.js';
import { systemEnvironment } from '../src/model/environment.js';
import { signingBytes } from '../src/protocol/records.js';
import { type AnyRequest, requestRecordOf } from '../src/protocol/requests.js';
import type { PeerStep } from '../src/protocol/stepWire.js';
import { chainMessage } from '../src/signature/chain.js';
import type { SignatureDevice } from '../src/signature/device.js';
import { loadKeystoreFile, saveKeystoreFile } from '../src/signature/keystoreFile.js';
import { setAsideStore } from '../src/store/setAside.js';
import { openAccountStore, openCurrencyStore, openTransactionStore } from '../src/store/sqlite.js';
import { accountHistoryBatchMax } from '../src/store/types.js';
import { cpuSeconds, rssPeakBytes, stop, up } from './devices.js';
import { progressLine } from './progress.js';

export const accountCount = 100;
export const auditRemittancesDefault = 100_000;
const unitsPerAccount = 20;
const unitValue = 1_000n;
const concurrentRemittances = 32;
const accountKeyBase = 5_000;
const portBase = 27_301;
/** Full audits timed; the median counts. */
const fullAuditRuns = 3;

export interface AuditBenchResult {
  readonly scheme: Scheme;
  readonly remittances: number;
  readonly audit: {
    /** The median of the runs. */
    seconds: number;
    runsSeconds: number[];
    /** CPU time of each device process in the median run (the transaction device's includes its worker threads). */
    cpuSeconds: Record<DeviceName, number>;
    recordsChecked: number;
    rowsChecked: number;
    recordsPerSecond: number;
    /** Records whose signatures were verified (identical copies once). */
    recordsVerified: number;
    clean: boolean;
    /** The checkpoint the full audit left. */
    checkpointMade: string;
  };
  /** A second audit, from that checkpoint, with nothing new after it. */
  readonly fromCheckpoint: { seconds: number; startedAfter: string; clean: boolean };
  readonly recovery: { seconds: number; rowsPut: number; recovered: boolean };
  /** Each device's store set aside and rebuilt by `recover` from the other two. */
  readonly rebuilds: Record<
    DeviceName,
    { seconds: number; recovered: boolean /** Why not, when not. */; failure?: string }
  >;
  readonly transactionDevicePeakBytes: number;
  /** Ed25519 only: the audit's verifications alone, on raw node:crypto. */
  readonly verificationsAloneSeconds?: number;
}

function keystorePath(dir: string, name: string): string {
  return join(dir, `${name}.keystore.json`);
}

function load(dir: string, name: string): SignatureDevice {
  const loaded = loadKeystoreFile(keystorePath(dir, name), passphraseOf(dir), {
    environment: systemEnvironment,
  });
  assert(loaded.ok, `the ${name} keystore opens`);
  return loaded.value;
}

/** The services of one device, answering each step as its batch route does (runBatch). */
function inProcessPeer(name: 'account' | 'currency', service: BatchService): PeerLink {
  return {
    name,
    callRetrying: async (step: PeerStep) =>
      stepResultOf(name, (await runBatch(service, [step]))[0]!),
  };
}

/** Build the ledger: accounts, issuance, then N remittances, all by the devices' own code. */
async function build(dir: string, scheme: Scheme, remittances: number): Promise<void> {
  createDeployment(
    dir,
    { scheme, mode: 'confirm', portBase, host: '127.0.0.1' },
    systemEnvironment,
  );
  // Account keys: shared HMAC secrets (hmac), or Ed25519 key pairs (ed25519), installed in every
  // device keystore with verify and in the bench's wallet with sign.
  const wallet = load(dir, 'issuer');
  const keystores = Object.fromEntries(
    (['transaction', 'account', 'currency'] as const).map((device) => [device, load(dir, device)]),
  ) as Record<DeviceName, SignatureDevice>;
  const seeds = new Map<number, Buffer>();
  for (let i = 1; i <= accountCount; i++) {
    const keyNumber = accountKeyBase + i;
    if (scheme === 'hmac') {
      const secret = systemEnvironment.randomBytes(32);
      for (const device of Object.values(keystores))
        device.addKey({
          keyNumber,
          owner: `bench:${i}`,
          algorithm: 'hmac-sha256',
          material: secret,
          authorities: ['verify'],
        });
      wallet.addKey({
        keyNumber,
        owner: `bench:${i}`,
        algorithm: 'hmac-sha256',
        material: secret,
        authorities: ['sign'],
      });
    } else {
      const seed = systemEnvironment.randomBytes(32);
      seeds.set(i, seed);
      wallet.addKey({
        keyNumber,
        owner: `bench:${i}`,
        algorithm: 'ed25519-private',
        material: seed,
        authorities: ['sign'],
      });
    }
  }
  for (const [device, keys] of Object.entries(keystores))
    saveKeystoreFile(keystorePath(dir, device), keys, passphraseOf(dir), {
      environment: systemEnvironment,
    });

  const info = deploymentInfo(dir);
  const signatureZero = Buffer.from(info.signatureZeroHex, 'hex');
  const context = (device: DeviceName): DeviceContext => ({
    device,
    signatures: keystores[device],
    signingKeyNumber: info.deviceKeys[device],
    deviceKeys: info.deviceKeys,
    issuerKeyNumbers: info.issuerKeyNumbers,
    signatureZero,
    mode: 'confirm',
    environment: systemEnvironment,
  });
  const stores = {
    transaction: openTransactionStore(join(dir, 'transaction.sqlite')),
    account: openAccountStore(join(dir, 'account.sqlite')),
    currency: openCurrencyStore(join(dir, 'currency.sqlite')),
  };
  for (const store of Object.values(stores)) store.db.pragma('synchronous = OFF');
  const account = new AccountService(context('account'), stores.account);
  const currency = new CurrencyService(context('currency'), stores.currency);
  const transaction = new TransactionService(context('transaction'), stores.transaction, {
    account: inProcessPeer('account', account),
    currency: inProcessPeer('currency', currency),
  });

  /** Run one operation; `refusable` lists the outcomes that are part of a valid ledger too. */
  const submit = async (request: AnyRequest, keyNumber: number, refusable: string[] = []) => {
    const record = requestRecordOf(request);
    assert(record.ok, 'the bench builds valid requests');
    const signature = wallet.sign(
      keyNumber,
      chainMessage(signingBytes(record.value), signatureZero),
    );
    assert(signature.ok, 'the wallet signs');
    const reply = await transaction.submit({ record: record.value, signature: signature.value });
    assert(
      reply.httpStatus === 200 || refusable.includes(String(reply.body['outcome'])),
      `the operation succeeds: ${JSON.stringify(reply.body)}`,
    );
    return reply.body;
  };
  const now = () => new Date(systemEnvironment.nowMs()).toISOString();
  const progress = progressLine();
  for (let i = 1; i <= accountCount; i++) {
    const keyNumber = accountKeyBase + i;
    const body =
      scheme === 'hmac'
        ? { requestId: randomUUID(), currencyType: 'JPY', keyNumber, dateTime: now() }
        : {
            requestId: randomUUID(),
            currencyType: 'JPY',
            publicKeyHex: (() => {
              const exported = wallet.exportPublic(keyNumber);
              assert(exported.ok, 'an Ed25519 key has a public part');
              return exported.value.publicKeyHex;
            })(),
            dateTime: now(),
          };
    const opened = await submit({ kind: 'account_issuing', body }, keyNumber);
    assert(opened['accountNumber'] === String(i), 'accounts are numbered in order');
    await submit(
      {
        kind: 'issuance',
        body: {
          requestId: randomUUID(),
          destinationAccount: String(i),
          currencyType: 'JPY',
          values: Array.from({ length: unitsPerAccount }, () => unitValue.toString()),
          dateTime: now(),
          signerKeyNumber: issuerKeyNumber,
        },
      },
      issuerKeyNumber,
    );
  }
  const signerOf = (account: number) =>
    scheme === 'hmac' ? accountKeyBase + account : accountKeyNumberBase + account;
  // An Ed25519 account signs under its deployment key number (1,000,000 + N) once it is open.
  for (const [i, seed] of seeds)
    wallet.addKey({
      keyNumber: accountKeyNumberBase + i,
      owner: `account:${i}`,
      algorithm: 'ed25519-private',
      material: seed,
      authorities: ['sign'],
    });
  let done = 0;
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  while (done < remittances) {
    const batch: Promise<unknown>[] = [];
    for (let j = 0; j < concurrentRemittances && done < remittances; j++, done++) {
      const from = 1 + random(accountCount);
      const to = 1 + ((from + random(accountCount - 1)) % accountCount);
      batch.push(
        submit(
          {
            kind: 'remittance',
            body: {
              requestId: randomUUID(),
              sourceAccount: String(from),
              destinationAccount: String(to),
              amount: String(1 + random(50)),
              currencyType: 'JPY',
              dateTime: now(),
              signerKeyNumber: signerOf(from),
            },
          },
          signerOf(from),
          // Units held by a remittance in flight are not spendable until it settles.
          ['InsufficientBalance'],
        ),
      );
    }
    await Promise.all(batch);
    if (done % 1_000 === 0)
      progress.update(`building the ledger: ${done}/${remittances} remittances`);
  }
  progress.done();
  for (const store of Object.values(stores)) await store.close();
  writeFileSync(
    join(dir, 'seeded'),
    `bench ledger: ${accountCount} accounts, ${remittances} remittances\n`,
  );
}

/**
 * Bring the ledger's account history index up to the end of its log. A running transaction device
 * indexes the records after they are stored, a batch per pass of its resumer (store/sqlite.ts), so
 * a deployment that ran these remittances would hold the index caught up; the ledger built above
 * did not index, and a device started on it would catch up on the whole log during the audits
 * timed here, on the audit's core. A ledger already indexed (a cache) costs one read.
 */
async function indexHistory(dir: string): Promise<void> {
  const store = openTransactionStore(join(dir, 'transaction.sqlite'));
  try {
    // A batch shorter than the limit reached the end of the log (as the store's own catch-up).
    while (
      (await store.transact((tx) => tx.indexAccountHistory(accountHistoryBatchMax))) ===
      accountHistoryBatchMax
    );
  } finally {
    await store.close();
  }
}

/** Raw node:crypto: `count` Ed25519 verifications of a 200-byte message, in seconds. */
function ed25519VerifySeconds(count: number): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const message = Buffer.alloc(200, 7);
  const signature = sign(null, message, privateKey);
  const sample = Math.min(count, 20_000);
  const started = performance.now();
  for (let i = 0; i < sample; i++) assert(verify(null, message, publicKey, signature), 'verifies');
  return ((performance.now() - started) / 1000) * (count / sample);
}

export async function runAuditBench(options: {
  scheme: Scheme;
  remittances: number;
}): Promise<AuditBenchResult> {
  const { scheme, remittances } = options;
  const cache = fileURLToPath(new URL(`./cache/audit-${scheme}-${remittances}/`, import.meta.url));
  const built = join(cache, 'data');
  if (!existsSync(join(built, 'seeded'))) {
    rmSync(cache, { recursive: true, force: true });
    mkdirSync(cache, { recursive: true });
    await build(built, scheme, remittances);
  }
  await indexHistory(built);
  // Every run works on a fresh copy: recovery changes the stores.
  const dir = join(cache, 'run');
  rmSync(dir, { recursive: true, force: true });
  execFileSync('cp', ['-r', built, dir]);
  // The devices' own continuous audit would check the whole log on its first tick, while the
  // audit measured here runs: it is off, so that the figures are the audit's alone.
  for (const device of ['transaction', 'account', 'currency']) {
    const path = join(dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...config, continuousAuditIntervalMs: 0 }));
  }
  const { child, pids } = await up(dir);
  const transactionPid = pids.transaction;
  let stopped = false;
  try {
    const operator = new OperatorClient(
      deploymentInfo(dir).transactionUrl,
      load(dir, 'operator'),
      operatorKeyNumber,
    );
    const progress = progressLine();
    const show = (phase: string, done: number, total: number) =>
      progress.update(
        `${phase}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} records`,
      );
    const cpuNow = () =>
      Object.fromEntries(
        Object.entries(pids).map(([device, pid]) => [device, cpuSeconds(pid)]),
      ) as Record<DeviceName, number>;
    const runs: { seconds: number; cpuSeconds: Record<DeviceName, number> }[] = [];
    let report: Awaited<ReturnType<OperatorClient['audit']>> | undefined;
    for (let run = 0; run < fullAuditRuns; run++) {
      const cpuBefore = cpuNow();
      const started = performance.now();
      report = await operator.audit(show, { full: true });
      const seconds = (performance.now() - started) / 1000;
      progress.done();
      assert(report.ok, `the audit runs: ${report.ok ? '' : report.message}`);
      const cpuAfter = cpuNow();
      runs.push({
        seconds,
        cpuSeconds: Object.fromEntries(
          Object.entries(cpuAfter).map(([device, after]) => [
            device,
            after - cpuBefore[device as DeviceName],
          ]),
        ) as Record<DeviceName, number>,
      });
    }
    assert(report?.ok, 'the audits ran');
    const median = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(fullAuditRuns / 2)]!;
    const auditSeconds = median.seconds;
    const peak = rssPeakBytes(transactionPid);
    // The full audit left a checkpoint at the end of the log: the next audit starts after it.
    let started = performance.now();
    const fromCheckpoint = await operator.audit(show);
    const fromCheckpointSeconds = (performance.now() - started) / 1000;
    progress.done();
    assert(fromCheckpoint.ok, 'the audit from the checkpoint runs');

    for (const [device, table] of [
      ['account', 'accounts'],
      ['currency', 'currency_units'],
    ] as const) {
      const db = new Database(join(dir, `${device}.sqlite`));
      db.prepare(`DELETE FROM ${table}`).run();
      db.close();
    }
    started = performance.now();
    const recovery = await operator.recover(show);
    const recoverySeconds = (performance.now() - started) / 1000;
    progress.done();
    assert(recovery.ok, `recovery runs: ${recovery.ok ? '' : recovery.message}`);
    const rowsPut =
      recovery.value.repaired.account.rowsPut + recovery.value.repaired.currency.rowsPut;
    const peakBytes = Math.max(peak, rssPeakBytes(transactionPid));
    await stop(child);
    stopped = true;
    const rebuilds = await timeRebuilds(dir, operator, show, progress.done);
    return {
      scheme,
      remittances,
      audit: {
        seconds: auditSeconds,
        runsSeconds: runs.map((run) => run.seconds),
        cpuSeconds: median.cpuSeconds,
        recordsChecked: report.value.recordsChecked,
        rowsChecked: report.value.rowsChecked,
        recordsPerSecond: report.value.recordsChecked / auditSeconds,
        recordsVerified: report.value.recordsVerified,
        clean: report.value.clean,
        checkpointMade: report.value.checkpointMade ?? 'none',
      },
      fromCheckpoint: {
        seconds: fromCheckpointSeconds,
        startedAfter: fromCheckpoint.value.startedAfter,
        clean: fromCheckpoint.value.clean,
      },
      recovery: { seconds: recoverySeconds, rowsPut, recovered: recovery.value.recovered },
      rebuilds,
      transactionDevicePeakBytes: peakBytes,
      ...(scheme === 'ed25519'
        ? {
            // Every record of A verified once, and every row of B and C: the audit checks both.
            verificationsAloneSeconds: ed25519VerifySeconds(
              report.value.recordsVerified + report.value.rowsChecked,
            ),
          }
        : {}),
    };
  } finally {
    if (!stopped) await stop(child);
  }
}

/** Each device's store set aside, the device started on an empty store, and `recover` timed. */
async function timeRebuilds(
  dir: string,
  operator: OperatorClient,
  show: (phase: string, done: number, total: number) => void,
  shown: () => void,
): Promise<AuditBenchResult['rebuilds']> {
  const rebuilds: Partial<AuditBenchResult['rebuilds']> = {};
  const locations = storeLocationsOf(dir);
  assert(locations.ok, 'the deployment names its stores');
  for (const device of ['transaction', 'account', 'currency'] as const) {
    const aside = await setAsideStore(locations.value[device], systemEnvironment.nowMs());
    assert(aside.ok, `${device}'s store is set aside`);
    const { child } = await up(dir);
    try {
      const started = performance.now();
      const recovery = await operator.recover(show);
      const seconds = (performance.now() - started) / 1000;
      rebuilds[device] = !recovery.ok
        ? { seconds, recovered: false, failure: `${recovery.code}: ${recovery.message}` }
        : recovery.value.recovered
          ? { seconds, recovered: true }
          : {
              seconds,
              recovered: false,
              failure: `${recovery.value.after.findings.length + recovery.value.after.findingsOmitted} findings after it`,
            };
      shown();
    } finally {
      await stop(child);
    }
  }
  return rebuilds as AuditBenchResult['rebuilds'];
}
