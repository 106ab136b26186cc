// Once per test run: name the run, so that the PostgreSQL schemas its tests create and the
// deployment templates its tests copy (test/helpers/deployment.ts) can be found and removed when
// it ends, and give it a temporary folder of its own (TMPDIR, which the test workers and every
// process they start inherit): whatever a test leaves in it (stores, deployments, keystores,
// profiles) is removed with the run, instead of piling up in the machine's /tmp run after run.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropSchemas, postgresAvailable, runSchemaPrefix } from './helpers/postgres.js';

let runTmpDir: string | undefined;

export function setup(): void {
  process.env['TRILEDGER_TEST_RUN'] ??= randomBytes(4).toString('hex');
  const run = process.env['TRILEDGER_TEST_RUN'];
  // Each project of the run calls setup: the folder is made once, in the machine's own tmpdir.
  process.env['TRILEDGER_TEST_TMPDIR'] ??= join(tmpdir(), `triledger-test-run-${run}`);
  runTmpDir = process.env['TRILEDGER_TEST_TMPDIR'];
  mkdirSync(runTmpDir, { recursive: true });
  process.env['TMPDIR'] = runTmpDir;
}

export async function teardown(): Promise<void> {
  // The deployment templates are in it too.
  if (runTmpDir !== undefined) rmSync(runTmpDir, { recursive: true, force: true, maxRetries: 3 });
  if (await postgresAvailable().catch(() => false)) await dropSchemas(`${runSchemaPrefix()}_`);
}
