// The public API's OpenAPI document and its Markdown rendering (docs/api.md), both produced from the
// same TypeBox schemas that validate requests, so the reference cannot drift from the code.

import type { DeviceContext } from '../context.js';
import { createHttpServer } from '../http.js';
import type { PrometheusMetrics } from '../metrics.js';
import { type Readiness, registerOperationalRoutes } from '../operationalRoutes.js';
import type { AdminService } from './admin.js';
import { registerGatewayRoutes } from './gateway.js';
import type { Peers, TransactionService } from './service.js';

type Schema = {
  $ref?: string;
  type?: string;
  description?: string;
  pattern?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
};
type OpenApi = {
  paths: Record<
    string,
    Record<
      string,
      {
        summary?: string;
        operationId?: string;
        security?: unknown[];
        requestBody?: { content: Record<string, { schema: Schema }> };
        parameters?: { name: string; in: string; schema: Schema }[];
        responses?: Record<string, { content?: Record<string, { schema: Schema }> }>;
      }
    >
  >;
};

export async function transactionOpenApi(): Promise<Record<string, unknown>> {
  const server = createHttpServer({ bodyBytesMax: 1024, logLevel: 'silent' });
  // The handlers are never called: only the schemas are read. The same routes as the running
  // gateway (./gateway.ts), with /metrics and /ready where a deployment without operationsListen
  // serves them.
  await registerGatewayRoutes(server, {
    context: {} as DeviceContext,
    service: {} as TransactionService,
    peers: {} as Peers,
    admin: {} as AdminService,
  });
  registerOperationalRoutes(server, {} as PrometheusMetrics, {} as Readiness, 'operator');
  await server.ready();
  const document = server.swagger() as unknown as Record<string, unknown>;
  await server.close();
  return document;
}

function typeOf(schema: Schema): string {
  if (schema.$ref) return `\`${schema.$ref.replace('#/components/schemas/', '')}\` (components)`;
  if (schema.enum) return 'one of the transaction types';
  if (schema.type === 'array') return `array of ${schema.items ? typeOf(schema.items) : 'items'}`;
  return schema.type ?? 'value';
}

/** The fields of a route's 200 answer, as a table (a stream: its content type). */
function answerLines(
  responses: Record<string, { content?: Record<string, { schema: Schema }> }> = {},
) {
  const content = responses['200']?.content ?? {};
  const [type, entry] = Object.entries(content)[0] ?? [];
  if (type === undefined || entry === undefined) return [];
  if (type !== 'application/json')
    return [`Answers 200 as \`${type}\`: ${entry.schema.description ?? ''}`, ''];
  const properties = entry.schema.properties ?? {};
  if (Object.keys(properties).length === 0) return [];
  return [
    'Answers 200 with:',
    '',
    '| field | type | always |',
    '| --- | --- | --- |',
    ...Object.entries(properties).map(
      ([name, field]) =>
        `| \`${name}\` | ${typeOf(field)} | ${entry.schema.required?.includes(name) ? 'yes' : 'no'} |`,
    ),
    '',
  ];
}

export function renderApiMarkdown(document: Record<string, unknown>): string {
  const lines = [
    '# Public API',
    '',
    'The transaction device serves it under `/v1`, with this OpenAPI document at `/docs` (and',
    '`/docs/json`). This page is written from the route schemas by `npm run docs:api`; `docs/openapi.json`',
    'is the same document as JSON. Amounts are minor units as decimal strings; times are ISO 8601 UTC',
    'with milliseconds. Errors are `{ "error": { "code", "message" } }` with a code from',
    '[errors.md](errors.md). How to sign a request and check its answer: [signing.md](signing.md). Every answer carries',
    'an `x-request-id` header: the one the request sent (or the trace id of its `traceparent`), else',
    'a new one; it is on every log line of that request on the three devices',
    '([operations.md](operations.md#logs)).',
    '',
    'Each route below names its `operationId` (what a generated client calls it). A read of an',
    "account or of the log is signed in its `triledger-signature` header (the document's security",
    'scheme `triledgerSignature`); an operation carries its signature in its body. The fields of',
    'each answer are listed; an answer may gain fields, never lose one.',
    '',
  ];
  for (const [path, methods] of Object.entries((document as OpenApi).paths)) {
    if (path.startsWith('/docs')) continue;
    for (const [method, operation] of Object.entries(methods)) {
      lines.push(`## ${method.toUpperCase()} ${path}`, '', operation.summary ?? '', '');
      if (operation.operationId)
        lines.push(
          `\`${operation.operationId}\`${operation.security ? ', signed in the `triledger-signature` header' : ''}`,
          '',
        );
      const parameters = operation.parameters ?? [];
      if (parameters.length > 0) {
        lines.push('| parameter | in | format |', '| --- | --- | --- |');
        for (const parameter of parameters)
          lines.push(
            `| \`${parameter.name}\` | ${parameter.in} | ${parameter.schema.pattern ? `\`${parameter.schema.pattern.replaceAll('|', '\\|')}\`` : typeOf(parameter.schema)} |`,
          );
        lines.push('');
      }
      const body = operation.requestBody?.content['application/json']?.schema;
      if (body?.properties) {
        lines.push('| field | type | required | description |', '| --- | --- | --- | --- |');
        for (const [name, field] of Object.entries(body.properties)) {
          lines.push(
            `| \`${name}\` | ${typeOf(field)} | ${body.required?.includes(name) ? 'yes' : 'no'} | ${(field.description ?? '').replaceAll('|', '\\|')} |`,
          );
        }
        lines.push('', 'Unknown fields are refused (400 `InvalidInput`).', '');
      }
      lines.push(...answerLines(operation.responses));
    }
  }
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
