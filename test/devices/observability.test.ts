// What operators watch: GET /metrics (Prometheus text) and GET /ready on every device, and the
// structured JSON logs, on three real device processes. transaction and currency serve /metrics and
// /ready on their own port to operator-signed requests; account on an operations listener.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TerminalClient } from '../../src/client/terminal.js';
import { deploymentInfo, operatorKeyNumber, passphraseOf } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { PrometheusMetrics } from '../../src/devices/metrics.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { envelopeHeader, signEnvelope } from '../../src/protocol/envelope.js';
import type { SignatureDevice } from '../../src/signature/device.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { DeviceProcess, editJson, freePorts } from '../helpers/devices.js';

let deployment: TestDeployment;
let processes: Record<'transaction' | 'account' | 'currency', DeviceProcess>;
let client1: TerminalClient;
let urls: Record<'transaction' | 'account' | 'currency', string>;
/** Where account serves /metrics and /ready (operationsListen), to anyone. */
let accountOperations: string;
let operatorKeys: SignatureDevice;

beforeAll(async () => {
  // Create the demo deployment, then run its devices one by one, logging at info.
  const created = await startDeployment();
  await created.stop();
  const dir = created.dir;
  const operationsPort = await freePorts(1);
  accountOperations = `http://127.0.0.1:${operationsPort}`;
  for (const device of ['transaction', 'account', 'currency'] as const)
    editJson(join(dir, `${device}.json`), (config) => {
      config['logLevel'] = 'info';
      if (device === 'account')
        config['operationsListen'] = { host: '127.0.0.1', port: operationsPort };
    });
  operatorKeys = created.keystore('operator');
  processes = {
    transaction: new DeviceProcess('transaction', dir),
    account: new DeviceProcess('account', dir),
    currency: new DeviceProcess('currency', dir),
  };
  await processes.account.start();
  await processes.currency.start();
  await processes.transaction.start();
  deployment = created;
  const transactionUrl = deploymentInfo(dir).transactionUrl;
  const port = Number(/:(\d+)$/.exec(transactionUrl)![1]);
  urls = {
    transaction: transactionUrl,
    account: transactionUrl.replace(/:\d+$/, `:${port + 1}`),
    currency: transactionUrl.replace(/:\d+$/, `:${port + 2}`),
  };
  client1 = deployment.client(deployment.wallet(1n));
}, 90_000);

afterAll(async () => {
  // (`up` was stopped in beforeAll: the devices run as their own processes here.)
  await client1?.close();
  await Promise.all(Object.values(processes ?? {}).map((p) => p.stop()));
});

/** GET as an operator's tools do: signed by the operator key, except on an operations listener. */
async function get(url: string) {
  const { origin, pathname } = new URL(url);
  const device = (Object.keys(urls) as (keyof typeof urls)[]).find((d) => urls[d] === origin);
  const envelope =
    device &&
    signEnvelope(
      operatorKeys,
      operatorKeyNumber,
      { receiver: device, method: 'GET', url: pathname, body: Buffer.alloc(0) },
      systemEnvironment.nowMs(),
      systemEnvironment.randomBytes,
    );
  const response = await request(url, envelope ? { headers: { [envelopeHeader]: envelope } } : {});
  return {
    status: response.statusCode,
    type: String(response.headers['content-type']),
    text: await response.body.text(),
  };
}

/** Operations done that a peer has not yet acknowledged, as the transaction device reports them. */
async function unsettled(): Promise<number> {
  const health = JSON.parse((await get(`${urls.transaction}/health`)).text) as {
    operations: { unsettled: number };
  };
  return health.operations.unsettled;
}

/** The value of one series in a Prometheus text exposition, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    if (Object.entries(labels).every(([k, v]) => inside.includes(`${k}="${v}"`)))
      return Number(line.slice(line.indexOf('}') + 2));
  }
  return 0;
}

const remit = (amount: bigint) =>
  client1.remit({
    sourceAccount: 1n,
    destinationAccount: 2n,
    amount,
    currencyType: 'JPY',
    keyNumber: accountKeyNumberBase + 1,
  });

describe('GET /metrics', () => {
  it('counts operations by outcome, times the steps and commits, counts refusals and signatures', async () => {
    expect((await remit(100n)).ok).toBe(true);
    const refused = await remit(1_000_000n);
    expect(!refused.ok && refused.code).toBe('InsufficientBalance');

    const transaction = await get(`${urls.transaction}/metrics`);
    expect(transaction.status).toBe(200);
    expect(transaction.type).toContain('text/plain');
    const t = transaction.text;
    const remittance = { device: 'transaction', operation: 'remittance' };
    expect(sample(t, 'triledger_operations_total', { ...remittance, outcome: 'ok' })).toBe(1);
    expect(
      sample(t, 'triledger_operations_total', { ...remittance, outcome: 'InsufficientBalance' }),
    ).toBe(1);
    expect(sample(t, 'triledger_refusals_total', { code: 'InsufficientBalance' })).toBe(1);
    expect(sample(t, 'triledger_operation_seconds_count', remittance)).toBe(2);
    for (const step of ['open', 'exchange_account', 'exchange_currency', 'settle'])
      expect(sample(t, 'triledger_protocol_step_seconds_count', { step })).toBeGreaterThan(0);
    expect(sample(t, 'triledger_peer_batch_steps_count', { peer: 'account' })).toBeGreaterThan(0);
    expect(sample(t, 'triledger_settlement_batch_size_count', {})).toBeGreaterThan(0);
    expect(sample(t, 'triledger_store_commit_seconds_count', {})).toBeGreaterThan(0);
    // transaction signs with its own key (1) and verifies the account's request with its key.
    expect(
      sample(t, 'triledger_signature_operations_total', {
        key: '1',
        authority: 'sign',
        result: 'ok',
      }),
    ).toBeGreaterThan(0);
    expect(
      sample(t, 'triledger_signature_operations_total', {
        key: 'account',
        authority: 'verify',
        result: 'ok',
      }),
    ).toBeGreaterThan(0);
    expect(t).toContain('triledger_process_cpu_seconds_total');

    // The answer comes before the settlements (S108-S111): account counts the second one once it
    // has it, which the transaction device reports once both peers acknowledged it.
    for (let tries = 0; tries < 100 && (await unsettled()) > 0; tries++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await unsettled()).toBe(0);
    const account = (await get(`${accountOperations}/metrics`)).text;
    expect(sample(account, 'triledger_protocol_step_seconds_count', { step: 'exchange' })).toBe(2);
    expect(sample(account, 'triledger_protocol_step_seconds_count', { step: 'settlement' })).toBe(
      2,
    );
  });

  it('exposes no key material and no account numbers as labels', async () => {
    const text = (await get(`${urls.transaction}/metrics`)).text;
    expect(text).not.toMatch(/account(Number)?="\d+"/);
    expect(text).not.toContain(passphraseOf(deployment.dir));
  });

  it('the catalogue: every metric triledger defines is documented in docs/operations.md', async () => {
    const documented = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const metrics = new PrometheusMetrics('transaction', accountKeyNumberBase);
    const ours = (await metrics.registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((name) => !/^triledger_(process|nodejs)_/.test(name));
    expect(ours.length).toBeGreaterThan(8);
    for (const name of ours) expect(documented, name).toContain(`\`${name}\``);
  });
});

describe('GET /ready', () => {
  it('ready when the store, the peers and the last audits are: each check reported', async () => {
    const ready = await get(`${urls.transaction}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({
      ready: true,
      checks: { store: true, peers: { account: true, currency: true } },
    });
    expect((await get(`${accountOperations}/ready`)).status).toBe(200);
  });

  it("without the operator's signature /metrics and /ready are refused; on a listener of their own they moved", async () => {
    for (const path of ['/metrics', '/ready']) {
      expect((await request(`${urls.transaction}${path}`)).statusCode).toBe(401);
      expect((await request(`${urls.currency}${path}`)).statusCode).toBe(401);
      expect((await get(`${urls.account}${path}`)).status).toBe(404);
    }
  });

  it('a peer down: transaction is not ready (503, the peer named); /health still answers', async () => {
    await processes.account.stop();
    try {
      const ready = await get(`${urls.transaction}/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text)).toMatchObject({
        ready: false,
        checks: { store: true, peers: { account: false, currency: true } },
      });
      expect((await get(`${urls.transaction}/health`)).status).toBe(200);
    } finally {
      await processes.account.start();
    }
    expect((await get(`${urls.transaction}/ready`)).status).toBe(200);
  });
});

describe('logs', () => {
  it('JSON lines; an answered operation names its request and remittance ids; no secrets', async () => {
    const result = await remit(1n);
    const remittanceId = result.ok ? result.remittanceId : 'none';
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = processes.transaction.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const answered = lines.find(
      (line) => line['msg'] === 'operation answered' && line['remittanceId'] === remittanceId,
    );
    expect(answered).toMatchObject({ operation: 'remittance', outcome: 'ok' });
    expect(typeof answered?.['reqId']).toBe('string');
    const all = [processes.transaction, processes.account, processes.currency]
      .map((p) => p.output)
      .join('\n');
    expect(all).not.toContain(passphraseOf(deployment.dir));
    // The envelope signature header is redacted wherever a request is logged.
    expect(all).not.toMatch(/"triledger-signature":"\d/);
  });
});
