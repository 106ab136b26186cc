// Test runner configuration: tests live in test/, mirroring src/. The JSON report feeds the plain
// "N passed, N failed" line that .ci/run prints last.
//
// Projects:
// - `sqlite`: every test on the default store;
// - `postgres`: the protocol and audit suites again with every device on PostgreSQL
//   (test/helpers/deployment.ts reads TRILEDGER_TEST_BACKEND), alongside `sqlite`. The store
//   conformance suite runs both backends itself. The two share their workers (one group, so one
//   maxWorkers, vitest requires it): two files at a time. (Three were tried: the lost-tail
//   scenarios then passed their 30 s limit on the 2-core machine.)
// - `alone`: the tests that kill and restart devices against short time limits (the fault test,
//   the crash scenarios) run after the others, one file at a time, so that no other test's load
//   stretches a restart past those limits.
import { defineConfig } from 'vitest/config';

/**
 * The suites that run on both backends: the protocol through real devices, and the audit's tamper
 * and rebuild tests. (The recovery scenarios, 150 s, run on SQLite only: on PostgreSQL the same
 * recovery is covered end to end by rebuild and lostTail, and its store methods by the conformance
 * suite; the whole CI run passed 20 minutes on this 2-core machine with them.)
 */
const onBothBackends = [
  'test/devices/remittance.test.ts',
  'test/devices/operations.test.ts',
  'test/devices/badInput.test.ts',
  'test/devices/concurrency.test.ts',
  'test/devices/sharedKeyAccount.test.ts',
  'test/devices/batches.test.ts',
  'test/devices/adminReads.test.ts',
  'test/audit/tamper.test.ts',
  'test/audit/rebuild.test.ts',
  'test/devices/lostTail.test.ts',
  'test/devices/ownStoreDamage.test.ts',
  'test/devices/settlementRecords.test.ts',
  'test/devices/answerConflict.test.ts',
  'test/audit/replay.test.ts',
];

const alone = ['test/faults/**/*.test.ts', 'test/devices/crashRecovery.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    // A deployment stops its gateway first, then its peers (triledger up): a stop takes longer.
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/globalSetup.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          exclude: alone,
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: onBothBackends,
          env: { TRILEDGER_TEST_BACKEND: 'postgres' },
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: { name: 'alone', include: alone, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
