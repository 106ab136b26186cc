// `triledger up`: the three devices stop together, and a second run starts the same deployment. A
// start that cannot succeed (a port in use, a store out of reach) says why in one line and leaves
// nothing half-made, so that running it again with the mistake fixed works.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePortBase, portIsFree, startDeployment } from '../helpers/deployment.js';
import { triledger } from './run.js';

describe('triledger up', () => {
  it('stops all three devices on SIGTERM and, run again, brings back the same ledger without seeding it twice', async () => {
    const first = await startDeployment({ fresh: true });
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
    // An existing deployment keeps its ports: another --port-base is refused, not ignored.
    const moved = triledger(
      ['up', '--data', first.dir, '--port-base', String(first.portBase + 10)],
      {
        cwd: first.dir,
      },
    );
    expect(moved.status).toBe(2);
    expect(moved.stderr).toBe(
      `triledger: InvalidInput: the deployment in ${first.dir} listens on ports ${first.portBase}-${first.portBase + 2}; --port-base applies to a new deployment\n`,
    );

    const second = await startDeployment({ dir: first.dir, portBase: first.portBase });
    try {
      expect(second.output()).not.toContain('demo deployment:');
      const account = await second.read('/v1/accounts/2');
      expect(account.ok && account.value['balance']).toBe('500');
    } finally {
      await second.stop();
    }
  }, 120_000);

  it('refuses a port in use before it creates anything: one line naming it, exit 2', async () => {
    const portBase = await freePortBase();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(portBase + 1, '127.0.0.1', resolve));
    const parent = mkdtempSync(join(tmpdir(), 'triledger-up-'));
    writeFileSync(join(parent, 'notes.txt'), 'kept');
    try {
      const fresh = join(parent, 'data');
      for (const dir of [fresh, parent]) {
        const run = triledger(['up', '--data', dir, '--port-base', String(portBase)], {
          cwd: parent,
        });
        expect(run.status).toBe(2);
        expect(run.stderr).toBe(
          `triledger: InvalidInput: port ${portBase + 1} on 127.0.0.1 (the account device) is in use by another process; choose another --port-base for a new deployment, or stop that process\n`,
        );
      }
      expect(existsSync(fresh)).toBe(false);
      expect(readdirSync(parent)).toEqual(['notes.txt']);
    } finally {
      holder.close();
    }
  });

  it('a first start whose store is out of reach says so in one line and leaves no folder behind', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'triledger-up-'));
    const dir = join(parent, 'data');
    const run = triledger(
      [
        'up',
        '--data',
        dir,
        '--port-base',
        String(await freePortBase()),
        '--store',
        'postgres://postgres@127.0.0.1:1/postgres',
      ],
      { cwd: parent },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^triledger: StoreUnavailable: cannot open the store .*\n$/);
    expect(existsSync(dir)).toBe(false);
  });

  it('stops a device that does not listen within --start-timeout, says so in one line, and leaves no folder behind', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'triledger-up-'));
    const dir = join(parent, 'data');
    const args = ['up', '--data', dir, '--port-base', String(await freePortBase())];
    const badLimit = triledger([...args, '--start-timeout', '0'], { cwd: parent });
    expect(badLimit.status).toBe(2);
    expect(badLimit.stderr).toMatch(
      /^triledger: InvalidInput: --start-timeout must be whole seconds .*\n$/,
    );
    // Both peers start together and would listen only after 60 s: up gives up on them after 2 s.
    const run = triledger([...args, '--start-timeout', '2'], {
      cwd: parent,
      env: { TRILEDGER_FAULT_START_PAUSE_MS: '60000' },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /^triledger: the (account|currency) device did not listen within 2 s \(--start-timeout\); it was stopped\n$/,
    );
    expect(existsSync(dir)).toBe(false);
    // Stopped, not left running behind the failure (they would listen a minute later).
    // (`--` first: the pattern itself begins with dashes, which pgrep would read as an option.)
    const left = spawnSync('pgrep', ['-f', '--', `--config ${dir}/`], { encoding: 'utf8' });
    expect(left.status).toBe(1); // 1: no process matched (2 would be pgrep refusing its arguments)
    expect(left.stdout).toBe('');
  });
});
