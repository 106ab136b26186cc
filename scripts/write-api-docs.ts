// Writes docs/api.md and docs/openapi.json from the public routes' schemas: `npm run docs:api`.
// The transaction device's routes are registered on a server that never listens; its OpenAPI
// document is what /docs serves. test/devices/apiDocs.test.ts fails when the committed files differ.
import { writeFileSync } from 'node:fs';
import { renderApiMarkdown, transactionOpenApi } from '../src/devices/transaction/openapi.js';

const document = await transactionOpenApi();
writeFileSync(
  new URL('../docs/openapi.json', import.meta.url),
  `${JSON.stringify(document, null, 2)}\n`,
);
writeFileSync(new URL('../docs/api.md', import.meta.url), renderApiMarkdown(document));
