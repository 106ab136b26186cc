// The transaction device started on a damaged store (issue 18) does not serve it: `triledger device`
// exits with the StoreDamaged code on one line of stderr, naming the file, and the file is left as
// it was. (A peer starts fenced instead, for a recovery to rebuild: devices/storeDamageAtStart.)
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDeployment } from '../../src/deployment/demo.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { openSqliteDatabase } from '../../src/store/sqlite.js';
import { triledger } from './run.js';

describe('a device on a damaged store', () => {
  it('the transaction device refuses to start with StoreDamaged, one line, the file untouched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'triledger-store-damage-'));
    createDeployment(
      dir,
      { scheme: 'hmac', mode: 'confirm', portBase: 7301, host: '127.0.0.1' },
      systemEnvironment,
    );
    const path = join(dir, 'transaction.sqlite');
    openSqliteDatabase(path, 'transaction').close();
    writeFileSync(path, Buffer.alloc(readFileSync(path).length)); // a file replaced by zeros
    const before = createHash('sha256').update(readFileSync(path)).digest('hex');
    const run = triledger(['device', 'transaction', '--config', join(dir, 'transaction.json')], {
      cwd: dir,
    });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^triledger: StoreDamaged: the store .*transaction\.sqlite.* is damaged/,
    );
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(before);
  });
});
