// Wire amounts (model/money.ts): each refusal says what is wrong with the amount given (issue 19:
// a 26-digit amount was told it "must be a whole number").
import { describe, expect, it } from 'vitest';
import { amountMax, parseAmount } from '../../src/model/money.js';

describe('a wire amount', () => {
  it.each([
    ['500', 500n],
    [String(amountMax), amountMax],
  ])('%s is accepted', (text, value) => {
    expect(parseAmount(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['12345678901234567890123456', 'amount must be at most 9223372036854775807, got 26 digits'],
    ['9223372036854775808', 'amount must be from 1 to 9223372036854775807 without leading zeros'],
    ['5.5', 'amount must be a whole number of minor units as a decimal string, got "5.5"'],
    ['0', 'amount must be greater than zero'],
  ])('%s is refused: %s', (text, message) => {
    expect(parseAmount(text)).toEqual({ ok: false, code: 'InvalidAmount', message });
  });
});
