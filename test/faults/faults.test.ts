// The fault test, short version (in `npm test`; `npm run test:faults` runs the long one with
// FAULT_OPERATIONS and FAULT_CRASHES set): see ./harness.ts for what it does and checks.
import { describe, expect, it } from 'vitest';
import { runFaultScenario } from './harness.js';

const number = (name: string, fallback: number) => {
  const text = process.env[name];
  return text ? Number(text) : fallback;
};

const operations = number('FAULT_OPERATIONS', 300);
const crashes = number('FAULT_CRASHES', 8);
const long = operations > 1000;

describe('faults: kill -9, crashes at named steps, a lossy network', () => {
  for (const mode of ['confirm', 'update'] as const) {
    it(
      `${mode} mode: ${operations} remittances, ${crashes} crashes: nothing lost, nothing doubled, copies identical, audit clean`,
      async () => {
        const summary = await runFaultScenario({
          operations,
          crashes,
          clients: 8,
          accounts: 12,
          scheme: 'hmac',
          mode,
          log: (line) => process.stdout.write(`${line}\n`),
        });
        expect(summary.violations).toEqual([]);
        expect(summary.operations).toBe(operations);
        expect(summary.kills + summary.stepCrashes).toBeGreaterThanOrEqual(crashes);
      },
      long ? 3_600_000 : 240_000,
    );
  }
});
