// The light-load floor's lone remittances (bench/lightFloor.ts): each is its round trips and its
// durable commits in sequence, drawn from the measured samples, the same for the same seed.

import { describe, expect, it } from 'vitest';
import {
  durableCommitsInSequence,
  loneRemittancesMs,
  roundTripsInSequence,
} from '../../bench/lightFloor.js';

describe('loneRemittancesMs', () => {
  it("adds a remittance's round trips and commits in sequence", () => {
    const draws = loneRemittancesMs([0.5], [0.25], 10, 1);
    expect(draws).toHaveLength(10);
    const each = roundTripsInSequence * 0.5 + durableCommitsInSequence * 0.25;
    for (const drawn of draws) expect(drawn).toBeCloseTo(each, 9);
  });

  it('draws only from the samples, and the same draws for the same seed', () => {
    const roundTrips = [0.2, 0.3, 4];
    const commits = [0.1, 2];
    const draws = loneRemittancesMs(roundTrips, commits, 1_000, 7);
    expect(loneRemittancesMs(roundTrips, commits, 1_000, 7)).toEqual(draws);
    const least = roundTripsInSequence * 0.2 + durableCommitsInSequence * 0.1;
    const most = roundTripsInSequence * 4 + durableCommitsInSequence * 2;
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(least - 1e-9);
    expect(Math.max(...draws)).toBeLessThanOrEqual(most + 1e-9);
    expect(new Set(draws).size).toBeGreaterThan(10);
  });

  it('refuses to draw from no samples', () => {
    expect(() => loneRemittancesMs([], [0.1], 1, 1)).toThrow();
  });
});
