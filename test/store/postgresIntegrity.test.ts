// The full integrity check of a PostgreSQL store (store/postgresIntegrity.ts): every row of the
// device's schema read through its heap, and its B-tree indexes compared with their tables by
// amcheck where the database has it installed (the check never installs it). Runs in a scratch
// database of its own, so that installing amcheck there changes nothing else.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresCurrencyStore } from '../../src/store/postgres.js';
import { checkPostgresIntegrity } from '../../src/store/postgresIntegrity.js';
import { freshSchemaPrefix, postgresAvailable, postgresUrl } from '../helpers/postgres.js';

const available = await postgresAvailable();
const database = `triledger_integrity_${freshSchemaPrefix().slice(-10)}`;
const scratchUrl = (() => {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
})();

async function onServer(sql: string, url = postgresUrl): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (!available) return;
  await onServer(`CREATE DATABASE ${database}`);
  const store = await openPostgresCurrencyStore({ url: scratchUrl, schema: 'currency_store' });
  await store.close();
});

afterAll(async () => {
  if (available) await onServer(`DROP DATABASE IF EXISTS ${database}`);
});

describe.skipIf(!available)('the integrity check of a PostgreSQL store', () => {
  it('reads every table; without amcheck it says the indexes were not compared', async () => {
    expect(await checkPostgresIntegrity({ url: scratchUrl, schema: 'currency_store' })).toEqual({
      kind: 'sound',
      indexes: 'not checked: amcheck is not installed',
    });
  });

  it('compares every index with its table where amcheck is installed', async () => {
    await onServer('CREATE EXTENSION IF NOT EXISTS amcheck', scratchUrl);
    expect(await checkPostgresIntegrity({ url: scratchUrl, schema: 'currency_store' })).toEqual({
      kind: 'sound',
      indexes: 'amcheck',
    });
  });

  it('says it could not run where there is no store', async () => {
    const result = await checkPostgresIntegrity({ url: scratchUrl, schema: 'no_such_store' });
    expect(result).toEqual({
      kind: 'not run',
      reason: 'there is no store in schema no_such_store',
    });
  });
});
