// `triledger check-store [DEVICE...]`: the full integrity check of the devices' stores, on demand
// (issue 18; each device also runs it on a schedule, `integrityCheckIntervalMs`). SQLite: SQLite's
// `integrity_check` on a read-only connection of its own, which also compares every index with its
// table; PostgreSQL: every row of the device's schema read, and its indexes compared by `amcheck`
// where the database has it (store/postgresIntegrity.ts). Both only read, so the check runs while
// the devices serve. Exit codes: 0 every store sound, 1 damage found (one line on stderr naming the
// devices; then `triledger set-aside` and `recover`, docs/faults.md), 2 a check could not run.

import type { Command } from 'commander';
import { deviceKinds, storeLocationsOf } from '../audit/offline.js';
import { checkStoreIntegrity, type IntegrityResult } from '../store/integrity.js';
import { describeStore, type StoreLocation } from '../store/open.js';
import type { DeviceKind } from '../store/types.js';
import {
  CliFailure,
  dataOption,
  exitCodes,
  expectOk,
  printJson,
  renderTable,
  usageError,
} from './output.js';

interface StoreCheck {
  readonly device: DeviceKind;
  readonly store: string;
  readonly result: IntegrityResult;
  /** PostgreSQL: whether the indexes were compared with their tables (amcheck). */
  readonly indexes?: string;
}

async function checkStore(device: DeviceKind, location: StoreLocation): Promise<StoreCheck> {
  const { indexes, ...result } = await checkStoreIntegrity(location);
  return {
    device,
    store: describeStore(location),
    result,
    ...(indexes === undefined ? {} : { indexes }),
  };
}

function verdictOf(check: StoreCheck): string {
  const { result } = check;
  if (result.kind === 'damaged') return `DAMAGED: ${result.damage}`;
  if (result.kind === 'not run') return `not checked: ${result.reason}`;
  return check.indexes === undefined ? 'sound' : `sound (indexes ${check.indexes})`;
}

export function registerCheckStoreCommand(program: Command): void {
  program
    .command('check-store')
    .description(
      "run the full integrity check of the devices' stores (all three when none is named); read only, it runs while they serve. Exit 0 sound, 1 damage found, 2 could not run",
    )
    .argument('[devices...]', 'transaction, account or currency')
    .addOption(dataOption('the deployment folder (DIR/DEVICE.json names each store)'))
    .option('--json', 'print the results as JSON')
    .action(async (named: string[], options: { data: string; json?: boolean }) => {
      const unknown = named.filter((d) => !(deviceKinds as readonly string[]).includes(d));
      if (unknown.length > 0)
        throw usageError(`${unknown.join(', ')}: the devices are transaction, account, currency`);
      const devices = named.length === 0 ? deviceKinds : (named as DeviceKind[]);
      const locations = expectOk(storeLocationsOf(options.data));
      const checks: StoreCheck[] = [];
      for (const device of devices) checks.push(await checkStore(device, locations[device]));
      if (options.json) printJson(checks);
      else
        process.stdout.write(
          `${renderTable(
            ['device', 'store', 'integrity'],
            checks.map((c) => [c.device, c.store, verdictOf(c)]),
          )}\n`,
        );
      const damaged = checks.filter((c) => c.result.kind === 'damaged').map((c) => c.device);
      if (damaged.length > 0)
        throw new CliFailure(
          `StoreDamaged: ${damaged.join(', ')}: stop the device, set its store aside and recover (docs/faults.md)`,
          exitCodes.refused,
        );
      const notRun = checks.filter((c) => c.result.kind === 'not run').map((c) => c.device);
      if (notRun.length > 0)
        throw new CliFailure(
          `InvalidInput: the check of ${notRun.join(', ')} could not run (see above)`,
          exitCodes.usage,
        );
    });
}
