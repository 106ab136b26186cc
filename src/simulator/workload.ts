// The bank workload of a simulated run: terminals that open accounts (each with its own Ed25519
// key), an issuer that puts currency into them, and remittances between them (some larger than
// the payer holds, some to the payer itself), with the odd redemption and late issuance. A
// terminal that hears no answer, or hears "not decided yet", sends the same signed request again
// (same request id, same time); after attemptsMax tries it gives up and the outcome is unknown to
// it: the checks then take the ledger's word, and only the ledger's.

import { accountKeyNumberBase } from '../devices/accountKeys.js';
import { type Reply, refusalCodeOf } from '../devices/transaction/replies.js';
import { assert } from '../model/assert.js';
import type { Environment } from '../model/environment.js';
import type { ErrorCode } from '../model/errors.js';
import { type SignedRecord, signingBytes, type TransactionRecord } from '../protocol/records.js';
import { type AnyRequest, requestRecordOf } from '../protocol/requests.js';
import { recordFromWire, recordToWire, type WireRecord } from '../protocol/wire.js';
import { chainMessage } from '../signature/chain.js';
import type { SignatureDevice } from '../signature/device.js';
import type { SimulatedCluster } from './cluster.js';
import type { DeploymentKeys } from './keys.js';
import type { SimulatedNetwork } from './network.js';
import type { SeededRandom } from './random.js';
import type { SimulatedTime } from './time.js';

export const currencyType = 'JPY';
/** Tries of one request before a terminal gives up on hearing its outcome. */
export const attemptsMax = 6;
/** How often a terminal sends a new request under an id it used before (a bug in a client). */
const idReusedChance = 0.02;
/** Where this terminal keeps a new wallet key before its account has a number. */
const walletKeyNumberBase = 1_000;
const retryWaitMsMax = 1_500;
const thinkMsMax = 40;
/** Codes that say "ask again": the operation is not decided, or the ledger is busy. */
const askAgain: ReadonlySet<string> = new Set(['PeerUnavailable', 'Maintenance', 'RateLimited']);

export type Outcome = 'ok' | ErrorCode | 'unknown';

/** What a terminal sent and what it heard: the checks hold the ledger to it. */
export interface Submitted {
  readonly request: TransactionRecord;
  /** The request's signature: which of two requests under one id A holds. */
  readonly signature: Buffer;
  outcome: Outcome;
  /** For an account opened: its number, from the answer. */
  accountNumber?: bigint;
  /** Every account the request names was heard opened before it was sent. */
  readonly accountsHeardOpened: boolean;
}

export interface WorkloadShape {
  readonly terminals: number;
  readonly accounts: number;
  readonly operations: number;
}

export class BankWorkload {
  readonly submitted: Submitted[] = [];
  /** Accounts opened, with the terminal key number that signs for each. */
  readonly accounts: { accountNumber: bigint; keyNumber: number }[] = [];
  readonly #terminalKeys: SignatureDevice;
  #requestCount = 0;
  #done = false;

  constructor(
    private readonly time: SimulatedTime,
    private readonly random: SeededRandom,
    private readonly network: SimulatedNetwork,
    private readonly cluster: SimulatedCluster,
    private readonly keys: DeploymentKeys,
    environment: Environment,
  ) {
    this.#terminalKeys = keys.issuerKeys(environment);
  }

  get done(): boolean {
    return this.#done;
  }

  /** Open the accounts, fund them, then run the operations over `shape.terminals` terminals. */
  async run(shape: WorkloadShape): Promise<void> {
    assert(shape.terminals >= 1 && shape.accounts >= 2, 'a workload has terminals and accounts');
    await this.#concurrently(shape.terminals, shape.accounts, () => this.#openAccount());
    await this.#concurrently(shape.terminals, this.accounts.length, (index) =>
      this.#issue(this.accounts[index]!.accountNumber),
    );
    await this.#concurrently(shape.terminals, shape.operations, () => this.#randomOperation());
    this.#done = true;
  }

  /** `count` jobs over `terminals` loops, each job after a short think time. */
  async #concurrently(
    terminals: number,
    count: number,
    job: (index: number) => Promise<unknown>,
  ): Promise<void> {
    let next = 0;
    const terminal = async () => {
      while (next < count) {
        const index = next++;
        await this.time.sleep(this.random.between(0, thinkMsMax));
        await job(index);
      }
    };
    await Promise.all(Array.from({ length: terminals }, terminal));
  }

  async #openAccount(): Promise<void> {
    const material = this.random.bytes(32);
    // The wallet's key: under a number of this terminal's until the account has its own number.
    const walletKey = (keyNumber: number) => {
      const added = this.#terminalKeys.addKey({
        keyNumber,
        owner: 'wallet',
        algorithm: 'ed25519-private',
        material,
        authorities: ['sign'],
      });
      assert(added.ok, 'a wallet key is added');
    };
    const openingKeyNumber = walletKeyNumberBase + this.#requestCount;
    walletKey(openingKeyNumber);
    const publicKey = this.#terminalKeys.exportPublic(openingKeyNumber);
    assert(publicKey.ok, 'a wallet key has a public part');
    const submitted = await this.#submit(
      {
        kind: 'account_issuing',
        body: { ...this.#common(), currencyType, publicKeyHex: publicKey.value.publicKeyHex },
      },
      openingKeyNumber,
    );
    if (submitted.outcome !== 'ok' || submitted.accountNumber === undefined) return;
    const keyNumber = accountKeyNumberBase + Number(submitted.accountNumber);
    walletKey(keyNumber);
    this.accounts.push({ accountNumber: submitted.accountNumber, keyNumber });
  }

  async #issue(account: bigint): Promise<void> {
    const values = Array.from({ length: this.random.between(1, 4) }, () =>
      String(this.random.pick([10, 50, 100, 500, 1000])),
    );
    await this.#submit(
      {
        kind: 'issuance',
        body: {
          ...this.#common(),
          destinationAccount: account.toString(),
          currencyType,
          values,
          signerKeyNumber: this.keys.issuerKeyNumber,
        },
      },
      this.keys.issuerKeyNumber,
    );
  }

  async #randomOperation(): Promise<void> {
    const roll = this.random.below(100);
    if (roll < 4) return this.#issue(this.random.pick(this.accounts).accountNumber);
    const source = this.random.pick(this.accounts);
    const amount = String(this.random.between(1, 1_200));
    if (roll < 8) {
      await this.#submit(
        {
          kind: 'redemption',
          body: {
            ...this.#common(),
            sourceAccount: source.accountNumber.toString(),
            amount,
            currencyType,
            signerKeyNumber: this.keys.issuerKeyNumber,
          },
        },
        this.keys.issuerKeyNumber,
      );
      return;
    }
    // Now and then the payer pays itself (refused: SameAccount).
    const destination = roll < 10 ? source : this.random.pick(this.accounts);
    await this.#submit(
      {
        kind: 'remittance',
        body: {
          ...this.#common(),
          sourceAccount: source.accountNumber.toString(),
          destinationAccount: destination.accountNumber.toString(),
          amount,
          currencyType,
          signerKeyNumber: source.keyNumber,
        },
      },
      source.keyNumber,
    );
  }

  /** A new request id; now and then one used before (refused RequestIdReused if A holds it). */
  #common(): { requestId: string; dateTime: string } {
    this.#requestCount += 1;
    const reused = this.#requestCount > 1 && this.random.chance(idReusedChance);
    return {
      requestId: `sim-${reused ? this.random.between(1, this.#requestCount - 1) : this.#requestCount}`,
      dateTime: new Date(this.time.nowMs).toISOString(),
    };
  }

  /** Sign the request and send it until an answer decides it, or attemptsMax tries. */
  async #submit(request: AnyRequest, keyNumber: number): Promise<Submitted> {
    const record = requestRecordOf(request);
    assert(record.ok, 'the workload makes well-formed requests');
    const signature = this.#terminalKeys.sign(
      keyNumber,
      chainMessage(signingBytes(record.value), this.keys.signatureZero),
    );
    assert(signature.ok, 'a terminal signs with its own key');
    const signed: SignedRecord = { record: record.value, signature: signature.value };
    const named = [record.value.sourceAccount, record.value.destinationAccount].filter(
      (account) => account !== undefined,
    );
    const submitted: Submitted = {
      request: record.value,
      signature: signature.value,
      outcome: 'unknown',
      accountsHeardOpened:
        named.length > 0 &&
        named.every((account) => this.accounts.some((a) => a.accountNumber === account)),
    };
    this.submitted.push(submitted);
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      const reply = await this.#send(signed);
      const code = reply && refusalCodeOf(reply);
      if (reply && (code === undefined || !askAgain.has(code))) {
        submitted.outcome = code ?? 'ok';
        const accountNumber = reply.body['accountNumber'];
        if (typeof accountNumber === 'string') submitted.accountNumber = BigInt(accountNumber);
        break;
      }
      await this.time.sleep(this.random.between(100, retryWaitMsMax));
    }
    this.time.note(`terminal ${record.value.remittanceId} ${submitted.outcome}`);
    return submitted;
  }

  #send(signed: SignedRecord): Promise<Reply | undefined> {
    return this.network.request(
      'terminal',
      'transaction',
      `submit ${signed.record.remittanceId}`,
      recordToWire(signed),
      (wire: WireRecord) =>
        this.cluster.serveTransaction((service) => {
          const parsed = recordFromWire(wire);
          assert(parsed.ok, 'a request record crosses the network whole');
          return service.submit(parsed.value);
        }),
    );
  }
}
