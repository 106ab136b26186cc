// What the operator console reads (src/console), only with an operator's signature (access.ts): the transaction log as FIG. 1F /
// FIG. 2B draw it, paged and filtered, with each operation's signature status; the accounts of B
// and the currency units of C, each row with its signature status. A failing row is shown as
// failing, never hidden and never trusted.

import Type from 'typebox';
import { assert } from '../../model/assert.js';
import type { SignedRecord } from '../../protocol/records.js';
import type { WireAccountRow, WireCurrencyRow } from '../../protocol/rowWire.js';
import { RequestId, recordToWire } from '../../protocol/wire.js';
import { by } from '../access.js';
import type { DeviceContext } from '../context.js';
import { type HttpServer, sendFailure } from '../http.js';
import { AccountNumberParam, PageQuery, pageSizeMax } from '../internalRoutes.js';
import {
  AdminAccountsReply,
  AdminLogReply,
  AdminUnitsReply,
  readReplies,
  WhoamiReply,
} from './replySchemas.js';
import { accountRowVerifies, unitRowVerifies } from './rowChecks.js';
import type { Peers, TransactionService } from './service.js';

const LogQuery = Type.Object(
  {
    ...PageQuery.properties,
    account: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,18}$' })),
    remittanceId: Type.Optional(RequestId),
  },
  { additionalProperties: false },
);

export function registerAdminReadRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: TransactionService,
  peers: Peers,
): void {
  server.get(
    '/v1/admin/transactions',
    {
      ...by('operator'),
      schema: {
        summary:
          'The transaction log (this device’s copy of A), by operation, with signature status',
        querystring: LogQuery,
        response: readReplies(AdminLogReply),
      },
    },
    async (request) => {
      const { after, limit, account, remittanceId } = request.query;
      const pageSize = Number(limit ?? 20);
      const afterNumber = BigInt(after ?? '0');
      const operations =
        remittanceId !== undefined
          ? [{ remittanceId, records: await service.recordsOfOperation(remittanceId) }].filter(
              (o) => o.records.length > 0,
            )
          : account !== undefined
            ? await service.historyOf(BigInt(account), afterNumber, pageSize)
            : await service.operationsAfter(afterNumber, pageSize);
      const described = await Promise.all(operations.map((o) => describeOperation(service, o)));
      const last = operations.at(-1)?.records.at(-1)?.record.transactionNumber;
      return {
        operations: described,
        ...(operations.length === pageSize && last !== undefined ? { next: last.toString() } : {}),
      };
    },
  );

  server.get(
    '/v1/admin/accounts',
    {
      ...by('operator'),
      schema: {
        summary: 'Accounts (B), each row with its signature status',
        querystring: PageQuery,
        response: readReplies(AdminAccountsReply),
      },
    },
    async (request, reply) => {
      const limit = Number(request.query.limit ?? pageSizeMax);
      await service.settlementsOf();
      const answer = await peers.account.get(
        `/internal/v1/accounts?after=${request.query.after ?? '0'}&limit=${limit}`,
      );
      if (!answer.ok) return sendFailure(reply, answer);
      const rows = (answer.value as { accounts: WireAccountRow[] }).accounts;
      const last = rows.at(-1)?.accountNumber;
      return {
        accounts: rows.map((row) => ({ ...row, signatureValid: accountRowVerifies(context, row) })),
        ...(rows.length === limit && last !== undefined ? { next: last } : {}),
      };
    },
  );

  server.get(
    '/v1/admin/accounts/:accountNumber/units',
    {
      ...by('operator'),
      schema: {
        summary: 'The currency units (C) an account owns, each row with its signature status',
        params: AccountNumberParam,
        response: readReplies(AdminUnitsReply),
      },
    },
    async (request, reply) => {
      await service.settlementsOf([BigInt(request.params.accountNumber)]);
      const answer = await peers.account.get(
        `/internal/v1/accounts/${request.params.accountNumber}`,
      );
      if (!answer.ok) return sendFailure(reply, answer);
      const account = (answer.value as { account: WireAccountRow }).account;
      const units = await peers.currency.get(
        `/internal/v1/accounts/${account.accountNumber}/units?currencyType=${encodeURIComponent(account.currencyType)}`,
      );
      if (!units.ok) return sendFailure(reply, units);
      return {
        accountNumber: account.accountNumber,
        currencyType: account.currencyType,
        units: (units.value as { units: WireCurrencyRow[] }).units.map((unit) => ({
          ...unit,
          signatureValid: unitRowVerifies(context, unit),
        })),
      };
    },
  );

  // Sign-in: the console checks that its key is an operator key (the signature was checked already).
  server.get(
    '/v1/admin/whoami',
    {
      ...by('operator'),
      schema: {
        summary: 'The operator key that signed this request',
        response: readReplies(WhoamiReply),
      },
    },
    async (request) => {
      assert(request.signerKeyNumber !== undefined, 'an operator route knows its signer');
      return { operatorKeyNumber: request.signerKeyNumber };
    },
  );
}

/** One operation as the console shows it: its records, and whether they verify (and where not). */
async function describeOperation(
  service: TransactionService,
  operation: { remittanceId: string; records: SignedRecord[] },
) {
  const refused = await service.verifyStored(operation.records);
  return {
    remittanceId: operation.remittanceId,
    records: operation.records.map(recordToWire),
    signatures: refused ? { valid: false, problem: refused.message } : { valid: true },
  };
}
