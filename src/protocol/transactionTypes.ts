// The closed list of transaction types: which step of an operation each record is, and who signs it.
//
// Every operation (a remittance, opening an account, issuing or redeeming currency) is one run of
// records with the same remittance id, numbered as one block of six transaction numbers: the record
// of step s has number base + s - 1. Step 1 is the user's request, 2/3 the exchange with `account`,
// 4/5 the exchange with `currency`, 6 the response. An operation that stops early leaves the
// numbers of the skipped steps unused; the response is always at base + 5. See docs/protocol.md.

export const operationKinds = [
  'remittance',
  'account_issuing',
  'account_closing',
  'issuance',
  'redemption',
] as const;
export type OperationKind = (typeof operationKinds)[number];

export type Signer = 'requester' | 'transaction' | 'account' | 'currency';

interface TransactionTypeInfo {
  readonly step: 1 | 2 | 3 | 4 | 5 | 6;
  readonly signer: Signer;
  /** For steps 2-5: whether it confirms (reserves) or updates at once. */
  readonly mode?: 'confirm' | 'update';
  readonly operation?: OperationKind;
}

export const transactionTypes = {
  remittance_request: { step: 1, signer: 'requester', operation: 'remittance' },
  account_issuing_request: { step: 1, signer: 'requester', operation: 'account_issuing' },
  account_closing_request: { step: 1, signer: 'requester', operation: 'account_closing' },
  issuance_request: { step: 1, signer: 'requester', operation: 'issuance' },
  redemption_request: { step: 1, signer: 'requester', operation: 'redemption' },
  account_confirmation_request: { step: 2, signer: 'transaction', mode: 'confirm' },
  account_update_request: { step: 2, signer: 'transaction', mode: 'update' },
  account_confirmation_response: { step: 3, signer: 'account', mode: 'confirm' },
  account_update_response: { step: 3, signer: 'account', mode: 'update' },
  currency_confirmation_request: { step: 4, signer: 'transaction', mode: 'confirm' },
  currency_update_request: { step: 4, signer: 'transaction', mode: 'update' },
  currency_confirmation_response: { step: 5, signer: 'currency', mode: 'confirm' },
  currency_update_response: { step: 5, signer: 'currency', mode: 'update' },
  remittance_response: { step: 6, signer: 'transaction', operation: 'remittance' },
  account_issuing_response: { step: 6, signer: 'transaction', operation: 'account_issuing' },
  account_closing_response: { step: 6, signer: 'transaction', operation: 'account_closing' },
  issuance_response: { step: 6, signer: 'transaction', operation: 'issuance' },
  redemption_response: { step: 6, signer: 'transaction', operation: 'redemption' },
} as const satisfies Record<string, TransactionTypeInfo>;

export type TransactionType = keyof typeof transactionTypes;
export const transactionTypeNames = Object.keys(transactionTypes) as TransactionType[];

export function isTransactionType(text: string): text is TransactionType {
  return Object.hasOwn(transactionTypes, text);
}

export function stepOf(type: TransactionType): number {
  return transactionTypes[type].step;
}

export function requestTypeOf(kind: OperationKind): TransactionType {
  return `${kind}_request` as TransactionType;
}

export function responseTypeOf(kind: OperationKind): TransactionType {
  return `${kind}_response` as TransactionType;
}

export type ProtocolMode = 'confirm' | 'update';

export function exchangeTypes(mode: ProtocolMode) {
  return mode === 'confirm'
    ? ({
        accountRequest: 'account_confirmation_request',
        accountResponse: 'account_confirmation_response',
        currencyRequest: 'currency_confirmation_request',
        currencyResponse: 'currency_confirmation_response',
      } as const)
    : ({
        accountRequest: 'account_update_request',
        accountResponse: 'account_update_response',
        currencyRequest: 'currency_update_request',
        currencyResponse: 'currency_update_response',
      } as const);
}

/** The outcome written into steps 3, 5 and 6: `ok`, or the error code that refused the operation. */
export const outcomeOk = 'ok';

/** The operation a step-1 or step-6 record belongs to; undefined for the exchange steps 2-5. */
export function operationOf(type: TransactionType): OperationKind | undefined {
  const info: TransactionTypeInfo = transactionTypes[type];
  return info.operation;
}

/** Opening and closing an account involve only the account device (steps 4 and 5 are skipped). */
export function involvesCurrency(kind: OperationKind): boolean {
  return kind !== 'account_issuing' && kind !== 'account_closing';
}

/**
 * The records that name every account an operation touches: its request, and for an opening the
 * response, which names the new account. An account's history is found by these alone, so the
 * stores index only them by account (one or two records of six, never the exchange steps).
 */
export const accountNamingTypes = [
  'remittance_request',
  'account_closing_request',
  'issuance_request',
  'redemption_request',
  'account_issuing_response',
] as const satisfies readonly TransactionType[];

/** The SQL list of accountNamingTypes, for the stores' partial indexes and the queries they serve. */
export const accountNamingTypesSql = accountNamingTypes.map((type) => `'${type}'`).join(', ');

/** The step a peer signs in its exchange: account answers with a3, currency with a5. */
export const answerStepOf = { account: 3, currency: 5 } as const;
export type SettlingPeer = keyof typeof answerStepOf;
/** A record of an operation, signed or not: all these rules need is its step. */
type OfStep = { readonly record: { readonly transactionType: TransactionType } };

/**
 * The records of a done operation a peer lacks (S108 / S110): those after its own answer, since it
 * stored the records up to its answer when it gave it; all of them when the operation holds no
 * answer of it (it was never asked, or its answer never arrived).
 */
export function recordsLackedBy<R extends OfStep>(
  peer: SettlingPeer,
  records: readonly R[],
): readonly R[] {
  const answer = records.findIndex((r) => stepOf(r.record.transactionType) === answerStepOf[peer]);
  return answer < 0 ? records : records.slice(answer + 1);
}

/**
 * A settlement as a peer received it, made whole again from what the peer stored: the received
 * records when they start with the request; otherwise the peer's stored records of the steps before
 * the first received one, up to its own answer (it holds no others), followed by the received ones
 * (whose chain then proves they continue those). Undefined when the peer does not hold every one of
 * those records (its store lost them): the sender must send the operation whole (RecordsMissing).
 */
export function settlementWithHeld<R extends OfStep>(
  peer: SettlingPeer,
  received: readonly R[],
  stored: readonly R[],
): readonly R[] | undefined {
  const first = received[0];
  if (first === undefined || stepOf(first.record.transactionType) === 1) return received;
  const heldUpTo = Math.min(stepOf(first.record.transactionType) - 1, answerStepOf[peer]);
  const held: R[] = [];
  for (let step = 1; step <= heldUpTo; step++) {
    const record = stored.find((r) => stepOf(r.record.transactionType) === step);
    if (record === undefined) return undefined;
    held.push(record);
  }
  return [...held, ...received];
}
