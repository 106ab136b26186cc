// A time on the wire is read only when written exactly as `toISOString` writes it: the field-by-field
// reader (protocol/wire.ts parseIso) agrees with parsing and writing back for every day of four
// centuries' worth of edge years, every boundary of each field, and text that is not canonical; the
// writer (isoOf) writes what `toISOString` writes, inside its fast range and outside it.
import { describe, expect, it } from 'vitest';
import { isoOf, parseIso } from '../../src/protocol/wire.js';
import { SeededRandom } from '../../src/simulator/random.js';

/** What parseIso must answer: the time, when writing it back gives the very text. */
function byRoundTrip(text: string): bigint | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) || new Date(ms).toISOString() !== text ? undefined : BigInt(ms);
}

function parsed(text: string): bigint | undefined {
  const result = parseIso(text, 'dateTime');
  return result.ok ? result.value : undefined;
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

describe('parseIso', () => {
  it('reads every day of the edge years as a round trip through Date does, and refuses the rest', () => {
    for (const year of [0, 1, 99, 100, 1900, 1970, 2000, 2024, 2100, 2400, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T12:34:56.789Z`;
          expect(parsed(text), text).toBe(byRoundTrip(text));
        }
      }
    }
  });

  it('checks each field of the time of day at its bounds', () => {
    for (const [hours, minutes, seconds] of [
      [0, 0, 0],
      [23, 59, 59],
      [24, 0, 0],
      [23, 60, 0],
      [23, 59, 60],
      [99, 99, 99],
    ]) {
      for (const millis of ['000', '999']) {
        const text = `2026-12-05T${pad(hours!, 2)}:${pad(minutes!, 2)}:${pad(seconds!, 2)}.${millis}Z`;
        expect(parsed(text), text).toBe(byRoundTrip(text));
      }
    }
  });

  it('refuses a time in any other form', () => {
    for (const text of [
      '',
      '2026-12-05',
      '2026-12-05T10:00:00Z',
      '2026-12-05T10:00:00.0Z',
      '2026-12-05T10:00:00.000',
      '2026-12-05T10:00:00.000+00:00',
      '2026-12-05 10:00:00.000Z',
      '+002026-12-05T10:00:00.000Z',
      '2026-12-05T10:00:00.000z',
      '２026-12-05T10:00:00.000Z',
      '2026-1a-05T10:00:00.000Z',
      ' 2026-12-05T10:00:00.000Z',
      '2026-12-05T10:00:00.000Z\n',
    ])
      expect(parsed(text), text).toBeUndefined();
    expect(parsed('2026-12-05T10:00:00.000Z')).toBe(BigInt(Date.UTC(2026, 11, 5, 10)));
  });
});

describe('isoOf', () => {
  const byDate = (ms: bigint) => new Date(Number(ms)).toISOString();

  it('writes the edges of days, leap days and its fast range as toISOString does', () => {
    const dayMs = 86_400_000n;
    const days = [0n, 1n, 59n, 10_956n, 11_016n, 11_017n, 20_427n, 2_932_896n];
    const edges = days.flatMap((day) => [day * dayMs - 1n, day * dayMs, (day + 1n) * dayMs - 1n]);
    const lastFast = 253_402_300_799_999n;
    for (const ms of [
      ...edges,
      lastFast,
      lastFast + 1n,
      -1n,
      -62_135_596_800_000n,
      8_640_000_000_000_000n,
    ])
      expect(isoOf(ms), String(ms)).toBe(byDate(ms));
    expect(() => isoOf(2n ** 80n)).toThrow(RangeError);
  });

  it('writes any time from 1970 to 9999 as toISOString does, days in any order (seeded)', () => {
    const random = new SeededRandom(23);
    for (let round = 0; round < 20_000; round++) {
      const ms = BigInt(random.below(2_534_023)) * 100_000_000n + BigInt(random.below(100_000_000));
      expect(isoOf(ms), String(ms)).toBe(byDate(ms));
    }
  });
});
