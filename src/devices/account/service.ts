// The account information management device (account, B): its side of every operation, around the
// rules of core/account.ts.
//
// exchange (S102-S103): receives the request and the transaction device's account request (a1, a2),
// verifies both, reads (and verifies) the rows they touch, has the machine decide, writes what it
// decided and answers with a3 signed by its own key. In confirm mode a remittance reserves the
// amount (a hold); in update mode, and for account issuing, issuance and redemption, the change is
// made at once.
// settle (S108-S109): receives the operation's records with the response a6, verifies and stores
// them, then writes what the machine says the settlement changes: a held remittance applied (a6 ok)
// or released (a6 refused), a refused update undone by a change that a6 itself justifies.
// Every account row written is signed by this device's key (FIG. 4).

import { replayCopy } from '../../audit/replay.js';
import {
  type AccountEffect,
  accountsSettled,
  accountsTouched,
  applySettlement,
  decideAccountRequest,
} from '../../core/account.js';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import { type SignedRecord, signRecord, type TransactionRecord } from '../../protocol/records.js';
import { type AccountRowContent, accountRowBytes } from '../../protocol/rows.js';
import { operationOf, stepOf } from '../../protocol/transactionTypes.js';
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
    crashPoint(this.context, 'S102');
    return answer;
  }

  async settle(records: readonly SignedRecord[]): Promise<Result<undefined>> {
    const settled = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const done = await settleOperation(this.context, tx, records, (t, r, response) =>
          this.apply(t, r, response),
        );
        crashPoint(this.context, 'S108'); // nothing of this settlement is committed yet
        return done;
      }),
    );
    crashPoint(this.context, 'S109');
    return settled;
  }

  // ---- Decisions (S102-S103) and settlement (S108-S109): core/account.ts decides -------------

  private async decide(
    tx: AccountTx,
    request: TransactionRecord,
    accountRequest: TransactionRecord,
  ): Promise<string> {
    if (operationOf(request.transactionType) === 'account_issuing') {
      // A key this device could not verify with is refused now, not at the account's first use.
      const key = accountKeyOf([{ record: accountRequest, signature: Buffer.alloc(0) }]);
      if (!key) return 'InvalidInput';
      const registered = registerAccountKey(this.context, key);
      if (!registered.ok) return registered.code;
    }
    const rows = await this.readVerified(tx, accountsTouched(accountRequest));
    await this.forgetOpenedLater(tx, rows, request);
    const decision = decideAccountRequest((n) => rows.get(n), request, accountRequest);
    expectStored(!('contradictions' in decision), 'the accounts a3 decided on are stored');
    if (decision.effect) await this.carryOut(tx, decision.effect, accountRequest.remittanceId);
    return decision.outcome;
  }

  private async apply(
    tx: AccountTx,
    records: readonly SignedRecord[],
    response: TransactionRecord,
  ): Promise<void> {
    const operation = records.map((r) => r.record);
    // Only the rows the settlement changes are read: a refusal's settlement reads none.
    const rows = await this.readVerified(tx, accountsSettled(operation));
    const effect = applySettlement((n) => rows.get(n), operation);
    expectStored(!('contradictions' in effect), 'the accounts a settlement changes are stored');
    await this.carryOut(tx, effect, response.remittanceId);
  }

  /** Write what the machine decided: rows signed, the hold placed or ended. */
  private async carryOut(tx: AccountTx, effect: AccountEffect, remittanceId: string) {
    if (effect.endsHold) {
      const hold = await tx.hold(remittanceId);
      expectStored(
        hold !== undefined &&
          hold.accountNumber === effect.endsHold.accountNumber &&
          hold.amount === effect.endsHold.amount,
        'the hold a3 placed is stored',
      );
      await tx.deleteHold(remittanceId);
    }
    if (effect.hold) await tx.putHold({ remittanceId, ...effect.hold });
    for (const row of effect.rows) await this.putSigned(tx, row);
  }

  /**
   * An account whose opening this device has not settled, or that was numbered after `request`,
   * did not exist when the request was numbered: it is left out, so the request is refused
   * (UnknownAccount), as the audit's replay, which applies operations in transaction-number order,
   * will find it. (Seed 4 of test/core/replayAgreement.test.ts: a remittance to the next account
   * number, decided after that account's opening, made the replay report a contradiction.)
   */
  private async forgetOpenedLater(
    tx: AccountTx,
    rows: Map<bigint, AccountRowContent>,
    request: TransactionRecord,
  ): Promise<void> {
    if (operationOf(request.transactionType) === 'account_issuing') return;
    for (const accountNumber of rows.keys()) {
      const opening = (await tx.accountOpening(accountNumber))[0]?.record;
      if (!opening || opening.transactionNumber > request.transactionNumber)
        rows.delete(accountNumber);
    }
  }

  /** The rows a step reads, each verified first (context.ts: verifiedRow); absent ones left out. */
  private async readVerified(
    tx: AccountTx,
    accountNumbers: readonly bigint[],
  ): Promise<Map<bigint, AccountRowContent>> {
    const rows = new Map<bigint, AccountRowContent>();
    for (const accountNumber of accountNumbers) {
      const row = await this.verified(tx, accountNumber);
      if (row) rows.set(accountNumber, row);
    }
    return rows;
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
