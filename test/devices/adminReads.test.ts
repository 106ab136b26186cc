// What the operator console reads, through the API itself: the log by operation (paged, filtered,
// each operation's signature status), accounts and units with each row's signature status; only
// with an operator's signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuerKeyNumber, operatorKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { envelopeHeader, signEnvelope } from '../../src/protocol/envelope.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await startDeployment();
  const client = deployment.client(deployment.wallet(1n));
  for (let i = 0; i < 3; i++) {
    const sent = await client.remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 10n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 1,
      requestId: `read-${i}`,
    });
    expect(sent.ok).toBe(true);
  }
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

/** GET as the operator console does: the request signed with the operator key (or `keyNumber`). */
async function adminGet(path: string, keyNumber = operatorKeyNumber, keys = 'operator') {
  const signature = signEnvelope(
    deployment.keystore(keys),
    keyNumber,
    { receiver: 'transaction', method: 'GET', url: path, body: Buffer.alloc(0) },
    systemEnvironment.nowMs(),
    systemEnvironment.randomBytes,
  );
  const response = await fetch(`${deployment.url}${path}`, {
    headers: { [envelopeHeader]: signature },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface LogPage {
  operations: {
    remittanceId: string;
    records: { transactionNumber: string; transactionType: string }[];
    signatures: { valid: boolean; problem?: string };
  }[];
  next?: string;
}

describe('GET /v1/admin/transactions', () => {
  it('pages the log by whole operations, each with its signature status', async () => {
    const first = (await adminGet('/v1/admin/transactions?limit=2')).body as unknown as LogPage;
    expect(first.operations).toHaveLength(2);
    expect(first.operations.every((o) => o.signatures.valid)).toBe(true);
    // Every record of an operation comes with it, request first.
    for (const operation of first.operations)
      expect(operation.records[0]!.transactionType).toMatch(/_request$/);
    const second = (await adminGet(`/v1/admin/transactions?limit=2&after=${first.next}`))
      .body as unknown as LogPage;
    const firstNumbers = first.operations.flatMap((o) => o.records.map((r) => r.transactionNumber));
    const secondNumbers = second.operations.flatMap((o) =>
      o.records.map((r) => r.transactionNumber),
    );
    expect(BigInt(secondNumbers[0]!)).toBeGreaterThan(BigInt(firstNumbers.at(-1)!));
  });

  it('filters by remittance id and by account', async () => {
    const one = (await adminGet('/v1/admin/transactions?remittanceId=read-1'))
      .body as unknown as LogPage;
    expect(one.operations.map((o) => o.remittanceId)).toEqual(['read-1']);
    expect(one.operations[0]!.records).toHaveLength(6);
    const ofAccount2 = (await adminGet('/v1/admin/transactions?account=2&limit=100'))
      .body as unknown as LogPage;
    expect(ofAccount2.operations.map((o) => o.remittanceId)).toEqual(
      expect.arrayContaining(['read-0', 'read-1', 'read-2']),
    );
    // Page by page, one operation at a time: the same list, none twice, none left out.
    const paged: string[] = [];
    for (let after = '0'; ; ) {
      const page = (await adminGet(`/v1/admin/transactions?account=2&limit=1&after=${after}`))
        .body as unknown as LogPage;
      paged.push(...page.operations.map((o) => o.remittanceId));
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(paged).toEqual(ofAccount2.operations.map((o) => o.remittanceId));
    const none = (await adminGet('/v1/admin/transactions?remittanceId=no-such'))
      .body as unknown as LogPage;
    expect(none.operations).toEqual([]);
  });

  it('a record changed in the store: its operation is shown with the broken link, not hidden', async () => {
    await tamper(deployment.dir, 'transaction', [
      "UPDATE transactions SET amount = 11 WHERE remittance_id = 'read-2' AND transaction_type = 'account_confirmation_request'",
    ]);
    const page = (await adminGet('/v1/admin/transactions?remittanceId=read-2'))
      .body as unknown as LogPage;
    expect(page.operations[0]!.signatures.valid).toBe(false);
    expect(page.operations[0]!.signatures.problem).toMatch(/record 1/);
  });

  it('refused without an operator signature: unsigned 401, another key 403, bad query 400', async () => {
    const unsigned = await fetch(`${deployment.url}/v1/admin/transactions`);
    expect(unsigned.status).toBe(401);
    expect((await adminGet('/v1/admin/transactions', issuerKeyNumber, 'issuer')).status).toBe(403);
    const bad = await adminGet('/v1/admin/transactions?limit=1000');
    expect(bad.status).toBe(400);
    expect(bad.body['error']).toMatchObject({ code: 'InvalidInput' });
  });
});

describe('GET /v1/admin/accounts and /v1/admin/accounts/{n}/units', () => {
  it('every row with its signature status; a changed row is shown as failing', async () => {
    const before = (await adminGet('/v1/admin/accounts')).body as unknown as {
      accounts: { accountNumber: string; signatureValid: boolean }[];
    };
    expect(before.accounts.map((a) => [a.accountNumber, a.signatureValid])).toEqual([
      ['1', true],
      ['2', true],
    ]);
    await tamper(deployment.dir, 'account', [
      'UPDATE accounts SET balance = balance + 1 WHERE account_number = 2',
    ]);
    const after = (await adminGet('/v1/admin/accounts')).body as unknown as typeof before;
    expect(after.accounts.map((a) => a.signatureValid)).toEqual([true, false]);
    const units = (await adminGet('/v1/admin/accounts/1/units')).body as unknown as {
      units: { signatureValid: boolean }[];
    };
    expect(units.units.length).toBeGreaterThan(0);
    expect(units.units.every((u) => u.signatureValid)).toBe(true);
  });
});
