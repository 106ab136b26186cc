// `triledger export` and `triledger import`: move a deployment's stores between SQLite and
// PostgreSQL through one encrypted archive (store/archive.ts). `triledger set-aside`: keep a
// damaged device's store aside (store/setAside.ts) so that the device starts on an empty store,
// which `triledger recover` rebuilds from the other two.
//
// Both run with the deployment stopped (they refuse while its transaction device answers): the
// three stores are then consistent with each other. Export seals every row of the three stores
// with a keystore key that holds `encrypt`. Import needs a key with `decrypt`; it reads and
// authenticates the whole archive before it writes anything, writes only into empty stores, audits
// the new stores in full, and only when the audit is clean points the deployment's configuration
// files at them. Exit codes: 0 done, 1 refused (one line on stderr), 2 bad command line.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { withChainWorker } from '../audit/chainsAhead.js';
import {
  auditStores,
  deviceKinds,
  storeLocationsOf,
  withDeploymentStores,
} from '../audit/offline.js';
import { archiveKeyNumber, deploymentInfo, verifyingKeysOf } from '../deployment/demo.js';
import { loadDeviceConfig } from '../devices/config.js';
import { systemEnvironment } from '../model/environment.js';
import { fail } from '../model/errors.js';
import type { SignatureDevice } from '../signature/device.js';
import { archivedRows, verifyArchive, writeArchive } from '../store/archive.js';
import {
  deviceStoreSpec,
  parseStoreLocation,
  redacted,
  type StoreLocation,
  storeSpecOf,
} from '../store/open.js';
import { setAsideStore } from '../store/setAside.js';
import type { DeviceKind } from '../store/types.js';
import { keystore } from './clientCommands.js';
import { countOf, dataOption, expectOk, printResult, refused, usageError } from './output.js';
import { type ProgressBar, progressBar } from './progress.js';

/** How long to wait for a running transaction device to answer before taking it as stopped. */
const runningCheckMs = 1_000;

interface ArchiveOptions {
  data: string;
  keystore?: string;
  key?: string;
  json?: boolean;
}

function archiveKeys(options: ArchiveOptions): { keys: SignatureDevice; keyNumber: number } {
  const info = deploymentInfo(options.data) as { archiveKeyNumber?: number };
  const keyNumber =
    options.key === undefined ? (info.archiveKeyNumber ?? archiveKeyNumber) : Number(options.key);
  if (!Number.isInteger(keyNumber) || keyNumber < 1) throw usageError('--key must be a key number');
  const keys = keystore(
    options.keystore ?? join(options.data, 'operator.keystore.json'),
    options.data,
  );
  return { keys, keyNumber };
}

/** Refuse while something answers at `url` (a device still running): `what` names it. */
async function requireNotAnswering(url: string, what: string): Promise<void> {
  const answered = await fetch(`${url}/health`, { signal: AbortSignal.timeout(runningCheckMs) })
    .then(() => true)
    .catch(() => false);
  if (answered) throw refused(fail('InvalidInput', `${what} is running (${url}); stop it first`));
}

/** Refuse to move the stores of a deployment whose transaction device still answers. */
function requireStopped(dir: string): Promise<void> {
  return requireNotAnswering(deploymentInfo(dir).transactionUrl, `the deployment in ${dir}`);
}

function requireDeployment(dir: string): void {
  try {
    deploymentInfo(dir);
  } catch {
    throw usageError(`no deployment in ${dir} (deployment.json)`);
  }
}

function registerSetAsideCommand(program: Command): void {
  program
    .command('set-aside')
    .description(
      "set a stopped device's damaged store aside (renamed, never deleted): the device then starts on an empty store, which `triledger recover` rebuilds from the other two",
    )
    .argument('<device>', 'transaction, account or currency')
    .addOption(dataOption('the deployment folder (DIR/DEVICE.json names the store)'))
    .option('--json', 'print JSON')
    .action(async (device: string, options: { data: string; json?: boolean }) => {
      if (!(deviceKinds as readonly string[]).includes(device))
        throw usageError('the device is transaction, account or currency');
      const config = expectOk(loadDeviceConfig(join(options.data, `${device}.json`)));
      await requireNotAnswering(
        `http://${config.host}:${config.port}`,
        `the ${config.device} device`,
      );
      const location = expectOk(storeLocationsOf(options.data))[device as DeviceKind];
      const aside = expectOk(await setAsideStore(location, systemEnvironment.nowMs()));
      printResult(
        options,
        { device, setAsideAs: aside },
        `${device}'s store is set aside as ${aside}; start the device (it makes a new, empty store), then run triledger recover`,
      );
    });
}

export function registerArchiveCommands(program: Command): void {
  registerSetAsideCommand(program);
  program
    .command('export')
    .description("seal every row of a stopped deployment's three stores into one encrypted archive")
    .requiredOption('--out <file>', 'the archive to write (never overwritten)')
    .addOption(dataOption())
    .option(
      '--keystore <file>',
      'keystore with the archive key (default DIR/operator.keystore.json)',
    )
    .option('--key <keyNumber>', 'the AES-256-GCM key to seal with (needs encrypt)')
    .option('--json', 'print JSON')
    .action(async (options: ArchiveOptions & { out: string }) => {
      requireDeployment(options.data);
      const { keys, keyNumber } = archiveKeys(options);
      await requireStopped(options.data);
      const locations = expectOk(storeLocationsOf(options.data));
      const progress = progressBar(process.stderr, Date.now, 'rows');
      const written = expectOk(
        await withDeploymentStores(locations, async (stores) => {
          const approximate =
            Number(await stores.transaction.transact((tx) => tx.recordCount())) *
            deviceKinds.length;
          const counted = counting(progress, 'export', approximate);
          return writeArchive(
            options.out,
            keys,
            keyNumber,
            deviceKinds.map((device) => ({ device, rows: counted(stores[device].dumpRows()) })),
            systemEnvironment,
          );
        }),
      );
      progress.finish();
      const { rowCount, bytes } = expectOk(written);
      printResult(
        options,
        { archive: options.out, rows: rowCount, bytes, keyNumber },
        `exported ${rowCount} rows of the three stores to ${options.out} (${bytes} bytes, sealed with key ${keyNumber})`,
      );
    });

  program
    .command('import')
    .description(
      'write an export archive into new, empty stores, audit them, and point the deployment at them',
    )
    .requiredOption('--in <file>', 'the archive to read')
    .requiredOption(
      '--store <store>',
      'where the stores go: postgres://… (one schema per device) or sqlite:DIR (DIR/DEVICE.sqlite)',
    )
    .addOption(dataOption())
    .option(
      '--keystore <file>',
      'keystore with the archive key (default DIR/operator.keystore.json)',
    )
    .option('--json', 'print JSON')
    .action(async (options: ArchiveOptions & { in: string; store: string }) => {
      requireDeployment(options.data);
      const targets = targetLocations(options.store);
      const { keys } = archiveKeys(options);
      await requireStopped(options.data);
      // Everything is read and authenticated before anything is written.
      const summary = expectOk(await verifyArchive(options.in, keys));
      if (options.store.startsWith('sqlite:'))
        mkdirSync(resolve(options.store.slice('sqlite:'.length)), { recursive: true });
      const progress = progressBar(process.stderr, Date.now, 'rows');
      const imported = expectOk(
        await withDeploymentStores(targets, async (stores) => {
          for (const device of deviceKinds)
            if (!(await stores[device].isEmpty()))
              return fail(
                'InvalidInput',
                `the ${device} store at ${redacted(options.store)} already holds rows; import writes only into empty stores`,
              );
          const counted = counting(progress, 'import', summary.rowCount);
          for (const device of deviceKinds)
            await stores[device].loadRows(counted(archivedRows(options.in, keys, device)));
          progress.finish();
          const keysOfDeployment = expectOk(verifyingKeysOf(options.data, systemEnvironment));
          const report = await withChainWorker(keysOfDeployment, (chainWorker) =>
            auditStores(keysOfDeployment, stores, chainWorker),
          );
          return { ok: true as const, value: report };
        }),
      );
      const report = expectOk(imported);
      if (!report.clean)
        throw refused(
          fail(
            'InvalidInput',
            `the imported stores do not audit clean (${countOf(report.findings.length, 'finding')}, first: ${report.findings[0]?.message ?? 'none'}); the configuration still points at the old stores`,
          ),
        );
      for (const device of deviceKinds) pointConfigAt(options.data, device, targets[device]);
      printResult(
        options,
        {
          rows: summary.rowCount,
          store: redacted(options.store),
          audit: {
            clean: true,
            operations: report.operations,
            recordsChecked: report.recordsChecked,
            rowsChecked: report.rowsChecked,
          },
        },
        `imported ${summary.rowCount} rows into ${redacted(options.store)}; audit: ${report.operations} operations, ${report.recordsChecked} records of A and ${report.rowsChecked} rows of B and C checked: clean\n` +
          `the configurations in ${options.data} now point at the new stores`,
      );
    });
}

/** Pass rows on, counting them all (across every source it wraps) on the progress bar. */
function counting(progress: ProgressBar, phase: string, total: number) {
  let rows = 0;
  return async function* counted<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const row of source) {
      rows += 1;
      progress.update(phase, rows, total);
      yield row;
    }
  };
}

/** Each device's store under an import target (one PostgreSQL schema or one SQLite file each). */
function targetLocations(spec: string): Record<DeviceKind, StoreLocation> {
  const locations: Partial<Record<DeviceKind, StoreLocation>> = {};
  for (const device of deviceKinds) {
    const deviceSpec = spec.startsWith('sqlite:')
      ? `sqlite:${join(resolve(spec.slice('sqlite:'.length)), `${device}.sqlite`)}`
      : deviceStoreSpec(spec, device);
    const location = parseStoreLocation(deviceSpec, device);
    if (!location.ok) throw usageError(`--store: ${location.message}`);
    locations[device] = location.value;
  }
  return locations as Record<DeviceKind, StoreLocation>;
}

function pointConfigAt(dir: string, device: DeviceKind, location: StoreLocation): void {
  const path = join(dir, `${device}.json`);
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  config['store'] = storeSpecOf(location);
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
}
