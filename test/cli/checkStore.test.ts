// `triledger check-store`: the full integrity check on demand. A deployment's stores are sound
// while the devices run; an index left stale behind SQLite's back (which the quick check at start
// passes) is found and named, exit 1; an unknown device name is a usage error, exit 2.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { leaveUnitIndexStale } from '../helpers/sqliteDamage.js';
import { triledger } from './run.js';

let deployment: TestDeployment;
let stopped = false;
const run = (...args: string[]) =>
  triledger([...args, '--data', deployment.dir], { cwd: deployment.dir });

beforeAll(async () => {
  deployment = await startDeployment({ backend: 'sqlite' });
}, 60_000);

afterAll(async () => {
  if (!stopped) await deployment.stop();
});

describe('triledger check-store', () => {
  it('finds the three stores sound while the devices serve', () => {
    const checked = run('check-store', '--json');
    expect(checked.status, checked.stderr).toBe(0);
    const results = JSON.parse(checked.stdout) as { device: string; result: { kind: string } }[];
    expect(results.map((r) => [r.device, r.result.kind])).toEqual([
      ['transaction', 'sound'],
      ['account', 'sound'],
      ['currency', 'sound'],
    ]);
  });

  it('refuses an unknown device name, exit 2', () => {
    const checked = run('check-store', 'ledger');
    expect(checked.status).toBe(2);
    expect(checked.stderr).toMatch(/^triledger: InvalidInput: ledger: the devices are/);
  });

  it('finds an index that no longer matches its table and names the device, exit 1', async () => {
    await deployment.stop();
    stopped = true;
    leaveUnitIndexStale(join(deployment.dir, 'currency.sqlite'));
    const checked = run('check-store');
    expect(checked.status).toBe(1);
    expect(checked.stdout).toMatch(/currency .*DAMAGED: .*currency_units_to_pay/);
    expect(checked.stdout).toMatch(/account .* sound/);
    expect(checked.stderr.trim().split('\n')).toEqual([
      'triledger: StoreDamaged: currency: stop the device, set its store aside and recover (docs/faults.md)',
    ]);
  });
});
