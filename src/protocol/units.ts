// How currency units pay an amount (FIG. 1H): the deterministic selection rule.
//
// The payer's active units of the currency type are ordered by value, largest first, and among
// equal values by currency number, highest first. Walking that order, every unit that still fits
// (value <= what remains to pay) is taken whole. If that pays the amount exactly, the taken units
// change owner and keep their numbers (FIG. 1H: of units 1, 2, 3 worth 500 each, paying 500 moves
// unit 3). Otherwise one more unit is split: the smallest unit not taken (the highest number among
// equals) is retired, and two new numbered units are issued, one to the payee for the rest of the
// amount and one back to the payer as change. At most `unitsPerOperationMax` units are touched.
// The walk stops mattering once the amount is paid, so a payment is planned from the payer's first
// units in that order (the store reads them by an index), and from all of them only when those do
// not pay it.

import { fail, ok, type Result } from '../model/errors.js';

export const unitsPerOperationMax = 256;

export interface Unit {
  readonly currencyNumber: bigint;
  readonly value: bigint;
}

export interface Payment {
  /** Units taken whole: they change owner (a remittance) or are retired (a redemption). */
  readonly whole: readonly bigint[];
  /** The unit split to pay the rest, when whole units do not pay exactly. */
  readonly split?: {
    readonly currencyNumber: bigint;
    readonly value: bigint;
    readonly paid: bigint;
  };
}

/** The order a payment walks a payer's units in: largest value first, then highest number. */
export function inPaymentOrder(a: Unit, b: Unit): number {
  return a.value === b.value ? cmp(b.currencyNumber, a.currencyNumber) : cmp(b.value, a.value);
}

/** choosePayment's answer when the units listed do not decide the payment (see `listedUpTo`). */
export const unitsUnlisted = Symbol('unitsUnlisted');

/**
 * The payment of `amount` from `units`. `listedUpTo`: when `units` lists only the payer's first
 * units in payment order, the last listed (every unit not listed comes after it). The walk then
 * decides alone only if it has paid the amount before it passes that unit; otherwise the answer
 * needs every unit (`unitsUnlisted`): one not listed could fit, or be the one to split.
 */
export function choosePayment(units: readonly Unit[], amount: bigint): Result<Payment>;
export function choosePayment(
  units: readonly Unit[],
  amount: bigint,
  listedUpTo: Unit | undefined,
): Result<Payment> | typeof unitsUnlisted;
export function choosePayment(
  units: readonly Unit[],
  amount: bigint,
  listedUpTo?: Unit,
): Result<Payment> | typeof unitsUnlisted {
  const ordered = [...units].sort(inPaymentOrder);
  const whole: bigint[] = [];
  const untaken: Unit[] = [];
  let remaining = amount;
  for (const unit of ordered) {
    if (remaining > 0n && listedUpTo && inPaymentOrder(unit, listedUpTo) > 0) return unitsUnlisted;
    if (remaining > 0n && unit.value <= remaining) {
      whole.push(unit.currencyNumber);
      remaining -= unit.value;
    } else {
      untaken.push(unit);
    }
  }
  if (
    whole.length > unitsPerOperationMax ||
    (remaining > 0n && whole.length + 1 > unitsPerOperationMax)
  ) {
    return fail(
      'UnitsFragmented',
      `paying ${amount} takes more than ${unitsPerOperationMax} currency units`,
    );
  }
  if (remaining === 0n) return ok({ whole });
  if (listedUpTo) return unitsUnlisted;
  // Every untaken unit is larger than what remains (the walk took every unit that fit).
  const smallest = untaken.reduce<Unit | undefined>(
    (best, unit) =>
      best === undefined ||
      unit.value < best.value ||
      (unit.value === best.value && unit.currencyNumber > best.currencyNumber)
        ? unit
        : best,
    undefined,
  );
  if (smallest === undefined)
    return fail('InsufficientBalance', `the units held come to less than ${amount}`);
  return ok({
    whole,
    split: { currencyNumber: smallest.currencyNumber, value: smallest.value, paid: remaining },
  });
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
