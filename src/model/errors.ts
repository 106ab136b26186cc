// The closed catalogue of expected failures.
//
// Every way an operation can be refused has one stable code here, with the HTTP status it maps to
// (once, here) and the sentence that documents it. Operations return failures as values
// (`Result<T>`), never by throwing and never by a silent `false`. The catalogue is checked by
// test/model/errors.test.ts against docs/errors.md: every code documented, nothing else.

export const errorCatalogue = {
  InvalidInput: {
    httpStatus: 400,
    description: 'The input is malformed or out of range; the message names the field.',
  },
  InvalidAmount: {
    httpStatus: 400,
    description:
      'An amount must be a decimal string of minor units from 1 to 9223372036854775807: not zero, negative, fractional or larger.',
  },
  PayloadTooLarge: {
    httpStatus: 413,
    description: 'The request body is larger than the limit of the endpoint.',
  },
  NotFound: {
    httpStatus: 404,
    description: 'No such route, remittance or record.',
  },
  UnknownAccount: {
    httpStatus: 404,
    description: 'The account number is not an account of this ledger.',
  },
  AccountClosed: {
    httpStatus: 409,
    description: 'The account is closed and can neither send nor receive.',
  },
  AccountNotEmpty: {
    httpStatus: 409,
    description: 'Only an account with a zero balance and nothing held can be closed.',
  },
  CurrencyMismatch: {
    httpStatus: 422,
    description: "The currency type of the request differs from the account's currency type.",
  },
  SameAccount: {
    httpStatus: 422,
    description: 'The source and the destination of a remittance are the same account.',
  },
  InsufficientBalance: {
    httpStatus: 422,
    description:
      'The available balance (balance minus held) of the source account is less than the amount.',
  },
  UnitsFragmented: {
    httpStatus: 422,
    description: 'Paying the amount would take more currency units than one operation may touch.',
  },
  WrongSigner: {
    httpStatus: 403,
    description:
      "The request is signed by a key that may not make it: not the source account's, not an issuer key, not an operator key, or not the device the route serves.",
  },
  StaleTimestamp: {
    httpStatus: 422,
    description:
      "The request's timestamp is further from the device's clock than the allowed skew.",
  },
  RequestIdReused: {
    httpStatus: 409,
    description:
      'A different request was already made with this request id; request ids are never reused.',
  },
  RecordConflict: {
    httpStatus: 409,
    description: 'A record with this transaction number is already stored with different content.',
  },
  RecordsMissing: {
    httpStatus: 503,
    description:
      "Records the device should hold are not in its store (lost, or removed behind the device's back): a settlement that left them out is sent again whole; a repeated request is answered once a recovery has put them back (the audit names them); retry later.",
  },
  RowSignatureInvalid: {
    httpStatus: 503,
    description:
      "A row of B or C the operation needs does not verify with its device's key, or is missing or in a state the operation's records rule out: the device does not act on it until recovery repairs it (the audit names it); retry later.",
  },
  RequestInProgress: {
    httpStatus: 409,
    description:
      'An operation with this request id is still in progress; retry with the same request id later.',
  },
  Maintenance: {
    httpStatus: 503,
    description:
      'The ledger is in maintenance (recovery is running, or a store came back with less than it acknowledged and the ledger is held until an operator recovers it); retry after the number of seconds in Retry-After.',
  },
  AuditInProgress: {
    httpStatus: 409,
    description: 'An audit or recovery is already running; only one runs at a time.',
  },
  RepairTooLarge: {
    httpStatus: 422,
    description:
      'The audit asks for more repairs than one recovery run makes; nothing was changed. The damage needs an operator.',
  },
  RepairUnjustified: {
    httpStatus: 422,
    description:
      "A repair would put a row of B or C that the receiving device's own replay of its copy of A does not give: nothing was changed (repair A first, then run recovery again).",
  },
  OperationExpired: {
    httpStatus: 409,
    description:
      'The operation could not be decided within its time limit (a device was unreachable); it was refused and nothing was applied.',
  },
  PeerUnavailable: {
    httpStatus: 503,
    description:
      'A device the operation needs did not answer in time; retry with the same request id.',
  },
  StoreDamaged: {
    httpStatus: 503,
    description:
      "The device's store is damaged (its integrity check failed, or the database reported damage); it is neither served from nor written to until it is rebuilt from the other two devices.",
  },
  StoreUnavailable: {
    httpStatus: 503,
    description:
      "The device's database cannot be opened or reached, or holds another device's store (operator configuration or a database outage, never a user error).",
  },
  ArchiveInvalid: {
    httpStatus: 422,
    description:
      'The export archive is damaged, altered, truncated or not an export archive of this format; nothing was written.',
  },
  UnknownKey: {
    httpStatus: 404,
    description: 'No key with this number is in the keystore.',
  },
  AuthorityDenied: {
    httpStatus: 403,
    description:
      "The key's row does not grant the authority (sign, verify, encrypt, decrypt) the operation needs.",
  },
  AuthorityNotApplicable: {
    httpStatus: 422,
    description:
      "The authority cannot apply to the key's algorithm (for example `sign` on an Ed25519 public key).",
  },
  KeyNumberTaken: {
    httpStatus: 409,
    description: 'A key with this number already exists in the keystore.',
  },
  KeyMaterialInvalid: {
    httpStatus: 422,
    description: 'The key material does not fit the algorithm (wrong length or encoding).',
  },
  KeystoreFull: {
    httpStatus: 507,
    description: 'The keystore already holds its maximum number of keys.',
  },
  SignatureInvalid: {
    httpStatus: 401,
    description: 'The signature does not verify with the named key over the given bytes.',
  },
  EnvelopeReplayed: {
    httpStatus: 401,
    description:
      'This signed request was received already: every request signature is accepted once (its nonce is remembered for the whole time window).',
  },
  RateLimited: {
    httpStatus: 429,
    description:
      'Too many requests from this client address or account key; retry after the number of seconds in Retry-After.',
  },
  ChainBroken: {
    httpStatus: 422,
    description:
      'A link of a signature chain does not verify; the failure names the first broken link.',
  },
  DecryptionFailed: {
    httpStatus: 422,
    description:
      'The ciphertext, its authentication tag or its associated data was altered, or another key was used.',
  },
  KeystoreNotFound: {
    httpStatus: 500,
    description: 'The keystore file does not exist (operator configuration, never a user error).',
  },
  KeystoreExists: {
    httpStatus: 500,
    description:
      'A keystore file already exists at that path; it is never overwritten by `keys init`.',
  },
  KeystoreWrongPassphrase: {
    httpStatus: 500,
    description: 'The passphrase does not open this keystore file.',
  },
  KeystoreDamaged: {
    httpStatus: 500,
    description:
      'The keystore file is not a readable keystore: truncated, altered or of an unknown format.',
  },
  PassphraseInvalid: {
    httpStatus: 500,
    description: 'No passphrase was given, or it is shorter than the minimum length.',
  },
} as const satisfies Record<string, { httpStatus: number; description: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
export const errorCodes = Object.keys(errorCatalogue) as ErrorCode[];

export interface Failure {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface Ok<T> {
  readonly ok: true;
  readonly value: T;
}

export type Result<T> = Ok<T> | Failure;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

/** A shared success for operations that return nothing (avoids an allocation on hot paths). */
export const okVoid: Ok<undefined> = Object.freeze({ ok: true as const, value: undefined });

export function fail(code: ErrorCode, message: string): Failure {
  return { ok: false, code, message };
}

export function httpStatusOf(code: ErrorCode): number {
  return errorCatalogue[code].httpStatus;
}
