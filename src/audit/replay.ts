// Replaying A: the account information (B) and currency information (C) that the transaction log
// justifies (docs/design.md invariant 4; patent [0064], [0081], [0083]).
//
// The replay runs the devices' own rules (the machines in core/account.ts and core/currency.ts, the
// ones the account and currency devices run), on the records alone, in this order:
// - B, in transaction-number order: account issuing and closing, credits and debits at a3 (update
//   mode, issuance, redemption), holds at a3 and their application or release at a6 (confirm mode),
//   and compensation when a6 refuses what a3 accepted. Balances are sums, so the order of
//   concurrent operations does not matter.
// - C, in the order the currency device made its unit plans (the `sequence` in each a5), which can
//   differ from transaction-number order: the final owner of a unit depends on it.
// A row's lastUpdate is the latest time of any change to it, as the devices write it.
// Input records must already be verified: the replay trusts their signatures. What it cannot trust
// is that signed records agree with each other: a device that acted on a forged row signs a change
// to an account or unit that A never made. Such a change is a contradiction: it is reported (to
// the audit, which makes it a finding and then trusts the replay no further) and skipped, never an
// assertion that would stop the device running the audit.

import {
  type AccountEffect,
  applyAccountRequest,
  applySettlement,
  type Contradiction as MachineContradiction,
} from '../core/account.js';
import { applyCurrencyRequest, applyUnitSettlement } from '../core/currency.js';
import { accountKeyDetail, parseDetail, type UnitPlan, unitPlan } from '../protocol/details.js';
import { blockOf, type TransactionRecord } from '../protocol/records.js';
import type { AccountRowContent, CurrencyRowContent } from '../protocol/rows.js';
import { outcomeOk, stepOf } from '../protocol/transactionTypes.js';
import type { AccountKeyEntry } from './checkpoint.js';

/** The records of one operation, in step order. */
export type Operation = readonly TransactionRecord[];

/** A change that signed records justify but the replayed state cannot take. */
export interface Contradiction {
  readonly remittanceId: string;
  /** The first transaction number of the operation. */
  readonly transactionNumber: bigint;
  readonly message: string;
}

export type Contradict = (message: string) => void;

/** Without a listener a contradiction is an error (the replay's own tests feed consistent logs). */
const contradictionIsError = (contradiction: Contradiction) => {
  throw new Error(
    `A contradicts itself at ${contradiction.remittanceId}: ${contradiction.message}`,
  );
};

function contradictOf(operation: Operation, onContradiction: (c: Contradiction) => void) {
  return (message: string) =>
    onContradiction({
      remittanceId: operation[0]?.remittanceId ?? '',
      transactionNumber: operation[0]?.transactionNumber ?? 0n,
      message,
    });
}

function steps(operation: Operation) {
  const at = (step: number) => operation.find((r) => stepOf(r.transactionType) === step);
  const request = at(1);
  if (!request) return undefined;
  return {
    request,
    accountRequest: at(2),
    accountResponse: at(3),
    currencyRequest: at(4),
    currencyResponse: at(5),
    response: at(6),
  };
}

const compare = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** B as the transaction log justifies it. Operations in transaction-number order. */
export function replayAccounts(operations: Iterable<Operation>): Map<bigint, AccountRowContent> {
  const replay = new AccountReplay([], contradictionIsError);
  for (const operation of operations) replay.apply(operation);
  return replay.accounts;
}

/** C as the transaction log justifies it. Operations in any order: they are sorted by plan sequence. */
export function replayUnits(operations: Iterable<Operation>): Map<bigint, CurrencyRowContent> {
  const replay = new UnitReplay([], 1n, contradictionIsError);
  for (const operation of operations) replay.apply(operation);
  return replay.finish();
}

/**
 * The replay of B one operation at a time, so that the audit streams A through it: memory grows
 * with the number of accounts, never with the length of the log.
 */
export class AccountReplay {
  readonly accounts: Map<bigint, AccountRowContent>;

  /** From the start of the log, or from a checkpoint's snapshot. */
  constructor(
    start: readonly AccountRowContent[],
    private readonly onContradiction: (contradiction: Contradiction) => void,
  ) {
    this.accounts = new Map(start.map((row) => [row.accountNumber, row]));
  }

  /** B as the replay has it now, in account order. */
  snapshot(): AccountRowContent[] {
    return [...this.accounts.values()].sort((a, b) => compare(a.accountNumber, b.accountNumber));
  }

  /** An operation's effect on B (core/account.ts): its accepted a2, then its settlement. */
  apply(operation: Operation): void {
    const contradict = contradictOf(operation, this.onContradiction);
    const found = steps(operation);
    if (!found) {
      contradict('the operation has no request');
      return;
    }
    const { request, accountRequest, accountResponse } = found;
    if (!accountRequest || accountResponse?.outcome !== outcomeOk) return;
    const read = (accountNumber: bigint) => this.accounts.get(accountNumber);
    const take = (effect: AccountEffect | MachineContradiction) => {
      if ('contradictions' in effect)
        for (const message of effect.contradictions) contradict(message);
      else for (const row of effect.rows) this.accounts.set(row.accountNumber, row);
    };
    // The settlement reads B as the accepted a2 left it.
    take(applyAccountRequest(read, request, accountRequest));
    take(applySettlement(read, operation));
  }
}

/**
 * The replay of C one operation at a time. Plans are applied in sequence order: a plan that
 * arrives early waits (the wait is bounded by how far concurrency reordered the log); a sequence
 * that never arrives (a plan whose operation never reached the log) is skipped at `finish`.
 */
export class UnitReplay {
  readonly #units: Map<bigint, CurrencyRowContent>;
  readonly #waiting = new Map<bigint, { plan: UnitPlan; operation: Operation }>();
  #nextSequence: bigint;

  /** From the start of the log, or from a checkpoint's snapshot. */
  constructor(
    start: readonly CurrencyRowContent[],
    nextSequence: bigint,
    private readonly onContradiction: (contradiction: Contradiction) => void,
  ) {
    this.#units = new Map(start.map((row) => [row.currencyNumber, row]));
    this.#nextSequence = nextSequence;
  }

  /** C as the replay has it now, in unit order; undefined while a plan waits for an earlier one. */
  snapshot(): { units: CurrencyRowContent[]; nextPlanSequence: bigint } | undefined {
    if (this.#waiting.size > 0) return undefined;
    const units = [...this.#units.values()].sort((a, b) =>
      compare(a.currencyNumber, b.currencyNumber),
    );
    return { units, nextPlanSequence: this.#nextSequence };
  }

  apply(operation: Operation): void {
    const contradict = contradictOf(operation, this.onContradiction);
    const currencyResponse = steps(operation)?.currencyResponse;
    if (currencyResponse?.outcome !== outcomeOk) return;
    const plan = parseDetail(unitPlan, currencyResponse.detail);
    if (!plan) {
      contradict('an accepted currency response carries no unit plan');
      return;
    }
    const sequence = BigInt(plan.sequence);
    if (this.#waiting.has(sequence) || sequence < this.#nextSequence) {
      contradict(`unit plan ${sequence} appears twice`);
      return;
    }
    this.#waiting.set(sequence, { plan, operation });
    this.#drain();
  }

  finish(): Map<bigint, CurrencyRowContent> {
    const rest = [...this.#waiting.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const sequence of rest) {
      const { plan, operation } = this.#waiting.get(sequence)!;
      this.#waiting.delete(sequence);
      applyPlan(this.#units, plan, operation, contradictOf(operation, this.onContradiction));
    }
    return this.#units;
  }

  #drain(): void {
    for (;;) {
      const next = this.#waiting.get(this.#nextSequence);
      if (!next) return;
      this.#waiting.delete(this.#nextSequence);
      this.#nextSequence += 1n;
      applyPlan(
        this.#units,
        next.plan,
        next.operation,
        contradictOf(next.operation, this.onContradiction),
      );
    }
  }
}

/** An accepted plan's effect on C (core/currency.ts): at a4's time, then its settlement. */
function applyPlan(
  units: Map<bigint, CurrencyRowContent>,
  plan: UnitPlan,
  operation: Operation,
  contradict: Contradict,
): void {
  const currencyRequest = steps(operation)?.currencyRequest;
  if (!currencyRequest) {
    contradict('an accepted currency response has no currency request');
    return;
  }
  const read = (currencyNumber: bigint) => units.get(currencyNumber);
  const take = (changed: readonly CurrencyRowContent[] | MachineContradiction) => {
    if ('contradictions' in changed)
      for (const message of changed.contradictions) contradict(message);
    else for (const row of changed) units.set(row.currencyNumber, row);
  };
  // The settlement reads C as the accepted a4 left it.
  take(applyCurrencyRequest(read, currencyRequest, plan));
  take(applyUnitSettlement(read, operation, plan));
}

/**
 * The key a settled, accepted account issuing gives its new account (its a2 names it): who signs
 * for that account from then on, as the audit and a device's own replay learn it.
 */
export function accountKeyEntryOf(operation: Operation): AccountKeyEntry | undefined {
  const response = operation.at(-1);
  if (response?.transactionType !== 'account_issuing_response' || response.outcome !== outcomeOk)
    return undefined;
  const accountRequest = operation.find((r) => stepOf(r.transactionType) === 2);
  const detail = parseDetail(accountKeyDetail, accountRequest?.detail);
  if (!detail || accountRequest?.destinationAccount === undefined) return undefined;
  return {
    accountNumber: accountRequest.destinationAccount,
    keyNumber: detail.keyNumber,
    ...(detail.publicKeyHex ? { publicKeyHex: detail.publicKeyHex } : {}),
  };
}

/** Account keys in account order, as a checkpoint keeps them. */
export function sortedKeyEntries(keys: ReadonlyMap<bigint, AccountKeyEntry>): AccountKeyEntry[] {
  return [...keys.values()].sort((a, b) => compare(a.accountNumber, b.accountNumber));
}

/**
 * The replay of a device's own copy of A (B, C and the account keys), fed a record at a time in
 * transaction-number order. It counts contradictions instead of reporting them: a copy that
 * contradicts itself justifies nothing.
 */
export class CopyReplay {
  contradictions = 0;
  readonly accounts: AccountReplay;
  readonly units: UnitReplay;
  readonly accountKeys = new Map<bigint, AccountKeyEntry>();
  #operation: TransactionRecord[] = [];

  constructor() {
    const contradicted = () => {
      this.contradictions += 1;
    };
    this.accounts = new AccountReplay([], contradicted);
    this.units = new UnitReplay([], 1n, contradicted);
  }

  add(record: TransactionRecord): void {
    const first = this.#operation[0];
    if (first && blockOf(first.transactionNumber) !== blockOf(record.transactionNumber))
      this.flush();
    this.#operation.push(record);
  }

  /** Apply the operation gathered so far: at the end of the copy, or of the part read. */
  flush(): void {
    const operation = this.#operation;
    if (operation.length === 0) return;
    this.accounts.apply(operation);
    this.units.apply(operation);
    const key = accountKeyEntryOf(operation);
    if (key) this.accountKeys.set(key.accountNumber, key);
    this.#operation = [];
  }
}

/**
 * The replay of a device's own copy of A, read in transaction-number order (pages as the stores
 * export them): what B and C must be by that copy alone. Account and currency check each row a
 * repair would put against it (devices/repair.ts), so that a row nobody's A justifies is never
 * signed, whoever asks. Undefined when the copy contradicts itself: then nothing is put.
 */
export async function replayCopy(
  pages: AsyncIterable<readonly { readonly record: TransactionRecord }[]>,
): Promise<
  { accounts: Map<bigint, AccountRowContent>; units: Map<bigint, CurrencyRowContent> } | undefined
> {
  const replay = new CopyReplay();
  for await (const page of pages) for (const { record } of page) replay.add(record);
  replay.flush();
  const units = replay.units.finish();
  return replay.contradictions === 0 ? { accounts: replay.accounts.accounts, units } : undefined;
}
