// The event stream of the log (GET /v1/accounts/{n}/events, GET /v1/admin/events): server-sent
// events of operations once every device holds them, in log order, each with its position as id;
// a client that reconnects with Last-Event-ID gets every later operation, none twice. Only the
// account's key (or an operator's) opens an account's stream; only an operator's the whole log.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { signEnvelope } from '../../src/protocol/envelope.js';
import type { SignatureDevice } from '../../src/signature/device.js';
import { remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';

let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await startDeployment();
}, 90_000);

afterAll(async () => {
  // A stream left open: the devices end it when they stop (the stop would otherwise wait forever).
  const open = new EventReader();
  await open.open('/v1/admin/events', deployment.keystore('operator'), operatorKeyNumber);
  const stoppedMs = Date.now();
  await deployment?.stop();
  expect(Date.now() - stoppedMs).toBeLessThan(20_000);
}, 60_000);

interface Event {
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, string>;
}

/** An open stream: the events as they come, parsed from the text/event-stream body. */
class EventReader {
  readonly #events: Event[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #controller = new AbortController();
  status = 0;

  async open(path: string, keys: SignatureDevice, keyNumber: number, lastEventId?: string) {
    const envelope = signEnvelope(
      keys,
      keyNumber,
      { receiver: 'transaction', method: 'GET', url: path, body: Buffer.alloc(0) },
      Date.now(),
      randomBytes,
    );
    const response = await fetch(`${deployment.url}${path}`, {
      headers: {
        'triledger-signature': envelope,
        ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
      },
      signal: this.#controller.signal,
    });
    this.status = response.status;
    if (response.status !== 200) return (await response.json()) as { error: { code: string } };
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    void this.#read(response.body!);
    return undefined;
  }

  async #read(body: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const chunk of body) {
        pending += decoder.decode(chunk, { stream: true });
        const blocks = pending.split('\n\n');
        pending = blocks.pop()!;
        for (const block of blocks) {
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((line) => !line.startsWith(':'))
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
          );
          if (fields['data'] === undefined) continue;
          this.#events.push({
            id: fields['id'] ?? '',
            event: fields['event'] ?? '',
            data: JSON.parse(fields['data']),
          });
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    } catch {
      // closed by the test
    }
  }

  /** The first `count` events, waiting for them (up to 10 s). */
  async take(count: number): Promise<Event[]> {
    const deadline = Date.now() + 10_000;
    while (this.#events.length < count) {
      if (Date.now() > deadline) throw new Error(`${this.#events.length} of ${count} events came`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.#events.slice(0, count);
  }

  get received(): number {
    return this.#events.length;
  }

  close() {
    this.#controller.abort();
  }
}

const accountKey = (n: bigint) => accountKeyNumberBase + Number(n);

describe('the event stream', () => {
  it("an account's stream: its history first, then each new operation once settled, in log order", async () => {
    const stream = new EventReader();
    expect(
      await stream.open('/v1/accounts/1/events', deployment.wallet(1n), accountKey(1n)),
    ).toBeUndefined();
    const first = await remit(deployment, 1n, 2n, 100n);
    const second = await remit(deployment, 2n, 1n, 40n);
    expect(first.ok && second.ok).toBe(true);
    const wanted = [first, second].map((r) => (r as { remittanceId: string }).remittanceId);
    let events: Event[] = [];
    for (
      let count = 1;
      !wanted.every((id) => events.some((e) => e.data['remittanceId'] === id));
      count++
    )
      events = await stream.take(count);
    stream.close();
    const ids = events.map((e) => BigInt(e.id));
    expect(ids.every((id, k) => k === 0 || ids[k - 1]! < id)).toBe(true);
    for (const event of events) {
      expect(event.event).toBe('operation');
      expect(event.data['lastTransactionNumber']).toBe(event.id);
      expect([event.data['sourceAccount'], event.data['destinationAccount']]).toContain('1');
    }
    // The demo's history of account 1 came before the two remittances, in the same order.
    expect(events.slice(-2).map((e) => e.data['remittanceId'])).toEqual(wanted);
    expect(events.slice(-2).map((e) => e.data['outcome'])).toEqual(['ok', 'ok']);
  });

  it('resumes with Last-Event-ID: every later operation, none twice', async () => {
    const all = new EventReader();
    await all.open('/v1/admin/events', deployment.keystore('operator'), operatorKeyNumber);
    const done = await remit(deployment, 1n, 2n, 5n);
    expect(done.ok).toBe(true);
    const remittanceId = (done as { remittanceId: string }).remittanceId;
    // Everything up to this remittance, from the start of the log (openings, issuance, ...).
    const upToIt: Event[] = [];
    for (let count = 1; !upToIt.some((e) => e.data['remittanceId'] === remittanceId); count++)
      upToIt.splice(0, upToIt.length, ...(await all.take(count)));
    all.close();
    const ids = upToIt.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => Number(BigInt(a) - BigInt(b)))).toEqual(ids);

    const resumed = new EventReader();
    await resumed.open(
      '/v1/admin/events',
      deployment.keystore('operator'),
      operatorKeyNumber,
      ids.at(-2),
    );
    const [next] = await resumed.take(1);
    resumed.close();
    expect(next!.id).toBe(ids.at(-1));
    expect(next!.data['remittanceId']).toBe(remittanceId);
  });

  it('refused: another account’s key 403, no signature 401, the whole log without an operator key 403, a bad Last-Event-ID 400', async () => {
    const other = new EventReader();
    expect(
      (await other.open('/v1/accounts/1/events', deployment.wallet(2n), accountKey(2n)))?.error
        .code,
    ).toBe('WrongSigner');
    expect(other.status).toBe(403);
    const unsigned = await fetch(`${deployment.url}/v1/accounts/1/events`);
    expect(unsigned.status).toBe(401);
    await unsigned.body?.cancel();
    const notOperator = new EventReader();
    await notOperator.open('/v1/admin/events', deployment.wallet(1n), accountKey(1n));
    expect(notOperator.status).toBe(403);
    const bad = new EventReader();
    expect(
      (await bad.open('/v1/accounts/1/events', deployment.wallet(1n), accountKey(1n), 'last'))
        ?.error.code,
    ).toBe('InvalidInput');
  });
});
