// The continuous audit's walk over the rows of B or C (audit/continuous.ts): a tick checks at most
// rowsPerTickMax rows and the next goes on after them, then from the first again, so that every
// row is checked again and again however many there are, and no tick takes a burst of the
// device's time. Over a real (in-memory) currency store, rows signed with a real key.
import { describe, expect, it } from 'vitest';
import { ContinuousAudit, rowsPerTickMax } from '../../src/audit/continuous.js';
import type { DeviceContext } from '../../src/devices/context.js';
import { ownStores, signedUnitRows } from '../../src/devices/ownStores.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { currencyRowBytes } from '../../src/protocol/rows.js';
import { SignatureDevice } from '../../src/signature/device.js';
import { MemoryDatabase, openMemoryCurrencyStore } from '../../src/store/memory.js';

const currencyKey = 3;

describe('the continuous audit over the rows of C', () => {
  it('checks a bounded share of the rows per tick, goes on where it stopped, and finds a changed row', async () => {
    const environment = deterministicEnvironment('continuous');
    const signatures = new SignatureDevice(environment);
    expect(
      signatures.addKey({
        keyNumber: currencyKey,
        owner: 'currency',
        algorithm: 'hmac-sha256',
        material: Buffer.alloc(32, 7),
        authorities: ['sign', 'verify'],
      }).ok,
    ).toBe(true);
    const store = openMemoryCurrencyStore(new MemoryDatabase());
    const unitCount = rowsPerTickMax + 10;
    await store.transact(async (tx) => {
      for (let n = 1n; n <= BigInt(unitCount); n++) {
        const content = {
          currencyNumber: n,
          currencyType: 'JPY',
          value: 1n,
          ownerAccount: 1n,
          status: 'active' as const,
          lastUpdate: 1n,
        };
        const signature = signatures.sign(currencyKey, currencyRowBytes(content));
        if (!signature.ok) throw new Error(signature.message);
        await tx.putUnit({ ...content, signerKeyNumber: currencyKey, signature: signature.value });
      }
    });
    const context: DeviceContext = {
      device: 'currency',
      signatures,
      signingKeyNumber: currencyKey,
      deviceKeys: { transaction: 1, account: 2, currency: currencyKey },
      issuerKeyNumbers: [],
      signatureZero: Buffer.alloc(32),
      mode: 'confirm',
      environment,
    };
    const own = ownStores(context, store, { newestVerifiedNumber: async () => 0n }, (after) =>
      signedUnitRows(store, after),
    );
    const audit = new ContinuousAudit(context, currencyKey, own, environment.nowMs, () => {});
    expect(await audit.tick()).toMatchObject({ clean: true, rowsChecked: rowsPerTickMax });
    expect(await audit.tick()).toMatchObject({ clean: true, rowsChecked: 10 });
    // Changed behind the device's back: found when the walk comes round to it.
    await store.transact(async (tx) => {
      const row = await tx.unit(5n);
      await tx.putUnit({ ...row!, value: 1000n });
    });
    expect(await audit.tick()).toMatchObject({
      clean: false,
      rowsChecked: rowsPerTickMax,
      findings: ['row 5: its signature does not verify'],
    });
  });
});
