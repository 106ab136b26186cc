// Archives made by earlier versions: rows of a table the stores no longer keep (account_keys, whose
// content is now read from the account openings in A) are read past, never refused.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { archivedRows, verifyArchive, writeArchive } from '../../src/store/archive.js';
import type { DumpRow } from '../../src/store/dump.js';

async function* rowsOf(rows: readonly DumpRow[]): AsyncIterable<DumpRow> {
  yield* rows;
}

describe('an archive with rows of a retired table', () => {
  it('verifies, and its import gets every other row', async () => {
    const environment = deterministicEnvironment('archive');
    const keys = new SignatureDevice(environment);
    expect(
      keys.addKey({
        keyNumber: 9,
        owner: 'operator',
        algorithm: 'aes-256-gcm',
        authorities: ['encrypt', 'decrypt'],
      }).ok,
    ).toBe(true);
    const checkpoint: DumpRow = {
      table: 'checkpoints',
      row: { transaction_number: 6n, checkpoint_json: '{}' },
    };
    const path = join(mkdtempSync(join(tmpdir(), 'triledger-archive-')), 'old.archive');
    const written = await writeArchive(
      path,
      keys,
      9,
      [
        {
          device: 'account',
          rows: rowsOf([
            {
              table: 'account_keys',
              row: {
                account_number: 1n,
                key_number: 4n,
                algorithm: 'hmac-sha256',
                public_key: null,
              },
            },
            checkpoint,
          ]),
        },
      ],
      environment,
    );
    expect(written).toMatchObject({ ok: true, value: { rowCount: 2 } });
    const verified = await verifyArchive(path, keys);
    expect(verified).toMatchObject({ ok: true, value: { rowCount: 2 } });
    const imported: DumpRow[] = [];
    for await (const row of archivedRows(path, keys, 'account')) imported.push(row);
    expect(imported).toEqual([checkpoint]);
  });
});
