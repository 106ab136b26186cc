// A peer's answer that conflicts with a record the transaction device already holds at its number
// (its copy of A changed under it: a record planted where a3 will go). The transaction device
// stores a batch's answers with one call; when that call meets a conflict it stores each answer
// alone to find the one (devices/transaction/service.ts: #storeAnswers). Only that operation's turn
// fails: it stays open and undecided (never answered as decided on records that disagree), the
// planted record is not overwritten, the account device keeps its own a3, and an operation after
// it goes through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordColumns } from '../../src/store/rows.js';
import { issue, remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

describe('an answer that conflicts with a record the transaction device holds', () => {
  let deployment: TestDeployment;

  beforeAll(async () => {
    deployment = await startDeployment({ scheme: 'hmac', mode: 'confirm' });
    expect(await issue(deployment, 1n, [500n, 500n])).toMatchObject({ ok: true });
  }, 90_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('leaves that operation open and undecided, keeps both copies as they were, and takes the next', async () => {
    const [counter] = await deployment.rows<{ value: bigint | number }>(
      'transaction',
      "SELECT value FROM counters WHERE name = 'transaction_number'",
    );
    const base = BigInt(counter!.value);
    // The ledger's first record copied, under an id of its own, where the next remittance's a3 goes.
    const others = recordColumns.filter((c) => c !== 'transaction_number' && c !== 'remittance_id');
    await tamper(deployment.dir, 'transaction', [
      `INSERT INTO transactions (transaction_number, remittance_id, ${others.join(', ')})
       SELECT ?, 'planted', ${others.join(', ')} FROM transactions WHERE transaction_number = 1`,
      base + 2n,
    ]);

    const answer = await remit(deployment, 1n, 2n, 100n);
    expect(answer).toMatchObject({ ok: false, code: 'PeerUnavailable' });
    expect(answer.ok ? '' : answer.message).toContain('not decided yet');

    const operations = await deployment.rows<{ state: string }>(
      'transaction',
      'SELECT state FROM operations WHERE base_number = ?',
      base,
    );
    expect(operations.map((row) => row.state)).toEqual(['open']);
    const atA3 = (device: 'transaction' | 'account') =>
      deployment.rows<{ transaction_type: string; remittance_id: string }>(
        device,
        'SELECT transaction_type, remittance_id FROM transactions WHERE transaction_number = ?',
        base + 2n,
      );
    expect((await atA3('transaction')).map((row) => row.transaction_type)).not.toContain(
      'account_confirmation_response',
    );
    expect((await atA3('transaction')).map((row) => row.remittance_id)).toEqual(['planted']);
    expect((await atA3('account')).map((row) => row.transaction_type)).toEqual([
      'account_confirmation_response',
    ]);

    // The next remittance, in another block, is decided as usual.
    expect(await remit(deployment, 1n, 2n, 200n)).toMatchObject({ ok: true });
  }, 60_000);
});
