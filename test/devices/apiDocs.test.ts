// docs/api.md and docs/openapi.json are written from the route schemas; they must match the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderApiMarkdown, transactionOpenApi } from '../../src/devices/transaction/openapi.js';

describe('API reference', () => {
  it('docs/openapi.json and docs/api.md are what `npm run docs:api` writes today', async () => {
    const document = await transactionOpenApi();
    const committed = (name: string) =>
      readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
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
});
