// The worker thread of ./integrity.ts: runs SQLite's full integrity check on a store file, on a
// read-only connection of its own, so that the device's event loop keeps serving meanwhile.
// It decides nothing: it answers what SQLite found (or the error it met) and exits.

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { assert } from '../model/assert.js';
import { damageFindingsMax } from './damage.js';
import type { IntegrityWorkerAnswer, IntegrityWorkerData } from './integrity.js';

const port = parentPort;
assert(port, 'the integrity worker runs as a worker thread');
const { path } = workerData as IntegrityWorkerData;
let answer: IntegrityWorkerAnswer;
try {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma(`integrity_check(${damageFindingsMax})`) as {
      integrity_check: string;
    }[];
    answer = { findings: rows.map((row) => row.integrity_check) };
  } finally {
    db.close();
  }
} catch (error) {
  const { code, message } = error as { code?: unknown; message?: unknown };
  answer = { error: { code: typeof code === 'string' ? code : '', message: String(message) } };
}
port.postMessage(answer);
