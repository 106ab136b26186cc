// The full integrity check of a device's SQLite store (issue 18), beyond the quick_check it passes
// when it opens: `PRAGMA integrity_check` also compares every index with its table (a row missing
// from an index, an index entry without its row), which a failing disk can break unseen. It reads
// the whole file, so it runs in a worker thread (./integrityWorker.ts) on a read-only connection;
// a device runs it every `integrityCheckIntervalMs` and fences itself on what it finds, and
// `triledger check-store` runs it on demand. On PostgreSQL the same check is ./postgresIntegrity.ts.

import { Worker } from 'node:worker_threads';
import { damageOf, isStoreDamage } from './damage.js';
import type { StoreLocation } from './open.js';
import { checkPostgresIntegrity, type PostgresIndexCheck } from './postgresIntegrity.js';

// From src/store (tests) and from dist/store (the devices) alike, the built worker: `npm test`
// builds dist before it runs.
const workerUrl = new URL('../../dist/store/integrityWorker.js', import.meta.url);

export interface IntegrityWorkerData {
  readonly path: string;
}

export type IntegrityWorkerAnswer =
  | { readonly findings: readonly string[] }
  | { readonly error: { readonly code: string; readonly message: string } };

/** What the check found: 'sound', the damage, or why it could not run (the file is missing, say). */
export type IntegrityResult =
  | { readonly kind: 'sound' }
  | { readonly kind: 'damaged'; readonly damage: string }
  | { readonly kind: 'not run'; readonly reason: string };

/** The full check of a device's store, on either backend; PostgreSQL says how indexes were checked. */
export function checkStoreIntegrity(
  location: StoreLocation,
): Promise<IntegrityResult & { readonly indexes?: PostgresIndexCheck }> {
  return location.backend === 'sqlite'
    ? checkSqliteIntegrity(location.path)
    : checkPostgresIntegrity(location);
}

export function checkSqliteIntegrity(path: string): Promise<IntegrityResult> {
  return new Promise((resolve) => {
    const worker = new Worker(workerUrl, { workerData: { path } satisfies IntegrityWorkerData });
    worker.once('message', (answer: IntegrityWorkerAnswer) => resolve(resultOf(path, answer)));
    worker.once('error', (error) => resolve({ kind: 'not run', reason: error.message }));
    worker.once('exit', () => resolve({ kind: 'not run', reason: 'the integrity worker exited' }));
  });
}

function resultOf(path: string, answer: IntegrityWorkerAnswer): IntegrityResult {
  if ('error' in answer) {
    return isStoreDamage(answer.error)
      ? { kind: 'damaged', damage: `${path} is damaged: ${answer.error.message}` }
      : { kind: 'not run', reason: answer.error.message };
  }
  const damage = damageOf(answer.findings);
  return damage === undefined
    ? { kind: 'sound' }
    : { kind: 'damaged', damage: `${path} is damaged: ${damage}` };
}
