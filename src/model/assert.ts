// Invariant assertions that stay on in production.
//
// An assertion states something the code relies on. When one fails, the program is wrong, not the
// user's input, and carrying on could write a wrong answer into a ledger. So a failed assertion
// throws an InvariantViolation that nothing catches on the way up: the process stops.
// Expected failures (bad input, refused operations) are never assertions: they are values from
// the error catalogue in ./errors.ts.

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}

/** For switch statements over closed unions: reaching this is a bug. */
export function unreachable(value: never, message = 'unreachable case'): never {
  throw new InvariantViolation(`${message}: ${String(value)}`);
}
