// Storage faults in the simulator: once the ledger is at rest, one store is changed under its
// device (a record of A changed, deleted or inserted in one copy, or changed alike in two; a row
// of B or C changed, deleted or inserted), as a bad disk or a hand edit would. The audit must name
// the fault, and recovery (audit/recovery.ts, the code `triledger recover` runs) must bring every
// store back to what it held before the fault, row for row.

import type { CopyName } from '../audit/audit.js';
import { auditStores, storeAuditInputs } from '../audit/offline.js';
import { type RecoveryReport, type RowContent, recover } from '../audit/recovery.js';
import type { RepairBatch } from '../devices/repair.js';
import { fail, type Result } from '../model/errors.js';
import type { AccountRowContent, CurrencyRowContent } from '../protocol/rows.js';
import { accountRowBytes, currencyRowBytes } from '../protocol/rows.js';
import { recordLines } from './checks.js';
import type { SimulatedCluster } from './cluster.js';
import type { DeploymentKeys } from './keys.js';
import type { SeededRandom } from './random.js';
import type { SimulatedTime } from './time.js';

const faultKinds = [
  'change a record',
  'delete a record',
  'insert a record',
  'change a record in two copies',
  'change a row',
  'delete a row',
  'insert a row',
] as const;

/** What the fault did, and where the audit must find it. */
interface StorageFault {
  readonly kind: (typeof faultKinds)[number];
  readonly devices: readonly CopyName[];
  readonly store: 'A' | 'B' | 'C';
  readonly key: string;
}

/**
 * Change one store at random, audit, recover, and compare. Returns the violations: the fault not
 * found, recovery failing, or a store that differs afterwards from what it held before.
 */
export async function storageFaultViolations(
  random: SeededRandom,
  time: SimulatedTime,
  cluster: SimulatedCluster,
  keys: DeploymentKeys,
): Promise<string[]> {
  const before = await contentsOf(cluster);
  const fault = injectFault(random, cluster);
  time.note(
    `storage fault: ${fault.kind} at ${fault.devices.join('+')} ${fault.store} ${fault.key}`,
  );
  const what = `${fault.kind} (${fault.devices.join(' and ')}, ${fault.store} ${fault.key})`;
  const found = await auditStores(keys.verifying, cluster.stores());
  const violations: string[] = [];
  for (const device of fault.devices)
    if (!found.findings.some((f) => f.device === device && f.store === fault.store))
      violations.push(`storage fault not found by the audit: ${what}`);
  const recovered = await recoverStores(cluster, keys);
  if (!recovered.ok) return [...violations, `recovery from ${what} failed: ${recovered.message}`];
  if (!recovered.value.recovered) violations.push(`recovery from ${what} left the audit unclean`);
  const after = await contentsOf(cluster);
  for (const [name, content] of Object.entries(before))
    if (content !== after[name]) violations.push(`after recovery from ${what}, ${name} differs`);
  return violations;
}

function injectFault(random: SeededRandom, cluster: SimulatedCluster): StorageFault {
  const kind = random.pick(faultKinds);
  if (kind.endsWith('row')) {
    const device = random.pick(['account', 'currency'] as const);
    const table = device === 'account' ? 'accounts' : 'currency_units';
    const column = device === 'account' ? 'balance' : 'value';
    const database = cluster.databases[device];
    const keys = [...database.table(table).rows.keys()];
    const key = random.pick(keys);
    const store = device === 'account' ? 'B' : 'C';
    const row = database.table(table).rows.get(key)!;
    if (kind === 'change a row')
      database.changeAside(table, key, { [column]: (row[column] as bigint) + 1n });
    else if (kind === 'delete a row') database.deleteAside(table, key);
    else {
      const numberColumn = device === 'account' ? 'account_number' : 'currency_number';
      const next = largestKey(keys) + 1_000n;
      database.insertAside(table, next.toString(), { ...row, [numberColumn]: next });
      return { kind, devices: [device], store, key: next.toString() };
    }
    return { kind, devices: [device], store, key };
  }
  const devices =
    kind === 'change a record in two copies'
      ? twoOf(random)
      : [random.pick(['transaction', 'account', 'currency'] as const)];
  const records = [...cluster.databases[devices[0]!].table('transactions').rows.keys()];
  const key = random.pick(records);
  for (const device of devices) {
    const database = cluster.databases[device];
    const row = database.table('transactions').rows.get(key)!;
    if (kind === 'delete a record') database.deleteAside('transactions', key);
    else if (kind === 'insert a record') {
      const next = (largestKey(records) + 600n).toString();
      database.insertAside('transactions', next, { ...row, transaction_number: BigInt(next) });
      return { kind, devices, store: 'A', key: next };
    } else
      database.changeAside('transactions', key, { date_time: (row['date_time'] as bigint) + 1n });
  }
  return { kind, devices, store: 'A', key };
}

function largestKey(keys: readonly string[]): bigint {
  return keys.reduce((largest, key) => (BigInt(key) > largest ? BigInt(key) : largest), 0n);
}

function twoOf(random: SeededRandom): CopyName[] {
  const all: CopyName[] = ['transaction', 'account', 'currency'];
  all.splice(random.below(3), 1);
  return all;
}

/** Recovery as the transaction device runs it, over the three stores and their services. */
function recoverStores(
  cluster: SimulatedCluster,
  keys: DeploymentKeys,
): Promise<Result<RecoveryReport>> {
  const stores = cluster.stores();
  return recover(() => keys.verifying, {
    open: () => storeAuditInputs(stores),
    repair: async (device, batch: RepairBatch<RowContent>) => {
      if (device === 'transaction') return cluster.transaction!.service.repair(batch);
      if (device === 'account')
        return cluster.account!.service.repair(batch as RepairBatch<AccountRowContent>);
      if (device === 'currency')
        return cluster.currency!.service.repair(batch as RepairBatch<CurrencyRowContent>);
      return fail('InvalidInput', `no device ${String(device)}`);
    },
  });
}

/** Each store's copy of A, B and C as text: what recovery must give back exactly. */
async function contentsOf(cluster: SimulatedCluster): Promise<Record<string, string>> {
  const stores = cluster.stores();
  const contents: Record<string, string> = {};
  for (const device of ['transaction', 'account', 'currency'] as const)
    contents[`${device}'s copy of A`] = (await recordLines(stores[device])).join('\n');
  const rows: string[] = [];
  for await (const row of stores.account.exportAccounts())
    rows.push(`${accountRowBytes(row).toString('hex')}:${row.signature.toString('hex')}`);
  contents['B'] = rows.join('\n');
  const units: string[] = [];
  for await (const row of stores.currency.exportUnits())
    units.push(`${currencyRowBytes(row).toString('hex')}:${row.signature.toString('hex')}`);
  contents['C'] = units.join('\n');
  return contents;
}
