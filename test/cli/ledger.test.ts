// The terminal commands (account open, issue, redeem, remit, balance, units, history) as real commands
// against a real deployment: readable tables by default, JSON with --json, one-line errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { triledger } from './run.js';

let deployment: TestDeployment;
const run = (...args: string[]) =>
  triledger([...args, '--data', deployment.dir], { cwd: deployment.dir });

beforeAll(async () => {
  deployment = await startDeployment();
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

describe('triledger terminal commands', () => {
  it('balance, units and history show the demo deployment', () => {
    const balance = run('balance', '1');
    expect(balance.status).toBe(0);
    expect(balance.stdout).toMatch(/│ 1\s+│ JPY\s+│ 1500\s+│ 0\s+│ 1500\s+│ open/);
    expect(
      JSON.parse(run('units', '1', '--json').stdout).units.map(
        (u: { currencyNumber: string }) => u.currencyNumber,
      ),
    ).toEqual(['1', '2', '3']);
    const history = JSON.parse(run('history', '1', '--json').stdout);
    expect(
      history.operations.map((o: { operation: string; outcome: string }) => [
        o.operation,
        o.outcome,
      ]),
    ).toEqual([
      ['account_issuing', 'ok'],
      ['issuance', 'ok'],
    ]);
  });

  it('remit sends 500 from 1 to 2 and prints the verified chain', () => {
    const remitted = run('remit', '--from', '1', '--to', '2', '--amount', '500');
    expect(remitted.status).toBe(0);
    expect(remitted.stdout).toContain('remitted 500 JPY from account 1 to account 2');
    expect(remitted.stdout).toContain('chain verified from signature 0: 6 records');
    expect(JSON.parse(run('balance', '2', '--json').stdout)).toMatchObject({ balance: '500' });
  });

  it('account open creates a wallet; issue puts units into the new account', () => {
    const opened = JSON.parse(run('account', 'open', '--json').stdout);
    expect(opened.accountNumber).toBe('3');
    const issued = run('issue', '--to', '3', '--values', '200,50');
    expect(issued.status).toBe(0);
    expect(JSON.parse(run('balance', '3', '--json').stdout)).toMatchObject({ balance: '250' });
    expect(run('remit', '--from', '3', '--to', '1', '--amount', '250').status).toBe(0);
  });

  it('a refusal is one line on stderr with exit code 1; bad arguments exit 2', () => {
    const refused = run('remit', '--from', '1', '--to', '2', '--amount', '100000');
    expect(refused.status).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^triledger: InsufficientBalance: /);
    const badAmount = run('remit', '--from', '1', '--to', '2', '--amount', '1.5');
    expect(badAmount.status).toBe(2);
    expect(badAmount.stderr).toMatch(/^triledger: InvalidInput: amount must be/);
    expect(run('balance', '42').stderr).toMatch(/^triledger: UnknownAccount: /);
  });

  it('redeem retires units from an account with the issuer key', () => {
    const redeemed = run('redeem', '--from', '2', '--amount', '100');
    expect(redeemed.status).toBe(0);
    expect(redeemed.stdout).toContain('redeemed 100 JPY from account 2');
    expect(JSON.parse(run('balance', '2', '--json').stdout)).toMatchObject({ balance: '400' });
    expect(run('redeem', '--from', '2', '--amount', '0').status).toBe(2);
  });
});
