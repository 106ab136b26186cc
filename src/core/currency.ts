// The currency device's rules (C, FIG. 1D, FIG. 1H and FIG. 5) as a pure machine: written once, run
// by the currency device and by the audit's replay.
//
// A currency request (a4) is answered with a unit plan (S104-S105): which units move whole to the
// payee, which retire, which new numbered units are issued (the payment chosen by
// protocol/units.ts, the numbers and the plan's sequence handed in by the device, which reserves
// them). What an accepted plan changes at a4's time (units held in confirm mode, carried out in
// update mode), and what the settlement (a6, S110-S111) carries out, releases or undoes, is here
// and nowhere else. The functions are synchronous and do no I/O: the units a step touches come in
// already read (at the device: verified; `unitsTouched` says which), and what comes out is the
// rows to write. A change that signed records justify but C cannot take (a unit A never issued, a
// number issued twice, a retired unit spent) is a contradiction, returned as a value: the device
// refuses the step, the replay reports a finding.

import { assert } from '../model/assert.js';
import { issuanceDetail, parseDetail, type UnitPlan } from '../protocol/details.js';
import type { TransactionRecord } from '../protocol/records.js';
import type { CurrencyRowContent } from '../protocol/rows.js';
import { operationOf, outcomeOk, stepOf } from '../protocol/transactionTypes.js';
import { choosePayment, type Payment, type Unit, unitsUnlisted } from '../protocol/units.js';
import type { Contradiction } from './account.js';

/** The rows of C a step reads, by unit number (undefined: no such unit). */
export type UnitLookup = (currencyNumber: bigint) => CurrencyRowContent | undefined;

/** The numbers a plan takes, reserved by the device: new units from `firstUnit`, and its sequence. */
export interface PlanNumbers {
  readonly firstUnit: bigint;
  readonly sequence: bigint;
}

/** How many new unit numbers a payment needs: the payee's part and the change of a split unit. */
export function unitNumbersNeeded(payment: Payment, redeeming: boolean): number {
  if (!payment.split) return 0;
  return redeeming ? 1 : 2;
}

/**
 * The plan of a remittance (units to the payee) or a redemption (no payee: units retire): whole
 * units move (or retire), a split unit retires, and new units carry the paid part and the change.
 */
export function paymentPlan(
  payment: Payment,
  payer: bigint,
  payee: bigint | undefined,
  numbers: PlanNumbers,
): UnitPlan {
  const { whole, split } = payment;
  const redeeming = payee === undefined;
  const issued: UnitPlan['issued'] = [];
  if (split && !redeeming)
    issued.push({
      currencyNumber: String(numbers.firstUnit),
      value: String(split.paid),
      ownerAccount: String(payee),
    });
  if (split)
    issued.push({
      currencyNumber: String(numbers.firstUnit + (redeeming ? 0n : 1n)),
      value: String(split.value - split.paid),
      ownerAccount: String(payer),
    });
  assert(
    issued.length === unitNumbersNeeded(payment, redeeming),
    'a plan takes the numbers reserved',
  );
  return {
    sequence: String(numbers.sequence),
    moved: redeeming ? [] : whole.map(String),
    retired: [
      ...(redeeming ? whole.map(String) : []),
      ...(split ? [String(split.currencyNumber)] : []),
    ],
    issued,
  };
}

/**
 * The values of the units an issuance creates (its a1 detail), if they are positive and add up to
 * the amount of the currency request; undefined otherwise (the request is refused as InvalidInput).
 */
export function issuanceValuesOf(
  request: TransactionRecord,
  currencyRequest: TransactionRecord,
): bigint[] | undefined {
  const values = parseDetail(issuanceDetail, request.detail)?.values.map(BigInt);
  if (!values || values.some((v) => v <= 0n)) return undefined;
  return values.reduce((a, b) => a + b, 0n) === currencyRequest.amount ? values : undefined;
}

/** The plan of an issuance: one new unit per value, all to the owner. */
export function issuancePlan(
  values: readonly bigint[],
  owner: bigint,
  numbers: PlanNumbers,
): UnitPlan {
  assert(values.length > 0 && values.every((v) => v > 0n), 'an issuance has positive values');
  return {
    sequence: String(numbers.sequence),
    moved: [],
    retired: [],
    issued: values.map((value, i) => ({
      currencyNumber: String(numbers.firstUnit + BigInt(i)),
      value: String(value),
      ownerAccount: String(owner),
    })),
  };
}

/** The existing units a plan touches: what the device reads (and verifies) before applying it. */
export function unitsTouched(plan: UnitPlan): bigint[] {
  return [...plan.moved, ...plan.retired, ...plan.issued.map((u) => u.currencyNumber)].map(BigInt);
}

/**
 * What an accepted currency request (a5 ok, with this plan) changes in C at a4's time: in confirm
 * mode the units it spends are held; otherwise the plan is carried out.
 */
export function applyCurrencyRequest(
  read: UnitLookup,
  currencyRequest: TransactionRecord,
  plan: UnitPlan,
): readonly CurrencyRowContent[] | Contradiction {
  const changes = new UnitChanges(read);
  const at = currencyRequest.dateTime;
  if (currencyRequest.transactionType === 'currency_confirmation_request') {
    for (const number of [...plan.moved, ...plan.retired])
      changes.change(number, at, (unit) => unit.status === 'active', { status: 'held' });
    return changes.rows();
  }
  if (currencyRequest.currencyType === undefined)
    return { contradictions: ['an accepted currency request names no currency'] };
  changes.carryOut(plan, currencyRequest.destinationAccount, currencyRequest.currencyType, at);
  return changes.rows();
}

/**
 * The parts of an operation whose settlement changes C: held units (confirm mode) carried out or
 * released, or an update that a6 refuses after a5 accepted it. Undefined when it changes nothing.
 */
function settlementOf(operation: readonly TransactionRecord[]) {
  const at = (step: number) => operation.find((r) => stepOf(r.transactionType) === step);
  const request = at(1);
  const currencyRequest = at(4);
  const response = at(6);
  if (!request || !currencyRequest || !response || at(5)?.outcome !== outcomeOk) return undefined;
  const confirmed = currencyRequest.transactionType === 'currency_confirmation_request';
  if (!confirmed && response.outcome === outcomeOk) return undefined;
  return { request, response, confirmed };
}

/** The units a settlement changes: what the device reads before it runs the machine. */
export function unitsSettled(operation: readonly TransactionRecord[], plan: UnitPlan): bigint[] {
  return settlementOf(operation) ? unitsTouched(plan) : [];
}

/**
 * S110-S111: what the settlement of an operation (its records up to a6, in step order, the plan
 * its a5 carries) changes in C at a6's time: held units are carried out or released; an update that
 * a6 refuses after a5 accepted it is reversed.
 */
export function applyUnitSettlement(
  read: UnitLookup,
  operation: readonly TransactionRecord[],
  plan: UnitPlan,
): readonly CurrencyRowContent[] | Contradiction {
  const settlement = settlementOf(operation);
  if (!settlement) return [];
  const { request, response, confirmed } = settlement;
  const changes = new UnitChanges(read);
  const when = response.dateTime;
  const succeeded = response.outcome === outcomeOk;
  if (confirmed) {
    if (succeeded)
      changes.carryOut(plan, request.destinationAccount, request.currencyType ?? '', when);
    else
      for (const number of [...plan.moved, ...plan.retired])
        changes.change(number, when, (unit) => unit.status === 'held', { status: 'active' });
    return changes.rows();
  }
  const payer = request.sourceAccount;
  for (const number of plan.moved)
    changes.change(number, when, () => payer !== undefined, {
      ...(payer === undefined ? {} : { ownerAccount: payer }),
    });
  for (const number of plan.retired) changes.change(number, when, () => true, { status: 'active' });
  for (const issued of plan.issued)
    changes.change(issued.currencyNumber, when, () => true, { status: 'retired' });
  return changes.rows();
}

/**
 * The unit rows one step changes, over what it reads: a later change of the same unit sees the
 * earlier one. A row's lastUpdate is the latest time of any change to it (as in core/account.ts).
 */
class UnitChanges {
  readonly #changed = new Map<bigint, CurrencyRowContent>();
  readonly #contradictions: string[] = [];

  constructor(private readonly read: UnitLookup) {}

  /** Moved units go to the payee, retired units retire, issued units are created. */
  carryOut(plan: UnitPlan, payee: bigint | undefined, currencyType: string, at: bigint): void {
    const live = (unit: CurrencyRowContent) => unit.status !== 'retired';
    for (const number of plan.moved)
      this.change(number, at, (unit) => live(unit) && payee !== undefined, {
        status: 'active',
        ...(payee === undefined ? {} : { ownerAccount: payee }),
      });
    for (const number of plan.retired) this.change(number, at, live, { status: 'retired' });
    for (const issued of plan.issued) {
      const currencyNumber = BigInt(issued.currencyNumber);
      if (this.#get(currencyNumber)) {
        this.#contradictions.push(`unit ${currencyNumber} is issued twice`);
        continue;
      }
      this.#changed.set(currencyNumber, {
        currencyNumber,
        currencyType,
        value: BigInt(issued.value),
        ownerAccount: BigInt(issued.ownerAccount),
        status: 'active',
        lastUpdate: at,
      });
    }
  }

  /** Change a unit that exists and is as `expected` says; otherwise the step contradicts C. */
  change(
    number: string,
    at: bigint,
    expected: (unit: CurrencyRowContent) => boolean,
    edit: Partial<CurrencyRowContent>,
  ): void {
    const unit = this.#get(BigInt(number));
    if (!unit || !expected(unit)) {
      this.#contradictions.push(
        unit
          ? `unit ${number} is ${unit.status}, which this change does not fit`
          : `unit ${number} changes, but A never issued it`,
      );
      return;
    }
    const lastUpdate = unit.lastUpdate > at ? unit.lastUpdate : at;
    this.#changed.set(unit.currencyNumber, { ...unit, ...edit, lastUpdate });
  }

  rows(): readonly CurrencyRowContent[] | Contradiction {
    if (this.#contradictions.length > 0) return { contradictions: this.#contradictions };
    return [...this.#changed.values()];
  }

  #get(currencyNumber: bigint): CurrencyRowContent | undefined {
    return this.#changed.get(currencyNumber) ?? this.read(currencyNumber);
  }
}

/** The a5 answer to a currency request: an outcome, and the plan of an accepted one. */
export interface CurrencyDecision {
  readonly outcome: string;
  readonly plan?: UnitPlan;
}

/** One step of a batch at currency, in the order the batch runs them. */
export type CurrencyStep =
  | {
      readonly kind: 'decide';
      readonly request: TransactionRecord;
      readonly currencyRequest: TransactionRecord;
    }
  | {
      readonly kind: 'settle';
      readonly operation: readonly TransactionRecord[];
      readonly plan: UnitPlan;
    };

/** What the batch reads of C, before it: units by number, and a payer's active units. */
export interface UnitsRead {
  readonly read: UnitLookup;
  readonly activeOf: (payer: bigint, currencyType: string) => readonly CurrencyRowContent[];
  /**
   * When activeOf lists only a payer's first active units in payment order (protocol/units.ts),
   * the last one listed; undefined (or absent) when it lists them all.
   */
  readonly listedUpTo?: (payer: bigint, currencyType: string) => Unit | undefined;
}

/** A payer whose units, as listed, do not decide a payment of the batch. */
export interface PayerUnits {
  readonly payer: bigint;
  readonly currencyType: string;
}

/**
 * A batch that needs more of C than was read: the payers whose units must all be listed (no
 * `listedUpTo`) for its payments to be decided. Nothing of it stands; the device reads and commits
 * the batch again.
 */
export interface UnitsUnlisted {
  readonly unlisted: readonly PayerUnits[];
}

/** What a batch does to C: each step's decision or rows, in order, and each changed row once. */
export interface CurrencyBatch {
  readonly results: readonly (CurrencyDecision | readonly CurrencyRowContent[] | Contradiction)[];
  /** The last version of every unit the batch changed or issued: what the device writes. */
  readonly rows: readonly CurrencyRowContent[];
  /** How many of the numbers handed in the batch took: the device reserves exactly these. */
  readonly unitNumbersTaken: number;
  readonly planSequencesTaken: number;
}

/**
 * A batch of steps, each over C as the steps before it left it (S104-S105 decisions and S110-S111
 * settlements alike): the commit of the currency machine. New unit numbers and plan sequences are
 * taken in order from `first` (the next free ones, read by the device, which reserves what was
 * taken). A step that contradicts C changes nothing, and the steps after it run on. When `before`
 * lists only the first units of a payer (`listedUpTo`) and a payment of the batch needs more, the
 * batch does not stand: the answer names every such payer (UnitsUnlisted).
 */
export function commitCurrencyBatch(
  before: UnitsRead & { readonly listedUpTo?: undefined },
  first: { readonly unit: bigint; readonly sequence: bigint },
  steps: readonly CurrencyStep[],
): CurrencyBatch;
export function commitCurrencyBatch(
  before: UnitsRead,
  first: { readonly unit: bigint; readonly sequence: bigint },
  steps: readonly CurrencyStep[],
): CurrencyBatch | UnitsUnlisted;
export function commitCurrencyBatch(
  before: UnitsRead,
  first: { readonly unit: bigint; readonly sequence: bigint },
  steps: readonly CurrencyStep[],
): CurrencyBatch | UnitsUnlisted {
  const changed = new Map<bigint, CurrencyRowContent>();
  const unlisted: PayerUnits[] = [];
  const now: UnitsRead = {
    ...(before.listedUpTo ? { listedUpTo: before.listedUpTo } : {}),
    read: (n) => changed.get(n) ?? before.read(n),
    activeOf: (payer, currencyType) => [
      ...before.activeOf(payer, currencyType).filter((unit) => !changed.has(unit.currencyNumber)),
      ...[...changed.values()].filter(
        (unit) =>
          unit.ownerAccount === payer &&
          unit.currencyType === currencyType &&
          unit.status === 'active',
      ),
    ],
  };
  const numbers = new NumberTaker(first);
  const results = steps.map((step) => {
    const result =
      step.kind === 'decide'
        ? decideCurrencyRequest(now, numbers, step.request, step.currencyRequest)
        : applyUnitSettlement(now.read, step.operation, step.plan);
    if ('unlisted' in result) {
      unlisted.push(result.unlisted);
      return { outcome: 'InvalidInput' } as const; // the batch does not stand (UnitsUnlisted)
    }
    if ('contradictions' in result) return result;
    const rows = 'outcome' in result ? (result.rows ?? []) : result;
    for (const row of rows) changed.set(row.currencyNumber, row);
    return 'outcome' in result
      ? { outcome: result.outcome, ...(result.plan ? { plan: result.plan } : {}) }
      : rows;
  });
  assert(results.length === steps.length, 'one result per step');
  if (unlisted.length > 0) return { unlisted };
  return { results, rows: [...changed.values()], ...numbers.taken(first) };
}

/** New unit numbers and plan sequences, taken in order from the first free ones. */
class NumberTaker {
  #unit: bigint;
  #sequence: bigint;

  constructor(first: { readonly unit: bigint; readonly sequence: bigint }) {
    this.#unit = first.unit;
    this.#sequence = first.sequence;
  }

  /** The numbers of one plan: `unitCount` new units (none: firstUnit 0) and its sequence. */
  take(unitCount: number): PlanNumbers {
    assert(unitCount >= 0, 'a plan issues zero or more units');
    const numbers = { firstUnit: unitCount > 0 ? this.#unit : 0n, sequence: this.#sequence };
    this.#unit += BigInt(unitCount);
    this.#sequence += 1n;
    return numbers;
  }

  taken(first: { readonly unit: bigint; readonly sequence: bigint }) {
    return {
      unitNumbersTaken: Number(this.#unit - first.unit),
      planSequencesTaken: Number(this.#sequence - first.sequence),
    };
  }
}

/**
 * S104-S105: the plan a currency request asks for, over C as it is now: the units an issuance
 * creates, or the payer's units a payment spends (protocol/units.ts chooses them); refused when
 * the payer's units cannot pay. An accepted plan's changes come with it.
 */
function decideCurrencyRequest(
  now: UnitsRead,
  numbers: NumberTaker,
  request: TransactionRecord,
  currencyRequest: TransactionRecord,
):
  | (CurrencyDecision & { readonly rows?: readonly CurrencyRowContent[] })
  | Contradiction
  | { readonly unlisted: PayerUnits } {
  const { currencyType, amount } = currencyRequest;
  if (currencyType === undefined || amount === undefined) return { outcome: 'InvalidInput' };
  let plan: UnitPlan;
  switch (operationOf(request.transactionType)) {
    case 'issuance': {
      const values = issuanceValuesOf(request, currencyRequest);
      const owner = currencyRequest.destinationAccount;
      if (!values || owner === undefined) return { outcome: 'InvalidInput' };
      plan = issuancePlan(values, owner, numbers.take(values.length));
      break;
    }
    case 'redemption':
    case 'remittance': {
      const payer = currencyRequest.sourceAccount;
      if (payer === undefined) return { outcome: 'InvalidInput' };
      const payee = currencyRequest.destinationAccount;
      const payment = choosePayment(
        now.activeOf(payer, currencyType),
        amount,
        now.listedUpTo?.(payer, currencyType),
      );
      if (payment === unitsUnlisted) return { unlisted: { payer, currencyType } };
      if (!payment.ok) return { outcome: payment.code };
      const needed = unitNumbersNeeded(payment.value, payee === undefined);
      plan = paymentPlan(payment.value, payer, payee, numbers.take(needed));
      break;
    }
    default:
      return { outcome: 'InvalidInput' };
  }
  const rows = applyCurrencyRequest(now.read, currencyRequest, plan);
  return 'contradictions' in rows ? rows : { outcome: outcomeOk, plan, rows };
}
