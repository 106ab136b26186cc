// FIG. 1E-1H, 2B, 3, 4 and 5 as acceptance tests, against real device processes: in confirm and
// update mode, with HMAC-SHA256 and Ed25519 signatures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationResult } from '../../src/client/terminal.js';
import { deploymentInfo } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { type SignedRecord, verifyOperationChain } from '../../src/protocol/records.js';
import { accountRowBytes, currencyRowBytes } from '../../src/protocol/rows.js';
import { heldPrefixLength } from '../../src/protocol/verify.js';
import { recordFromRow } from '../../src/store/rows.js';
import { flipBit } from '../bytes.js';
import { startDeployment, type TestDeployment, testBackend } from '../helpers/deployment.js';

type Row = Record<string, unknown>;

/**
 * Every scheme and mode on SQLite; on PostgreSQL (the `postgres` project) HMAC in both modes: the
 * store sees a signature as bytes whatever made it, and the scheme's own paths run on SQLite.
 */
const combinations = [
  { scheme: 'hmac', mode: 'confirm' },
  { scheme: 'hmac', mode: 'update' },
  { scheme: 'ed25519', mode: 'confirm' },
  { scheme: 'ed25519', mode: 'update' },
].filter(({ scheme }) => testBackend() === 'sqlite' || scheme === 'hmac') as readonly {
  scheme: 'hmac' | 'ed25519';
  mode: 'confirm' | 'update';
}[];

describe.each(combinations)(
  'FIG. 1E-1H: a remittance of 500 JPY from account 1 to account 2 ($scheme, $mode mode)',
  ({ scheme, mode }) => {
    let deployment: TestDeployment;
    let result: OperationResult;
    const kind = mode === 'confirm' ? 'confirmation' : 'update';

    beforeAll(async () => {
      deployment = await startDeployment({ scheme, mode });
      const wallet = deployment.wallet(1n);
      const remitted = await deployment.client(wallet).remit({
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 500n,
        currencyType: 'JPY',
        keyNumber: accountKeyNumberBase + 1,
      });
      if (!remitted.ok) throw new Error(`${remitted.code}: ${remitted.message}`);
      result = remitted;
    }, 90_000);

    afterAll(async () => {
      await deployment?.stop();
    });

    it('FIG. 1F: six records in the order of FIG. 1E, numbered one after another', () => {
      expect(result.records.map((r) => r.record.transactionType)).toEqual([
        'remittance_request',
        `account_${kind}_request`,
        `account_${kind}_response`,
        `currency_${kind}_request`,
        `currency_${kind}_response`,
        'remittance_response',
      ]);
      const first = result.records[0]!.record.transactionNumber;
      expect(result.records.map((r) => r.record.transactionNumber)).toEqual(
        [0n, 1n, 2n, 3n, 4n, 5n].map((n) => first + n),
      );
      for (const index of [0, 1, 3]) {
        expect(result.records[index]!.record).toMatchObject({
          sourceAccount: 1n,
          destinationAccount: 2n,
          amount: 500n,
          currencyType: 'JPY',
        });
      }
      expect(
        result.records
          .slice(2)
          .map((r) => r.record.outcome)
          .filter((o) => o !== undefined),
      ).toEqual(['ok', 'ok', 'ok']);
    });

    it('FIG. 2B: a1 by the user terminal, a2/a4/a6 by transaction, a3 by account, a5 by currency', () => {
      expect(result.records.map((r) => r.record.signerKeyNumber)).toEqual([
        accountKeyNumberBase + 1,
        1,
        2,
        1,
        3,
        1,
      ]);
    });

    it('FIG. 3: every signature is chained over the previous one from signature 0', () => {
      const signatureZero = Buffer.from(deploymentInfo(deployment.dir).signatureZeroHex, 'hex');
      const withAccountKey = deployment.wallet(1n);
      expect(verifyOperationChain(withAccountKey, result.records, signatureZero)).toEqual({
        ok: true,
        linksChecked: 6,
      });
      const tampered = result.records.map((r, i) =>
        i === 3 ? { ...r, signature: flipBit(r.signature, 0) } : r,
      );
      expect(verifyOperationChain(withAccountKey, tampered, signatureZero)).toMatchObject({
        ok: false,
        brokenAt: 3,
      });
    });

    it('records a device holds already are not verified again; any other byte is', () => {
      const signatureZero = Buffer.from(deploymentInfo(deployment.dir).signatureZeroHex, 'hex');
      const withAccountKey = deployment.wallet(1n);
      const held = result.records.slice(0, 3);
      expect(heldPrefixLength(result.records, held)).toBe(3);
      expect(
        verifyOperationChain(withAccountKey, result.records, signatureZero, undefined, 3),
      ).toEqual({ ok: true, linksChecked: 3 });
      // A received record that differs from the held one by a field is not held: it is verified.
      const changed = result.records.map((r, i) =>
        i === 1 ? { ...r, record: { ...r.record, amount: 501n } } : r,
      );
      expect(heldPrefixLength(changed, held)).toBe(1);
      expect(
        verifyOperationChain(withAccountKey, changed, signatureZero, undefined, 1),
      ).toMatchObject({ ok: false, brokenAt: 1 });
      // The link after the held records is checked against the last of them.
      const relinked = result.records.map((r, i) =>
        i === 3 ? { ...r, signature: flipBit(r.signature, 0) } : r,
      );
      expect(
        verifyOperationChain(withAccountKey, relinked, signatureZero, undefined, 3),
      ).toMatchObject({ ok: false, brokenAt: 3 });
    });

    it('S107, S108, S110: all six records are stored, identically, at all three devices', async () => {
      const remittanceId = result.remittanceId;
      const copies = await Promise.all(
        (['transaction', 'account', 'currency'] as const).map(async (device) => {
          const rows = await deployment.rows(
            device,
            'SELECT * FROM transactions WHERE remittance_id = ? ORDER BY transaction_number',
            remittanceId,
          );
          return rows.map(recordFromRow);
        }),
      );
      const asText = (records: SignedRecord[]) =>
        JSON.stringify(records, (_k, v) => (typeof v === 'bigint' ? `${v}` : v));
      expect(copies[0]).toHaveLength(6);
      expect(asText(copies[1]!)).toBe(asText(copies[0]!));
      expect(asText(copies[2]!)).toBe(asText(copies[0]!));
      expect(copies[0]!.map((r) => r.signature.toString('hex'))).toEqual(
        result.records.map((r) => r.signature.toString('hex')),
      );
    });

    it('FIG. 1G: balances go from 1500 and 0 to 1000 and 500; nothing stays held', async () => {
      const first = await deployment.read('/v1/accounts/1');
      const second = await deployment.read('/v1/accounts/2');
      expect(first.ok && first.value).toMatchObject({
        balance: '1000',
        held: '0',
        available: '1000',
        currencyType: 'JPY',
      });
      expect(second.ok && second.value).toMatchObject({ balance: '500', held: '0' });
    });

    it('FIG. 1H: unit 3 now belongs to account 2 and keeps its number; units 1 and 2 stay', async () => {
      const units = async (account: number) => {
        const answer = await deployment.read(`/v1/accounts/${account}/currency`);
        if (!answer.ok) throw new Error(answer.message);
        return (answer.value['units'] as Row[]).map((u) => [
          u['currencyNumber'],
          u['value'],
          u['status'],
        ]);
      };
      expect(await units(1)).toEqual([
        ['1', '500', 'active'],
        ['2', '500', 'active'],
      ]);
      expect(await units(2)).toEqual([['3', '500', 'active']]);
    });

    it("FIG. 4 and FIG. 5: every B and C row verifies with its device's key; invariant 1 holds", async () => {
      const verifier = deployment.keystore('terminal');
      const accounts = await deployment.rows('account', 'SELECT * FROM accounts');
      const units = await deployment.rows('currency', 'SELECT * FROM currency_units');
      for (const row of accounts) {
        const bytes = accountRowBytes({
          accountNumber: row['account_number'] as bigint,
          currencyType: row['currency_type'] as string,
          balance: row['balance'] as bigint,
          held: row['held'] as bigint,
          status: row['status'] as 'open',
          lastUpdate: row['last_update'] as bigint,
        });
        expect(Number(row['signer_key_number'])).toBe(2);
        expect(verifier.verify(2, bytes, Buffer.from(row['signature'] as Uint8Array)).ok).toBe(
          true,
        );
        const owned = units
          .filter((u) => u['owner_account'] === row['account_number'] && u['status'] !== 'retired')
          .reduce((sum, u) => sum + (u['value'] as bigint), 0n);
        expect(owned).toBe(row['balance']);
      }
      for (const row of units) {
        const bytes = currencyRowBytes({
          currencyNumber: row['currency_number'] as bigint,
          currencyType: row['currency_type'] as string,
          value: row['value'] as bigint,
          ownerAccount: row['owner_account'] as bigint,
          status: row['status'] as 'active',
          lastUpdate: row['last_update'] as bigint,
        });
        expect(verifier.verify(3, bytes, Buffer.from(row['signature'] as Uint8Array)).ok).toBe(
          true,
        );
      }
      expect(accounts).toHaveLength(2);
      expect(units).toHaveLength(3);
    });
  },
);
