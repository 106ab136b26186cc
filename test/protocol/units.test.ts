// The payment rule (protocol/units.ts) planned from a payer's first units in payment order, as the
// currency device reads them (CurrencyTx.unitsToPay): whenever the units listed decide a payment,
// the payment is the one all of the units give; otherwise the answer asks for all of them.
import { describe, expect, it } from 'vitest';
import {
  choosePayment,
  inPaymentOrder,
  type Unit,
  unitsUnlisted,
} from '../../src/protocol/units.js';
import { SeededRandom } from '../../src/simulator/random.js';

const unit = (currencyNumber: bigint, value: bigint): Unit => ({ currencyNumber, value });

describe('a payment planned from the first units listed', () => {
  it('FIG. 1H: paying 500 from units 1, 2, 3 of 500 moves unit 3, read alone', () => {
    const all = [unit(1n, 500n), unit(2n, 500n), unit(3n, 500n)].sort(inPaymentOrder);
    expect(all.map((u) => u.currencyNumber)).toEqual([3n, 2n, 1n]);
    expect(choosePayment(all.slice(0, 1), 500n, all[0])).toEqual({
      ok: true,
      value: { whole: [3n] },
    });
  });

  it('asks for every unit when the walk would pass the last listed, or a unit must be split', () => {
    const all = [unit(1n, 500n), unit(2n, 200n), unit(3n, 100n)];
    // 700 = 500 + 200: decided by the first two.
    expect(choosePayment(all.slice(0, 2), 700n, all[1])).toEqual({
      ok: true,
      value: { whole: [1n, 2n] },
    });
    // 800 needs unit 3 too, which is not listed.
    expect(choosePayment(all.slice(0, 2), 800n, all[1])).toBe(unitsUnlisted);
    // 650 splits a unit: the smallest untaken one may not be listed.
    expect(choosePayment(all.slice(0, 2), 650n, all[1])).toBe(unitsUnlisted);
    // Too little listed to pay: whether the payer can pay at all needs every unit.
    expect(choosePayment(all.slice(0, 1), 900n, all[0])).toBe(unitsUnlisted);
  });

  it('agrees with the walk over every unit, for any prefix that decides (seeded)', () => {
    const random = new SeededRandom(17);
    let decided = 0;
    for (let round = 0; round < 400; round++) {
      const count = 1 + random.below(12);
      const all = Array.from({ length: count }, (_, i) =>
        unit(BigInt(i + 1), BigInt(1 + random.below(6)) * 100n),
      ).sort(inPaymentOrder);
      const amount = BigInt(1 + random.below(30)) * 50n;
      const whole = choosePayment(all, amount);
      for (let listed = 1; listed <= count; listed++) {
        const last = listed < count ? all[listed - 1] : undefined;
        const answer = choosePayment(all.slice(0, listed), amount, last);
        if (answer === unitsUnlisted) continue;
        decided += 1;
        expect(answer).toEqual(whole);
      }
    }
    expect(decided).toBeGreaterThan(400);
  });
});
