// The public API keeps its contract: every answer of a real deployment to each read, refusal and
// operation holds to the response schema the OpenAPI document publishes for it
// (devices/transaction/replySchemas.ts), and the document declares what a client generator needs:
// an operationId per route, the signature header as a security scheme, the error codes as an
// enum, the admin streams as NDJSON.

import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactionOpenApi } from '../../src/devices/transaction/openapi.js';
import {
  AccountReply,
  AdminAccountsReply,
  AdminLogReply,
  AdminUnitsReply,
  DeploymentReply,
  ErrorBody,
  HealthReply,
  HistoryReply,
  OperationReply,
  ReadyReply,
  RecordsReply,
  UnitsReply,
  WhoamiReply,
} from '../../src/devices/transaction/replySchemas.js';
import { errorCatalogue } from '../../src/model/errors.js';
import { remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';

let deployment: TestDeployment;
let remittanceId: string;

beforeAll(async () => {
  deployment = await startDeployment();
  const sent = await remit(deployment, 1n, 2n, 100n);
  expect(sent.ok).toBe(true);
  remittanceId = sent.ok ? sent.remittanceId : '';
}, 60_000);

afterAll(async () => {
  await deployment.stop();
});

async function answerOf(path: string): Promise<{ status: number; body: unknown }> {
  const response = await deployment.fetchSigned(path);
  return { status: response.status, body: await response.json() };
}

function expectShape(schema: TSchema, body: unknown): void {
  const shape = Compile(schema);
  expect([...shape.Errors(body)].map((error) => `${error.instancePath} ${error.message}`)).toEqual(
    [],
  );
}

describe('the answers hold to the published schemas', () => {
  it.each([
    ['/v1/accounts/1', AccountReply],
    ['/v1/accounts/1/currency', UnitsReply],
    ['/v1/accounts/1/transactions', HistoryReply],
    ['/v1/deployment', DeploymentReply],
    ['/health', HealthReply],
    ['/ready', ReadyReply],
    ['/v1/admin/transactions', AdminLogReply],
    ['/v1/admin/accounts', AdminAccountsReply],
    ['/v1/admin/accounts/1/units', AdminUnitsReply],
    ['/v1/admin/whoami', WhoamiReply],
  ] as const)('GET %s', async (path, schema) => {
    const { status, body } = await answerOf(path);
    expect(status).toBe(200);
    expectShape(schema, body);
  });

  it("an operation's records, a refusal and an operation", async () => {
    const records = await answerOf(`/v1/remittances/${remittanceId}`);
    expectShape(RecordsReply, records.body);
    const refused = await answerOf('/v1/accounts/999');
    expect(refused.status).toBe(404);
    expectShape(ErrorBody, refused.body);
    const sent = await remit(deployment, 2n, 1n, 1n);
    expect(sent.ok).toBe(true);
    const operation = await answerOf(`/v1/remittances/${sent.ok ? sent.remittanceId : ''}`);
    expectShape(RecordsReply, operation.body);
    expectShape(OperationReply, { ...(operation.body as object), outcome: 'ok' });
  });
});

describe('the OpenAPI document', () => {
  it('gives every route an operationId, its security, its answers; error codes as an enum', async () => {
    const document = (await transactionOpenApi()) as {
      servers: unknown[];
      components: { securitySchemes: Record<string, { name: string }> };
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(document.servers.length).toBeGreaterThan(0);
    expect(document.components.securitySchemes['triledgerSignature']?.name).toBe(
      'triledger-signature',
    );
    const operations = Object.entries(document.paths)
      .filter(([path]) => !path.startsWith('/docs') && path !== '/metrics')
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
      );
    const ids = operations.map(({ operation }) => operation['operationId']);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const untyped = operations
      .filter(({ operation }) => {
        const responses = (operation['responses'] ?? {}) as Record<string, { content?: unknown }>;
        const ok = responses['200'] ?? responses['201'];
        return ok?.content === undefined;
      })
      .map(({ method, path }) => `${method} ${path}`);
    // The pages (HTML) are the only answers without a JSON schema.
    expect(untyped.filter((route) => !/ \/(console|wallet)?(\/\*)?$/.test(route))).toEqual([]);
    const read = document.paths['/v1/accounts/{accountNumber}']!['get']!;
    expect(read['security']).toEqual([{ triledgerSignature: [] }]);
    // The error answer and its codes are written once, as components the routes refer to.
    expect(JSON.stringify(read['responses'])).toContain('"#/components/schemas/Error"');
    const schemas = (document.components as { schemas?: Record<string, { enum?: unknown }> })
      .schemas;
    expect(schemas?.['ErrorCode']?.enum).toEqual(Object.keys(errorCatalogue));
    expect(JSON.stringify(document).split('"InvalidInput"')).toHaveLength(2);
    const audit = document.paths['/v1/admin/audit']!['post']!;
    expect(JSON.stringify(audit['responses'])).toContain('application/x-ndjson');
  });
});
