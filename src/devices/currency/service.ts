// The currency information management device (currency, C): its side of every operation.
//
// exchange (S104-S105): receives the records so far (a1-a4), verifies every link, and answers with
// a5 signed by its own key. a5 carries the unit plan in its detail: which units change owner, which
// are retired, which new numbered units are issued (FIG. 1H; the rule is in protocol/units.ts). In
// confirm mode the units are held until the response; in update mode, and for issuance and
// redemption, the plan is carried out at once.
// settle (S110-S111): stores the operation's records and carries out a held plan (a6 ok) or
// releases it (a6 refused); a refused update is reversed, justified by a6.
// Every unit row written is signed by this device's key (FIG. 5).

import { replayCopy } from '../../audit/replay.js';
import { assert } from '../../model/assert.js';
import { fail, ok, type Result } from '../../model/errors.js';
import { issuanceDetail, parseDetail, type UnitPlan, unitPlan } from '../../protocol/details.js';
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
    crashPoint('S105');
    return answer;
  }

  async settle(records: readonly SignedRecord[]): Promise<Result<undefined>> {
    const settled = await refusingUnverifiedRows(() =>
      this.store.transact(async (tx) => {
        const done = await settleOperation(this.context, tx, records, (t, r, response) =>
          this.apply(t, r, response),
        );
        crashPoint('S110'); // nothing of this settlement is committed yet
        return done;
      }),
    );
    crashPoint('S111');
    return settled;
  }

  // ---- Decisions (S104-S105) ------------------------------------------------------------------

  private async decide(
    tx: CurrencyTx,
    request: TransactionRecord,
    currencyRequest: TransactionRecord,
  ): Promise<Decision> {
    const at = currencyRequest.dateTime;
    const currencyType = currencyRequest.currencyType;
    const amount = currencyRequest.amount;
    if (currencyType === undefined || amount === undefined) return { outcome: 'InvalidInput' };
    switch (operationOf(request.transactionType)) {
      case 'issuance': {
        const values = parseDetail(issuanceDetail, request.detail)?.values.map(BigInt);
        const owner = currencyRequest.destinationAccount;
        if (
          !values ||
          owner === undefined ||
          values.reduce((a, b) => a + b, 0n) !== amount ||
          values.some((v) => v <= 0n)
        ) {
          return { outcome: 'InvalidInput' };
        }
        const first = await tx.reserveUnitNumbers(values.length);
        const plan: UnitPlan = {
          sequence: String(await tx.nextPlanSequence()),
          moved: [],
          retired: [],
          issued: values.map((value, i) => ({
            currencyNumber: String(first + BigInt(i)),
            value: String(value),
            ownerAccount: String(owner),
          })),
        };
        await this.carryOut(tx, plan, owner, currencyType, at);
        return { outcome: outcomeOk, plan };
      }
      case 'redemption':
      case 'remittance': {
        const payer = currencyRequest.sourceAccount;
        if (payer === undefined) return { outcome: 'InvalidInput' };
        const payee = currencyRequest.destinationAccount;
        const units = await tx.unitsOf(payer, currencyType, 'active');
        const payment = choosePayment(units, amount);
        if (!payment.ok) return { outcome: payment.code };
        const { whole, split } = payment.value;
        const redeeming = payee === undefined;
        const splitNumbers = split ? await tx.reserveUnitNumbers(redeeming ? 1 : 2) : 0n;
        const issued: UnitPlan['issued'] = [];
        if (split && !redeeming)
          issued.push({
            currencyNumber: String(splitNumbers),
            value: String(split.paid),
            ownerAccount: String(payee),
          });
        if (split) {
          const change = split.value - split.paid;
          issued.push({
            currencyNumber: String(splitNumbers + (redeeming ? 0n : 1n)),
            value: String(change),
            ownerAccount: String(payer),
          });
        }
        const plan: UnitPlan = {
          sequence: String(await tx.nextPlanSequence()),
          moved: redeeming ? [] : whole.map(String),
          retired: [
            ...(redeeming ? whole.map(String) : []),
            ...(split ? [String(split.currencyNumber)] : []),
          ],
          issued,
        };
        if (currencyRequest.transactionType === 'currency_confirmation_request') {
          for (const number of [...whole, ...(split ? [split.currencyNumber] : [])]) {
            const unit = await this.verified(tx, number);
            expectStored(unit && unit.status === 'active', 'a planned unit is active');
            await this.write(tx, { ...unit, status: 'held', lastUpdate: at });
          }
          await tx.putPlan({
            remittanceId: currencyRequest.remittanceId,
            planJson: JSON.stringify(plan),
          });
        } else {
          await this.carryOut(tx, plan, payee, currencyType, at);
        }
        return { outcome: outcomeOk, plan };
      }
      default:
        return { outcome: 'InvalidInput' };
    }
  }

  // ---- Settlement (S110-S111) -----------------------------------------------------------------

  private async apply(
    tx: CurrencyTx,
    records: readonly SignedRecord[],
    response: TransactionRecord,
  ): Promise<void> {
    const request = records[0]!.record;
    const at = response.dateTime;
    const succeeded = response.outcome === outcomeOk;
    const held = await tx.plan(response.remittanceId);
    if (held) {
      const plan = parseDetail(unitPlan, held.planJson);
      expectStored(plan, 'a stored plan parses');
      await tx.deletePlan(response.remittanceId);
      if (succeeded) {
        await this.carryOut(tx, plan, request.destinationAccount, request.currencyType ?? '', at);
      } else {
        for (const number of [...plan.moved, ...plan.retired]) {
          const unit = await this.verified(tx, BigInt(number));
          expectStored(unit && unit.status === 'held', 'a held unit is released');
          await this.write(tx, { ...unit, status: 'active', lastUpdate: at });
        }
      }
      return;
    }
    const currencyResponse = records.find((r) => stepOf(r.record.transactionType) === 5)?.record;
    const updated =
      currencyResponse?.transactionType === 'currency_update_response' &&
      currencyResponse.outcome === outcomeOk;
    if (succeeded || !updated) return;
    // A refused operation whose units were already changed: reverse the plan, justified by a6.
    const plan = parseDetail(unitPlan, currencyResponse.detail);
    assert(plan, 'a signed plan parses');
    const payer = request.sourceAccount;
    for (const number of plan.moved) {
      const unit = await this.verified(tx, BigInt(number));
      expectStored(unit && payer !== undefined, 'a moved unit exists');
      await this.write(tx, { ...unit, ownerAccount: payer, lastUpdate: at });
    }
    for (const number of plan.retired) {
      const unit = await this.verified(tx, BigInt(number));
      expectStored(unit, 'a retired unit exists');
      await this.write(tx, { ...unit, status: 'active', lastUpdate: at });
    }
    for (const issued of plan.issued) {
      const unit = await this.verified(tx, BigInt(issued.currencyNumber));
      expectStored(unit, 'an issued unit exists');
      await this.write(tx, { ...unit, status: 'retired', lastUpdate: at });
    }
  }

  /** Carry out a plan: moved units go to the payee, retired units retire, issued units are created. */
  private async carryOut(
    tx: CurrencyTx,
    plan: UnitPlan,
    payee: bigint | undefined,
    currencyType: string,
    at: bigint,
  ): Promise<void> {
    for (const number of plan.moved) {
      const unit = await this.verified(tx, BigInt(number));
      expectStored(
        unit && payee !== undefined && unit.status !== 'retired',
        'a moved unit exists and is live',
      );
      await this.write(tx, { ...unit, ownerAccount: payee, status: 'active', lastUpdate: at });
    }
    for (const number of plan.retired) {
      const unit = await this.verified(tx, BigInt(number));
      expectStored(unit && unit.status !== 'retired', 'a retired unit was live');
      await this.write(tx, { ...unit, status: 'retired', lastUpdate: at });
    }
    for (const issued of plan.issued) {
      const currencyNumber = BigInt(issued.currencyNumber);
      expectStored((await tx.unit(currencyNumber)) === undefined, 'an issued unit number is new');
      await this.write(tx, {
        currencyNumber,
        currencyType,
        value: BigInt(issued.value),
        ownerAccount: BigInt(issued.ownerAccount),
        status: 'active',
        lastUpdate: at,
      });
    }
  }

  /** Sign and store a unit row; its lastUpdate is the latest time of any change (see the account device). */
  private async write(tx: CurrencyTx, change: CurrencyRowContent): Promise<void> {
    // Every caller read this unit through `verified` in this same transaction (or it is new): read
    // again only for its lastUpdate, it is not verified a second time.
    const current = await tx.unit(change.currencyNumber);
    const content =
      current && current.lastUpdate > change.lastUpdate
        ? { ...change, lastUpdate: current.lastUpdate }
        : change;
    await this.putSigned(tx, content);
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
