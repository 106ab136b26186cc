// An audit of a deployment's three stores opened directly, with its devices stopped: what
// `triledger import` runs to verify a move, and what the tamper matrix runs on edited stores.
//
// The checks are the audit's own (./audit.ts): only the reading differs, every copy of A is read
// from its store instead of through the devices. It starts from nothing (no checkpoint).

import { loadDeviceConfig } from '../devices/config.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import {
  openAccountStoreAt,
  openCurrencyStoreAt,
  openTransactionStoreAt,
  parseStoreLocation,
  type StoreLocation,
} from '../store/open.js';
import type {
  AccountStore,
  CurrencyStore,
  DeviceKind,
  Store,
  TransactionTx,
} from '../store/types.js';
import { type AuditInputs, type AuditReport, audit } from './audit.js';
import type { ChainWorker } from './chainsAhead.js';
import { ownRecordPages } from './exportLines.js';

export interface DeploymentStores {
  readonly transaction: Store<TransactionTx>;
  readonly account: AccountStore;
  readonly currency: CurrencyStore;
}

export const deviceKinds: readonly DeviceKind[] = ['transaction', 'account', 'currency'];

/** Where each device of the deployment in `dir` keeps its store, from its configuration file. */
export function storeLocationsOf(dir: string): Result<Record<DeviceKind, StoreLocation>> {
  const locations: Partial<Record<DeviceKind, StoreLocation>> = {};
  for (const device of deviceKinds) {
    const config = loadDeviceConfig(`${dir}/${device}.json`);
    if (!config.ok) return config;
    const location = parseStoreLocation(config.value.store, device);
    if (!location.ok) return location;
    locations[device] = location.value;
  }
  return ok(locations as Record<DeviceKind, StoreLocation>);
}

/** Open the three stores (creating and migrating them when new), run `work`, close them. */
export async function withDeploymentStores<T>(
  locations: Record<DeviceKind, StoreLocation>,
  work: (stores: DeploymentStores) => Promise<T>,
): Promise<Result<T>> {
  const opened: { close(): Promise<void> }[] = [];
  const opening = async <S extends { close(): Promise<void> }>(store: Promise<S>) => {
    opened.push(await store);
    return opened.at(-1) as S;
  };
  try {
    let stores: DeploymentStores;
    try {
      stores = {
        transaction: await opening(openTransactionStoreAt(locations.transaction)),
        account: await opening(openAccountStoreAt(locations.account)),
        currency: await opening(openCurrencyStoreAt(locations.currency)),
      };
    } catch (error) {
      return fail(
        'StoreUnavailable',
        `a store cannot be opened: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return ok(await work(stores));
  } finally {
    await Promise.all(opened.map((store) => store.close()));
  }
}

/** What an audit reads of three stores opened directly: fresh streams of each copy of A, B and C. */
export function storeAuditInputs(stores: DeploymentStores): AuditInputs {
  return {
    copies: {
      transaction: ownRecordPages(stores.transaction.exportRecordPages()),
      account: ownRecordPages(stores.account.exportRecordPages()),
      currency: ownRecordPages(stores.currency.exportRecordPages()),
    },
    accounts: stores.account.exportAccounts(),
    units: stores.currency.exportUnits(),
  };
}

/** `chainWorker`: verify the transaction copy's Ed25519 links in a worker thread (./chainsAhead.ts). */
export function auditStores(
  keys: VerifyingKeys,
  stores: DeploymentStores,
  chainWorker?: ChainWorker,
): Promise<AuditReport> {
  return audit(keys, storeAuditInputs(stores), chainWorker ? { chainWorker } : {});
}
