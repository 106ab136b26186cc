// What the public API answers, as schemas: the OpenAPI document's responses (docs/api.md,
// docs/openapi.json), and the contract a test holds every real answer to
// (test/devices/apiContract.test.ts). The gateway serializes answers with JSON.stringify, not
// from these schemas, so a field missing here would fail that test rather than vanish from the
// answer.

import Type from 'typebox';
import { errorCatalogue } from '../../model/errors.js';
import { WireAccountRow, WireCurrencyRow } from '../../protocol/rowWire.js';
import { DecimalString, IsoTime, KeyNumber, WireRecord } from '../../protocol/wire.js';

/** Every error code of docs/errors.md: the one field a client branches on. */
export const ErrorCodeSchema = Type.Unsafe<keyof typeof errorCatalogue>({
  type: 'string',
  enum: Object.keys(errorCatalogue),
  description: 'an error code from docs/errors.md',
});

export const ErrorBody = Type.Object({
  error: Type.Object({ code: ErrorCodeSchema, message: Type.String() }),
});

/** An operation's answer: its records, and on a refusal its error too. */
export const OperationReply = Type.Object({
  remittanceId: Type.String(),
  outcome: Type.String({ description: '"ok", or the error code that refused the operation' }),
  accountNumber: Type.Optional(
    Type.String({ description: 'the new account (account issuing only)' }),
  ),
  records: Type.Array(WireRecord, {
    description: 'every record of the operation, a1 to a6, to verify the chain from signature 0',
  }),
});
export const OperationErrorReply = Type.Object({
  error: Type.Object({ code: ErrorCodeSchema, message: Type.String() }),
  remittanceId: Type.Optional(Type.String()),
  outcome: Type.Optional(Type.String()),
  records: Type.Optional(Type.Array(WireRecord)),
});
export const BatchResult = Type.Object({
  status: Type.Integer({ description: 'the HTTP status this remittance alone would have had' }),
  remittanceId: Type.Optional(Type.String()),
  outcome: Type.Optional(Type.String()),
  records: Type.Optional(Type.Array(WireRecord)),
  error: Type.Optional(Type.Object({ code: ErrorCodeSchema, message: Type.String() })),
});

export const AccountReply = Type.Object(
  {
    ...WireAccountRow.properties,
    available: Type.String({ description: 'balance less held, minor units' }),
  },
  { additionalProperties: false },
);

export const UnitsReply = Type.Object(
  { accountNumber: DecimalString, currencyType: Type.String(), units: Type.Array(WireCurrencyRow) },
  { additionalProperties: false },
);

const OperationSummary = Type.Object(
  {
    remittanceId: Type.String(),
    operation: Type.Optional(Type.String()),
    firstTransactionNumber: Type.Optional(DecimalString),
    sourceAccount: Type.Optional(DecimalString),
    destinationAccount: Type.Optional(DecimalString),
    amount: Type.Optional(DecimalString),
    currencyType: Type.Optional(Type.String()),
    outcome: Type.String({ description: '"ok", an error code, or "in_progress"' }),
    dateTime: Type.Optional(IsoTime),
  },
  { additionalProperties: false },
);

const Next = Type.Optional(
  Type.String({ description: 'pass as `after` for the next page; absent on the last page' }),
);

export const HistoryReply = Type.Object(
  { accountNumber: DecimalString, operations: Type.Array(OperationSummary), next: Next },
  { additionalProperties: false },
);

export const RecordsReply = Type.Object(
  { remittanceId: Type.String(), records: Type.Array(WireRecord) },
  { additionalProperties: false },
);

const ByDevice = <T extends Type.TSchema>(value: T) =>
  Type.Object(
    { transaction: value, account: value, currency: value },
    { additionalProperties: false },
  );

export const DeploymentReply = Type.Object(
  {
    signatureZeroHex: Type.String(),
    mode: Type.Union([Type.Literal('confirm'), Type.Literal('update')]),
    deviceKeys: ByDevice(KeyNumber),
    devicePublicKeys: ByDevice(Type.Union([Type.String(), Type.Null()])),
    issuerKeyNumbers: Type.Array(KeyNumber),
    accountKeyNumberBase: Type.Integer(),
  },
  { additionalProperties: false },
);

/** /health: the device's state in words; more fields come with its audits and peers. */
export const HealthReply = Type.Object(
  {
    device: Type.String(),
    status: Type.Union([
      Type.Literal('ok'),
      Type.Literal('maintenance'),
      Type.Literal('held'),
      Type.Literal('damaged'),
    ]),
  },
  { additionalProperties: true },
);

export const ReadyReply = Type.Object(
  { ready: Type.Boolean(), checks: Type.Object({}, { additionalProperties: true }) },
  { additionalProperties: true },
);

export const AdminLogReply = Type.Object(
  {
    operations: Type.Array(
      Type.Object(
        {
          remittanceId: Type.String(),
          records: Type.Array(WireRecord),
          signatures: Type.Object({
            valid: Type.Boolean(),
            problem: Type.Optional(Type.String()),
          }),
        },
        { additionalProperties: false },
      ),
    ),
    next: Next,
  },
  { additionalProperties: false },
);

const Checked = { signatureValid: Type.Boolean() };

export const AdminAccountsReply = Type.Object(
  {
    accounts: Type.Array(
      Type.Object({ ...WireAccountRow.properties, ...Checked }, { additionalProperties: false }),
    ),
    next: Next,
  },
  { additionalProperties: false },
);

export const AdminUnitsReply = Type.Object(
  {
    accountNumber: DecimalString,
    currencyType: Type.String(),
    units: Type.Array(
      Type.Object({ ...WireCurrencyRow.properties, ...Checked }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const WhoamiReply = Type.Object(
  { operatorKeyNumber: KeyNumber },
  { additionalProperties: false },
);

/** The admin streams: one JSON object per line, progress events then one result. */
export const AdminStream = {
  content: {
    'application/x-ndjson': {
      schema: Type.Object(
        {
          event: Type.Union([
            Type.Literal('progress'),
            Type.Literal('report'),
            Type.Literal('recovery'),
            Type.Literal('rebuilding'),
            Type.Literal('error'),
          ]),
        },
        { additionalProperties: true, description: 'one line of the stream' },
      ),
    },
  },
};

/** The responses of a read: the body, or an error. */
export function readReplies<T extends Type.TSchema>(body: T) {
  return { 200: body, '4xx': ErrorBody, '5xx': ErrorBody };
}
