// Key numbers: one numbering for every key of a deployment (devices, issuers, operators, accounts),
// from 1 to keyNumberMax, so a number fits a u32 field of the record encoding and a JSON integer.
// Pure, so the signature device, the wire schemas and the browser pages share the one limit.

export const keyNumberMax = 2 ** 31 - 1;
