// Writes test/vectors/signed-requests.json from src/ (scripts/requestVectors.ts): `npm run docs:vectors`.
import { writeFileSync } from 'node:fs';
import { requestVectors } from './requestVectors.js';

writeFileSync(
  new URL('../test/vectors/signed-requests.json', import.meta.url),
  `${JSON.stringify(requestVectors(), null, 2)}\n`,
);
