// The public requests (what a user terminal sends) and the step-1 record each one stands for.
//
// The terminal signs the step-1 record, chained over signature 0; the transaction device rebuilds
// the same record from the request and verifies it. Both sides use requestRecordOf, so they always
// agree on the bytes. A request's fields become the record's fields one for one; nothing outside
// the record is trusted.

import Type, { type Static } from 'typebox';
import { fail, ok, type Result } from '../model/errors.js';
import { parseAmount, parseNumberId } from '../model/money.js';
import type { TransactionRecord } from './records.js';
import { CurrencyType, IsoTime, parseIso, RequestId } from './wire.js';

const AmountText = Type.String({
  maxLength: 64,
  description: 'minor units as a decimal string, e.g. "500"',
});
const AccountNumberText = Type.String({
  maxLength: 64,
  description: 'an account number as a decimal string',
});
const Signature = Type.String({
  pattern: '^([0-9a-f]{2}){32,64}$',
  description:
    'hex; the signature of the request record chained over signature 0 (docs/protocol.md)',
});
const SignerKeyNumber = Type.Integer({
  minimum: 1,
  maximum: 2 ** 31 - 1,
  description: 'the key that signs: the account key, or an issuer key',
});

export const RemittanceRequest = Type.Object(
  {
    requestId: RequestId,
    sourceAccount: AccountNumberText,
    destinationAccount: AccountNumberText,
    amount: AmountText,
    currencyType: CurrencyType,
    dateTime: IsoTime,
    signerKeyNumber: SignerKeyNumber,
    signature: Signature,
  },
  { additionalProperties: false },
);
export type RemittanceRequest = Static<typeof RemittanceRequest>;

/**
 * Remittances in one batch request (POST /v1/remittance-batches), each its own operation with its
 * own answer: TigerBeetle's 8,190 per message. The TypeScript terminal gathers concurrent `remit`
 * calls into batches of at most this many.
 */
export const remittanceBatchSizeMax = 8_190;

export const AccountIssuingRequest = Type.Object(
  {
    requestId: RequestId,
    currencyType: CurrencyType,
    publicKeyHex: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{64}$',
        description: 'the Ed25519 public key of the account',
      }),
    ),
    keyNumber: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2 ** 31 - 1,
        description: 'or: the number of a shared HMAC key',
      }),
    ),
    dateTime: IsoTime,
    signature: Signature,
  },
  { additionalProperties: false },
);
export type AccountIssuingRequest = Static<typeof AccountIssuingRequest>;

export const AccountClosingRequest = Type.Object(
  {
    requestId: RequestId,
    accountNumber: AccountNumberText,
    dateTime: IsoTime,
    signerKeyNumber: SignerKeyNumber,
    signature: Signature,
  },
  { additionalProperties: false },
);
export type AccountClosingRequest = Static<typeof AccountClosingRequest>;

export const IssuanceRequest = Type.Object(
  {
    requestId: RequestId,
    destinationAccount: AccountNumberText,
    currencyType: CurrencyType,
    values: Type.Array(AmountText, {
      minItems: 1,
      maxItems: 256,
      description: 'the value of each new unit',
    }),
    dateTime: IsoTime,
    signerKeyNumber: SignerKeyNumber,
    signature: Signature,
  },
  { additionalProperties: false },
);
export type IssuanceRequest = Static<typeof IssuanceRequest>;

export const RedemptionRequest = Type.Object(
  {
    requestId: RequestId,
    sourceAccount: AccountNumberText,
    amount: AmountText,
    currencyType: CurrencyType,
    dateTime: IsoTime,
    signerKeyNumber: SignerKeyNumber,
    signature: Signature,
  },
  { additionalProperties: false },
);
export type RedemptionRequest = Static<typeof RedemptionRequest>;

export type UnsignedRequest<T> = Omit<T, 'signature'>;

export type AnyRequest =
  | { kind: 'remittance'; body: UnsignedRequest<RemittanceRequest> }
  | { kind: 'account_issuing'; body: UnsignedRequest<AccountIssuingRequest> }
  | { kind: 'account_closing'; body: UnsignedRequest<AccountClosingRequest> }
  | { kind: 'issuance'; body: UnsignedRequest<IssuanceRequest> }
  | { kind: 'redemption'; body: UnsignedRequest<RedemptionRequest> };

/**
 * The step-1 record a request stands for (transaction number 0: not yet assigned). The fields
 * common to every kind come last in each literal: V8 in Node.js 20 takes a slow path, about 1 us per
 * key, for an object that opens with a spread and adds keys after it (docs/performance.md).
 */
export function requestRecordOf(request: AnyRequest): Result<TransactionRecord> {
  const dateTime = parseIso(request.body.dateTime, 'dateTime');
  if (!dateTime.ok) return dateTime;
  const base = {
    transactionNumber: 0n,
    remittanceId: request.body.requestId,
    dateTime: dateTime.value,
  };
  switch (request.kind) {
    case 'remittance': {
      const { body } = request;
      const source = parseNumberId(body.sourceAccount, 'sourceAccount');
      if (!source.ok) return source;
      const destination = parseNumberId(body.destinationAccount, 'destinationAccount');
      if (!destination.ok) return destination;
      const amount = parseAmount(body.amount);
      if (!amount.ok) return amount;
      return ok({
        transactionType: 'remittance_request',
        sourceAccount: source.value,
        destinationAccount: destination.value,
        amount: amount.value,
        currencyType: body.currencyType,
        signerKeyNumber: body.signerKeyNumber,
        ...base,
      });
    }
    case 'account_issuing': {
      const { body } = request;
      if ((body.publicKeyHex === undefined) === (body.keyNumber === undefined)) {
        return fail(
          'InvalidInput',
          'give either publicKeyHex (Ed25519) or keyNumber (a shared HMAC key), not both',
        );
      }
      return ok({
        transactionType: 'account_issuing_request',
        currencyType: body.currencyType,
        ...(body.publicKeyHex === undefined
          ? {}
          : { detail: JSON.stringify({ publicKeyHex: body.publicKeyHex }) }),
        signerKeyNumber: body.keyNumber ?? 0,
        ...base,
      });
    }
    case 'account_closing': {
      const account = parseNumberId(request.body.accountNumber, 'accountNumber');
      if (!account.ok) return account;
      return ok({
        transactionType: 'account_closing_request',
        sourceAccount: account.value,
        signerKeyNumber: request.body.signerKeyNumber,
        ...base,
      });
    }
    case 'issuance': {
      const { body } = request;
      const destination = parseNumberId(body.destinationAccount, 'destinationAccount');
      if (!destination.ok) return destination;
      let total = 0n;
      for (const [index, text] of body.values.entries()) {
        const value = parseAmount(text, `values[${index}]`);
        if (!value.ok) return value;
        total += value.value;
      }
      const amount = parseAmount(total.toString(), 'the sum of values');
      if (!amount.ok) return amount;
      return ok({
        transactionType: 'issuance_request',
        destinationAccount: destination.value,
        amount: amount.value,
        currencyType: body.currencyType,
        detail: JSON.stringify({ values: body.values }),
        signerKeyNumber: body.signerKeyNumber,
        ...base,
      });
    }
    case 'redemption': {
      const { body } = request;
      const source = parseNumberId(body.sourceAccount, 'sourceAccount');
      if (!source.ok) return source;
      const amount = parseAmount(body.amount);
      if (!amount.ok) return amount;
      return ok({
        transactionType: 'redemption_request',
        sourceAccount: source.value,
        amount: amount.value,
        currencyType: body.currencyType,
        signerKeyNumber: body.signerKeyNumber,
        ...base,
      });
    }
  }
}
