// A damaged store set aside, never deleted, so that its device starts on a fresh, empty store that
// `triledger recover` then rebuilds from the other two devices (issue 18; docs/faults.md).
//
// SQLite: the file and its companions (-wal, -shm, -journal) are renamed together to
// `FILE.damaged-STAMP` (+ the same suffix): a WAL left beside a new file would be applied to it.
// PostgreSQL: the device's schema is renamed to `SCHEMA_damaged_STAMP`; the device creates a new
// one when it starts. What was set aside stays for the operator (forensics, a later comparison).

import { existsSync, renameSync } from 'node:fs';
import pg from 'pg';
import { fail, ok, type Result } from '../model/errors.js';
import type { StoreLocation } from './open.js';
import { schemaNamePattern } from './postgres.js';

const sqliteCompanions = ['', '-wal', '-shm', '-journal'] as const;

/** `2026-12-02T22:31:05.123Z` as `20261202T223105Z`: sortable, and valid in file and schema names. */
function stampOf(atMs: number): string {
  return new Date(atMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Set the store aside; returns where it went (a path, or a schema name). */
export async function setAsideStore(
  location: StoreLocation,
  atMs: number,
): Promise<Result<string>> {
  const stamp = stampOf(atMs);
  return location.backend === 'sqlite'
    ? setAsideFile(location.path, stamp)
    : setAsideSchema(location.url, location.schema, stamp);
}

function setAsideFile(path: string, stamp: string): Result<string> {
  if (!existsSync(path)) return fail('InvalidInput', `there is no store at ${path}`);
  const aside = `${path}.damaged-${stamp}`;
  if (sqliteCompanions.some((suffix) => existsSync(aside + suffix)))
    return fail('InvalidInput', `${aside} exists already; try again in a second`);
  // The main file last: until it moves, running this again finds the store where it was.
  for (const suffix of [...sqliteCompanions.slice(1), ''])
    if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  return ok(aside);
}

async function setAsideSchema(url: string, schema: string, stamp: string): Promise<Result<string>> {
  const suffix = `_damaged_${stamp.toLowerCase()}`;
  const aside = schema.slice(0, 63 - suffix.length) + suffix;
  if (!schemaNamePattern.test(aside)) return fail('InvalidInput', `cannot name a schema ${aside}`);
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (found.rowCount === 0) return fail('InvalidInput', `there is no schema ${schema}`);
    await client.query(`ALTER SCHEMA ${schema} RENAME TO ${aside}`);
    return ok(aside);
  } catch (error) {
    return fail('StoreUnavailable', `PostgreSQL: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
