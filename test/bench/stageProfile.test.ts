// The benchmark's per-stage CPU (bench/stageProfile.ts): a sample goes to the stage of the first
// frame from its leaf that names one (a socket's work for the store, the store's), audit work is
// audit whatever it calls, idle time is no stage, and only the samples inside the measured time
// count.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mainThreadProfile, stageMicroseconds } from '../../bench/stageProfile.js';

const frame = (functionName: string, url: string) => ({
  functionName,
  url,
  scriptId: '0',
  lineNumber: 0,
  columnNumber: 0,
});
const dist = 'file:///opt/triledger/dist';

/** root -> {idle, gc, pipeline -> store write, pipeline -> crypto, audit -> store read, commit}. */
const nodes = [
  { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 7, 9, 11, 12, 16] },
  { id: 2, callFrame: frame('(idle)', '') },
  { id: 3, callFrame: frame('(garbage collector)', '') },
  { id: 4, callFrame: frame('#settleAll', `${dist}/devices/account/service.js`), children: [5, 6] },
  { id: 5, callFrame: frame('appendRecords', `${dist}/store/sqlite.js`) },
  { id: 6, callFrame: frame('#verify', `${dist}/signature/device.js`) },
  { id: 7, callFrame: frame('runTick', `${dist}/audit/continuous.js`), children: [8] },
  { id: 8, callFrame: frame('recordsOfOperation', `${dist}/store/sqlite.js`) },
  { id: 9, callFrame: frame('#commitGroup', `${dist}/store/sqlite.js`), children: [10] },
  { id: 10, callFrame: frame('processTicksAndRejections', 'node:internal/process/task_queues') },
  { id: 11, callFrame: frame('writev', ''), children: [] },
  // A socket's write for a PostgreSQL COMMIT, and one for an HTTP answer.
  {
    id: 12,
    callFrame: frame('committedWithHeldWrites', `${dist}/store/postgres.js`),
    children: [13],
  },
  {
    id: 13,
    callFrame: frame('_send', 'file:///opt/triledger/node_modules/pg/lib/connection.js'),
    children: [14],
  },
  { id: 14, callFrame: frame('Socket._writev', 'node:net'), children: [15] },
  { id: 15, callFrame: frame('writev', '') },
  {
    id: 16,
    callFrame: frame('onSendEnd', 'file:///opt/triledger/node_modules/fastify/lib/reply.js'),
    children: [17],
  },
  { id: 17, callFrame: frame('Socket._writev', 'node:net'), children: [18] },
  { id: 18, callFrame: frame('writev', '') },
];

function writeProfile(samples: number[], deltas: number[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'stages-'));
  const profile = { nodes, startTime: 1_000, endTime: 2_000, samples, timeDeltas: deltas };
  writeFileSync(
    join(directory, 'CPU.20261203.010000.4242.0.001.cpuprofile'),
    JSON.stringify(profile),
  );
  writeFileSync(join(directory, 'CPU.20261203.010000.4242.1.002.cpuprofile'), '{}');
  return directory;
}

describe('the per-stage CPU of the throughput benchmark', () => {
  it('puts each sample in the stage its stack names, leaf first', () => {
    // Samples at 1010, 1020, ... each lasting until the next one (10 us).
    const directory = writeProfile([2, 3, 5, 6, 8, 10, 11, 2], [10, 10, 10, 10, 10, 10, 10, 10]);
    const path = mainThreadProfile(directory, 4242);
    expect(path).toBe(join(directory, 'CPU.20261203.010000.4242.0.001.cpuprofile'));
    expect(mainThreadProfile(directory, 4243)).toBeUndefined();
    const totals = stageMicroseconds(path!, 0, 10_000);
    expect(totals).toMatchObject({ gc: 10, write: 10, crypto: 10, audit: 10, commit: 10 });
    // A builtin with no project frame above it is the runtime's; the idle samples are no stage.
    expect(totals.runtime).toBe(10);
    expect(Object.values(totals).reduce((sum, us) => sum + us, 0)).toBe(60);
  });

  it("counts a socket's work for the store in the store's stage", () => {
    const directory = writeProfile([15, 15, 18, 2], [10, 10, 10, 10]);
    const totals = stageMicroseconds(mainThreadProfile(directory, 4242)!, 0, 10_000);
    // The PostgreSQL COMMIT's write is the commit's (it was http); the HTTP answer's stays http.
    expect(totals).toMatchObject({ commit: 20, http: 10 });
  });

  it('counts only the samples taken in the measured time', () => {
    const directory = writeProfile([5, 5, 5, 6], [10, 10, 10, 10]);
    // Samples at 1010, 1020, 1030, 1040: the window [1015, 1035) keeps the second and third.
    const totals = stageMicroseconds(mainThreadProfile(directory, 4242)!, 1_015, 1_035);
    expect(totals.write).toBe(20);
    expect(totals.crypto).toBe(0);
  });
});
