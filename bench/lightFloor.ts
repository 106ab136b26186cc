// The light-load floor of this machine, measured in the same run as the throughput benchmark (issue
// 17): how long a lone remittance cannot take less than here, whatever the devices' own code does.
//
// A lone remittance waits, in sequence, on `roundTripsInSequence` HTTP round trips between
// processes (the terminal to `transaction`, `transaction` to `account`, then to `currency`) and on
// `durableCommitsInSequence` durable commits (the opening at `transaction`, the exchanges at
// `account` and `currency`, then a3-a6 at `transaction`: devices/transaction/service.ts). The floor
// times those parts bare: a round trip through the same HTTP client (undici) to a bare node:http
// echo server in a process of its own, one at a time after a warm-up, and a one-row transaction
// committed in a SQLite WAL file with synchronous=FULL, as the stores commit. The round trips are
// timed with a pause between them, as a device idles between its turns in a lone remittance (taken
// back to back, they are faster than any hop of a remittance). The floor's percentiles are those of
// a lone remittance's parts drawn independently from those samples (seeded, so the same samples
// give the same floor). The CPU time both ends spend on a bare round trip, taken back to back as
// under load, says what HTTP requests alone cost at a given rate.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { assert } from '../src/model/assert.js';
import { SeededRandom } from '../src/simulator/random.js';
import { type LatencySummary, summarize } from './latency.js';

/** HTTP round trips between processes that a lone remittance's answer waits on, one after another. */
export const roundTripsInSequence = 3;
/** Durable commits that a lone remittance's answer waits on, one after another. */
export const durableCommitsInSequence = 4;
/** Samples of each part, after as many not counted (the first connections and statements). */
export const floorSamples = 300;
/** The pause between two timed round trips: about what a device idles between its turns. */
export const roundTripPauseMs = 5;
/** Round trips back to back for their CPU time, after as many not counted. */
export const cpuRoundTrips = 2_000;
/** Lone remittances drawn from the parts' samples for the floor's percentiles. */
export const floorDraws = 20_000;
/** About the size of a step message between devices. */
const roundTripBodyBytes = 600;

export interface LightFloor {
  readonly roundTrip: LatencySummary;
  readonly durableCommit: LatencySummary;
  /** A lone remittance's round trips and commits in sequence, drawn from the samples. */
  readonly remittance: LatencySummary;
  /** CPU time of one bare round trip, both processes, taken back to back. */
  readonly roundTripCpuUs: number;
}

export async function measureLightFloor(): Promise<LightFloor> {
  const roundTrips = await bareRoundTrips();
  const commits = durableCommitsMs();
  return {
    roundTrip: summarize(roundTrips.latenciesMs),
    durableCommit: summarize(commits),
    remittance: summarize(loneRemittancesMs(roundTrips.latenciesMs, commits, floorDraws, 17)),
    roundTripCpuUs: roundTrips.cpuUs,
  };
}

/**
 * `draws` lone remittances, each the sum of roundTripsInSequence round trips and
 * durableCommitsInSequence commits picked at random (seeded) from the samples.
 */
export function loneRemittancesMs(
  roundTripsMs: readonly number[],
  commitsMs: readonly number[],
  draws: number,
  seed: number,
): number[] {
  assert(roundTripsMs.length > 0 && commitsMs.length > 0, 'the floor draws from samples');
  const random = new SeededRandom(seed);
  const remittances: number[] = [];
  for (let draw = 0; draw < draws; draw++) {
    let totalMs = 0;
    for (let hop = 0; hop < roundTripsInSequence; hop++) totalMs += random.pick(roundTripsMs);
    for (let commit = 0; commit < durableCommitsInSequence; commit++)
      totalMs += random.pick(commitsMs);
    remittances.push(totalMs);
  }
  assert(remittances.length === draws, 'one figure per draw');
  return remittances;
}

/** The echo server's process: node:http, answering each body with itself; its CPU time on request. */
const echoServerSource = `
const http = require('node:http');
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => response.end(Buffer.concat(chunks)));
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'cpu') { const { user, system } = process.cpuUsage(); process.send({ cpuUs: user + system }); }
  else process.exit(0);
});`;

async function bareRoundTrips(): Promise<{ latenciesMs: number[]; cpuUs: number }> {
  const server = spawn(process.execPath, ['-e', echoServerSource], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  type Answer = Record<string, number>;
  const answers: { resolve: (message: Answer) => void; reject: (error: Error) => void }[] = [];
  server.on('message', (message: Answer) => answers.shift()?.resolve(message));
  // A server that cannot start (or dies) answers nothing: what waits on it fails, never hangs.
  server.once('exit', (code) => {
    for (const waiting of answers.splice(0))
      waiting.reject(new Error(`the floor's echo server exited with ${code}`));
  });
  const next = () => new Promise<Answer>((resolve, reject) => answers.push({ resolve, reject }));
  const listening = next();
  const serverCpuUs = async () => {
    const answer = next();
    server.send('cpu');
    return (await answer)['cpuUs']!;
  };
  const pool = new Pool(`http://127.0.0.1:${(await listening)['port']}`, { connections: 1 });
  try {
    const body = Buffer.alloc(roundTripBodyBytes, 7);
    const once = async () => {
      const started = performance.now();
      const response = await pool.request({ method: 'POST', path: '/', body });
      assert((await response.body.arrayBuffer()).byteLength === body.length, 'the echo is whole');
      return performance.now() - started;
    };
    for (let k = 0; k < cpuRoundTrips; k++) await once();
    const serverAtStart = await serverCpuUs();
    const clientAtStart = process.cpuUsage();
    for (let k = 0; k < cpuRoundTrips; k++) await once();
    const client = process.cpuUsage(clientAtStart);
    const cpuUs =
      (client.user + client.system + (await serverCpuUs()) - serverAtStart) / cpuRoundTrips;
    const latenciesMs: number[] = [];
    for (let k = 0; k < floorSamples; k++) {
      await new Promise((resolve) => setTimeout(resolve, roundTripPauseMs));
      latenciesMs.push(await once());
    }
    return { latenciesMs, cpuUs };
  } finally {
    await pool.close();
    server.send('exit');
  }
}

function durableCommitsMs(): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'triledger-floor-'));
  const db = new Database(join(dir, 'floor.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE rows (number INTEGER PRIMARY KEY, bytes BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO rows (number, bytes) VALUES (?, ?)');
    const commitOne = db.transaction((k: number) => insert.run(k, Buffer.alloc(200, k % 256)));
    const commitsMs: number[] = [];
    for (let k = 0; k < 2 * floorSamples; k++) {
      const started = performance.now();
      commitOne(k);
      if (k >= floorSamples) commitsMs.push(performance.now() - started);
    }
    return commitsMs;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
