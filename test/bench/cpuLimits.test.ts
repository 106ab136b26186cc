// The least CPU of a remittance on this machine (bench/cpuLimits.ts): the devices' HMACs and every
// record's row at every device, plus a round trip for a remittance requested alone; the rate that
// allows on the machine's cores is a ceiling no code of the protocol passes.

import { describe, expect, it } from 'vitest';
import {
  ceilingPerSecond,
  cryptoCores,
  devicesCryptoWork,
  ed25519CryptoLimit,
  recordRowsPerRemittance,
  remittanceCpuFloorUs,
  terminalCryptoWork,
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

describe('the Ed25519 crypto limit', () => {
  const rates = { signsPerSecond: 20_000, verifiesPerSecond: 5_000 };

  it("is the cores over the devices' signatures and verifications of one remittance", () => {
    // confirm: 10 signatures (0.5 ms) and 19 verifications (3.8 ms) on two cores.
    expect(devicesCryptoWork('confirm')).toEqual({ sign: 10, verify: 19 });
    expect(ed25519CryptoLimit(rates, 'confirm', 2)).toBeCloseTo(2 / 0.0043, 6);
    expect(cryptoCores(rates, devicesCryptoWork('confirm'), 100)).toBeCloseTo(0.43, 9);
  });

  it('counts the terminal signing its request and checking every link after it', () => {
    expect(terminalCryptoWork).toEqual({ sign: 1, verify: 5 });
    expect(cryptoCores(rates, terminalCryptoWork, 1_000)).toBeCloseTo(0.05 + 1, 9);
  });
});
