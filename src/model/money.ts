// Money: an integer count of minor units, as bigint in code, INTEGER (64-bit) in storage and a
// decimal string on the wire. No floating point touches an amount.

import { fail, ok, type Result } from './errors.js';

/** The largest amount a 64-bit signed integer column holds. */
export const amountMax = (1n << 63n) - 1n;

/** Parse a wire amount: digits only, no sign, no fraction, no leading zero, 1..amountMax. */
export function parseAmount(text: string, field = 'amount'): Result<bigint> {
  if (/^[0-9]{20,}$/.test(text))
    return fail(
      'InvalidAmount',
      `${field} must be at most ${amountMax}, got ${text.length} digits`,
    );
  if (!/^[0-9]{1,19}$/.test(text)) {
    return fail(
      'InvalidAmount',
      `${field} must be a whole number of minor units as a decimal string, got "${text.slice(0, 40)}"`,
    );
  }
  const value = BigInt(text);
  if (value === 0n) return fail('InvalidAmount', `${field} must be greater than zero`);
  if (value > amountMax || text.startsWith('0')) {
    return fail('InvalidAmount', `${field} must be from 1 to ${amountMax} without leading zeros`);
  }
  return ok(value);
}

/** Parse an identifier on the wire (account or unit number): a decimal string, 1..amountMax. */
export function parseNumberId(text: string, field: string): Result<bigint> {
  if (!/^[1-9][0-9]{0,18}$/.test(text) || BigInt(text) > amountMax) {
    return fail(
      'InvalidInput',
      `${field} must be a positive whole number as a decimal string, got "${text.slice(0, 40)}"`,
    );
  }
  return ok(BigInt(text));
}
