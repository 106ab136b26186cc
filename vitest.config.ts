// Test runner configuration: tests live in test/, mirroring src/. The JSON report feeds the plain
// "N passed, N failed" line that .ci/run prints last.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
