// The `detail` payloads of transaction records: compact JSON with decimal strings for numbers.
//
// account issuing request (step 1):  {"publicKeyHex": "..."}   (Ed25519; absent for a shared HMAC key)
// account update request (step 2):   {"keyNumber": 1000001, "algorithm": "ed25519-public", "publicKeyHex": "..."}
// issuance request (step 1):         {"values": ["500", "500", "500"]}
// currency response (step 5):        a unit plan: {"sequence": "17", "moved": ["3"], "retired": [], "issued": [{"currencyNumber": "4", "value": "300", "ownerAccount": "2"}]}
//   `sequence` numbers the plans in the order the currency device made them: the order in which
//   their changes to C happened, which a replay of A follows (it can differ from transaction order).
// A detail is written once, by its record's signer, and read back with these parsers; a detail that
// does not parse is refused like a bad signature.

import { z } from 'zod';

const decimal = z.string().regex(/^[0-9]{1,19}$/);

export const accountIssuingDetail = z.strictObject({
  publicKeyHex: z.string().regex(/^[0-9a-f]{64}$/),
});

export const accountKeyDetail = z.strictObject({
  keyNumber: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1),
  algorithm: z.enum(['ed25519-public', 'hmac-sha256']),
  publicKeyHex: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type AccountKeyDetail = z.infer<typeof accountKeyDetail>;

export const issuanceDetail = z.strictObject({ values: z.array(decimal).min(1).max(256) });

export const unitPlan = z.strictObject({
  sequence: decimal,
  moved: z.array(decimal),
  retired: z.array(decimal),
  issued: z.array(
    z.strictObject({ currencyNumber: decimal, value: decimal, ownerAccount: decimal }),
  ),
});
export type UnitPlan = z.infer<typeof unitPlan>;

export function parseDetail<T>(schema: z.ZodType<T>, text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
