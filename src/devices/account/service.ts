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

import {
  type AccountStep,
  accountsSettled,
  accountsTouched,
  commitAccountBatch,
} from '../../core/account.js';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import {
  baseOfBlock,
  blockOf,
  type SignedRecord,
  type TransactionRecord,
} from '../../protocol/records.js';
import { type AccountRowContent, accountRowBytes, accountRows } from '../../protocol/rows.js';
import { operationOf, stepOf } from '../../protocol/transactionTypes.js';
import type { AccountRow, AccountStore, AccountTx, HoldRow } from '../../store/types.js';
import { accountKeyOf, registerAccountKey } from '../accountKeys.js';
import {
  answered,
  checkSettlement,
  type DeviceContext,
  expectStored,
  now,
  type StoredOperations,
  signOwnRecord,
  signOwnRow,
  storedOperationsOf,
  verifiedRows,
  verifyOperation,
} from '../context.js';
import { crashPoint } from '../faultHooks.js';
import {
  OwnCopyReplay,
  type RepairBatch,
  type RepairCounts,
  repairFromOwnCopy,
} from '../repair.js';
import {
  allAnswered,
  appendOrRefuse,
  type BatchService,
  type ExchangeStep,
  inOneTransaction,
  refuseRepeats,
} from '../stepBatches.js';

/** An exchange that passed its checks, on its way to a3. */
interface OpenExchange {
  readonly index: number;
  readonly request: SignedRecord;
  readonly accountRequest: SignedRecord;
  /** Decided before the machine runs (expired, an unusable key), or by it. */
  outcome?: string;
}

/** The accounts an exchange's account request names, if the exchange has one where it should. */
function accountsNamedBy(records: readonly SignedRecord[]): bigint[] {
  const accountRequest = records[1]?.record;
  if (records.length !== 2 || !accountRequest || stepOf(accountRequest.transactionType) !== 2)
    return [];
  return accountsTouched(accountRequest);
}

export class AccountService implements BatchService {
  /** The replay of this device's copy of A that rows put by a recovery are checked against. */
  readonly #ownCopy: OwnCopyReplay;

  constructor(
    private readonly context: DeviceContext,
    private readonly store: AccountStore,
  ) {
    this.#ownCopy = new OwnCopyReplay(store, () => context.environment.nowMs());
  }

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
    return repairFromOwnCopy(this.store, this.#ownCopy, batch, now(this.context), {
      replayed: (replay) => replay.accounts,
      keyOf: (row) => row.accountNumber,
      bytesOf: accountRowBytes,
      quarantine: (t, key, reason, atMs) => t.quarantineAccount(key, reason, atMs),
      putSigned: (t, content) => this.putSigned(t, content),
    });
  }

  /**
   * S102-S103 for a batch of exchanges, in one store transaction: each verified, the rows they
   * touch read and verified once, the machine run over the whole batch (core/account.ts:
   * commitAccountBatch), every changed row signed and written once, each answered in order with
   * a3. A row that fails its signature, or a conflict, refuses the batch as a whole: its steps then
   * run one by one, so that only the step that meets it is refused.
   */
  exchangeBatch(steps: readonly ExchangeStep[]): Promise<Result<SignedRecord>[]> {
    return inOneTransaction(
      this.store,
      steps,
      (tx) => this.#exchangeAll(tx, steps),
      (step) => this.exchangeBatch([step]),
      () => crashPoint(this.context, 'S102'),
    );
  }

  /** S108-S109 for a batch of settlements, in one store transaction (as exchangeBatch). */
  settleBatch(operations: readonly (readonly SignedRecord[])[]): Promise<Result<undefined>[]> {
    return inOneTransaction(
      this.store,
      operations,
      async (tx) => {
        const answers = await this.#settleAll(tx, operations);
        crashPoint(this.context, 'S108'); // nothing of these settlements is committed yet
        return answers;
      },
      (operation) => this.settleBatch([operation]),
      () => crashPoint(this.context, 'S109'),
    );
  }

  async #exchangeAll(tx: AccountTx, steps: readonly ExchangeStep[]) {
    const answers: (Result<SignedRecord> | undefined)[] = [];
    const open: OpenExchange[] = [];
    // What the batch reads goes out at once (on PostgreSQL one round trip, with the BEGIN): the
    // stored records of its operations, and the rows of every account its account requests name,
    // of which those the exchanges decided here touch are then verified (#verified).
    const named = [...new Set(steps.flatMap((step) => accountsNamedBy(step.records)))];
    const [stored, found, openedAt] = await Promise.all([
      storedOperationsOf(
        tx,
        steps.map((step) => step.records),
      ),
      tx.accounts(named),
      tx.accountsOpenedAt(named),
    ]);
    for (const [index, step] of steps.entries()) {
      const checked = await this.#checkExchange(tx, step.records, stored);
      answers.push(checked);
      if (checked) continue;
      const [request, accountRequest] = step.records as [SignedRecord, SignedRecord];
      const refusal = step.expired
        ? 'OperationExpired'
        : this.#keyRefusal(request.record, accountRequest.record);
      open.push({ index, request, accountRequest, ...(refusal ? { outcome: refusal } : {}) });
    }
    refuseRepeats(open.map((o) => o.request.record.remittanceId));
    const deciding = open.filter((o) => o.outcome === undefined);
    const touched = deciding.flatMap((o) => accountsTouched(o.accountRequest.record));
    const rows = this.#verified(found, touched);
    const coreSteps: AccountStep[] = [];
    for (const { request, accountRequest } of deciding) {
      const existed = this.#existedFor(openedAt, rows, request.record, accountRequest.record);
      coreSteps.push({
        kind: 'decide',
        request: request.record,
        accountRequest: accountRequest.record,
        exists: (n) => existed.has(n),
      });
    }
    const batch = commitAccountBatch((n) => rows.get(n), coreSteps);
    for (const [k, exchange] of deciding.entries()) {
      const decision = batch.results[k]!;
      expectStored('outcome' in decision, 'the accounts a3 decided on are stored');
      exchange.outcome = decision.outcome;
      const hold = decision.effect?.hold;
      if (hold) await tx.putHold({ remittanceId: exchange.request.record.remittanceId, ...hold });
    }
    for (const row of batch.rows) await this.putSigned(tx, row);
    const answered = open.map((exchange) => this.#answer(exchange));
    await appendOrRefuse(tx, answered.flat());
    for (const [k, { index }] of open.entries()) answers[index] = ok(answered[k]!.at(-1)!);
    return allAnswered(answers);
  }

  /** A refusal before deciding (a malformed or unverified exchange), or the answer given before. */
  async #checkExchange(
    tx: AccountTx,
    records: readonly SignedRecord[],
    stored: StoredOperations,
  ): Promise<Result<SignedRecord> | undefined> {
    const [request, accountRequest] = records;
    if (
      records.length !== 2 ||
      !request ||
      !accountRequest ||
      stepOf(accountRequest.record.transactionType) !== 2
    )
      return fail(
        'InvalidInput',
        'an account exchange carries the request and the account request',
      );
    return answered(stored, records, 3) ?? (await verifyOperation(this.context, tx, records));
  }

  /** An opening whose key this device could not verify with is refused now, not at first use. */
  #keyRefusal(request: TransactionRecord, accountRequest: TransactionRecord): string | undefined {
    if (operationOf(request.transactionType) !== 'account_issuing') return undefined;
    const key = accountKeyOf([{ record: accountRequest, signature: Buffer.alloc(0) }]);
    if (!key) return 'InvalidInput';
    const registered = registerAccountKey(this.context, key);
    return registered.ok ? undefined : registered.code;
  }

  /** The three records to store: the exchange's two, and a3 signed with its outcome. */
  #answer(exchange: OpenExchange): SignedRecord[] {
    const { request, accountRequest, outcome } = exchange;
    assert(outcome !== undefined, 'an exchange is decided before it is answered');
    const response = signOwnRecord(
      this.context,
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
    return [request, accountRequest, response];
  }

  async #settleAll(
    tx: AccountTx,
    operations: readonly (readonly SignedRecord[])[],
  ): Promise<Result<undefined>[]> {
    const answers: Result<undefined>[] = [];
    const applying: TransactionRecord[][] = [];
    const storing: (readonly SignedRecord[])[] = [];
    // The operations' stored records and the holds placed for them go out at once (on PostgreSQL
    // one round trip, with the BEGIN): the holds of the settlements that end one are used.
    const [stored, held] = await Promise.all([
      storedOperationsOf(tx, operations),
      tx.holds(
        operations.flatMap((received) => received.slice(0, 1).map((r) => r.record.remittanceId)),
      ),
    ]);
    for (const received of operations) {
      const checked = await checkSettlement(this.context, tx, received, stored);
      answers.push(checked.ok ? ok(undefined) : checked);
      if (!checked.ok) continue;
      if (!checked.value.again) applying.push(checked.value.records.map((r) => r.record));
      storing.push(received); // the records left out are stored here already
    }
    refuseRepeats(storing.map((records) => records[0]!.record.remittanceId));
    // Only the rows the settlements change are read: a refusal's settlement reads none.
    const rows = await this.readVerified(tx, applying.flatMap(accountsSettled));
    const batch = commitAccountBatch(
      (n) => rows.get(n),
      applying.map((operation) => ({ kind: 'settle', operation })),
    );
    const endingHolds = new Map<string, { accountNumber: bigint; amount: bigint }>();
    for (const [k, operation] of applying.entries()) {
      const effect = batch.results[k]!;
      expectStored('rows' in effect, 'the accounts a settlement changes are stored');
      if (effect.endsHold) endingHolds.set(operation[0]!.remittanceId, effect.endsHold);
    }
    await this.#endHolds(tx, endingHolds, held);
    for (const row of batch.rows) await this.putSigned(tx, row);
    await appendOrRefuse(tx, storing.flat());
    return answers;
  }

  /** The holds a3 placed (`held`, as read), as the settlements end them: stored as placed. */
  async #endHolds(
    tx: AccountTx,
    ending: ReadonlyMap<string, { readonly accountNumber: bigint; readonly amount: bigint }>,
    held: ReadonlyMap<string, HoldRow>,
  ): Promise<void> {
    if (ending.size === 0) return;
    for (const [remittanceId, ends] of ending) {
      const hold = held.get(remittanceId);
      expectStored(
        hold !== undefined &&
          hold.accountNumber === ends.accountNumber &&
          hold.amount === ends.amount,
        'the hold a3 placed is stored',
      );
    }
    await tx.deleteHolds([...ending.keys()]);
  }

  /**
   * The accounts of a step that existed for its request: an account whose opening this device has
   * not settled, or that was numbered after `request`, did not exist when the request was
   * numbered; it is left out, so the request is refused (UnknownAccount), as the audit's replay,
   * which applies operations in transaction-number order, will find it. (Seed 4 of
   * test/core/replayAgreement.test.ts: a remittance to the next account number, decided after that
   * account's opening, made the replay report a contradiction.) An opening sees every account.
   */
  #existedFor(
    openedAt: ReadonlyMap<bigint, bigint>,
    rows: ReadonlyMap<bigint, AccountRowContent>,
    request: TransactionRecord,
    accountRequest: TransactionRecord,
  ): Set<bigint> {
    const touched = accountsTouched(accountRequest).filter((n) => rows.has(n));
    if (operationOf(request.transactionType) === 'account_issuing') return new Set(touched);
    return new Set(
      touched.filter((accountNumber) => {
        // The opening's response is the last number of its block; its request, the first.
        const responseAt = openedAt.get(accountNumber);
        return (
          responseAt !== undefined && baseOfBlock(blockOf(responseAt)) <= request.transactionNumber
        );
      }),
    );
  }

  /** The rows a step reads, in one read, each verified first (context.ts: verifiedRows). */
  private async readVerified(
    tx: AccountTx,
    accountNumbers: readonly bigint[],
  ): Promise<ReadonlyMap<bigint, AccountRowContent>> {
    const found = await tx.accounts(accountNumbers);
    return verifiedRows(this.context, found, accountRows, (n) => `account ${n}`);
  }

  /** The rows of `accountNumbers` among those read, each verified (verifiedRows). */
  #verified(
    found: ReadonlyMap<bigint, AccountRow>,
    accountNumbers: readonly bigint[],
  ): ReadonlyMap<bigint, AccountRowContent> {
    const wanted = new Map<bigint, AccountRow>();
    for (const n of accountNumbers) {
      const row = found.get(n);
      if (row !== undefined) wanted.set(n, row);
    }
    return verifiedRows(this.context, wanted, accountRows, (n) => `account ${n}`);
  }

  private async putSigned(tx: AccountTx, content: AccountRowContent): Promise<void> {
    assert(
      content.balance >= 0n && content.held >= 0n && content.held <= content.balance,
      'invariant 3: no negative balance, held within balance',
    );
    const signature = signOwnRow(this.context, accountRows, content);
    const row: AccountRow = {
      accountNumber: content.accountNumber,
      currencyType: content.currencyType,
      balance: content.balance,
      held: content.held,
      status: content.status,
      lastUpdate: content.lastUpdate,
      signerKeyNumber: this.context.signingKeyNumber,
      signature,
    };
    await tx.putAccount(row);
    // Not read back on the hot path: the row's next use reads and verifies it first (verifiedRow,
    // against the copy signOwnRow kept), and the continuous audit walks every row's signature.
  }
}
