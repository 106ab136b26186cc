// Once per test run: name the run, so that the PostgreSQL schemas its tests create can be found and
// dropped when it ends (test/helpers/postgres.ts).
import { randomBytes } from 'node:crypto';
import { dropSchemas, postgresAvailable, runSchemaPrefix } from './helpers/postgres.js';

export function setup(): void {
  process.env['TRILEDGER_TEST_RUN'] ??= randomBytes(4).toString('hex');
}

export async function teardown(): Promise<void> {
  if (await postgresAvailable().catch(() => false)) await dropSchemas(`${runSchemaPrefix()}_`);
}
