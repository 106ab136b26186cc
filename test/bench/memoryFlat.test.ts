// The throughput benchmark's memory verdict (bench/throughputReport.ts memoryFlat): what each device
// keeps, its V8 heap after major collections and its resident memory outside the V8 heap, must not
// grow from the middle to the last third of the measured time; the resident size is not judged.
// The heap kept counts in each third only the values its own major collections set.

import { describe, expect, it } from 'vitest';
import { memoryFlat, memoryGrowthShareMax } from '../../bench/throughputReport.js';

type Figures = { heapKeptMiB: number[]; outsideHeapMiB: number[]; majorCollections: number[] };

/** Nine samples per device: thirds of three, a major collection before each. */
const steady: Figures = {
  heapKeptMiB: [30, 30, 30, 31, 30, 30, 30, 31, 30],
  outsideHeapMiB: [80, 82, 85, 90, 90, 91, 90, 90, 92],
  majorCollections: [1, 2, 3, 4, 5, 6, 7, 8, 9],
};
const devicesWith = (account: Figures) => ({ transaction: steady, account, currency: steady });

describe('memoryFlat', () => {
  it('is met when the heap kept and the memory outside the heap stay within the share', () => {
    expect(memoryFlat(devicesWith(steady), 120)).toBe(true);
  });

  it('is missed when the heap kept after collections grows', () => {
    const growing = { ...steady, heapKeptMiB: [30, 30, 30, 30, 31, 32, 34, 35, 36] };
    expect(memoryFlat(devicesWith(growing), 120)).toBe(false);
  });

  it('is missed when the memory outside the heap grows past the share', () => {
    const last = Math.ceil(90 * (1 + memoryGrowthShareMax)) + 1;
    const growing = { ...steady, outsideHeapMiB: [80, 85, 88, 90, 90, 90, last, last, last + 2] };
    expect(memoryFlat(devicesWith(growing), 120)).toBe(false);
  });

  it('counts in a third only what its own collections set, and judges nothing without one', () => {
    const lateFirst = {
      ...steady,
      heapKeptMiB: [0, 0, 0, 0, 30, 30, 30, 30, 30],
      majorCollections: [0, 0, 0, 0, 1, 1, 2, 2, 2],
    };
    expect(memoryFlat(devicesWith(lateFirst), 120)).toBe(true);
    // A collection made while the device warmed up is shown until the next, a third later: its
    // lower value is not the middle third's.
    const warmedEarly = {
      ...steady,
      heapKeptMiB: [28, 28, 28, 28, 31, 31, 31, 31, 31],
      majorCollections: [1, 1, 1, 1, 2, 2, 3, 3, 3],
    };
    expect(memoryFlat(devicesWith(warmedEarly), 120)).toBe(true);
    const none = { ...steady, majorCollections: [1, 1, 1, 1, 1, 1, 2, 2, 2] };
    expect(memoryFlat(devicesWith(none), 120)).toBeUndefined();
    const never = {
      ...steady,
      heapKeptMiB: [0, 0, 0, 0, 0, 0, 30, 30, 30],
      majorCollections: [0, 0, 0, 0, 0, 0, 1, 1, 1],
    };
    expect(memoryFlat(devicesWith(never), 120)).toBeUndefined();
  });

  it('judges nothing on a run shorter than a minute', () => {
    const growing = { ...steady, heapKeptMiB: [30, 30, 30, 30, 31, 32, 34, 35, 36] };
    expect(memoryFlat(devicesWith(growing), 30)).toBeUndefined();
  });
});
