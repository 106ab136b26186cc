// The keys of a simulated deployment, made from the seed: the three devices' HMAC keys, an
// issuer's HMAC key and the signature zero, and each device's signature device holding its own
// key with sign and the others' with verify only, as `triledger demo` lays them out.

import type { DeviceName } from '../devices/context.js';
import { assert } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import { SignatureDevice } from '../signature/device.js';
import type { SeededRandom } from './random.js';

export class DeploymentKeys {
  readonly deviceKeys: Readonly<Record<DeviceName, number>> = {
    transaction: 1,
    account: 2,
    currency: 3,
  };
  readonly issuerKeyNumber = 4;
  readonly signatureZero: Buffer;
  readonly #material = new Map<number, { owner: string; bytes: Buffer }>();
  /** Every deployment key with verify only: what the audit checks with. */
  readonly verifying: VerifyingKeys;

  constructor(random: SeededRandom, environment: Environment) {
    for (const [owner, keyNumber] of Object.entries(this.deviceKeys))
      this.#material.set(keyNumber, { owner, bytes: random.bytes(32) });
    this.#material.set(this.issuerKeyNumber, { owner: 'issuer', bytes: random.bytes(32) });
    this.signatureZero = random.bytes(32);
    this.verifying = {
      signatures: this.#signatureDevice(undefined, environment),
      deviceKeys: this.deviceKeys,
      issuerKeyNumbers: [this.issuerKeyNumber],
      signatureZero: this.signatureZero,
    };
  }

  /** A device's keys: its own with sign and verify, every other deployment key verify only. */
  signatureDeviceOf(device: DeviceName, environment: Environment): SignatureDevice {
    return this.#signatureDevice(this.deviceKeys[device], environment);
  }

  /** The issuer's terminal: its key with sign. */
  issuerKeys(environment: Environment): SignatureDevice {
    return this.#signatureDevice(this.issuerKeyNumber, environment);
  }

  #signatureDevice(signer: number | undefined, environment: Environment): SignatureDevice {
    const device = new SignatureDevice(environment);
    for (const [keyNumber, { owner, bytes }] of this.#material) {
      const added = device.addKey(
        {
          keyNumber,
          owner,
          algorithm: 'hmac-sha256',
          material: bytes,
          authorities: keyNumber === signer ? ['sign', 'verify'] : ['verify'],
        },
        0,
      );
      assert(added.ok, 'a simulated deployment key is added');
    }
    return device;
  }
}
