// The tamper matrix with the devices running, end to end: stores (SQLite files, or PostgreSQL
// tables in the postgres project) edited under running devices as an attacker with database
// access would, `triledger audit` finds every change and names the device, `triledger recover`
// repairs it, and the recovered stores are identical to an untampered twin that saw the same
// operations. Also: maintenance during recovery, the operator key, and the exit codes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, CopyName } from '../../src/audit/audit.js';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { OperatorClient } from '../../src/client/operator.js';
import { issuerKeyNumber, operatorKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { flipBit } from '../bytes.js';
import { triledger } from '../cli/run.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { copyDeployment, readRow, signatureOf, storeContents, tamper } from '../helpers/stores.js';
import { forgedAccountRow } from '../helpers/tamper.js';

let twin: string;

/** A copy of the twin, running on its own ports; `config` overrides fields of every device's configuration. */
async function startCopy(
  env: Record<string, string> = {},
  config: Record<string, unknown> = {},
  prepare: (dir: string) => Promise<void> = async () => undefined,
): Promise<TestDeployment> {
  const dir = await copyDeployment(twin, 'triledger-recovery-');
  await prepare(dir);
  for (const device of ['transaction', 'account', 'currency']) {
    const path = join(dir, `${device}.json`);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...config }));
  }
  return startDeployment({ dir, env });
}

/** A remittance of the demo deployment: `amount` JPY from account 1 to account 2, signed by 1. */
const demoRemittance = (amount: bigint) => ({
  sourceAccount: 1n,
  destinationAccount: 2n,
  amount,
  currencyType: 'JPY',
  keyNumber: accountKeyNumberBase + 1,
});

const remitFromFirstAccount = (deployment: TestDeployment, amount: bigint) =>
  deployment.client(deployment.wallet(1n)).remit(demoRemittance(amount));

const run = (deployment: TestDeployment, ...args: string[]) =>
  triledger([...args, '--data', deployment.dir, '--json'], { cwd: deployment.dir });

const kinds = (report: AuditReport, device?: CopyName) =>
  report.findings
    .filter((f) => device === undefined || f.device === device)
    .map((f) => `${f.store} ${f.key} ${f.kind}`)
    .sort();

/** Audit (exit 1, these findings), recover (exit 0), audit again (exit 0), then compare with the twin. */
async function detectAndRecover(
  deployment: TestDeployment,
  expected: string[],
  device?: CopyName,
): Promise<RecoveryReport> {
  const audited = run(deployment, 'audit');
  expect(audited.status, audited.stderr).toBe(1);
  expect(audited.stderr).toMatch(/^triledger: tampering found: \d+ findings?\n$/);
  const report = JSON.parse(audited.stdout) as AuditReport;
  expect(kinds(report, device)).toEqual([...expected].sort());
  if (device) expect(report.findings.every((f) => f.device === device)).toBe(true);

  const recovered = run(deployment, 'recover');
  expect(recovered.status, recovered.stderr).toBe(0);
  const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
  expect(recovery.recovered).toBe(true);
  expect(recovery.after.clean).toBe(true);
  expect(run(deployment, 'audit').status).toBe(0);

  await deployment.stop();
  expect(await storeContents(deployment.dir)).toEqual(await storeContents(twin));
  return recovery;
}

beforeAll(async () => {
  const deployment = await startDeployment();
  const wallet = (n: bigint) => deployment.client(deployment.wallet(n));
  const remit = async (from: bigint, to: bigint, amount: bigint) =>
    expect(
      (
        await wallet(from).remit({
          sourceAccount: from,
          destinationAccount: to,
          amount,
          currencyType: 'JPY',
          keyNumber: accountKeyNumberBase + Number(from),
        })
      ).ok,
    ).toBe(true);
  // Blocks: 1-6, 7-12 accounts 1 and 2 (no records 4, 5: no currency steps), 13-18 issuance,
  // 19-24 ... 43-48 five remittances.
  await remit(1n, 2n, 500n);
  await remit(2n, 1n, 200n);
  await remit(1n, 2n, 300n);
  await remit(2n, 1n, 100n);
  await remit(1n, 2n, 50n);
  await deployment.stop();
  twin = deployment.dir;
}, 120_000);

afterAll(() => undefined);

// The transaction device's own copy is read from its store, a peer's by block digests over HTTP:
// one of each here. Changes to any one copy, and to two of three, are also found and repaired in
// every run of the seeded simulator that ends with a storage fault (test/simulator).
describe.each(['transaction', 'currency'] as const)('%s copy of A, devices running', (device) => {
  it('modified, deleted, inserted, reordered, signature changed, truncated: found at this device and recovered to the twin', async () => {
    const deployment = await startCopy();
    const signature40 = await signatureOf(deployment.dir, device, 40);
    await tamper(
      deployment.dir,
      device,
      ['UPDATE transactions SET amount = 5000 WHERE transaction_number = 20'],
      ['DELETE FROM transactions WHERE transaction_number = 27'],
      [
        `INSERT INTO transactions SELECT 4, remittance_id, transaction_type, source_account, destination_account,
           amount, currency_type, outcome, detail, date_time, signer_key_number, signature
           FROM transactions WHERE transaction_number = 20`,
      ],
      ['UPDATE transactions SET transaction_number = -1 WHERE transaction_number = 31'],
      ['UPDATE transactions SET transaction_number = 31 WHERE transaction_number = 32'],
      ['UPDATE transactions SET transaction_number = 32 WHERE transaction_number = -1'],
      [
        'UPDATE transactions SET signature = ? WHERE transaction_number = 40',
        flipBit(signature40, 3),
      ],
      ['DELETE FROM transactions WHERE transaction_number >= 45'],
    );
    const recovery = await detectAndRecover(
      deployment,
      [
        'A 20 modified',
        'A 27 deleted',
        'A 4 inserted',
        'A 31 reordered',
        'A 32 reordered',
        'A 40 signature',
        'A 45 deleted',
        'A 46 deleted',
        'A 47 deleted',
        'A 48 deleted',
        'A 45-48 truncated',
      ],
      device,
    );
    expect(recovery.repaired[device]).toEqual({
      recordsRemoved: 5,
      recordsPut: 9,
      rowsRemoved: 0,
      rowsPut: 0,
    });
    // What was removed is kept, with the reason.
    const quarantined = await readRow<{ n: bigint }>(
      deployment.dir,
      device,
      "SELECT count(*) AS n FROM quarantine WHERE table_name = 'transactions'",
    );
    expect(quarantined.n).toBe(5n);
  }, 60_000);
});

describe('B and C, devices running', () => {
  it('B: row deleted, row inserted, row modified and re-signed with the account key: found and re-signed', async () => {
    const deployment = await startCopy();
    const forged = forgedAccountRow(deployment.keystore('account'), 999_999n, 1n);
    await tamper(
      deployment.dir,
      'account',
      ['DELETE FROM accounts WHERE account_number = 1'],
      [
        `INSERT INTO accounts (account_number, currency_type, balance, held, status, last_update, signer_key_number, signature)
         VALUES (9, 'JPY', 1000000, 0, 'open', 1, 2, ?)`,
        Buffer.from([0]),
      ],
      [
        'UPDATE accounts SET balance = ?, last_update = 1, signature = ? WHERE account_number = 2',
        forged.content.balance,
        forged.signature,
      ],
    );
    const recovery = await detectAndRecover(
      deployment,
      ['B 1 deleted', 'B 9 inserted', 'B 2 modified'],
      'account',
    );
    expect(recovery.repaired.account).toEqual({
      recordsRemoved: 0,
      recordsPut: 0,
      rowsRemoved: 2,
      rowsPut: 2,
    });
  }, 60_000);

  it('C: owner changed, row deleted, row inserted, signature changed: found and re-signed', async () => {
    const deployment = await startCopy();
    const signature2 = Buffer.from(
      (
        await readRow<{ signature: Buffer }>(
          deployment.dir,
          'currency',
          'SELECT signature FROM currency_units WHERE currency_number = 2',
        )
      ).signature,
    );
    await tamper(
      deployment.dir,
      'currency',
      ['UPDATE currency_units SET owner_account = 2 WHERE currency_number = 1'],
      ['DELETE FROM currency_units WHERE currency_number = 3'],
      [
        `INSERT INTO currency_units (currency_number, currency_type, value, owner_account, status, last_update, signer_key_number, signature)
         VALUES (99, 'JPY', 100000, 2, 'active', 1, 3, ?)`,
        Buffer.from([0]),
      ],
      ['UPDATE currency_units SET signature = ? WHERE currency_number = 2', flipBit(signature2, 9)],
    );
    await detectAndRecover(
      deployment,
      ['C 1 modified', 'C 3 deleted', 'C 99 inserted', 'C 2 signature'],
      'currency',
    );
  }, 60_000);
});

describe('rows are verified before they are used', () => {
  it('a forged balance and a forged unit are never acted on nor re-signed; recovery repairs them', async () => {
    const deployment = await startCopy();
    try {
      const before = await readRow<{ signature: Buffer; balance: bigint }>(
        deployment.dir,
        'account',
        'SELECT signature, balance FROM accounts WHERE account_number = 1',
      );
      await tamper(deployment.dir, 'account', [
        'UPDATE accounts SET balance = balance + 1000000 WHERE account_number = 1',
      ]);
      const refused = await remitFromFirstAccount(deployment, 7n);
      expect(refused.ok || refused.code).toBe('RowSignatureInvalid');
      const after = await readRow<{ signature: Buffer; balance: bigint }>(
        deployment.dir,
        'account',
        'SELECT signature, balance FROM accounts WHERE account_number = 1',
      );
      // Not re-signed: the forged row keeps the signature it does not match.
      expect(after.signature.equals(before.signature)).toBe(true);
      expect(BigInt(after.balance)).toBe(BigInt(before.balance) + 1_000_000n);

      const repairedB = run(deployment, 'recover');
      expect(repairedB.status, repairedB.stderr).toBe(0);
      expect(kinds((JSON.parse(repairedB.stdout) as RecoveryReport).before)).toEqual([
        'B 1 modified',
      ]);

      // A unit inserted with a junk signature, of exactly the amount: it would be chosen, and is refused.
      await tamper(deployment.dir, 'currency', [
        'INSERT INTO currency_units (currency_number, currency_type, value, owner_account, status, last_update, signer_key_number, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        99,
        'JPY',
        7,
        1,
        'active',
        Date.now(),
        3,
        Buffer.alloc(32),
      ]);
      const refusedAtCurrency = await remitFromFirstAccount(deployment, 7n);
      expect(refusedAtCurrency.ok || refusedAtCurrency.code).toBe('RowSignatureInvalid');
      const unit = await readRow<{ owner_account: bigint; signature: Buffer }>(
        deployment.dir,
        'currency',
        'SELECT owner_account, signature FROM currency_units WHERE currency_number = 99',
      );
      expect([BigInt(unit.owner_account), unit.signature.equals(Buffer.alloc(32))]).toEqual([
        1n,
        true,
      ]);
      const repairedC = run(deployment, 'recover');
      expect(repairedC.status, repairedC.stderr).toBe(0);
      const recovery = JSON.parse(repairedC.stdout) as RecoveryReport;
      expect(kinds(recovery.before)).toContain('C 99 inserted');
      expect(recovery.after.clean).toBe(true);
      const spent = await remitFromFirstAccount(deployment, 7n);
      expect(spent.ok).toBe(true);
      const units = await deployment.read('/v1/accounts/2/currency');
      const numbers = units.ok ? (units.value['units'] as { currencyNumber: string }[]) : [];
      expect(numbers.map((u) => u.currencyNumber)).not.toContain('99');
    } finally {
      await deployment.stop();
    }
  }, 90_000);
});

describe('more than one copy of A, devices running', () => {
  it('all three copies changed differently: unrecoverable, and recovery changes nothing there', async () => {
    const deployment = await startCopy();
    await tamper(deployment.dir, 'transaction', [
      'UPDATE transactions SET amount = 9000 WHERE transaction_number = 22',
    ]);
    await tamper(deployment.dir, 'account', [
      'UPDATE transactions SET amount = 5000 WHERE transaction_number = 22',
    ]);
    await tamper(deployment.dir, 'currency', [
      'UPDATE transactions SET amount = 6000 WHERE transaction_number = 22',
    ]);
    const recovered = run(deployment, 'recover');
    expect(recovered.status).toBe(1);
    expect(recovered.stderr).toMatch(/unrecoverable/);
    const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
    expect(recovery.recovered).toBe(false);
    expect(kinds(recovery.after)).toEqual([
      'A 19-24 unrecoverable',
      'A 19-24 unrecoverable',
      'A 19-24 unrecoverable',
    ]);
    // Nothing was "repaired" into a guess: every copy still holds what it held.
    for (const [device, amount] of [
      ['transaction', 9000n],
      ['account', 5000n],
      ['currency', 6000n],
    ] as const) {
      expect(recovery.repaired[device]).toEqual({
        recordsRemoved: 0,
        recordsPut: 0,
        rowsRemoved: 0,
        rowsPut: 0,
      });
      expect(
        (
          await readRow<{ amount: bigint }>(
            deployment.dir,
            device,
            'SELECT amount FROM transactions WHERE transaction_number = 22',
          )
        ).amount,
      ).toBe(amount);
    }
    await deployment.stop();
  }, 60_000);
});

describe('signed checkpoints', () => {
  it('a clean audit leaves one; the next starts after it; a forged one is passed over; a copy changed before it means a full audit', async () => {
    const deployment = await startCopy();
    try {
      type Report = AuditReport & { checkpointMade?: string; note?: string };
      const audit = (...args: string[]) => {
        const result = run(deployment, 'audit', ...args);
        return { status: result.status, report: JSON.parse(result.stdout) as Report };
      };
      const first = audit();
      expect(first.status).toBe(0);
      expect(first.report).toMatchObject({ startedAfter: '0', checkpointMade: '48' });
      for (const device of ['transaction', 'account', 'currency'] as const)
        expect(
          (
            await readRow<{ n: bigint }>(
              deployment.dir,
              device,
              'SELECT count(*) AS n FROM checkpoints',
            )
          ).n,
        ).toBe(1n);

      const sent = await remitFromFirstAccount(deployment, 7n);
      expect(sent.ok).toBe(true);
      const second = audit();
      expect(second.report).toMatchObject({
        clean: true,
        startedAfter: '48',
        recordsChecked: 18,
        operations: 1,
        checkpointMade: '54',
      });
      expect(audit('--full').report).toMatchObject({ clean: true, startedAfter: '0' });

      // The newest checkpoint forged at the transaction device: its signatures fail, the one before holds.
      const forged = (
        await readRow<{ checkpoint_json: string }>(
          deployment.dir,
          'transaction',
          'SELECT checkpoint_json FROM checkpoints WHERE transaction_number = 54',
        )
      ).checkpoint_json;
      await tamper(deployment.dir, 'transaction', [
        'UPDATE checkpoints SET checkpoint_json = ? WHERE transaction_number = 54',
        forged.replace(/"balance":"\d+"/, '"balance":"999999"'),
      ]);
      // (and that clean audit signs checkpoint 54 anew)
      expect(audit().report).toMatchObject({
        clean: true,
        startedAfter: '48',
        checkpointMade: '54',
      });

      // A record before the checkpoint changed: the digests disagree, so the audit runs in full.
      await tamper(deployment.dir, 'currency', [
        'UPDATE transactions SET amount = 5000 WHERE transaction_number = 20',
      ]);
      const changed = audit();
      expect(changed.status).toBe(1);
      expect(changed.report.startedAfter).toBe('0');
      expect(changed.report.note).toMatch(
        /currency copy of A differs from checkpoint 54 before it/,
      );
      expect(kinds(changed.report)).toEqual(['A 20 modified']);
    } finally {
      await deployment.stop();
    }
  }, 60_000);
});

describe('the continuous audit', () => {
  it('each device checks what arrives (from the newest checkpoint that verifies): new operations, and every row of B each tick; /health shows it', async () => {
    // A checkpoint forged into the account store (no valid signatures) must not move its start.
    const forged = JSON.stringify({
      transactionNumber: '999996',
      digestA: '00'.repeat(32),
      digestB: '00'.repeat(32),
      digestC: '00'.repeat(32),
      signatures: { transaction: '00', account: '00', currency: '00' },
    });
    const deployment = await startCopy({}, { continuousAuditIntervalMs: 100 }, (dir) =>
      tamper(dir, 'account', [
        'INSERT INTO checkpoints (transaction_number, checkpoint_json) VALUES (999996, ?)',
        forged,
      ]),
    );
    try {
      const health = async (port: number) =>
        (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
          continuousAudit?: { clean: boolean; checkedUpTo: string; findings: string[] };
        };
      const settled = async (
        port: number,
        test: (h: Awaited<ReturnType<typeof health>>) => boolean,
      ) => {
        for (let attempt = 0; attempt < 200; attempt++) {
          const h = await health(port);
          if (test(h)) return h;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error(`port ${port} never got there: ${JSON.stringify(await health(port))}`);
      };
      const ports = [0, 1, 2].map((offset) => deployment.portBase + offset);
      for (const port of ports)
        expect(
          (await settled(port, (h) => h.continuousAudit?.checkedUpTo === '48')).continuousAudit,
        ).toMatchObject({ clean: true });
      const sent = await remitFromFirstAccount(deployment, 7n);
      expect(sent.ok).toBe(true);
      for (const port of ports) await settled(port, (h) => h.continuousAudit?.checkedUpTo === '54');
      await tamper(deployment.dir, 'account', [
        'UPDATE accounts SET balance = 999 WHERE account_number = 2',
      ]);
      const account = await settled(ports[1]!, (h) => h.continuousAudit?.clean === false);
      expect(account.continuousAudit?.findings).toEqual(['row 2: its signature does not verify']);
    } finally {
      await deployment.stop();
    }
  }, 60_000);
});

describe('operating the audit', () => {
  it('during recovery the ledger is in maintenance: 503 with Retry-After, and it resumes after', async () => {
    const deployment = await startCopy({ TRILEDGER_FAULT_RECOVERY_PAUSE_MS: '1500' });
    try {
      await tamper(deployment.dir, 'currency', [
        'DELETE FROM transactions WHERE transaction_number = 27',
      ]);
      const operator = new OperatorClient(
        deployment.url,
        deployment.keystore('operator'),
        operatorKeyNumber,
      );
      const recovering = operator.recover();
      let health: { status: string };
      do {
        await new Promise((resolve) => setTimeout(resolve, 20));
        health = (await (await fetch(`${deployment.url}/health`)).json()) as { status: string };
      } while (health.status !== 'maintenance');
      const balance = await deployment.fetchSigned('/v1/accounts/1');
      expect(balance.status).toBe(503);
      expect(balance.headers.get('retry-after')).toBe('5');
      expect(((await balance.json()) as { error: { code: string } }).error.code).toBe(
        'Maintenance',
      );
      const refused = await remitFromFirstAccount(deployment, 1n);
      expect(refused.ok).toBe(false);
      const second = await operator.audit();
      expect(second.ok || second.code).toBe('AuditInProgress');
      const recovery = await recovering;
      expect(recovery.ok && recovery.value.recovered).toBe(true);
      const health2 = (await (await fetch(`${deployment.url}/health`)).json()) as {
        status: string;
        lastAudit: { clean: boolean };
      };
      expect(health2).toMatchObject({ status: 'ok', lastAudit: { clean: true } });
      const resumed = await remitFromFirstAccount(deployment, 1n);
      expect(resumed.ok).toBe(true);
    } finally {
      await deployment.stop();
    }
  }, 60_000);

  it('an audit while remittances keep arriving is clean: operations still settling are not findings', async () => {
    const deployment = await startCopy();
    try {
      const operator = new OperatorClient(
        deployment.url,
        deployment.keystore('operator'),
        operatorKeyNumber,
      );
      const wallet = deployment.client(deployment.wallet(1n));
      let sending = true;
      const traffic = (async () => {
        let sent = 0;
        while (sending || sent < 5) {
          const result = await wallet.remit(demoRemittance(1n));
          expect(result.ok).toBe(true);
          sent += 1;
        }
        return sent;
      })();
      const reports = [];
      for (let i = 0; i < 3; i++) reports.push(await operator.audit(undefined, { full: true }));
      sending = false;
      expect(await traffic).toBeGreaterThanOrEqual(5);
      for (const report of reports) expect(report.ok && report.value.findings).toEqual([]);
      expect((await operator.audit()).ok).toBe(true);
    } finally {
      await deployment.stop();
    }
  }, 60_000);

  it('only an operator key opens the admin endpoints', async () => {
    const deployment = await startCopy();
    try {
      const unsigned = await fetch(`${deployment.url}/v1/admin/audit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(unsigned.status).toBe(401);
      expect(((await unsigned.json()) as { error: { code: string } }).error.code).toBe(
        'SignatureInvalid',
      );
      const asIssuer = new OperatorClient(
        deployment.url,
        deployment.keystore('issuer'),
        issuerKeyNumber,
      );
      const refused = await asIssuer.audit();
      expect(refused.ok || refused.code).toBe('WrongSigner');
      const operator = new OperatorClient(
        deployment.url,
        deployment.keystore('operator'),
        operatorKeyNumber,
      );
      const report = await operator.audit();
      expect(report.ok && report.value.clean).toBe(true);
    } finally {
      await deployment.stop();
    }
  }, 60_000);

  it('could not run: exit 2 with one line on stderr', async () => {
    const deployment = await startCopy();
    await deployment.stop();
    const audited = run(deployment, 'audit');
    expect(audited.status).toBe(2);
    expect(audited.stderr).toMatch(/^triledger: PeerUnavailable: .*\n$/);
    expect(audited.stdout).toBe('');
  }, 60_000);
});
