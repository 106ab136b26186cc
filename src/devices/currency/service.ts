// The currency information management device (currency, C): its side of every operation, around the
// rules of core/currency.ts.
//
// exchange (S104-S105): receives the records so far (a1-a4), verifies every link, reserves the unit
// numbers and the plan sequence a plan needs, reads (and verifies) the units it touches, has the
// machine apply it, and answers with a5 signed by its own key. a5 carries the unit plan in its
// detail: which units change owner, which are retired, which new numbered units are issued (FIG. 1H;
// the payment rule is in protocol/units.ts). In confirm mode the units are held until the response;
// in update mode, and for issuance and redemption, the plan is carried out at once.
// settle (S110-S111): stores the operation's records and writes what the machine says the
// settlement changes: a held plan carried out (a6 ok) or released (a6 refused), a refused update
// reversed, justified by a6.
// Every unit row written is signed by this device's key (FIG. 5).

import {
  type CurrencyBatch,
  type CurrencyDecision,
  commitCurrencyBatch,
  type UnitsRead,
  unitsSettled,
} from '../../core/currency.js';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import { parseDetail, type UnitPlan, unitPlan } from '../../protocol/details.js';
import type { SignedRecord, TransactionRecord } from '../../protocol/records.js';
import { type CurrencyRowContent, currencyRowBytes, currencyRows } from '../../protocol/rows.js';
import { outcomeOk, stepOf } from '../../protocol/transactionTypes.js';
import type { CurrencyRow, CurrencyTx, Store, UnitOwner } from '../../store/types.js';
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
  verifiedRow,
  verifiedRows,
  verifyOperation,
} from '../context.js';
import { deriveCurrencyTables } from '../derivedTables.js';
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

/**
 * A payer's units read to plan a payment, first in payment order; a payment these do not decide is
 * planned again from all of them (rare: it takes more units than this, or splits one).
 */
export const unitsListedPerPayerMax = 8;

function payerKey(payer: bigint, currencyType: string): string {
  return `${payer}/${currencyType}`;
}

/** A settlement's operation and the plan its a5 accepted (as a5 signed it). */
interface SettledPlan {
  readonly operation: TransactionRecord[];
  readonly plan: UnitPlan;
  readonly planJson: string;
}

/** The plans the settlements carry out: a5's, for those whose a5 accepted one. */
function plansOf(settling: readonly (readonly SignedRecord[])[]): SettledPlan[] {
  const applying: SettledPlan[] = [];
  for (const records of settling) {
    const currencyResponse = records.find((r) => stepOf(r.record.transactionType) === 5)?.record;
    if (currencyResponse?.outcome !== outcomeOk) continue;
    const plan = parseDetail(unitPlan, currencyResponse.detail);
    expectStored(plan, 'an accepted currency response carries its plan');
    const operation = records.map((r) => r.record);
    applying.push({ operation, plan, planJson: currencyResponse.detail! });
  }
  return applying;
}

/** The payers of these currency requests, each once, by payerKey. */
function payersOf(currencyRequests: readonly TransactionRecord[]): Map<string, UnitOwner> {
  const payers = new Map<string, UnitOwner>();
  for (const { sourceAccount: ownerAccount, currencyType } of currencyRequests)
    if (ownerAccount !== undefined && currencyType !== undefined)
      payers.set(payerKey(ownerAccount, currencyType), { ownerAccount, currencyType });
  return payers;
}

/** An exchange's currency request, if it has one where it should (#checkExchange refuses it else). */
function currencyRequestOf(records: readonly SignedRecord[]): TransactionRecord[] {
  const currencyRequest = records[3]?.record;
  return records.length === 4 && currencyRequest && stepOf(currencyRequest.transactionType) === 4
    ? [currencyRequest]
    : [];
}

export class CurrencyService implements BatchService {
  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<CurrencyTx>,
    /** unitsListedPerPayerMax; the simulator lists fewer, so that both ways of planning run. */
    private readonly unitsListedMax = unitsListedPerPayerMax,
  ) {
    assert(unitsListedMax > 0, 'a payment is planned from at least one unit');
    this.#ownCopy = new OwnCopyReplay(store, () => context.environment.nowMs());
  }

  /** The replay of this device's copy of A that rows put by a recovery are checked against. */
  readonly #ownCopy: OwnCopyReplay;

  /** Recovery (devices/repair.ts): C rows are re-signed here, exactly as the replay of A gives them. */
  async repair(batch: RepairBatch<CurrencyRowContent>): Promise<Result<RepairCounts>> {
    return repairFromOwnCopy(
      this.store,
      this.#ownCopy,
      batch,
      now(this.context),
      {
        replayed: (replay) => replay.units,
        keyOf: (row) => row.currencyNumber,
        bytesOf: currencyRowBytes,
        quarantine: (t, key, reason, atMs) => t.quarantineUnit(key, reason, atMs),
        putSigned: (t, content) => this.putSigned(t, content),
      },
      deriveCurrencyTables,
    );
  }

  async unitsOf(accountNumber: bigint, currencyType: string): Promise<CurrencyRow[]> {
    return this.store.transact(async (tx) => [
      ...(await tx.unitsOf(accountNumber, currencyType, 'active')),
      ...(await tx.unitsOf(accountNumber, currencyType, 'held')),
    ]);
  }

  /**
   * S104-S105 for a batch of exchanges, in one store transaction (devices/stepBatches.ts): each
   * verified; the payers' active units read and verified once; the machine run over the whole
   * batch (core/currency.ts: commitCurrencyBatch), taking new unit numbers and plan sequences in
   * order; the numbers it took reserved, every changed unit signed and written once, each exchange
   * answered in order with a5 and its plan.
   */
  exchangeBatch(steps: readonly ExchangeStep[]): Promise<Result<SignedRecord>[]> {
    return inOneTransaction(
      this.store,
      steps,
      (tx) => this.#exchangeAll(tx, steps),
      (step) => this.exchangeBatch([step]),
      () => crashPoint(this.context, 'S105'),
    );
  }

  /** S110-S111 for a batch of settlements, in one store transaction (as exchangeBatch). */
  settleBatch(operations: readonly (readonly SignedRecord[])[]): Promise<Result<undefined>[]> {
    return inOneTransaction(
      this.store,
      operations,
      async (tx) => {
        const answers = await this.#settleAll(tx, operations);
        crashPoint(this.context, 'S110'); // nothing of these settlements is committed yet
        return answers;
      },
      (operation) => this.settleBatch([operation]),
      () => crashPoint(this.context, 'S111'),
    );
  }

  async #exchangeAll(tx: CurrencyTx, steps: readonly ExchangeStep[]) {
    const answers: (Result<SignedRecord> | undefined)[] = [];
    const open: { index: number; records: readonly SignedRecord[]; decision?: CurrencyDecision }[] =
      [];
    // What the batch reads goes out at once (on PostgreSQL one round trip, with the BEGIN): the
    // stored records of its operations, the next unit number and plan sequence, the highest unit
    // number stored, and the first units of every payer its currency requests name, of which the
    // exchanges decided here use their payers' (#readPayers).
    const [stored, unit, sequence, highestUnit, listed] = await Promise.all([
      storedOperationsOf(
        tx,
        steps.map((step) => step.records),
      ),
      tx.reserveUnitNumbers(0),
      tx.reservePlanSequences(0),
      tx.highestUnitNumber(),
      this.#listPayers(tx, payersOf(steps.flatMap((step) => currencyRequestOf(step.records)))),
    ]);
    for (const [index, { records, expired }] of steps.entries()) {
      const checked = await this.#checkExchange(tx, records, stored);
      answers.push(checked);
      if (!checked)
        open.push({
          index,
          records,
          ...(expired ? { decision: { outcome: 'OperationExpired' } } : {}),
        });
    }
    refuseRepeats(open.map((o) => o.records[0]!.record.remittanceId));
    const deciding = open.filter((o) => o.decision === undefined);
    const currencyRequests = deciding.map((o) => o.records[3]!.record);
    const first = { unit, sequence };
    const decisions = deciding.map(({ records }) => ({
      kind: 'decide' as const,
      request: records[0]!.record,
      currencyRequest: records[3]!.record,
    }));
    // Planned from each payer's first units in payment order; from all of a payer's units when
    // those do not decide its payment (core/currency.ts: UnitsUnlisted), committed again. A
    // payment that now goes through can bring another payer units that send it past its listing,
    // so this repeats, each time with more payers read whole: at most once per payer.
    const whole = new Set<string>();
    let before = await this.#readPayers(tx, currencyRequests, whole, listed);
    let batch = commitCurrencyBatch(before, first, decisions);
    while ('unlisted' in batch) {
      // A payer with two payments in the batch is named twice.
      const unlisted = new Set(batch.unlisted.map((p) => payerKey(p.payer, p.currencyType)));
      for (const key of unlisted) {
        assert(!whole.has(key), 'a payer read whole is never unlisted');
        whole.add(key);
      }
      before = await this.#readPayers(tx, currencyRequests, whole, listed);
      batch = commitCurrencyBatch(before, first, decisions);
    }
    for (const [k, exchange] of deciding.entries()) {
      const decision = batch.results[k]!;
      expectStored('outcome' in decision, 'the units a plan spends are live and stored');
      exchange.decision = decision;
    }
    // The units the plans spend, verified before anything is written (context.ts: verifiedRow).
    for (const row of batch.rows) {
      const spent = before.stored.get(row.currencyNumber);
      if (spent)
        verifiedRow(this.context, spent, currencyRows, `currency unit ${row.currencyNumber}`);
    }
    await this.#write(tx, batch, first, highestUnit);
    for (const { records, decision } of deciding) {
      const currencyRequest = records[3]!.record;
      if (decision?.plan && currencyRequest.transactionType === 'currency_confirmation_request')
        await tx.putPlan({
          remittanceId: currencyRequest.remittanceId,
          planJson: JSON.stringify(decision.plan),
        });
    }
    const answered = open.map(({ records, decision }) => this.#answer(records, decision!));
    await appendOrRefuse(tx, answered.flat());
    for (const [k, { index }] of open.entries()) answers[index] = ok(answered[k]!.at(-1)!);
    return allAnswered(answers);
  }

  /** A refusal before deciding (a malformed or unverified exchange), or the answer given before. */
  async #checkExchange(
    tx: CurrencyTx,
    records: readonly SignedRecord[],
    stored: StoredOperations,
  ): Promise<Result<SignedRecord> | undefined> {
    const currencyRequest = records.at(-1);
    if (
      records.length !== 4 ||
      !currencyRequest ||
      stepOf(currencyRequest.record.transactionType) !== 4
    )
      return fail('InvalidInput', 'a currency exchange carries the four records so far');
    return answered(stored, records, 5) ?? (await verifyOperation(this.context, tx, records));
  }

  /**
   * C before the batch as the machine reads it: each payer's active units, as stored: the first
   * unitsListedMax in payment order, as `listed` (#listPayers, read with the batch's other reads:
   * nothing is written before the batch is decided), or all of them for the payers in `whole`
   * (keys of payerKey), read here. Those a plan spends are verified before anything is written
   * (#write); a unit it does not spend is not used.
   */
  async #readPayers(
    tx: CurrencyTx,
    currencyRequests: readonly TransactionRecord[],
    whole: ReadonlySet<string>,
    listed: ReadonlyMap<string, readonly CurrencyRow[]>,
  ): Promise<UnitsRead & { readonly stored: ReadonlyMap<bigint, CurrencyRow> }> {
    const active = new Map<string, readonly CurrencyRow[]>();
    /** The last unit listed of each payer read only in part. */
    const listedUpTo = new Map<string, CurrencyRow>();
    const stored = new Map<bigint, CurrencyRow>();
    for (const [key, { ownerAccount, currencyType }] of payersOf(currencyRequests)) {
      if (whole.has(key)) {
        active.set(key, await tx.unitsOf(ownerAccount, currencyType, 'active'));
        continue;
      }
      const units = listed.get(key);
      assert(
        units && units.length <= this.unitsListedMax,
        "every payer of the batch's exchanges is listed, within the limit",
      );
      active.set(key, units);
      if (units.length === this.unitsListedMax) listedUpTo.set(key, units.at(-1)!);
    }
    for (const units of active.values())
      for (const unit of units) stored.set(unit.currencyNumber, unit);
    return {
      stored,
      read: (n) => stored.get(n),
      activeOf: (payer, currencyType) => active.get(payerKey(payer, currencyType)) ?? [],
      listedUpTo: (payer, currencyType) => listedUpTo.get(payerKey(payer, currencyType)),
    };
  }

  /** The first unitsListedMax active units of each payer, in payment order (one read). */
  async #listPayers(
    tx: CurrencyTx,
    payers: ReadonlyMap<string, UnitOwner>,
  ): Promise<Map<string, readonly CurrencyRow[]>> {
    if (payers.size === 0) return new Map();
    const lists = await tx.unitsToPay([...payers.values()], this.unitsListedMax);
    assert(lists.length === payers.size, 'one listing per payer asked for');
    return new Map([...payers.keys()].map((key, k) => [key, lists[k]!]));
  }

  /**
   * Write what a batch did to C: the numbers it took reserved (they are the ones it was handed),
   * every changed unit signed once; a unit it issued must be new to the store: above every unit
   * stored (`highestUnit`, read with the batch), as the counter is in a sound store.
   */
  async #write(
    tx: CurrencyTx,
    batch: CurrencyBatch,
    first: { readonly unit: bigint; readonly sequence: bigint },
    highestUnit: bigint,
  ): Promise<void> {
    const issued = batch.rows.filter((row) => row.currencyNumber >= first.unit);
    expectStored(
      issued.every((row) => row.currencyNumber > highestUnit),
      'a new unit number is free',
    );
    // Together; on PostgreSQL both advances are held back (from the counters read with the
    // batch) and go with the batch's other writes.
    const [unit, sequence] = await Promise.all([
      tx.reserveUnitNumbers(batch.unitNumbersTaken),
      tx.reservePlanSequences(batch.planSequencesTaken),
    ]);
    assert(
      unit === first.unit && sequence === first.sequence,
      'a batch reserves the numbers it was handed',
    );
    for (const row of batch.rows) await this.putSigned(tx, row);
  }

  /** The operation's five records to store: its four, and a5 signed with the decision (and its plan). */
  #answer(records: readonly SignedRecord[], decision: CurrencyDecision): SignedRecord[] {
    const currencyRequest = records[3]!;
    const response = signOwnRecord(
      this.context,
      {
        transactionNumber: currencyRequest.record.transactionNumber + 1n,
        remittanceId: currencyRequest.record.remittanceId,
        transactionType:
          currencyRequest.record.transactionType === 'currency_confirmation_request'
            ? 'currency_confirmation_response'
            : 'currency_update_response',
        outcome: decision.outcome,
        ...(decision.plan ? { detail: JSON.stringify(decision.plan) } : {}),
        dateTime: BigInt(this.context.environment.nowMs()),
        signerKeyNumber: this.context.signingKeyNumber,
      },
      currencyRequest.signature,
    );
    return [...records, response];
  }

  async #settleAll(
    tx: CurrencyTx,
    operations: readonly (readonly SignedRecord[])[],
  ): Promise<Result<undefined>[]> {
    const answers: Result<undefined>[] = [];
    const storing: (readonly SignedRecord[])[] = [];
    const stored = await storedOperationsOf(tx, operations);
    const settling: (readonly SignedRecord[])[] = [];
    for (const received of operations) {
      const checked = await checkSettlement(this.context, tx, received, stored);
      answers.push(checked.ok ? ok(undefined) : checked);
      if (!checked.ok) continue;
      storing.push(received); // the records left out are stored here already
      if (!checked.value.again) settling.push(checked.value.records);
    }
    const applying = plansOf(settling);
    refuseRepeats(storing.map((records) => records[0]!.record.remittanceId));
    // Only the units the settlements change are read (a refusal's settlement reads none), with
    // the plans held for them (on PostgreSQL one round trip).
    const [rows] = await Promise.all([
      this.readVerified(
        tx,
        applying.flatMap(({ operation, plan }) => unitsSettled(operation, plan)),
      ),
      this.#endPlans(tx, applying),
    ]);
    const batch = commitCurrencyBatch(
      { read: (n) => rows.get(n), activeOf: () => [] },
      { unit: 0n, sequence: 0n },
      applying.map(({ operation, plan }) => ({ kind: 'settle', operation, plan })),
    );
    for (const result of batch.results)
      expectStored(!('contradictions' in result), 'the units a settlement changes are stored');
    assert(
      batch.unitNumbersTaken === 0 && batch.planSequencesTaken === 0,
      'a settlement takes no numbers',
    );
    for (const row of batch.rows) await this.putSigned(tx, row);
    await appendOrRefuse(tx, storing.flat());
    return answers;
  }

  /**
   * The plans the settlements carry out that are held here (a5's, for those whose a5 accepted one),
   * checked against what a5 signed and ended (one read, one delete).
   */
  async #endPlans(tx: CurrencyTx, applying: readonly SettledPlan[]): Promise<void> {
    const held = await tx.plans(applying.map(({ operation }) => operation[0]!.remittanceId));
    for (const { operation, planJson } of applying) {
      const heldPlan = held.get(operation[0]!.remittanceId);
      expectStored(
        heldPlan === undefined || heldPlan.planJson === planJson,
        'the held plan is the one a5 signed',
      );
    }
    if (held.size > 0) await tx.deletePlans([...held.keys()]);
  }

  /** The units a step reads, in one read, each verified first (context.ts: verifiedRows). */
  private async readVerified(
    tx: CurrencyTx,
    numbers: readonly bigint[],
  ): Promise<ReadonlyMap<bigint, CurrencyRowContent>> {
    const found = await tx.units(numbers);
    return verifiedRows(this.context, found, currencyRows, (n) => `currency unit ${n}`);
  }

  private async putSigned(tx: CurrencyTx, content: CurrencyRowContent): Promise<void> {
    assert(content.value > 0n, 'a unit has a positive value');
    const signature = signOwnRow(this.context, currencyRows, content);
    const row: CurrencyRow = {
      currencyNumber: content.currencyNumber,
      currencyType: content.currencyType,
      value: content.value,
      ownerAccount: content.ownerAccount,
      status: content.status,
      lastUpdate: content.lastUpdate,
      signerKeyNumber: this.context.signingKeyNumber,
      signature,
    };
    await tx.putUnit(row);
    // Not read back on the hot path: the row's next use reads and verifies it first (verifiedRow,
    // against the copy signOwnRow kept), and the continuous audit walks every row's signature.
  }
}
