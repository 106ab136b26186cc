// Where a device keeps its stores, from the `store` setting, and opening them there.
//
// `sqlite:PATH` (the default, one file per device) or `postgres://user@host:port/database` with an
// optional `?schema=NAME` (default `triledger_<device>`): each device owns its own schema, so the
// three may share one PostgreSQL server or use one each.

import { fail, ok, type Result } from '../model/errors.js';
import {
  openPostgresAccountStore,
  openPostgresCurrencyStore,
  openPostgresTransactionStore,
  type PostgresLocation,
  schemaNamePattern,
} from './postgres.js';
import { openAccountStore, openCurrencyStore, openTransactionStore } from './sqlite.js';
import type { AccountStore, CurrencyStore, DeviceKind, Store, TransactionTx } from './types.js';

export type StoreLocation =
  | { readonly backend: 'sqlite'; readonly path: string }
  | ({ readonly backend: 'postgres' } & PostgresLocation);

export const storeSpecPattern = /^(sqlite:.+|postgres(ql)?:\/\/.+)$/;

/** Parse a `store` setting; relative SQLite paths are left for the caller to resolve. */
export function parseStoreLocation(spec: string, device: DeviceKind): Result<StoreLocation> {
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '') return fail('InvalidInput', 'store sqlite: needs a file path');
    return ok({ backend: 'sqlite', path });
  }
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    return fail(
      'InvalidInput',
      `store ${redacted(spec)} is neither sqlite:PATH nor a postgres:// URL`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    return fail(
      'InvalidInput',
      `store ${redacted(spec)} is neither sqlite:PATH nor a postgres:// URL`,
    );
  const schema = url.searchParams.get('schema') ?? `triledger_${device}`;
  if (!schemaNamePattern.test(schema))
    return fail(
      'InvalidInput',
      `store schema ${JSON.stringify(schema)} must be lower-case letters, digits and underscores`,
    );
  url.searchParams.delete('schema');
  return ok({ backend: 'postgres', url: url.toString(), schema });
}

/**
 * The store setting of one device of a deployment whose devices share a setting: a postgres URL
 * becomes one schema per device (`triledger_<device>`, or `NAME_<device>` with `?schema=NAME`).
 */
export function deviceStoreSpec(spec: string, device: DeviceKind): string {
  if (spec.startsWith('sqlite:')) return spec;
  const url = new URL(spec);
  url.searchParams.set('schema', `${url.searchParams.get('schema') ?? 'triledger'}_${device}`);
  return url.toString();
}

/** A store setting fit for logs and errors: a password in a URL is replaced. */
export function redacted(spec: string): string {
  return spec.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, '$1:***@');
}

/** The store setting that names a location (the inverse of parseStoreLocation). */
export function storeSpecOf(location: StoreLocation): string {
  if (location.backend === 'sqlite') return `sqlite:${location.path}`;
  const url = new URL(location.url);
  url.searchParams.set('schema', location.schema);
  return url.toString();
}

export function describeStore(location: StoreLocation): string {
  return location.backend === 'sqlite'
    ? `sqlite:${location.path}`
    : `${redacted(location.url)} schema ${location.schema}`;
}

export async function openTransactionStoreAt(
  location: StoreLocation,
): Promise<Store<TransactionTx>> {
  return location.backend === 'sqlite'
    ? openTransactionStore(location.path)
    : openPostgresTransactionStore(location);
}

export async function openAccountStoreAt(location: StoreLocation): Promise<AccountStore> {
  return location.backend === 'sqlite'
    ? openAccountStore(location.path)
    : openPostgresAccountStore(location);
}

export async function openCurrencyStoreAt(location: StoreLocation): Promise<CurrencyStore> {
  return location.backend === 'sqlite'
    ? openCurrencyStore(location.path)
    : openPostgresCurrencyStore(location);
}
