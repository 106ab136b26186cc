// Writes docs/errors.md from the error catalogue (src/model/errors.ts): `npm run docs:errors`.
// test/model/errors.test.ts fails when the committed page and the catalogue disagree.
import { writeFileSync } from 'node:fs';
import { errorCatalogue } from '../src/model/errors.js';

const head = `# Error codes

Every expected failure in triledger has one stable code from this closed list, defined in
\`src/model/errors.ts\` (this page is written from it by \`npm run docs:errors\`). Operations return
them as values; the HTTP API maps each to its status here, once, and answers
\`{ "error": { "code", "message" } }\`; the CLI prints \`triledger: Code: message\` on one line of
stderr and exits with 1 (2 when the command line itself is malformed).
\`test/model/errors.test.ts\` checks that this table and the code agree: every code documented,
nothing else.

A refused operation's response record (a6) carries the same code in its \`outcome\`. Keystore codes
map to 500 because they are the operator's configuration, never a user's input; a device does not
start with a bad keystore.

| code | HTTP | meaning |
| --- | --- | --- |
`;
const rows = Object.entries(errorCatalogue).map(
  ([code, entry]) =>
    `| \`${code}\` | ${entry.httpStatus} | ${entry.description.replaceAll('|', '\\|')} |`,
);
writeFileSync(new URL('../docs/errors.md', import.meta.url), `${head}${rows.join('\n')}\n`);
