// A peer's answer that conflicts with a record the transaction device already holds at its number
// (its copy of A changed under it: a record planted where a3 will go). The transaction device
// stores a batch's answers with one call; when that call meets a conflict it stores each answer
// alone to find the one (devices/transaction/service.ts: #storeAnswers). Only that operation's turn
// fails: it stays open and undecided (never answered as decided on records that disagree), the
// planted record is not overwritten, none of the records the turn carried is kept (once, on
// PostgreSQL, currency's a5 was, and the resumer then decided the operation on a1, a2 and a5: the
// store's append now stores nothing when it meets a conflict), the account device keeps its own a3,
// and an operation after it goes through. An open operation whose stored records have a gap is not
// decided either (core/transaction.ts: stepsInOrder).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemitArgs } from '../../src/client/terminal.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { recordColumns } from '../../src/store/rows.js';
import { issue, remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

describe('an answer that conflicts with a record the transaction device holds', () => {
  let deployment: TestDeployment;
  let base: bigint;
  /** The remittance whose a3 meets the planted record (its time set when it is first sent). */
  let request: RemitArgs;
  const requestId = 'answer-conflict';
  const stateOfOperation = async () =>
    (
      await deployment.rows<{ state: string }>(
        'transaction',
        'SELECT state FROM operations WHERE base_number = ?',
        base,
      )
    ).map((row) => row.state);

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
    base = BigInt(counter!.value);
    // The ledger's first record copied, under an id of its own, where the next remittance's a3 goes.
    const others = recordColumns.filter((c) => c !== 'transaction_number' && c !== 'remittance_id');
    await tamper(deployment.dir, 'transaction', [
      `INSERT INTO transactions (transaction_number, remittance_id, ${others.join(', ')})
       SELECT ?, 'planted', ${others.join(', ')} FROM transactions WHERE transaction_number = 1`,
      base + 2n,
    ]);

    request = {
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 100n,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + 1,
      requestId,
      atMs: BigInt(Date.now()),
    };
    const client = deployment.client(deployment.wallet(1n));
    const answer = await client.remit(request);
    expect(answer).toMatchObject({ ok: false, code: 'PeerUnavailable' });
    expect(answer.ok ? '' : answer.message).toContain('not decided yet');
    // Driven again (the client's retry; the resumer does the same): currency's a5 was refused with
    // a3, so none of it is kept, and nothing is decided on a1, a2 and a5 alone.
    const again = await client.remit(request);
    expect(again).toMatchObject({ ok: false });
    expect(['PeerUnavailable', 'RequestInProgress']).toContain(again.ok ? '' : again.code);
    const inBlock = await deployment.rows<{ transaction_number: bigint | number }>(
      'transaction',
      'SELECT transaction_number FROM transactions WHERE transaction_number BETWEEN ? AND ? ORDER BY 1',
      base,
      base + 5n,
    );
    expect(inBlock.map((row) => BigInt(row.transaction_number))).toEqual([
      base,
      base + 1n,
      base + 2n,
    ]);

    expect(await stateOfOperation()).toEqual(['open']);
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

  it('decides nothing on stored records with a gap (a5 where a3 and a4 are missing)', async () => {
    // The open operation above: a step-5 record of its own planted at a5's number.
    const others = recordColumns.filter(
      (c) => !['transaction_number', 'remittance_id', 'transaction_type'].includes(c),
    );
    await tamper(deployment.dir, 'transaction', [
      `INSERT INTO transactions (transaction_number, remittance_id, transaction_type, ${others.join(', ')})
       SELECT ?, ?, 'currency_confirmation_response', ${others.join(', ')}
       FROM transactions WHERE transaction_number = 1`,
      base + 4n,
      requestId,
    ]);
    const again = await deployment.client(deployment.wallet(1n)).remit(request);
    expect(again).toMatchObject({ ok: false });
    expect(['PeerUnavailable', 'RequestInProgress']).toContain(again.ok ? '' : again.code);
    expect(await stateOfOperation()).toEqual(['open']);
    // (The log line comes through `up` a moment after the answer.)
    await expect.poll(() => deployment.output()).toContain('its stored records have a gap');
  }, 60_000);
});
