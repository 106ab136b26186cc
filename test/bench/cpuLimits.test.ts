// The least CPU of a remittance on this machine (bench/cpuLimits.ts): the devices' HMACs and every
// record's row at every device, plus a round trip for a remittance requested alone; the rate that
// allows on the machine's cores is a ceiling no code of the protocol passes.

import { describe, expect, it } from 'vitest';
import {
  ceilingPerSecond,
  recordRowsPerRemittance,
  remittanceCpuFloorUs,
} from '../../bench/cpuLimits.js';

describe('remittanceCpuFloorUs', () => {
  it("counts every record's row at all three devices, the HMACs, and the round trip alone", () => {
    expect(recordRowsPerRemittance).toBe(18);
    const floor = remittanceCpuFloorUs({ hmacUs: 3, recordRowUs: 5 }, 150, 20);
    expect(floor.batched).toBe(20 * 3 + 18 * 5);
    expect(floor.single).toBe(20 * 3 + 18 * 5 + 150);
  });

  it('refuses a remittance with no HMAC or no round trip measured', () => {
    expect(() => remittanceCpuFloorUs({ hmacUs: 3, recordRowUs: 5 }, 150, 0)).toThrow();
    expect(() => remittanceCpuFloorUs({ hmacUs: 3, recordRowUs: 5 }, 0, 20)).toThrow();
  });
});

describe('ceilingPerSecond', () => {
  it("divides the cores' microseconds by a remittance's", () => {
    expect(ceilingPerSecond(250, 2)).toBe(8_000);
    expect(ceilingPerSecond(100, 1)).toBe(10_000);
    expect(() => ceilingPerSecond(0, 2)).toThrow();
  });
});
