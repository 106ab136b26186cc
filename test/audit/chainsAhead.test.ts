// The own copy's links verified ahead in a worker thread (src/audit/chainsAhead.ts): the
// audit finds exactly what it finds without the worker, the worker is used, and a record counts
// as verified only next to the record its link was verified against.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import {
  ChainWorker,
  packBlocks,
  unpackBlocks,
  VerifiedAhead,
  withChainWorker,
} from '../../src/audit/chainsAhead.js';
import { auditStores } from '../../src/audit/offline.js';
import { verifyingKeysOf } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { blockOf, type SignedRecord, signingBytes } from '../../src/protocol/records.js';
import type { VerifyingKeys } from '../../src/protocol/verify.js';
import { openTransactionStoreAt } from '../../src/store/open.js';
import { flipBit } from '../bytes.js';
import { startDeployment } from '../helpers/deployment.js';
import {
  copyDeployment,
  signatureOf,
  storeLocationOf,
  tamper,
  withStores,
} from '../helpers/stores.js';

let pristine: string;

function keysOf(dir: string): VerifyingKeys {
  const keys = verifyingKeysOf(dir, systemEnvironment);
  if (!keys.ok) throw new Error(keys.message);
  return keys.value;
}

/** The offline audit, with the worker and without; the worker's blocks counted. */
async function auditBothWays(dir: string) {
  const alone = await withStores(dir, (stores) => auditStores(keysOf(dir), stores));
  let blocksSent = 0;
  const ahead = await withStores(dir, (stores) => {
    const keys = keysOf(dir);
    return withChainWorker(keys, async (worker) => {
      const report = await auditStores(keys, stores, worker);
      blocksSent = worker.blocksSent;
      return report;
    });
  });
  return { alone, ahead, blocksSent };
}

const summary = (report: AuditReport) =>
  report.findings.map((f) => `${f.device} ${f.store} ${f.key} ${f.kind}`).sort();

beforeAll(async () => {
  const deployment = await startDeployment({ scheme: 'ed25519' });
  // Blocks 1-6 and 7-12 open accounts 1 and 2, 13-18 issue units, 19-24 and 25-30 remittances.
  for (const [source, destination] of [
    [1n, 2n],
    [2n, 1n],
  ] as const) {
    const remitted = await deployment.client(deployment.wallet(source)).remit({
      sourceAccount: source,
      destinationAccount: destination,
      amount: 100n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + Number(source),
    });
    expect(remitted.ok).toBe(true);
  }
  await deployment.stop();
  pristine = deployment.dir;
}, 90_000);

afterAll(() => undefined);

describe('verifying ahead in a worker (Ed25519 deployment)', () => {
  it('an untampered ledger: clean both ways, every block but the account openings verified by the worker', async () => {
    const { alone, ahead, blocksSent } = await auditBothWays(
      await copyDeployment(pristine, 'triledger-ahead-'),
    );
    expect(alone.clean).toBe(true);
    expect(ahead).toEqual(alone);
    // An account opening starts with a self-signed request: the audit checks those itself.
    expect(blocksSent).toBe(alone.operations - 2);
  });

  it('transaction copy of A: row modified, found alike with the worker', async () => {
    const dir = await copyDeployment(pristine, 'triledger-ahead-');
    await tamper(dir, 'transaction', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    const { alone, ahead } = await auditBothWays(dir);
    expect(summary(alone)).toEqual(['transaction A 22 modified']);
    expect(ahead).toEqual(alone);
  });

  it('transaction copy of A: signature changed, and two of three copies changed', async () => {
    const dir = await copyDeployment(pristine, 'triledger-ahead-');
    await tamper(dir, 'transaction', [
      'UPDATE transactions SET signature = ? WHERE transaction_number = 23',
      flipBit(await signatureOf(dir, 'transaction', 23), 7),
    ]);
    await tamper(dir, 'account', [
      'UPDATE transactions SET amount = 7 WHERE transaction_number = 28',
    ]);
    const { alone, ahead } = await auditBothWays(dir);
    expect(summary(alone)).toEqual(['account A 28 modified', 'transaction A 23 signature']);
    expect(ahead).toEqual(alone);
  });

  it('a record counts as verified only next to the record its link was verified against', async () => {
    const dir = await copyDeployment(pristine, 'triledger-ahead-');
    const store = await openTransactionStoreAt(storeLocationOf(dir, 'transaction'));
    const keys = keysOf(dir);
    const worker = new ChainWorker(keys);
    try {
      const reader = new VerifiedAhead(worker, store.exportRecordPages());
      await reader.start();
      const blocks: SignedRecord[][] = [];
      for (let block = reader.nextBlock(); block !== undefined; block = reader.nextBlock())
        blocks.push(await reader.take(block));
      expect(blocks.map((records) => blockOf(records[0]!.record.transactionNumber))).toEqual([
        0n,
        1n,
        2n,
        3n,
        4n,
      ]);
      // The issuance is signed by an issuer key the keystore holds; an account's key is learned
      // by an audit, which this reader alone is not; an account opening starts with a
      // self-signed request, which the worker is not sent.
      const issuance = blocks[2]!;
      expect(blocks.map((records) => reader.trustedPrefix(records))).toEqual([0, 0, 6, 0, 0]);
      // The same records, the third replaced by an equal copy: trusted up to it, not after.
      const copied = { ...issuance[2]!, signature: Buffer.from(issuance[2]!.signature) };
      expect(reader.trustedPrefix([issuance[0]!, issuance[1]!, copied, ...issuance.slice(3)])).toBe(
        2,
      );
      // Out of order, or starting inside the block: nothing is trusted.
      expect(reader.trustedPrefix([issuance[1]!, issuance[0]!])).toBe(0);
      expect(reader.trustedPrefix(issuance.slice(1))).toBe(0);
    } finally {
      await worker.close();
      await store.close();
    }
  });

  it('links travel to the worker byte for byte, up to a self-signed request', async () => {
    const dir = await copyDeployment(pristine, 'triledger-ahead-');
    const store = await openTransactionStoreAt(storeLocationOf(dir, 'transaction'));
    try {
      const records: SignedRecord[] = [];
      for await (const signed of store.exportRecords()) records.push(signed);
      // Block 0 opens account 1 with a self-signed request (key 0): no link of it is sent.
      const blocks = [records.slice(0, 4), records.slice(8, 14)];
      expect(blocks[0]![0]!.record.signerKeyNumber).toBe(0);
      expect(unpackBlocks(packBlocks(blocks))).toEqual([
        [],
        blocks[1]!.map(({ record, signature }) => ({
          signerKeyNumber: record.signerKeyNumber,
          recordBytes: signingBytes(record),
          signature,
        })),
      ]);
    } finally {
      await store.close();
    }
  });
});
