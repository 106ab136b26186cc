// Once per test run: name the run, so that the PostgreSQL schemas its tests create and the
// deployment templates its tests copy (test/helpers/deployment.ts) can be found and removed when
// it ends.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { templatesDir } from './helpers/deployment.js';
import { dropSchemas, postgresAvailable, runSchemaPrefix } from './helpers/postgres.js';

export function setup(): void {
  process.env['TRILEDGER_TEST_RUN'] ??= randomBytes(4).toString('hex');
}

export async function teardown(): Promise<void> {
  const templates = templatesDir();
  if (templates !== undefined) rmSync(templates, { recursive: true, force: true });
  if (await postgresAvailable().catch(() => false)) await dropSchemas(`${runSchemaPrefix()}_`);
}
