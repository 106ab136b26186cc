// A client generated from the committed OpenAPI document (docs/openapi.json) with a common
// generator, openapi-typescript, types the answers of the reads: a program reading an account's
// balance, its units and its history, and branching on a refusal's error code, type-checks
// strictly against the generated types (and a misspelt field does not). The answers themselves
// hold to the same schemas: test/devices/apiContract.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

const reader = `import type { paths } from './api.js';

type Read<Path extends keyof paths> = paths[Path] extends {
  get: { responses: { 200: { content: { 'application/json': infer Body } } } };
}
  ? Body
  : never;
type Account = Read<'/v1/accounts/{accountNumber}'>;
type Units = Read<'/v1/accounts/{accountNumber}/currency'>;
type History = Read<'/v1/accounts/{accountNumber}/transactions'>;
type Refusal = paths['/v1/accounts/{accountNumber}']['get']['responses']['4XX']['content']['application/json'];

export async function read(base: string, signature: string) {
  const headers = { 'triledger-signature': signature };
  const response = await fetch(\`\${base}/v1/accounts/1\`, { headers });
  if (!response.ok) {
    const refusal = (await response.json()) as Refusal;
    if (refusal.error.code === 'UnknownAccount') return undefined;
    throw new Error(refusal.error.message);
  }
  const account = (await response.json()) as Account;
  const available: bigint = BigInt(account.available);
  const units = (await (await fetch(\`\${base}/v1/accounts/1/currency\`, { headers })).json()) as Units;
  const values: string[] = units.units.map((unit) => unit.value);
  const history = (await (await fetch(\`\${base}/v1/accounts/1/transactions\`, { headers })).json()) as History;
  const next: string | undefined = history.next;
  return { available, status: account.status, values, next, last: history.operations.at(-1)?.outcome };
}
`;

function typeCheck(dir: string, source: string) {
  writeFileSync(join(dir, 'read.ts'), source);
  return spawnSync(bin('tsc'), ['-p', dir], { encoding: 'utf8' });
}

describe('a client generated from docs/openapi.json', () => {
  it('types the reads and the error codes; a wrong field or code does not type-check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'triledger-generated-'));
    execFileSync(bin('openapi-typescript'), [
      join(root, 'docs', 'openapi.json'),
      '--output',
      join(dir, 'api.ts'),
    ]);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          strict: true,
          noEmit: true,
          types: [],
        },
        files: ['read.ts'],
      }),
    );
    const checked = typeCheck(dir, reader);
    expect(checked.stdout, checked.stdout).toBe('');
    expect(checked.status).toBe(0);
    const misspelt = typeCheck(dir, reader.replace('account.available', 'account.availble'));
    expect(misspelt.stdout).toContain("Property 'availble' does not exist");
    const unknownCode = typeCheck(dir, reader.replace("'UnknownAccount'", "'NoSuchCode'"));
    expect(unknownCode.status).not.toBe(0);
  });
});
