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

import { replayCopy } from '../../audit/replay.js';
import {
  applyCurrencyRequest,
  applyUnitSettlement,
  issuancePlan,
  issuanceValuesOf,
  type PlanNumbers,
  paymentPlan,
  unitNumbersNeeded,
  unitsSettled,
  unitsTouched,
} from '../../core/currency.js';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import { parseDetail, type UnitPlan, unitPlan } from '../../protocol/details.js';
import { type SignedRecord, signRecord, type TransactionRecord } from '../../protocol/records.js';
import { type CurrencyRowContent, currencyRowBytes } from '../../protocol/rows.js';
import { operationOf, outcomeOk, stepOf } from '../../protocol/transactionTypes.js';
import { choosePayment } from '../../protocol/units.js';
import type { CurrencyRow, CurrencyTx, Store } from '../../store/types.js';
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

interface Decision {
  readonly outcome: string;
  readonly plan?: UnitPlan;
}

export class CurrencyService {
  constructor(
    private readonly context: DeviceContext,
    private readonly store: Store<CurrencyTx>,
  ) {}

  /** At start: make every account's key usable for verification. */

  /** Recovery (devices/repair.ts): C rows are re-signed here, exactly as the replay of A gives them. */
  async repair(batch: RepairBatch<CurrencyRowContent>): Promise<Result<RepairCounts>> {
    const unjustified = await unjustifiedPut(
      batch.rows.put,
      async () => (await replayCopy(this.store.exportRecordPages()))?.units,
      (row) => row.currencyNumber,
      currencyRowBytes,
    );
    if (unjustified) return unjustified;
    return this.store.transact((tx) =>
      applyRepairs(tx, batch, now(this.context), {
        quarantine: (t, key, reason, atMs) => t.quarantineUnit(key, reason, atMs),
        putSigned: (t, content) => this.putSigned(t, content),
      }),
    );
  }

  async unitsOf(accountNumber: bigint, currencyType: string): Promise<CurrencyRow[]> {
    return this.store.transact(async (tx) => [
      ...(await tx.unitsOf(accountNumber, currencyType, 'active')),
      ...(await tx.unitsOf(accountNumber, currencyType, 'held')),
    ]);
  }

  async exchange(
    records: readonly SignedRecord[],
    { expired = false }: ExchangeOptions = {},
  ): Promise<Result<SignedRecord>> {
    const answer = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const currencyRequest = records.at(-1);
        if (
          records.length !== 4 ||
          !currencyRequest ||
          stepOf(currencyRequest.record.transactionType) !== 4
        ) {
          return fail('InvalidInput', 'a currency exchange carries the four records so far');
        }
        const earlier = await answered(tx, records, 5);
        if (earlier) return earlier;
        const refused = await verifyOperation(this.context, tx, records);
        if (refused) return refused;

        const decision: Decision = expired
          ? { outcome: 'OperationExpired' }
          : await this.decide(tx, records[0]!.record, currencyRequest.record);
        const response = signRecord(
          this.context.signatures,
          this.context.signingKeyNumber,
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
        assert(response.ok, 'the currency device signs with its own key');
        if (!(await tx.appendRecords([...records, response.value])))
          return fail('RecordConflict', 'records conflict with stored ones');
        return ok(response.value);
      }),
    );
    crashPoint(this.context, 'S105');
    return answer;
  }

  async settle(records: readonly SignedRecord[]): Promise<Result<undefined>> {
    const settled = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const done = await settleOperation(this.context, tx, records, (t, r, response) =>
          this.apply(t, r, response),
        );
        crashPoint(this.context, 'S110'); // nothing of this settlement is committed yet
        return done;
      }),
    );
    crashPoint(this.context, 'S111');
    return settled;
  }

  // ---- Decisions (S104-S105) and settlement (S110-S111): core/currency.ts decides -----------

  private async decide(
    tx: CurrencyTx,
    request: TransactionRecord,
    currencyRequest: TransactionRecord,
  ): Promise<Decision> {
    const currencyType = currencyRequest.currencyType;
    const amount = currencyRequest.amount;
    if (currencyType === undefined || amount === undefined) return { outcome: 'InvalidInput' };
    let plan: UnitPlan;
    switch (operationOf(request.transactionType)) {
      case 'issuance': {
        const values = issuanceValuesOf(request, currencyRequest);
        const owner = currencyRequest.destinationAccount;
        if (!values || owner === undefined) return { outcome: 'InvalidInput' };
        plan = issuancePlan(values, owner, await this.reserve(tx, values.length));
        break;
      }
      case 'redemption':
      case 'remittance': {
        const payer = currencyRequest.sourceAccount;
        if (payer === undefined) return { outcome: 'InvalidInput' };
        const payee = currencyRequest.destinationAccount;
        const payment = choosePayment(await tx.unitsOf(payer, currencyType, 'active'), amount);
        if (!payment.ok) return { outcome: payment.code };
        const needed = unitNumbersNeeded(payment.value, payee === undefined);
        plan = paymentPlan(payment.value, payer, payee, await this.reserve(tx, needed));
        break;
      }
      default:
        return { outcome: 'InvalidInput' };
    }
    const rows = await this.readVerified(tx, unitsTouched(plan));
    const changed = applyCurrencyRequest((n) => rows.get(n), currencyRequest, plan);
    expectStored(!('contradictions' in changed), 'the units a plan spends are live and stored');
    for (const row of changed) await this.putSigned(tx, row);
    if (currencyRequest.transactionType === 'currency_confirmation_request')
      await tx.putPlan({
        remittanceId: currencyRequest.remittanceId,
        planJson: JSON.stringify(plan),
      });
    return { outcome: outcomeOk, plan };
  }

  /** New unit numbers and the next plan sequence, taken from this store's counters. */
  private async reserve(tx: CurrencyTx, unitCount: number): Promise<PlanNumbers> {
    const firstUnit = unitCount > 0 ? await tx.reserveUnitNumbers(unitCount) : 0n;
    return { firstUnit, sequence: await tx.nextPlanSequence() };
  }

  private async apply(
    tx: CurrencyTx,
    records: readonly SignedRecord[],
    response: TransactionRecord,
  ): Promise<void> {
    const operation = records.map((r) => r.record);
    const currencyResponse = operation.find((r) => stepOf(r.transactionType) === 5);
    const plan = parseDetail(unitPlan, currencyResponse?.detail);
    if (currencyResponse?.outcome !== outcomeOk) return;
    expectStored(plan, 'an accepted currency response carries its plan');
    const held = await tx.plan(response.remittanceId);
    if (held) {
      expectStored(held.planJson === currencyResponse.detail, 'the held plan is the one a5 signed');
      await tx.deletePlan(response.remittanceId);
    }
    // Only the units the settlement changes are read: a refusal's settlement reads none.
    const rows = await this.readVerified(tx, unitsSettled(operation, plan));
    const changed = applyUnitSettlement((n) => rows.get(n), operation, plan);
    expectStored(!('contradictions' in changed), 'the units a settlement changes are stored');
    for (const row of changed) await this.putSigned(tx, row);
  }

  /** The units a step reads, each verified first (context.ts: verifiedRow); absent ones left out. */
  private async readVerified(
    tx: CurrencyTx,
    numbers: readonly bigint[],
  ): Promise<Map<bigint, CurrencyRowContent>> {
    const rows = new Map<bigint, CurrencyRowContent>();
    for (const number of numbers) {
      const row = await this.verified(tx, number);
      if (row) rows.set(number, row);
    }
    return rows;
  }

  /** A unit row this device acts on, verified first (context.ts: verifiedRow). */
  private async verified(tx: CurrencyTx, currencyNumber: bigint): Promise<CurrencyRow | undefined> {
    return verifiedRow(
      this.context,
      await tx.unit(currencyNumber),
      currencyRowBytes,
      `currency unit ${currencyNumber}`,
    );
  }

  private async putSigned(tx: CurrencyTx, content: CurrencyRowContent): Promise<void> {
    assert(content.value > 0n, 'a unit has a positive value');
    const signature = this.context.signatures.sign(
      this.context.signingKeyNumber,
      currencyRowBytes(content),
    );
    assert(signature.ok, 'the currency device signs its rows');
    const row: CurrencyRow = {
      currencyNumber: content.currencyNumber,
      currencyType: content.currencyType,
      value: content.value,
      ownerAccount: content.ownerAccount,
      status: content.status,
      lastUpdate: content.lastUpdate,
      signerKeyNumber: this.context.signingKeyNumber,
      signature: signature.value,
    };
    await tx.putUnit(row);
    const readBack = await tx.unit(content.currencyNumber);
    assert(readBack?.signature.equals(row.signature), 'unit row reads back as written');
  }
}
