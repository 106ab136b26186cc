// Start one device from its configuration: keystore, store, services, routes, then listen.
//
// Returns a handle whose `close` stops accepting requests, lets those in flight finish, and closes
// the store. A device refuses to start with a configuration, keystore or store it cannot trust.

import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { blockDigestLines, blockDigestsOf } from '../audit/blockDigests.js';
import { ContinuousAudit, type OwnStores } from '../audit/continuous.js';
import { accountLine, recordLine, unitLine } from '../audit/exportLines.js';
import { VerifiedRecords } from '../audit/verifiedRecords.js';
import { assert } from '../model/assert.js';
import { type Environment, systemEnvironment } from '../model/environment.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import {
  accountContentFromWire,
  currencyContentFromWire,
  WireAccountContent,
  WireCurrencyContent,
} from '../protocol/rowWire.js';
import type { SignatureDevice } from '../signature/device.js';
import { defaultKeyPolicy } from '../signature/device.js';
import { loadKeystoreFile } from '../signature/keystoreFile.js';
import { isStoreDamage } from '../store/damage.js';
import { checkStoreIntegrity } from '../store/integrity.js';
import {
  describeStore,
  openAccountStoreAt,
  openCurrencyStoreAt,
  openTransactionStoreAt,
  parseStoreLocation,
  type StoreLocation,
} from '../store/open.js';
import { setAsideStore } from '../store/setAside.js';
import type {
  AccountStore,
  CurrencyStore,
  HoldingTx,
  LedgerTx,
  Store,
  TransactionTx,
} from '../store/types.js';
import { type AccessPolicy, guardRoutes } from './access.js';
import { registerAccountRoutes } from './account/routes.js';
import { AccountService } from './account/service.js';
import { CheckpointKeeper } from './checkpoints.js';
import type { DeviceConfig } from './config.js';
import { accountKeyNumberBase, type DeviceContext } from './context.js';
import { registerCurrencyRoutes } from './currency/routes.js';
import { CurrencyService } from './currency/service.js';
import { recoveryPauseMs, startPauseMs } from './faultHooks.js';
import { filesOpenToOthers, sqliteFiles } from './filePrivacy.js';
import { HoldExpiry } from './holdExpiry.js';
import {
  createHttpServer,
  type HttpServer,
  internalBodyBytesMax,
  publicBodyBytesMax,
  StoreFence,
} from './http.js';
import { PrometheusMetrics } from './metrics.js';
import { type Readiness, registerOperationalRoutes } from './operationalRoutes.js';
import { ownStores, signedAccountRows, signedUnitRows } from './ownStores.js';
import { PeerClient } from './peerClient.js';
import { PeriodicTask } from './periodic.js';
import { KeyRate, limitRequestRates } from './rateLimits.js';
import {
  registerCheckpointRoutes,
  registerExportRoute,
  registerLastRecordRoute,
  registerRepairRoute,
} from './recoveryRoutes.js';
import { RowCopies } from './rowCopies.js';
import { settleOne } from './stepBatches.js';
import { SetAsideRequest, startFenced } from './storeRebuild.js';
import { type DeviceTls, loadDeviceTls, serverFactory } from './tls.js';
import { AdminService } from './transaction/admin.js';
import { registerGatewayRoutes } from './transaction/gateway.js';
import { TransactionService } from './transaction/service.js';
import { checkTails } from './transaction/tails.js';

/** How long a stopping device waits for open connections before it closes them. */
export const shutdownGraceMs = 5_000;

export interface RunningDevice {
  readonly url: string;
  /**
   * Resolved when a recovery asked this device to set its damaged store aside (storeRebuild.ts):
   * the caller then closes it, calls setStoreAside and exits with exitCodes.restart.
   */
  readonly setAsideRequested: Promise<void>;
  /** Set the store aside (renamed, kept); only once the device is closed. */
  setStoreAside(): Promise<Result<string>>;
  close(): Promise<void>;
}

function passphraseOf(config: DeviceConfig): string {
  if (config.passphraseFile)
    return readFileSync(config.passphraseFile, 'utf8').replace(/\r?\n$/, '');
  return process.env['TRILEDGER_PASSPHRASE'] ?? '';
}

/** The keystore file's keys alone: what the audit verifies with (no key learned from a store). */
function loadVerifyingKeys(config: DeviceConfig, environment: Environment): SignatureDevice {
  const loaded = loadKeystoreFile(config.keystore, passphraseOf(config), { environment });
  assert(loaded.ok, 'the keystore that opened at start opens again');
  return loaded.value;
}

/**
 * What `account` and `currency` serve the audit: exports of their copy of A (hashed on the way
 * when the audit may leave a checkpoint) and of their rows, and their part in checkpoints.
 */
function registerAuditedStoreRoutes<Tx extends LedgerTx>(
  server: HttpServer,
  context: DeviceContext,
  store: Store<Tx>,
  rowsName: 'accounts' | 'units',
  rowLines: () => AsyncIterable<string>,
): CheckpointKeeper {
  const keeper = new CheckpointKeeper(context, store, rowsName === 'accounts' ? 'B' : 'C');
  registerExportRoute(server, 'transactions', ({ after, upTo, digestUpTo, form }) => {
    if (form === 'records') return mapRows(store.exportRecords(after, upTo), recordLine);
    return blockDigestLines(
      digestUpTo === undefined
        ? blockDigestsOf(store.exportRecordPages(after, upTo))
        : keeper.digestingBlocks(after, digestUpTo),
    );
  });
  registerExportRoute(server, rowsName, rowLines);
  registerLastRecordRoute(server, store);
  registerCheckpointRoutes(server, keeper);
  return keeper;
}

/** A repair changes the copy: its remembered digest is read again next time. */
async function repairing<T>(keeper: CheckpointKeeper, repair: () => Promise<T>): Promise<T> {
  try {
    return await repair();
  } finally {
    keeper.forget();
  }
}

/** At account and currency: the transaction device, asked about holds and checked by /ready. */
function transactionPeer(
  config: DeviceConfig,
  context: DeviceContext,
  server: HttpServer,
  closers: (() => Promise<void>)[],
  tls: DeviceTls | undefined,
): PeerClient | undefined {
  const transactionUrl = config.peers?.transaction;
  if (!transactionUrl) {
    server.log.warn(
      'no peers.transaction configured: expired holds are not settled by this device',
    );
    return undefined;
  }
  const transaction = new PeerClient('transaction', transactionUrl, context, tls);
  closers.push(() => transaction.close());
  return transaction;
}

/** At account and currency: settle holds that outlived holdTimeoutMs by asking transaction. */
function holdExpiryTask(
  config: DeviceConfig,
  context: DeviceContext,
  store: Store<HoldingTx>,
  holdingStep: 2 | 4,
  settle: (records: readonly SignedRecord[]) => Promise<Result<undefined>>,
  server: HttpServer,
  transaction: PeerClient | undefined,
): PeriodicTask | undefined {
  if (!transaction) return undefined;
  const expiry = new HoldExpiry(
    context,
    store,
    holdingStep,
    (remittanceId) => transaction.post('/internal/v1/outcome', { remittanceId }),
    settle,
    config.protocol.holdTimeoutMs,
    (message) => server.log.warn(message),
  );
  return new PeriodicTask(
    'settling expired holds',
    async () => {
      await expiry.settleExpired();
    },
    (level, message) => server.log[level](message),
  );
}

type OwnStore =
  | { readonly device: 'transaction'; readonly store: Store<TransactionTx> }
  | { readonly device: 'account'; readonly store: AccountStore }
  | { readonly device: 'currency'; readonly store: CurrencyStore };

/** Open (and migrate) the device's own store; a database that cannot be reached is a failure. */
async function openOwnStore(
  device: DeviceConfig['device'],
  location: StoreLocation,
): Promise<Result<OwnStore>> {
  try {
    switch (device) {
      case 'transaction':
        return ok({ device, store: await openTransactionStoreAt(location) });
      case 'account':
        return ok({ device, store: await openAccountStoreAt(location) });
      case 'currency':
        return ok({ device, store: await openCurrencyStoreAt(location) });
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // Damage is not an outage: the file is kept as it is, and nothing is served from it.
    if (isStoreDamage(error))
      return fail(
        'StoreDamaged',
        `the store ${describeStore(location)} is damaged and was not opened (${reason}); it is kept as it is: rebuild this device's store from the other two (docs/faults.md)`,
      );
    return fail('StoreUnavailable', `cannot open the store ${describeStore(location)}: ${reason}`);
  }
}

/**
 * Every intervalMs, the full integrity check of the device's store (store/integrity.ts: SQLite's
 * in a worker thread, PostgreSQL's on its own connection): damage fences the device (StoreFence);
 * a check that cannot run is a warning. One check at a time. Returns how to stop them.
 */
function scheduleIntegrityChecks(
  location: StoreLocation,
  intervalMs: number,
  fence: StoreFence,
  log: FastifyBaseLogger,
): () => void {
  if (intervalMs <= 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void checkStoreIntegrity(location).then((result) => {
      running = false;
      if (result.kind === 'damaged') {
        fence.found(`the integrity check found damage: ${result.damage}`);
        log.error(
          { damage: result.damage },
          'the integrity check found damage; this device is fenced',
        );
      } else if (result.kind === 'not run')
        log.warn({ reason: result.reason }, 'the integrity check could not run');
    });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

async function* mapRows<T, U>(rows: AsyncIterable<T>, map: (row: T) => U): AsyncGenerator<U> {
  for await (const row of rows) yield map(row);
}

export async function startDevice(
  config: DeviceConfig,
  environment: Environment = systemEnvironment,
): Promise<Result<RunningDevice>> {
  const signatures = loadKeystoreFile(config.keystore, passphraseOf(config), {
    environment,
    policy: { ...defaultKeyPolicy, accountKeysHeldMax: config.accountKeysHeldMax },
  });
  if (!signatures.ok) return signatures;
  const own = signatures.value.describe(config.signingKeyNumber);
  if (!own.ok || !own.value.authorities.includes('sign')) {
    return fail(
      'AuthorityDenied',
      `the keystore has no key ${config.signingKeyNumber} with sign for the ${config.device} device`,
    );
  }
  const context: DeviceContext = {
    device: config.device,
    signatures: signatures.value,
    signingKeyNumber: config.signingKeyNumber,
    deviceKeys: config.deviceKeys,
    issuerKeyNumbers: config.issuerKeyNumbers,
    signatureZero: Buffer.from(config.protocol.signatureZeroHex, 'hex'),
    mode: config.protocol.mode,
    environment,
    verifiedRecords: new VerifiedRecords(() => signatures.value.revocations),
    rowCopies: new RowCopies(() => signatures.value.revocations),
  };
  assert(
    context.deviceKeys[config.device] === config.signingKeyNumber,
    'a device signs with the key the deployment knows it by',
  );
  const storeLocation = parseStoreLocation(config.store, config.device);
  if (!storeLocation.ok) return storeLocation;
  let tls: DeviceTls | undefined;
  if (config.tls) {
    const loaded = loadDeviceTls(config.tls);
    if (!loaded.ok) return loaded;
    tls = loaded.value;
  }
  const opened = await openOwnStore(config.device, storeLocation.value);
  // A device on a damaged store starts fenced, for a recovery to rebuild (storeRebuild.ts).
  if (!opened.ok && opened.code === 'StoreDamaged')
    return startFenced(config, context, tls, storeLocation.value, opened.message);
  if (!opened.ok) return opened;
  const metrics = new PrometheusMetrics(config.device, accountKeyNumberBase);
  context.signatures.observe(metrics.signatureDone);
  opened.value.store.observeCommits((works, seconds) => metrics.storeCommitted(works, seconds));
  const storeFence = new StoreFence();
  const setAside = new SetAsideRequest();
  const server = createHttpServer({
    storeFence,
    bodyBytesMax: config.device === 'transaction' ? publicBodyBytesMax : internalBodyBytesMax,
    logLevel: config.logLevel,
    // The public gateway takes users without certificates; the others serve devices only.
    serverFactory: serverFactory(
      tls,
      config.device !== 'transaction',
      config.rateLimits.connectionsPerClientMax,
    ),
    metrics,
    // A new request id looks like a W3C trace id (32 hex digits), so the two can be one.
    newRequestId: () => environment.randomBytes(16).toString('hex'),
  });
  const location = storeLocation.value;
  for (const warning of filesOpenToOthers([
    ...(location.backend === 'sqlite' ? sqliteFiles(location.path) : []),
    config.keystore,
    ...(config.passphraseFile ? [config.passphraseFile] : []),
  ]))
    server.log.warn(warning);
  const closers: (() => Promise<void>)[] = [];
  // /metrics and /ready: behind the operator key here, or open on a listener of their own.
  const operations = config.operationsListen
    ? createHttpServer({ bodyBytesMax: 1024, logLevel: config.logLevel })
    : undefined;
  if (operations)
    guardRoutes(operations, {
      context,
      operatorKeyNumbers: config.operatorKeyNumbers,
      clientCertificates: false,
    });
  const serveOperations = (readiness: Omit<Readiness, 'storeFence'>) =>
    registerOperationalRoutes(
      operations ?? server,
      metrics,
      { ...readiness, storeFence },
      operations ? 'anyone' : 'operator',
    );
  const guard = (holderKeys?: AccessPolicy['holderKeys']) =>
    guardRoutes(server, {
      context,
      operatorKeyNumbers: config.operatorKeyNumbers,
      clientCertificates: tls !== undefined,
      ...(holderKeys ? { holderKeys } : {}),
    });
  // Each device checks its own stores as records and rows arrive (audit/continuous.ts).
  const continuousAudit = (stores: OwnStores) =>
    new ContinuousAudit(
      context,
      context.signingKeyNumber,
      stores,
      environment.nowMs,
      (result, foundNow) => {
        metrics.auditDone('continuous', result.clean, environment.nowMs());
        // Logged once, by the tick that found them; the ticks of the interval after it carry them on.
        if (foundNow > 0)
          server.log.error({ continuousAudit: result }, 'continuous audit: records or rows fail');
        else server.log.debug({ continuousAudit: result }, 'continuous audit: nothing new found');
      },
    );
  let continuous: ContinuousAudit | undefined;
  let background: PeriodicTask | undefined;
  // What /health adds: the continuous audit's last result, and the damage a fenced store met (the
  // transaction device's audit reads a peer so fenced as an unreadable store).
  const health = () => ({
    ...(continuous?.last ? { continuousAudit: continuous.last } : {}),
    ...(storeFence.damage === undefined
      ? {}
      : { status: 'damaged' as const, storeDamage: storeFence.damage }),
  });
  switch (opened.value.device) {
    case 'transaction': {
      const peersConfig = config.peers;
      assert(
        peersConfig?.account && peersConfig.currency,
        'the transaction device has peers (checked when the config loaded)',
      );
      const store = opened.value.store;
      const peers = {
        account: new PeerClient('account', peersConfig.account, context, tls, metrics),
        currency: new PeerClient('currency', peersConfig.currency, context, tls, metrics),
      };
      const service = new TransactionService(
        context,
        store,
        peers,
        {
          timestampSkewMsMax: config.protocol.timestampSkewMsMax,
          operationTimeoutMs: config.protocol.operationTimeoutMs,
        },
        (level, message) => server.log[level](message),
        metrics,
        new KeyRate(config.rateLimits.requestsPerKeyPerSecond),
      );
      // Limits first: a flood is counted before anything else is looked at.
      await limitRequestRates(server, config.rateLimits);
      guard((params) => service.holderKeys(params));
      const keeper = new CheckpointKeeper(context, store);
      const admin = new AdminService(
        context,
        service,
        peers,
        () => ({ ...context, signatures: loadVerifyingKeys(config, environment) }),
        keeper,
        recoveryPauseMs(),
        metrics,
      );
      continuous = continuousAudit(ownStores(context, store, keeper));
      await registerGatewayRoutes(server, {
        context,
        service,
        peers,
        admin,
        health,
        rateLimits: config.rateLimits,
        ownStore: {
          fence: storeFence,
          answerRecovery: (reply, damage) => setAside.answerRecovery(reply, damage),
        },
      });
      serveOperations({
        store,
        peers: [peers.account, peers.currency],
        audits: () => ({ continuous: continuous?.last, full: admin.lastAudit }),
        heldForRecovery: () => service.heldForRecovery,
      });
      // First whether a store came back with less than it acknowledged (then the device holds until
      // a recovery), asked before the device serves and until the peers answer (tails.ts); after a
      // crash: finish or cleanly end what was in flight, resend what a peer missed; then index the
      // account history (off the hot path).
      let tailsWhole = false;
      const checkTailsOnce = async () => {
        const tails = await checkTails(service, peers);
        if (tails.kind === 'behind') {
          if (service.heldForRecovery === undefined)
            server.log.error(`held until a recovery: ${tails.reason}`);
          service.holdForRecovery(tails.reason);
        }
        if (tails.kind === 'unanswered') service.awaitTails(tails.failure);
        else service.tailsTold();
        tailsWhole = tails.kind === 'whole';
      };
      await checkTailsOnce();
      background = new PeriodicTask(
        'resuming operations',
        async () => {
          if (!tailsWhole) await checkTailsOnce();
          await service.resumePending();
          await service.indexAccountHistory();
        },
        (level, message) => server.log[level](message),
      );
      closers.push(
        // Settlements sent after their answers reach the peers before the device stops.
        () => service.settlementsOf(),
        () => peers.account.close(),
        () => peers.currency.close(),
        () => store.close(),
      );
      break;
    }
    case 'account': {
      const store = opened.value.store;
      const service = new AccountService(context, store);
      guard();
      const keeper = registerAuditedStoreRoutes(server, context, store, 'accounts', () =>
        mapRows(store.exportAccounts(), accountLine),
      );
      continuous = continuousAudit(
        ownStores(context, store, keeper, (after) => signedAccountRows(store, after)),
      );
      registerAccountRoutes(server, service, health, metrics);
      const transaction = transactionPeer(config, context, server, closers, tls);
      background = holdExpiryTask(
        config,
        context,
        store,
        2,
        (records) => settleOne(service, records),
        server,
        transaction,
      );
      serveOperations({
        store,
        peers: transaction ? [transaction] : [],
        audits: () => ({ continuous: continuous?.last }),
      });
      setAside.register(server, storeFence);
      registerRepairRoute(
        server,
        environment.nowMs,
        WireAccountContent,
        accountContentFromWire,
        (batch) => repairing(keeper, () => service.repair(batch)),
      );
      closers.push(() => store.close());
      break;
    }
    case 'currency': {
      const store = opened.value.store;
      const service = new CurrencyService(context, store);
      guard();
      const keeper = registerAuditedStoreRoutes(server, context, store, 'units', () =>
        mapRows(store.exportUnits(), unitLine),
      );
      continuous = continuousAudit(
        ownStores(context, store, keeper, (after) => signedUnitRows(store, after)),
      );
      registerCurrencyRoutes(server, service, health, metrics);
      const transaction = transactionPeer(config, context, server, closers, tls);
      background = holdExpiryTask(
        config,
        context,
        store,
        4,
        (records) => settleOne(service, records),
        server,
        transaction,
      );
      serveOperations({
        store,
        peers: transaction ? [transaction] : [],
        audits: () => ({ continuous: continuous?.last }),
      });
      setAside.register(server, storeFence);
      registerRepairRoute(
        server,
        environment.nowMs,
        WireCurrencyContent,
        currencyContentFromWire,
        (batch) => repairing(keeper, () => service.repair(batch)),
      );
      closers.push(() => store.close());
      break;
    }
  }
  const pausedMs = startPauseMs();
  if (pausedMs > 0) await new Promise((resolve) => setTimeout(resolve, pausedMs));
  const url = await server.listen({ host: config.host, port: config.port });
  if (operations) {
    await operations.listen(config.operationsListen!);
    closers.push(() => operations.close());
  }
  continuous?.start(config.continuousAuditIntervalMs, (damage) => {
    server.log.error({ err: damage }, 'the continuous audit met damage; this device is fenced');
    storeFence.found(`the continuous audit met damage in the store: ${damage.message}`);
  });
  background?.start(config.resumeIntervalMs);
  const stopIntegrityChecks = scheduleIntegrityChecks(
    location,
    config.integrityCheckIntervalMs,
    storeFence,
    server.log,
  );
  let closed = false;
  return ok({
    url,
    setAsideRequested: setAside.requested,
    async setStoreAside() {
      assert(closed, 'a store is set aside only once its device is closed');
      return setAsideStore(location, environment.nowMs());
    },
    async close() {
      closed = true;
      // Requests in flight get a grace period; a client that holds a connection open beyond it
      // (an unread stream) is cut off, so that a stopping device always stops.
      stopIntegrityChecks();
      continuous?.stop();
      await background?.stop();
      const cutOff = setTimeout(() => server.server.closeAllConnections(), shutdownGraceMs);
      await server.close();
      clearTimeout(cutOff);
      for (const close of closers) await close();
    },
  });
}
