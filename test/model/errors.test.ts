// The error catalogue stays honest: every code is typed, exported and documented, and nothing else.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as publicApi from '../../src/index.js';
import { errorCatalogue, errorCodes, fail, httpStatusOf } from '../../src/model/errors.js';

const documented = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documentedRows = [...documented.matchAll(/^\| `([A-Za-z]+)` \| (\d{3}) \| (.+) \|$/gm)].map(
  (m) => ({
    code: m[1]!,
    httpStatus: Number(m[2]),
    description: m[3]!.replaceAll('\\|', '|'),
  }),
);

describe('error catalogue', () => {
  it('docs/errors.md lists exactly the codes of the catalogue, with the same status and meaning', () => {
    expect(documentedRows.map((row) => row.code)).toEqual(errorCodes);
    for (const row of documentedRows) {
      const entry = errorCatalogue[row.code as keyof typeof errorCatalogue];
      expect(row.httpStatus).toBe(entry.httpStatus);
      expect(row.description).toBe(entry.description);
    }
  });

  it('is exported from the package, and every status is a 4xx or 5xx', () => {
    expect(publicApi.errorCatalogue).toBe(errorCatalogue);
    for (const code of errorCodes) {
      expect(httpStatusOf(code)).toBeGreaterThanOrEqual(400);
      expect(httpStatusOf(code)).toBeLessThan(600);
    }
  });

  it('every code used in src/ is in the catalogue (no code outside the closed list)', () => {
    // The type system already forbids it; this catches strings built around the type system.
    const sourceRoot = new URL('../../src/', import.meta.url);
    const sources = readdirSync(sourceRoot, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const text = readFileSync(new URL(file, sourceRoot), 'utf8');
      for (const match of text.matchAll(/fail\(\s*'([A-Za-z]+)'/g))
        expect(errorCodes).toContain(match[1]);
    }
    expect(fail('UnknownKey', 'x')).toEqual({ ok: false, code: 'UnknownKey', message: 'x' });
  });
});
