// One id follows a user's request through the three devices' logs (devices/requestIds.ts): the
// gateway takes the caller's x-request-id, or a W3C traceparent's trace id, or makes one, answers
// it back, and account and currency log it beside the remittance id of each protocol step.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remit, startDeployment, type TestDeployment } from '../helpers/deployment.js';

let deployment: TestDeployment;

/** The JSON log lines `up` relayed from one device. */
function logLines(device: string): Record<string, unknown>[] {
  const prefix = `[${device}] `;
  return deployment
    .output()
    .split('\n')
    .filter((line) => line.startsWith(`${prefix}{`))
    .map((line) => JSON.parse(line.slice(prefix.length)) as Record<string, unknown>);
}

beforeAll(async () => {
  // The demo logs warnings only; this test reads the info lines.
  const first = await startDeployment({ backend: 'sqlite' });
  await first.stop();
  for (const device of ['transaction', 'account', 'currency']) {
    const path = join(first.dir, `${device}.json`);
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...config, logLevel: 'info' }));
  }
  deployment = await startDeployment({ dir: first.dir, portBase: first.portBase });
}, 90_000);

afterAll(async () => {
  await deployment.stop();
});

describe('request ids across the devices', () => {
  it("takes the caller's x-request-id, answers it back and logs it", async () => {
    const response = await deployment.fetchSigned('/v1/accounts/1', {
      headers: { 'x-request-id': 'support-ticket-7' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('support-ticket-7');
    expect(logLines('transaction').some((line) => line['reqId'] === 'support-ticket-7')).toBe(true);
  });

  it("takes a traceparent's trace id; without either, makes a new one", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traced = await deployment.fetchSigned('/v1/accounts/1', {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(traced.headers.get('x-request-id')).toBe(traceId);
    // Malformed ids are not taken: a fresh one (32 hex digits) instead.
    const fresh = await deployment.fetchSigned('/v1/accounts/1', {
      headers: { 'x-request-id': 'no spaces allowed', traceparent: '00-zz-zz-01' },
    });
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it("sends a remittance's request id with its steps; account and currency log it", async () => {
    const sent = await remit(deployment, 1n, 2n, 100n);
    expect(sent.ok).toBe(true);
    const remittanceId = sent.ok ? sent.remittanceId : '';
    // Log lines reach `up` through a pipe, a moment after the answer.
    const answeredId = () =>
      logLines('transaction').find(
        (line) => line['msg'] === 'operation answered' && line['remittanceId'] === remittanceId,
      )?.['reqId'];
    await expect.poll(answeredId).toMatch(/^[0-9a-f]{32}$/);
    const requestId = answeredId();
    // The settlements follow the answer: read the peers' logs once both have it.
    await expect
      .poll(() =>
        ['account', 'currency'].map((device) =>
          logLines(device)
            .filter((line) => line['msg'] === 'protocol steps')
            .flatMap(
              (line) => line['steps'] as { remittanceId: string; step: string; traceId?: string }[],
            )
            .filter((step) => step.remittanceId === remittanceId)
            .map((step) => `${step.step} ${step.traceId}`),
        ),
      )
      .toEqual([
        [`exchange ${requestId}`, `settle ${requestId}`],
        [`exchange ${requestId}`, `settle ${requestId}`],
      ]);
  });
});
