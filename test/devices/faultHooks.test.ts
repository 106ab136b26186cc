// The crash plan of the fault hooks, and the retry backoff between devices.
import { describe, expect, it } from 'vitest';
import { parseCrashPlan } from '../../src/devices/faultHooks.js';
import { backoffMs, requestRetryPolicy } from '../../src/devices/peerClient.js';

describe('TRILEDGER_FAULT_CRASH', () => {
  it('names steps with a probability (1 when left out)', () => {
    expect([...parseCrashPlan('S104:0.05, S109')]).toEqual([
      ['S104', 50_000],
      ['S109', 1_000_000],
    ]);
    expect(parseCrashPlan(undefined).size).toBe(0);
    expect(parseCrashPlan('').size).toBe(0);
  });

  it('refuses an unknown step or a probability outside (0, 1]', () => {
    expect(() => parseCrashPlan('S112:0.5')).toThrow(/STEP:PROBABILITY/);
    expect(() => parseCrashPlan('S101:0')).toThrow(/STEP:PROBABILITY/);
    expect(() => parseCrashPlan('S101:1.5')).toThrow(/STEP:PROBABILITY/);
    expect(() => parseCrashPlan('S101:x')).toThrow(/STEP:PROBABILITY/);
  });
});

describe('retry backoff', () => {
  it('doubles from the base up to the cap, jittered within the upper half', () => {
    const { backoffMsBase, backoffMsMax } = requestRetryPolicy;
    expect(backoffMs(requestRetryPolicy, 2, 1)).toBe(backoffMsBase);
    expect(backoffMs(requestRetryPolicy, 2, 0)).toBe(Math.round(backoffMsBase / 2));
    expect(backoffMs(requestRetryPolicy, 3, 1)).toBe(backoffMsBase * 2);
    expect(backoffMs(requestRetryPolicy, 30, 1)).toBe(backoffMsMax);
    expect(backoffMs(requestRetryPolicy, 30, 0)).toBe(backoffMsMax / 2);
  });
});
