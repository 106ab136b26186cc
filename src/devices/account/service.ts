// The account information management device (account, B): its side of every operation.
//
// exchange (S102-S103): receives the request and the transaction device's account request (a1, a2),
// verifies both, decides, and answers with a3 signed by its own key. In confirm mode a remittance
// reserves the amount (a hold); in update mode, and for account issuing, issuance and redemption,
// the change is made at once.
// settle (S108-S109): receives the operation's records with the response a6, verifies and stores
// them, then applies a held remittance (a6 ok) or releases it (a6 refused); a refused update is
// undone by a compensating change that a6 itself justifies.
// Every account row written is signed by this device's key (FIG. 4).

import { replayCopy } from '../../audit/replay.js';
import { assert } from '../../model/assert.js';
import { type Failure, fail, ok, type Result } from '../../model/errors.js';
import { amountMax } from '../../model/money.js';
import { type SignedRecord, signRecord, type TransactionRecord } from '../../protocol/records.js';
import { type AccountRowContent, accountRowBytes } from '../../protocol/rows.js';
import { operationOf, outcomeOk, stepOf } from '../../protocol/transactionTypes.js';
import type { AccountRow, AccountStore, AccountTx } from '../../store/types.js';
import { accountKeyOf, registerAccountKey } from '../accountKeys.js';
import {
  answered,
  type DeviceContext,
  expectStored,
  now,
  refusingUnverifiedRows,
  settleOperation,
  verifiedRow,
  verifyOperation,
} from '../context.js';
import { crashPoint } from '../faultHooks.js';
import type { ExchangeOptions } from '../internalRoutes.js';
import { applyRepairs, type RepairBatch, type RepairCounts, unjustifiedPut } from '../repair.js';

export class AccountService {
  constructor(
    private readonly context: DeviceContext,
    private readonly store: AccountStore,
  ) {}

  /** At start: make every account's key usable for verification. */

  async account(accountNumber: bigint): Promise<AccountRow | undefined> {
    return this.store.transact((tx) => tx.account(accountNumber));
  }

  /**
   * A page of B in account number order, after `after`: for the console. (The export is read from
   * the start and skipped up to `after`; B holds one row per account, far fewer than A's records.)
   */
  async accountsAfter(after: bigint, limit: number): Promise<AccountRow[]> {
    const page: AccountRow[] = [];
    for await (const row of this.store.exportAccounts()) {
      if (row.accountNumber <= after) continue;
      page.push(row);
      if (page.length === limit) break;
    }
    return page;
  }

  /** Recovery (devices/repair.ts): B rows are re-signed here, exactly as the replay of A gives them. */
  async repair(batch: RepairBatch<AccountRowContent>): Promise<Result<RepairCounts>> {
    const unjustified = await unjustifiedPut(
      batch.rows.put,
      async () => (await replayCopy(this.store.exportRecordPages()))?.accounts,
      (row) => row.accountNumber,
      accountRowBytes,
    );
    if (unjustified) return unjustified;
    return this.store.transact((tx) =>
      applyRepairs(tx, batch, now(this.context), {
        quarantine: (t, key, reason, atMs) => t.quarantineAccount(key, reason, atMs),
        putSigned: (t, content) => this.putSigned(t, content),
      }),
    );
  }

  async exchange(
    records: readonly SignedRecord[],
    { expired = false }: ExchangeOptions = {},
  ): Promise<Result<SignedRecord>> {
    const answer = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const [request, accountRequest] = records;
        if (
          records.length !== 2 ||
          !request ||
          !accountRequest ||
          stepOf(accountRequest.record.transactionType) !== 2
        ) {
          return fail(
            'InvalidInput',
            'an account exchange carries the request and the account request',
          );
        }
        const earlier = await answered(tx, records, 3);
        if (earlier) return earlier;
        const refused = await verifyOperation(this.context, tx, records);
        if (refused) return refused;

        const outcome = expired
          ? 'OperationExpired'
          : await this.decide(tx, request.record, accountRequest.record);
        const response = signRecord(
          this.context.signatures,
          this.context.signingKeyNumber,
          {
            transactionNumber: accountRequest.record.transactionNumber + 1n,
            remittanceId: accountRequest.record.remittanceId,
            transactionType:
              accountRequest.record.transactionType === 'account_confirmation_request'
                ? 'account_confirmation_response'
                : 'account_update_response',
            outcome,
            dateTime: BigInt(this.context.environment.nowMs()),
            signerKeyNumber: this.context.signingKeyNumber,
          },
          accountRequest.signature,
        );
        assert(response.ok, 'the account device signs with its own key');
        const stored = await tx.appendRecords([...records, response.value]);
        if (!stored)
          return fail(
            'RecordConflict',
            `records of ${accountRequest.record.remittanceId} conflict with stored ones`,
          );
        return ok(response.value);
      }),
    );
    crashPoint('S102');
    return answer;
  }

  async settle(records: readonly SignedRecord[]): Promise<Result<undefined>> {
    const settled = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const done = await settleOperation(this.context, tx, records, (t, r, response) =>
          this.apply(t, r, response),
        );
        crashPoint('S108'); // nothing of this settlement is committed yet
        return done;
      }),
    );
    crashPoint('S109');
    return settled;
  }

  // ---- Decisions (S102-S103) ------------------------------------------------------------------

  private async decide(
    tx: AccountTx,
    request: TransactionRecord,
    accountRequest: TransactionRecord,
  ): Promise<string> {
    const at = accountRequest.dateTime;
    const amount = accountRequest.amount ?? 0n;
    switch (operationOf(request.transactionType)) {
      case 'account_issuing': {
        const key = accountKeyOf([{ record: accountRequest, signature: Buffer.alloc(0) }]);
        const accountNumber = key?.accountNumber;
        if (!key || accountNumber === undefined || accountRequest.currencyType === undefined)
          return 'InvalidInput';
        if (await tx.account(accountNumber)) return 'RecordConflict';
        // A key this device could not verify with is refused now, not at the account's first use.
        const registered = registerAccountKey(this.context, key);
        if (!registered.ok) return registered.code;
        await this.write(tx, {
          accountNumber,
          currencyType: accountRequest.currencyType,
          balance: 0n,
          held: 0n,
          status: 'open',
          lastUpdate: at,
        });
        return outcomeOk;
      }
      case 'account_closing': {
        const account = await this.verified(tx, accountRequest.sourceAccount ?? 0n);
        if (!account) return 'UnknownAccount';
        if (account.status !== 'open') return 'AccountClosed';
        if (account.balance !== 0n || account.held !== 0n) return 'AccountNotEmpty';
        await this.write(tx, { ...account, status: 'closed', lastUpdate: at });
        return outcomeOk;
      }
      case 'issuance': {
        const destination = await this.usable(
          tx,
          accountRequest.destinationAccount,
          accountRequest.currencyType,
        );
        if (!('accountNumber' in destination)) return destination.code;
        if (destination.balance > amountMax - amount) return 'InvalidAmount';
        await this.write(tx, {
          ...destination,
          balance: destination.balance + amount,
          lastUpdate: at,
        });
        return outcomeOk;
      }
      case 'redemption': {
        const source = await this.usable(
          tx,
          accountRequest.sourceAccount,
          accountRequest.currencyType,
        );
        if (!('accountNumber' in source)) return source.code;
        if (source.balance - source.held < amount) return 'InsufficientBalance';
        await this.write(tx, { ...source, balance: source.balance - amount, lastUpdate: at });
        return outcomeOk;
      }
      case 'remittance': {
        const source = await this.usable(
          tx,
          accountRequest.sourceAccount,
          accountRequest.currencyType,
        );
        if (!('accountNumber' in source)) return source.code;
        const destination = await this.usable(
          tx,
          accountRequest.destinationAccount,
          accountRequest.currencyType,
        );
        if (!('accountNumber' in destination)) return destination.code;
        if (source.accountNumber === destination.accountNumber) return 'SameAccount';
        if (source.balance - source.held < amount) return 'InsufficientBalance';
        if (destination.balance > amountMax - amount) return 'InvalidAmount';
        if (accountRequest.transactionType === 'account_confirmation_request') {
          await tx.putHold({
            remittanceId: accountRequest.remittanceId,
            accountNumber: source.accountNumber,
            amount,
          });
          await this.write(tx, { ...source, held: source.held + amount, lastUpdate: at });
        } else {
          await this.write(tx, { ...source, balance: source.balance - amount, lastUpdate: at });
          await this.write(tx, {
            ...destination,
            balance: destination.balance + amount,
            lastUpdate: at,
          });
        }
        return outcomeOk;
      }
      default:
        return 'InvalidInput';
    }
  }

  // ---- Settlement (S108-S109) -----------------------------------------------------------------

  private async apply(
    tx: AccountTx,
    records: readonly SignedRecord[],
    response: TransactionRecord,
  ): Promise<void> {
    const request = records[0]!.record;
    const accountRequest = records.find((r) => stepOf(r.record.transactionType) === 2)?.record;
    const accountResponse = records.find((r) => stepOf(r.record.transactionType) === 3)?.record;
    const succeeded = response.outcome === outcomeOk;
    const at = response.dateTime;
    const hold = await tx.hold(response.remittanceId);
    if (hold) {
      // A confirmed remittance: apply it, or release the hold.
      const source = await this.verified(tx, hold.accountNumber);
      expectStored(source && source.held >= hold.amount, 'a hold is covered by its account');
      await tx.deleteHold(response.remittanceId);
      if (!succeeded) {
        await this.write(tx, { ...source, held: source.held - hold.amount, lastUpdate: at });
        return;
      }
      assert(request.destinationAccount !== undefined, 'a remittance has a destination');
      const destination = await this.verified(tx, request.destinationAccount);
      expectStored(destination, 'the destination confirmed in a3 still exists');
      await this.write(tx, {
        ...source,
        balance: source.balance - hold.amount,
        held: source.held - hold.amount,
        lastUpdate: at,
      });
      await this.write(tx, {
        ...destination,
        balance: destination.balance + hold.amount,
        lastUpdate: at,
      });
      return;
    }
    const updated =
      accountRequest?.transactionType === 'account_update_request' &&
      accountResponse?.outcome === outcomeOk;
    if (succeeded || !updated) return;
    // A refused operation whose account update was made: compensate, justified by a6.
    const amount = accountRequest.amount ?? 0n;
    const change = async (accountNumber: bigint | undefined, delta: bigint) => {
      if (accountNumber === undefined) return;
      const row = await this.verified(tx, accountNumber);
      expectStored(row, 'a compensated account exists');
      await this.write(tx, { ...row, balance: row.balance + delta, lastUpdate: at });
    };
    switch (operationOf(request.transactionType)) {
      case 'remittance':
        await change(accountRequest.sourceAccount, amount);
        await change(accountRequest.destinationAccount, -amount);
        break;
      case 'issuance':
        await change(accountRequest.destinationAccount, -amount);
        break;
      case 'redemption':
        await change(accountRequest.sourceAccount, amount);
        break;
      default: {
        const row =
          accountRequest.destinationAccount === undefined
            ? undefined
            : await this.verified(tx, accountRequest.destinationAccount);
        if (row) await this.write(tx, { ...row, status: 'closed', lastUpdate: at });
      }
    }
  }

  /**
   * Sign and store a row. Its lastUpdate is the latest time of any change to it, not the time of
   * the change made last: the same whatever order concurrent operations were applied in, so that a
   * replay of A reproduces it exactly.
   */
  private async write(tx: AccountTx, change: AccountRowContent): Promise<void> {
    // Every caller read this row through `verified` in this same transaction (or it is new): read
    // again only for its lastUpdate, it is not verified a second time.
    const current = await tx.account(change.accountNumber);
    const content =
      current && current.lastUpdate > change.lastUpdate
        ? { ...change, lastUpdate: current.lastUpdate }
        : change;
    await this.putSigned(tx, content);
  }

  /** An account row this device acts on, verified first (context.ts: verifiedRow). */
  private async verified(tx: AccountTx, accountNumber: bigint): Promise<AccountRow | undefined> {
    return verifiedRow(
      this.context,
      await tx.account(accountNumber),
      accountRowBytes,
      `account ${accountNumber}`,
    );
  }

  private async usable(
    tx: AccountTx,
    accountNumber: bigint | undefined,
    currencyType: string | undefined,
  ): Promise<AccountRow | Failure> {
    const row = accountNumber === undefined ? undefined : await this.verified(tx, accountNumber);
    return usable(row, accountNumber, currencyType);
  }

  private async putSigned(tx: AccountTx, content: AccountRowContent): Promise<void> {
    assert(
      content.balance >= 0n && content.held >= 0n && content.held <= content.balance,
      'invariant 3: no negative balance, held within balance',
    );
    const signature = this.context.signatures.sign(
      this.context.signingKeyNumber,
      accountRowBytes(content),
    );
    assert(signature.ok, 'the account device signs its rows');
    const row: AccountRow = {
      accountNumber: content.accountNumber,
      currencyType: content.currencyType,
      balance: content.balance,
      held: content.held,
      status: content.status,
      lastUpdate: content.lastUpdate,
      signerKeyNumber: this.context.signingKeyNumber,
      signature: signature.value,
    };
    await tx.putAccount(row);
    const readBack = await tx.account(content.accountNumber);
    assert(
      readBack && readBack.balance === row.balance && readBack.signature.equals(row.signature),
      'account row reads back as written',
    );
  }
}

/** The account if it can take part in an operation in this currency, else the reason. */
function usable(
  row: AccountRow | undefined,
  accountNumber: bigint | undefined,
  currencyType: string | undefined,
): AccountRow | Failure {
  if (accountNumber === undefined) return fail('InvalidInput', 'no account named');
  if (!row) return fail('UnknownAccount', `account ${accountNumber} does not exist`);
  if (row.status !== 'open') return fail('AccountClosed', `account ${accountNumber} is closed`);
  if (row.currencyType !== currencyType)
    return fail('CurrencyMismatch', `account ${accountNumber} holds ${row.currencyType}`);
  return row;
}
