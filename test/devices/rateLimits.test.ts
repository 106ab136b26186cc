// The limit per signing key (devices/rateLimits.ts): a fixed window of one second for all keys,
// each key counted on its own; first as a unit, then through a running gateway.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { KeyRate } from '../../src/devices/rateLimits.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { editJson } from '../helpers/devices.js';

describe('KeyRate', () => {
  it('takes up to the limit per key and second, then refuses with RateLimited', () => {
    const rate = new KeyRate(3);
    const startMs = 1_000_000;
    for (let i = 0; i < 3; i++) expect(rate.take(1_000_001, startMs + i)).toBeUndefined();
    expect(rate.take(1_000_001, startMs + 10)).toMatchObject({ code: 'RateLimited' });
    // Another key has its own allowance; the next second starts afresh.
    expect(rate.take(1_000_002, startMs + 10)).toBeUndefined();
    expect(rate.take(1_000_001, startMs + 1_000)).toBeUndefined();
  });
});

describe('the per-key limit at a running gateway (requestsPerKeyPerSecond: 2)', () => {
  let deployment: TestDeployment;
  const amount = 1n;

  beforeAll(async () => {
    const first = await startDeployment();
    await first.stop();
    editJson(join(first.dir, 'transaction.json'), (config) => {
      config['rateLimits'] = { requestsPerKeyPerSecond: 2 };
    });
    deployment = await startDeployment({ dir: first.dir });
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  const remit = (from: bigint, to: bigint) =>
    deployment.client(deployment.wallet(from)).remit({
      sourceAccount: from,
      destinationAccount: to,
      amount,
      currencyType: 'JPY',
      keyNumber: accountKeyNumberBase + Number(from),
    });

  const balance = async (account: bigint) => {
    const read = await deployment.read(`/v1/accounts/${account}`);
    if (!read.ok) throw new Error(read.message);
    return BigInt(read.value['balance'] as string);
  };

  it("one key's burst is cut to the limit (429 RateLimited), nothing of a refused request is recorded, and another key is not held back", async () => {
    const before = await balance(1n);
    // Eight at once reach the gateway within at most three one-second windows: six at most pass.
    const answers = await Promise.all(Array.from({ length: 8 }, () => remit(1n, 2n)));
    const codes = answers.map((answer) => (answer.ok ? 'ok' : answer.code));
    expect(codes.filter((code) => code === 'RateLimited').length).toBeGreaterThanOrEqual(2);
    expect(codes.filter((code) => code !== 'ok' && code !== 'RateLimited')).toEqual([]);
    const passed = BigInt(codes.filter((code) => code === 'ok').length);
    expect(await balance(1n)).toBe(before - passed * amount);
    const other = await remit(2n, 1n);
    expect(other.ok || `${other.code}: ${other.message}`).toBe(true);
  }, 60_000);
});
