// Batches at both ends: a client's batch of remittances (POST /v1/remittance-batches), each with its
// own answer, and the protocol steps the transaction device sends a peer in one message
// (POST /internal/v1/batch), each answered on its own.
import { request as httpRequest } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemitArgs, TerminalClient } from '../../src/client/terminal.js';
import { deploymentInfo } from '../../src/deployment/demo.js';
import { accountKeyNumberBase, type DeviceContext } from '../../src/devices/context.js';
import { batchBodyBytesMax } from '../../src/devices/http.js';
import { PeerClient, peerBatchSizeMax } from '../../src/devices/peerClient.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { remittanceBatchSizeMax } from '../../src/protocol/requests.js';
import { recordsLackedBy } from '../../src/protocol/transactionTypes.js';
import { recordFromWire } from '../../src/protocol/wire.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';

type Row = Record<string, bigint | string>;

let deployment: TestDeployment;
let client1: TerminalClient;

beforeAll(async () => {
  deployment = await startDeployment();
  client1 = deployment.client(deployment.wallet(1n));
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

const remittance = (overrides: Partial<RemitArgs>): RemitArgs => ({
  sourceAccount: 1n,
  destinationAccount: 2n,
  amount: 100n,
  currencyType: 'JPY',
  keyNumber: accountKeyNumberBase + 1,
  ...overrides,
});

async function balances(): Promise<bigint[]> {
  const rows = await deployment.rows<Row>(
    'account',
    'SELECT balance FROM accounts ORDER BY account_number',
  );
  return rows.map((row) => row['balance'] as bigint);
}

async function recordCount(): Promise<bigint> {
  const [row] = await deployment.rows<Row>('transaction', 'SELECT COUNT(*) AS n FROM transactions');
  return BigInt(row!['n']!);
}

async function postBatch(body: string) {
  const response = await request(`${deployment.url}/v1/remittance-batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: response.statusCode,
    body: (await response.body.json()) as { error?: { code: string } },
  };
}

/**
 * A batch request that declares a body of `bytes` and sends only its first bytes: the device
 * refuses it by its length alone (sending the whole of a body that large races the refusal, which
 * closes the connection while the client still writes: EPIPE).
 */
function postDeclaring(
  bytes: number,
): Promise<{ status: number; body: { error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      `${deployment.url}/v1/remittance-batches`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          sent.destroy();
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()) as { error?: { code: string } },
          });
        });
      },
    );
    sent.on('error', reject);
    sent.write('{"remittances":[');
  });
}

/** What transaction's /health counts of the steps sent to each peer and the messages they took. */
async function peerBatches(): Promise<Record<string, { batches: number; steps: number }>> {
  const health = await client1.read('/health');
  expect(health.ok).toBe(true);
  return (health.ok ? health.value['peerBatches'] : {}) as Record<
    string,
    { batches: number; steps: number }
  >;
}

/** The fields of a remittance of 1 from account 1 to 2 with a signature that verifies nothing. */
const unsignedRemittance = () => ({
  sourceAccount: '1',
  destinationAccount: '2',
  amount: '1',
  currencyType: 'JPY',
  dateTime: new Date().toISOString(),
  signerKeyNumber: accountKeyNumberBase + 1,
  signature: '00'.repeat(64),
});

describe('a batch of remittances from a client', () => {
  it('each remittance gets its own answer, in order; a refused one does not refuse the others', async () => {
    const atMs = BigInt(Date.now());
    const batch = [
      remittance({ requestId: 'batch-a', amount: 100n, atMs }),
      remittance({ requestId: 'batch-b', destinationAccount: 1n, atMs }),
      remittance({ requestId: 'batch-c', amount: 5_000n, atMs }),
      remittance({ requestId: 'batch-d', amount: 200n, atMs }),
    ];
    const results = await client1.remitBatch(batch);
    expect(results.map((r) => (r.ok ? 'ok' : r.code))).toEqual([
      'ok',
      'SameAccount',
      'InsufficientBalance',
      'ok',
    ]);
    // Every answer was checked by the terminal like a single one: the whole chain, a1 to a6.
    expect(results[0]!.ok && results[0]!.records).toHaveLength(6);
    expect(await balances()).toEqual([1_200n, 300n]);
    const sent = await peerBatches();

    // The same batch again (same request ids and times): the first answers, nothing applied twice,
    // and nothing sent to a peer again (the stored answers are given).
    const again = await client1.remitBatch(batch);
    expect(again.map((r) => (r.ok ? 'ok' : r.code))).toEqual(
      results.map((r) => (r.ok ? 'ok' : r.code)),
    );
    expect(await balances()).toEqual([1_200n, 300n]);

    const counts = await peerBatches();
    expect(counts).toEqual(sent);
    expect(counts['account']!.steps).toBeGreaterThanOrEqual(counts['account']!.batches);
  });

  it('concurrent remit calls on one terminal leave as one batch request; a malformed one alone is refused', async () => {
    const terminal = deployment.client(deployment.wallet(1n));
    const before = await balances();
    const calls = [
      ...Array.from({ length: 20 }, () => terminal.remit(remittance({ amount: 1n }))),
      terminal.remit(remittance({ requestId: 'not an id!' })),
    ];
    const results = await Promise.all(calls);
    // Each has its own answer: the malformed one refused by the terminal alone; of the others,
    // those that found no unit of account 1 free (held by the ones before them) refused alone.
    const codes = results.map((r) => (r.ok ? 'ok' : r.code));
    expect(codes.at(-1)).toBe('InvalidInput');
    expect(new Set(codes.slice(0, -1))).toEqual(new Set(['ok', 'InsufficientBalance']));
    // The twenty were called in one turn: one request carried them, each answer checked a1 to a6.
    expect(terminal.remittanceBatchCounts()).toEqual({ batches: 1, items: 20 });
    expect(results.every((r) => !r.ok || r.records.length === 6)).toBe(true);
    const paid = BigInt(codes.filter((code) => code === 'ok').length);
    expect(await balances()).toEqual([before[0]! - paid, before[1]! + paid]);

    // Alone, a remittance is its own request (POST /v1/remittances), sent at once.
    expect((await terminal.remit(remittance({ amount: 1n }))).ok).toBe(true);
    expect(terminal.remittanceBatchCounts()).toEqual({ batches: 2, items: 21 });
    await terminal.close(); // and again when the deployment stops: closing twice is harmless
  });

  it(`more than ${remittanceBatchSizeMax} remittances: 400 InvalidInput, nothing stored`, async () => {
    const before = await recordCount();
    const one = { requestId: 'too-many', ...unsignedRemittance() };
    const tooMany = Array.from({ length: remittanceBatchSizeMax + 1 }, (_, i) => ({
      ...one,
      requestId: `too-many-${i}`,
    }));
    const answer = await postBatch(JSON.stringify({ remittances: tooMany }));
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('InvalidInput');
    const empty = await postBatch('{"remittances":[]}');
    expect(empty.body.error?.code).toBe('InvalidInput');
    const oversized = await postDeclaring(batchBodyBytesMax + 1);
    expect(oversized.status).toBe(413);
    expect(oversized.body.error?.code).toBe('PayloadTooLarge');
    expect(await recordCount()).toBe(before);
  });
});

describe('protocol steps to a peer', () => {
  it('steps queued together leave in one message, and each gets its own answer', async () => {
    const peer = accountPeer();
    try {
      // An exchange that carries the request alone (no a2): refused, each step on its own.
      const records = (n: number) => {
        const request = recordFromWire({
          transactionNumber: String(6_000_000 + n * 6),
          remittanceId: `forged-${n}`,
          transactionType: 'remittance_request' as const,
          ...unsignedRemittance(),
        });
        if (!request.ok) throw new Error(request.message);
        return [request.value];
      };
      const steps = peerBatchSizeMax + 6;
      const answers = await Promise.all(
        Array.from({ length: steps }, (_, n) =>
          peer.call({ operation: 'exchange', records: records(n) }),
        ),
      );
      expect(new Set(answers.map((a) => (a.ok ? 'ok' : a.code)))).toEqual(
        new Set(['InvalidInput']),
      );
      // All queued in one turn: a full message and the rest in a second one.
      expect(peer.batchCounts()).toEqual({ batches: 2, steps });
    } finally {
      await peer.close();
    }
  });

  it('a message of exchanges and settlements: each step answered in order; a refused batch runs its steps alone', async () => {
    const done = await client1.remit(remittance({ amount: 3n }));
    if (!done.ok) throw new Error(done.message);
    const records = done.records;
    expect(records).toHaveLength(6);
    const settled = await balances();
    const peer = accountPeer();
    try {
      const settlement = {
        operation: 'settle' as const,
        records: recordsLackedBy('account', records),
      };
      const refusedExchange = { operation: 'exchange' as const, records: [records[0]!] };
      // Together: the exchange refused on its own, the settlement (again) acknowledged.
      const together = await Promise.all([peer.call(refusedExchange), peer.call(settlement)]);
      expect(together.map((a) => (a.ok ? 'ok' : a.code))).toEqual(['InvalidInput', 'ok']);
      // The same settlement twice in one message refuses the settlements' batch: its steps then run
      // alone, and each step gets the answer it gets alone.
      const again = await Promise.all([
        peer.call(settlement),
        peer.call(refusedExchange),
        peer.call(settlement),
      ]);
      expect(again.map((a) => (a.ok ? 'ok' : a.code))).toEqual(['ok', 'InvalidInput', 'ok']);
      expect(peer.batchCounts()).toEqual({ batches: 2, steps: 5 });
      // A settlement acknowledged again changes no balance.
      expect(await balances()).toEqual(settled);
    } finally {
      await peer.close();
    }
  });
});

/** A peer client of the account device, as the transaction device holds one. */
function accountPeer(): PeerClient {
  const info = deploymentInfo(deployment.dir);
  const accountOrigin = info.transactionUrl.replace(
    /:(\d+)$/,
    (_m, port) => `:${Number(port) + 1}`,
  );
  const context = {
    signatures: deployment.keystore('transaction'),
    signingKeyNumber: info.deviceKeys.transaction,
    environment: systemEnvironment,
  } as DeviceContext;
  return new PeerClient('account', accountOrigin, context);
}
