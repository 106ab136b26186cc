// The full audit in a running transaction device gives the device's other work turns
// (audit/audit.ts betweenBlocks): after every blocksPerTurnMax blocks of A, whatever the blocks hold.
// Here three identical copies of A of unsigned requests, which the audit finds wanting: the turns
// come all the same.

import { describe, expect, it } from 'vitest';
import { audit, blocksPerTurnMax } from '../../src/audit/audit.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { baseOfBlock, type SignedRecord } from '../../src/protocol/records.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { remittanceRequestAt } from '../helpers/records.js';

const keys = {
  signatures: new SignatureDevice(deterministicEnvironment('audit-turns')),
  deviceKeys: { transaction: 1, account: 2, currency: 3 },
  issuerKeyNumbers: [],
  signatureZero: Buffer.alloc(32),
};

/** A copy of A of `blocks` operations of one request each, in pages of 16 records. */
async function* copyOfA(blocks: number): AsyncGenerator<SignedRecord[]> {
  let page: SignedRecord[] = [];
  for (let block = 0n; block < BigInt(blocks); block++) {
    page.push(remittanceRequestAt(baseOfBlock(block)));
    if (page.length === 16) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

async function* none<T>(): AsyncGenerator<T> {}

describe('the audit between blocks', () => {
  it('gives other work a turn after every blocksPerTurnMax blocks', async () => {
    const blocks = 3 * blocksPerTurnMax + 5;
    let turns = 0;
    const report = await audit(
      keys,
      {
        copies: {
          transaction: copyOfA(blocks),
          account: copyOfA(blocks),
          currency: copyOfA(blocks),
        },
        accounts: none(),
        units: none(),
      },
      {
        betweenBlocks: async () => {
          turns += 1;
        },
      },
    );
    expect(report.operations).toBe(blocks);
    expect(turns).toBe(3);
  });
});
