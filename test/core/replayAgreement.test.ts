// The devices and the audit's replay run the same machines (src/core) but in different orders: a
// device applies each step when it comes, concurrent operations interleaved (a hold now, its
// settlement after other operations' decisions), while the replay applies whole operations, B in
// transaction-number order and C in plan order. This test drives the machines as the drivers do,
// over random seeded workloads with random interleavings (accounts opened, currency issued,
// remittances in confirm mode, some refused), builds the log the devices would sign, and checks
// that replaying it gives B and C exactly as the live run left them, lastUpdate included, and that
// invariants 1 and 2 hold.
import { describe, expect, it } from 'vitest';
import { replayAccounts, replayUnits } from '../../src/audit/replay.js';
import { applySettlement, decideAccountRequest } from '../../src/core/account.js';
import {
  applyCurrencyRequest,
  applyUnitSettlement,
  issuancePlan,
  issuanceValuesOf,
  paymentPlan,
  unitNumbersNeeded,
} from '../../src/core/currency.js';
import type { UnitPlan } from '../../src/protocol/details.js';
import type { TransactionRecord } from '../../src/protocol/records.js';
import type { AccountRowContent, CurrencyRowContent } from '../../src/protocol/rows.js';
import { outcomeOk, type TransactionType } from '../../src/protocol/transactionTypes.js';
import { choosePayment } from '../../src/protocol/units.js';
import { SeededRandom } from '../../src/simulator/random.js';

type Kind = 'account_issuing' | 'issuance' | 'remittance';
type Phase = 'account' | 'currency' | 'response' | 'settleAccount' | 'settleCurrency' | 'done';

interface Operation {
  readonly kind: Kind;
  readonly records: TransactionRecord[];
  phases: Phase[];
}

/** The live devices: B, C, holds and held plans, counters, a clock, and the log they sign. */
class Ledger {
  readonly accounts = new Map<bigint, AccountRowContent>();
  readonly units = new Map<bigint, CurrencyRowContent>();
  readonly holds = new Map<string, bigint>();
  readonly plans = new Map<string, UnitPlan>();
  readonly operations: Operation[] = [];
  nextBase = 1n;
  nextAccount = 1n;
  nextUnit = 1n;
  nextSequence = 1n;
  issued = 0n;
  clockMs = 1_000n;

  tick(): bigint {
    this.clockMs += 1n;
    return this.clockMs;
  }

  /** S101: the request and the account request, numbered in arrival order. */
  start(kind: Kind, fields: Partial<TransactionRecord>): void {
    const base = this.nextBase;
    this.nextBase += 6n;
    const at = this.tick();
    const remittanceId = `op-${base}`;
    const requestType = `${kind}_request` as TransactionType;
    const common = { remittanceId, dateTime: at, signerKeyNumber: 1, currencyType: 'JPY' };
    const accountRequest: TransactionRecord = {
      ...common,
      ...fields,
      transactionNumber: base + 1n,
      transactionType:
        kind === 'remittance' ? 'account_confirmation_request' : 'account_update_request',
    };
    const request: TransactionRecord = {
      ...common,
      ...fields,
      transactionNumber: base,
      transactionType: requestType,
    };
    this.operations.push({
      kind,
      records: [request, accountRequest],
      phases: ['account', 'currency', 'response', 'settleAccount', 'settleCurrency', 'done'],
    });
  }

  advance(operation: Operation): void {
    const phase = operation.phases.shift();
    const [request, accountRequest] = operation.records as [TransactionRecord, TransactionRecord];
    const { detail: _detail, ...fields } = accountRequest;
    const step = (offset: bigint, type: TransactionType, extra: Partial<TransactionRecord> = {}) =>
      operation.records.push({
        ...fields,
        transactionNumber: request.transactionNumber + offset,
        transactionType: type,
        dateTime: this.tick(),
        ...extra,
      });
    switch (phase) {
      case 'account': {
        const decision = decideAccountRequest(
          (n) => (this.#openedBefore(n, request) ? this.accounts.get(n) : undefined),
          request,
          accountRequest,
        );
        if ('contradictions' in decision) throw new Error(decision.contradictions.join('; '));
        for (const row of decision.effect?.rows ?? []) this.accounts.set(row.accountNumber, row);
        if (decision.effect?.hold)
          this.holds.set(request.remittanceId, decision.effect.hold.amount);
        const confirm = accountRequest.transactionType === 'account_confirmation_request';
        step(2n, confirm ? 'account_confirmation_response' : 'account_update_response', {
          outcome: decision.outcome,
        });
        return;
      }
      case 'currency':
        this.#currency(operation, step);
        return;
      case 'response': {
        const refusal = operation.records.find((r) => r.outcome && r.outcome !== outcomeOk);
        step(5n, `${operation.kind}_response` as TransactionType, {
          outcome: refusal?.outcome ?? outcomeOk,
        });
        return;
      }
      case 'settleAccount': {
        const effect = applySettlement((n) => this.accounts.get(n), operation.records);
        if ('contradictions' in effect) throw new Error(effect.contradictions.join('; '));
        for (const row of effect.rows) this.accounts.set(row.accountNumber, row);
        if (effect.endsHold) this.holds.delete(request.remittanceId);
        return;
      }
      case 'settleCurrency': {
        const plan = this.plans.get(request.remittanceId) ?? planOf(operation.records);
        if (!plan) return;
        const rows = applyUnitSettlement((n) => this.units.get(n), operation.records, plan);
        if ('contradictions' in rows) throw new Error(rows.contradictions.join('; '));
        for (const row of rows) this.units.set(row.currencyNumber, row);
        this.plans.delete(request.remittanceId);
        return;
      }
      default:
        return;
    }
  }

  /**
   * As the account device sees it (account/service.ts, forgetOpenedLater): an account exists for a
   * request when its opening was settled at account before, with a lower number; an opening sees
   * every account, to refuse a number taken.
   */
  #openedBefore(accountNumber: bigint, request: TransactionRecord): boolean {
    if (request.transactionType === 'account_issuing_request') return true;
    const opening = this.operations.find(
      (o) =>
        o.kind === 'account_issuing' &&
        o.records[1]!.destinationAccount === accountNumber &&
        o.records.at(-1)?.outcome === outcomeOk &&
        o.records.at(-1)?.transactionType === 'account_issuing_response' &&
        !o.phases.includes('settleAccount'),
    );
    return (
      opening !== undefined && opening.records[0]!.transactionNumber < request.transactionNumber
    );
  }

  /** S104-S105, skipped when a3 refused or the operation has no currency part. */
  #currency(
    operation: Operation,
    step: (offset: bigint, type: TransactionType, extra?: Partial<TransactionRecord>) => void,
  ): void {
    const [request, accountRequest, accountResponse] = operation.records;
    if (operation.kind === 'account_issuing' || accountResponse?.outcome !== outcomeOk) return;
    const confirm = operation.kind === 'remittance';
    step(3n, confirm ? 'currency_confirmation_request' : 'currency_update_request');
    const currencyRequest = operation.records.at(-1)!;
    let plan: UnitPlan | undefined;
    let outcome: string = outcomeOk;
    if (operation.kind === 'issuance') {
      const values = issuanceValuesOf(request!, currencyRequest)!;
      plan = issuancePlan(
        values,
        currencyRequest.destinationAccount!,
        this.#reserve(values.length),
      );
      this.issued += currencyRequest.amount!;
    } else {
      const payer = accountRequest!.sourceAccount!;
      const active = [...this.units.values()].filter(
        (u) => u.ownerAccount === payer && u.status === 'active',
      );
      const payment = choosePayment(active, currencyRequest.amount!);
      if (payment.ok) {
        const needed = unitNumbersNeeded(payment.value, false);
        plan = paymentPlan(payment.value, payer, currencyRequest.destinationAccount, {
          ...this.#reserve(needed),
        });
      } else outcome = payment.code;
    }
    if (plan) {
      const rows = applyCurrencyRequest((n) => this.units.get(n), currencyRequest, plan);
      if ('contradictions' in rows) throw new Error(rows.contradictions.join('; '));
      for (const row of rows) this.units.set(row.currencyNumber, row);
      if (confirm) this.plans.set(request!.remittanceId, plan);
    }
    step(4n, confirm ? 'currency_confirmation_response' : 'currency_update_response', {
      outcome,
      ...(plan ? { detail: JSON.stringify(plan) } : {}),
    });
  }

  #reserve(unitCount: number) {
    const firstUnit = unitCount > 0 ? this.nextUnit : 0n;
    this.nextUnit += BigInt(unitCount);
    const sequence = this.nextSequence;
    this.nextSequence += 1n;
    return { firstUnit, sequence };
  }
}

function planOf(records: readonly TransactionRecord[]): UnitPlan | undefined {
  const response = records.find((r) => r.transactionType.startsWith('currency_') && r.detail);
  return response?.outcome === outcomeOk ? JSON.parse(response.detail!) : undefined;
}

/** One seeded run: a workload started and advanced in a random interleaving, to the end. */
function run(seed: number, operationsMax: number): Ledger {
  const choose = new SeededRandom(seed);
  const ledger = new Ledger();
  const open = () => ledger.operations.filter((o) => o.phases.length > 0);
  let started = 0;
  while (started < operationsMax || open().length > 0) {
    const inFlight = open();
    if (started < operationsMax && (inFlight.length === 0 || choose.chance(0.4))) {
      started += 1;
      const accounts = Number(ledger.nextAccount - 1n);
      const anyAccount = () => BigInt(1 + choose.below(Math.max(accounts, 1) + 1));
      if (accounts < 2 || choose.chance(0.1)) {
        ledger.start('account_issuing', { destinationAccount: ledger.nextAccount });
        ledger.nextAccount += 1n;
      } else if (choose.chance(0.25)) {
        const values = [BigInt(100 * (1 + choose.below(5))), BigInt(1 + choose.below(50))];
        ledger.start('issuance', {
          destinationAccount: anyAccount(),
          amount: values[0]! + values[1]!,
          detail: JSON.stringify({ values: values.map(String) }),
        });
      } else {
        const source = anyAccount();
        const destination = anyAccount();
        ledger.start('remittance', {
          sourceAccount: source,
          destinationAccount: destination,
          amount: BigInt(1 + choose.below(250)),
        });
      }
      continue;
    }
    ledger.advance(inFlight[choose.below(inFlight.length)]!);
  }
  return ledger;
}

const seeds = Array.from({ length: 40 }, (_, i) => i + 1);

describe('live results and the replay agree over random interleavings', () => {
  it.each(seeds)('seed %i: B and C replayed from the log equal the live ones', (seed) => {
    const ledger = run(seed, 80);
    const byNumber = ledger.operations
      .map((o) => o.records)
      .sort((a, b) => (a[0]!.transactionNumber < b[0]!.transactionNumber ? -1 : 1));
    expect(replayAccounts(byNumber)).toEqual(ledger.accounts);
    expect(replayUnits(byNumber)).toEqual(ledger.units);
    // Invariant 1: each balance is the sum of its account's live units; nothing is held at the end.
    for (const account of ledger.accounts.values()) {
      const units = [...ledger.units.values()].filter(
        (u) => u.ownerAccount === account.accountNumber && u.status !== 'retired',
      );
      expect(units.reduce((sum, u) => sum + u.value, 0n)).toBe(account.balance);
      expect(account.held).toBe(0n);
    }
    // Invariant 2: the total is what was issued.
    const total = [...ledger.accounts.values()].reduce((sum, a) => sum + a.balance, 0n);
    expect(total).toBe(ledger.issued);
    expect(ledger.holds.size + ledger.plans.size).toBe(0);
  });
});
