// The continuous audit's lookup of who signs for an account (devices/ownStores.ts): a key the
// signature device already holds is answered without a store transaction (the audit asks once per
// operation it checks, and each transaction waited in the store's queue behind the device's own
// work); only an account whose key is not held is read from its opening in the store.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/accountKeys.js';
import type { DeviceContext } from '../../src/devices/context.js';
import { ownStores } from '../../src/devices/ownStores.js';
import { deterministicEnvironment } from '../../src/model/environment.js';
import { ok } from '../../src/model/errors.js';
import { SignatureDevice } from '../../src/signature/device.js';
import type { LedgerTx, Store } from '../../src/store/types.js';

describe("the continuous audit's account keys", () => {
  it('come from the signature device when it holds them, from the store only when it does not', async () => {
    const environment = deterministicEnvironment('own-stores');
    const signatures = new SignatureDevice(environment);
    // Account 5's Ed25519 public key, as its opening registers it (from a fixed seed: PKCS #8).
    const seed = Buffer.alloc(32, 5);
    const privateKey = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = createPublicKey(privateKey)
      .export({ format: 'der', type: 'spki' })
      .subarray(-32);
    expect(
      signatures.addKey({
        keyNumber: accountKeyNumberBase + 5,
        owner: 'account:5',
        algorithm: 'ed25519-public',
        material: publicKey,
        authorities: ['verify'],
      }).ok,
    ).toBe(true);
    const context = {
      device: 'account',
      signatures,
      signingKeyNumber: 2,
      deviceKeys: { transaction: 1, account: 2, currency: 3 },
      issuerKeyNumbers: [],
      signatureZero: Buffer.alloc(32),
      mode: 'confirm',
      environment,
    } satisfies DeviceContext;
    let transactions = 0;
    const store = {
      // An account the signature device does not hold: its opening is looked up (none here).
      transact: async () => {
        transactions += 1;
        return ok(undefined);
      },
    } as unknown as Store<LedgerTx>;
    const own = ownStores(context, store, { newestVerifiedNumber: async () => 0n });

    expect(await own.accountKeyNumber(5n)).toBe(accountKeyNumberBase + 5);
    expect(transactions).toBe(0);
    expect(await own.accountKeyNumber(6n)).toBeUndefined();
    expect(transactions).toBe(1);
  });
});
