// docs/api.md and docs/openapi.json are written from the route schemas; they must match the code,
// and the document must be the one a running gateway serves at /docs/json, route for route.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderApiMarkdown, transactionOpenApi } from '../../src/devices/transaction/openapi.js';
import { startDeployment } from '../helpers/deployment.js';

const committed = (name: string) =>
  readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

describe('API reference', () => {
  it('docs/openapi.json and docs/api.md are what `npm run docs:api` writes today', async () => {
    const document = await transactionOpenApi();
    expect(JSON.parse(committed('openapi.json'))).toEqual(JSON.parse(JSON.stringify(document)));
    expect(committed('api.md')).toBe(renderApiMarkdown(document));
    expect(Object.keys(document['paths'] as object)).toEqual(
      expect.arrayContaining([
        '/v1/accounts',
        '/v1/issuances',
        '/v1/redemptions',
        '/v1/remittances',
        '/v1/accounts/{accountNumber}',
        '/v1/remittances/{remittanceId}',
      ]),
    );
  });

  it('the committed document is the one a running gateway serves, every route of it', async () => {
    const deployment = await startDeployment();
    try {
      const served = (await (await fetch(`${deployment.url}/docs/json`)).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const document = JSON.parse(committed('openapi.json')) as typeof served;
      const routes = (paths: typeof served.paths) =>
        Object.entries(paths).flatMap(([path, methods]) =>
          Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
        );
      expect(routes(document.paths).sort()).toEqual(routes(served.paths).sort());
      expect(document).toEqual(served);
    } finally {
      await deployment.stop();
    }
  }, 60_000);
});
