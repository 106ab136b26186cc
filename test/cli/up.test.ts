// `triledger up`: the three devices stop together, and a second run starts the same deployment.
import { describe, expect, it } from 'vitest';
import { portIsFree, startDeployment } from '../helpers/deployment.js';

describe('triledger up', () => {
  it('stops all three devices on SIGTERM and, run again, brings back the same ledger without seeding it twice', async () => {
    const first = await startDeployment();
    expect(first.output()).toContain(
      'demo deployment: account 1 holds 1500 JPY in units 1-3 of 500, account 2 holds 0',
    );
    expect(first.output()).toMatch(/npx triledger remit --from 1 --to 2 --amount 500/);
    // Outside the default folder, every hint names it: each works as printed.
    expect(first.output()).toContain(`npx triledger balance 1 --data ${first.dir}\n`);
    expect(first.output()).toContain(`npx triledger audit --data ${first.dir}\n`);
    const remitted = await first.client(first.wallet(1n)).remit({
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 500n,
      currencyType: 'JPY',
      keyNumber: 1_000_001,
    });
    expect(remitted.ok).toBe(true);
    await first.stop();
    for (const port of [first.portBase, first.portBase + 1, first.portBase + 2])
      expect(await portIsFree(port)).toBe(true);

    const second = await startDeployment({ dir: first.dir, portBase: first.portBase });
    try {
      expect(second.output()).not.toContain('demo deployment:');
      const account = await second.read('/v1/accounts/2');
      expect(account.ok && account.value['balance']).toBe('500');
    } finally {
      await second.stop();
    }
  }, 120_000);
});
