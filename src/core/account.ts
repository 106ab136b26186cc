// The account device's rules (B, FIG. 1C and FIG. 4) as a pure machine: written once, run by the
// account device and by the audit's replay.
//
// What an account request (a2) asks of B and whether it may (S102-S103), what an accepted a2
// changes, what a settlement (a6, S108-S109) applies, releases or undoes: all of it is here and
// nowhere else. The functions are synchronous and do no I/O. The rows a step touches come in
// already read (at the device: read from its store and verified, `accountsTouched` says which),
// time comes in the records, and what comes out is the rows to write and the hold to keep or drop.
// The device (devices/account/service.ts) signs and stores the rows; the replay
// (audit/replay.ts) keeps them in memory as it rebuilds B from A. A change that the records
// justify but B cannot take (an account A never opened) is a contradiction, returned as a value:
// the device refuses the step, the replay reports a finding.

import { assert } from '../model/assert.js';
import { amountMax } from '../model/money.js';
import type { TransactionRecord } from '../protocol/records.js';
import type { AccountRowContent } from '../protocol/rows.js';
import { operationOf, outcomeOk, stepOf } from '../protocol/transactionTypes.js';

/** The rows of B a step reads, by account number (undefined: no such account). */
export type AccountLookup = (accountNumber: bigint) => AccountRowContent | undefined;

/** What a step does to B: the rows to write, each once, and the hold it places or ends. */
export interface AccountEffect {
  readonly rows: readonly AccountRowContent[];
  /**
   * The amount held until the settlement: on the source of a confirmed remittance, or on the
   * destination of a credit (an issuance, an update-mode remittance) not yet settled.
   */
  readonly hold?: { readonly accountNumber: bigint; readonly amount: bigint };
  /** The settlement ends the operation's hold (applied or released). */
  readonly endsHold?: { readonly accountNumber: bigint; readonly amount: bigint };
}

/** Changes that signed records justify but B or C cannot take, each said in words. */
export interface Contradiction {
  readonly contradictions: readonly string[];
}

/** The a3 answer to an account request: an outcome, and what an accepted one changes. */
export type AccountDecision =
  | { readonly outcome: typeof outcomeOk; readonly effect: AccountEffect }
  | { readonly outcome: string; readonly effect?: undefined };

const nothing: AccountEffect = { rows: [] };

/** The accounts a step over these records reads: what the device reads before it runs the machine. */
export function accountsTouched(accountRequest: TransactionRecord): bigint[] {
  const numbers = [accountRequest.sourceAccount, accountRequest.destinationAccount];
  return numbers.filter((n): n is bigint => n !== undefined);
}

/**
 * S102-S103: whether B allows what an account request asks, and if so its effect. The checks are
 * the device's to make; `applyAccountRequest` is what both the device and the replay apply.
 */
export function decideAccountRequest(
  read: AccountLookup,
  request: TransactionRecord,
  accountRequest: TransactionRecord,
): AccountDecision | Contradiction {
  const refusal = refusalOf(read, request, accountRequest);
  if (refusal !== undefined) return { outcome: refusal };
  const effect = applyAccountRequest(read, request, accountRequest);
  if ('contradictions' in effect) return effect;
  assertChangesNamed(effect, accountRequest);
  return { outcome: outcomeOk, effect };
}

/** Postcondition: a step changes, holds and releases only the accounts its a2 names. */
function assertChangesNamed(effect: AccountEffect, accountRequest: TransactionRecord): void {
  const named = accountsTouched(accountRequest);
  assert(
    effect.rows.every((row) => named.includes(row.accountNumber)) &&
      [effect.hold, effect.endsHold].every(
        (hold) => hold === undefined || (named.includes(hold.accountNumber) && hold.amount >= 0n),
      ),
    'a step changes only the accounts its a2 names',
  );
}

function refusalOf(
  read: AccountLookup,
  request: TransactionRecord,
  accountRequest: TransactionRecord,
): string | undefined {
  const amount = accountRequest.amount ?? 0n;
  const currency = accountRequest.currencyType;
  switch (operationOf(request.transactionType)) {
    case 'account_issuing': {
      const accountNumber = accountRequest.destinationAccount;
      if (accountNumber === undefined || currency === undefined) return 'InvalidInput';
      return read(accountNumber) ? 'RecordConflict' : undefined;
    }
    case 'account_closing': {
      const account = accountRequest.sourceAccount && read(accountRequest.sourceAccount);
      if (!account) return 'UnknownAccount';
      if (account.status !== 'open') return 'AccountClosed';
      return account.balance !== 0n || account.held !== 0n ? 'AccountNotEmpty' : undefined;
    }
    case 'issuance': {
      const destination = usable(read, accountRequest.destinationAccount, currency);
      if (typeof destination === 'string') return destination;
      return destination.balance > amountMax - amount ? 'InvalidAmount' : undefined;
    }
    case 'redemption': {
      const source = usable(read, accountRequest.sourceAccount, currency);
      if (typeof source === 'string') return source;
      return source.balance - source.held < amount ? 'InsufficientBalance' : undefined;
    }
    case 'remittance': {
      const source = usable(read, accountRequest.sourceAccount, currency);
      if (typeof source === 'string') return source;
      const destination = usable(read, accountRequest.destinationAccount, currency);
      if (typeof destination === 'string') return destination;
      if (source.accountNumber === destination.accountNumber) return 'SameAccount';
      if (source.balance - source.held < amount) return 'InsufficientBalance';
      return destination.balance > amountMax - amount ? 'InvalidAmount' : undefined;
    }
    default:
      return 'InvalidInput';
  }
}

/** The account if it can take part in an operation in this currency, else the refusal's code. */
function usable(
  read: AccountLookup,
  accountNumber: bigint | undefined,
  currencyType: string | undefined,
): AccountRowContent | string {
  if (accountNumber === undefined) return 'InvalidInput';
  const row = read(accountNumber);
  if (!row) return 'UnknownAccount';
  if (row.status !== 'open') return 'AccountClosed';
  return row.currencyType === currencyType ? row : 'CurrencyMismatch';
}

/** What an accepted account request (a3 ok) changes in B, at the a2's time. */
export function applyAccountRequest(
  read: AccountLookup,
  request: TransactionRecord,
  accountRequest: TransactionRecord,
): AccountEffect | Contradiction {
  assert(
    stepOf(request.transactionType) === 1 && stepOf(accountRequest.transactionType) === 2,
    'an account request is applied with its request',
  );
  const changes = new AccountChanges(read);
  const amount = accountRequest.amount ?? 0n;
  const at = accountRequest.dateTime;
  const { sourceAccount: source, destinationAccount: destination } = accountRequest;
  switch (operationOf(request.transactionType)) {
    case 'account_issuing':
      if (destination === undefined || accountRequest.currencyType === undefined)
        return { contradictions: ['a new account has no number or no currency'] };
      changes.open(destination, accountRequest.currencyType, at);
      break;
    case 'account_closing':
      changes.change(source, at, () => ({ status: 'closed' }));
      break;
    case 'issuance':
      return changes.credit(destination, amount, at);
    case 'redemption':
      changes.change(source, at, (row) => ({ balance: row.balance - amount }));
      break;
    case 'remittance':
      if (accountRequest.transactionType === 'account_confirmation_request') {
        changes.change(source, at, (row) => ({ held: row.held + amount }));
        return changes.effect(
          source === undefined ? {} : { hold: { accountNumber: source, amount } },
        );
      }
      changes.change(source, at, (row) => ({ balance: row.balance - amount }));
      return changes.credit(destination, amount, at);
    case undefined:
      return { contradictions: ['the request names no operation'] };
  }
  return changes.effect();
}

/**
 * The parts of an operation whose settlement changes B: a confirmed remittance (applied or
 * released), a credit held until then (released, or taken back when a6 refuses), or an update
 * that a6 refuses after a3 accepted it. Undefined when it changes nothing.
 */
function settlementOf(operation: readonly TransactionRecord[]) {
  const at = (step: number) => operation.find((r) => stepOf(r.transactionType) === step);
  const request = at(1);
  const accountRequest = at(2);
  const response = at(6);
  if (!request || !accountRequest || !response || at(3)?.outcome !== outcomeOk) return undefined;
  const confirmed = accountRequest.transactionType === 'account_confirmation_request';
  const credited = creditsHeld(request, accountRequest);
  if (!confirmed && !credited && response.outcome === outcomeOk) return undefined;
  return { request, accountRequest, response, confirmed, credited };
}

/**
 * Whether an update credits the destination with an amount held until the settlement: an
 * issuance, and a remittance in update mode. Until a6 says the operation stands, the money it
 * brings cannot be spent; otherwise a refusal after a3 (currency refuses, or the operation
 * expires) would take back money already paid on, leaving a balance below zero. (Seed 19 of
 * `triledger simulate`: an update-mode remittance refused OperationExpired after its payee had
 * spent it, and the account device stopped on invariant 3 at every retry of the settlement.)
 */
function creditsHeld(request: TransactionRecord, accountRequest: TransactionRecord): boolean {
  const kind = operationOf(request.transactionType);
  return (
    kind === 'issuance' ||
    (kind === 'remittance' && accountRequest.transactionType === 'account_update_request')
  );
}

/** The accounts a settlement changes: what the device reads before it runs the machine. */
export function accountsSettled(operation: readonly TransactionRecord[]): bigint[] {
  const settlement = settlementOf(operation);
  return settlement ? accountsTouched(settlement.accountRequest) : [];
}

/**
 * S108-S109: what the settlement of an operation (its records up to a6, in step order) changes in
 * B, at a6's time: a confirmed remittance is applied or its hold released; an update that a6
 * refuses after a3 accepted it is undone.
 */
export function applySettlement(
  read: AccountLookup,
  operation: readonly TransactionRecord[],
): AccountEffect | Contradiction {
  const settlement = settlementOf(operation);
  if (!settlement) return nothing;
  const effect = settlementEffect(read, settlement);
  if (!('contradictions' in effect)) assertChangesNamed(effect, settlement.accountRequest);
  return effect;
}

function settlementEffect(
  read: AccountLookup,
  settlement: NonNullable<ReturnType<typeof settlementOf>>,
): AccountEffect | Contradiction {
  const { request, accountRequest, response, confirmed, credited } = settlement;
  const changes = new AccountChanges(read);
  const amount = accountRequest.amount ?? 0n;
  const when = response.dateTime;
  const succeeded = response.outcome === outcomeOk;
  const { sourceAccount: source, destinationAccount: destination } = accountRequest;
  if (credited) {
    changes.change(destination, when, (row) =>
      succeeded
        ? { held: row.held - amount }
        : { balance: row.balance - amount, held: row.held - amount },
    );
    if (!succeeded && operationOf(request.transactionType) === 'remittance')
      changes.change(source, when, (row) => ({ balance: row.balance + amount }));
    return changes.effect(
      destination === undefined ? {} : { endsHold: { accountNumber: destination, amount } },
    );
  }
  if (confirmed) {
    if (operationOf(request.transactionType) !== 'remittance')
      return { contradictions: ['only a remittance is confirmed'] };
    changes.change(source, when, (row) =>
      succeeded
        ? { balance: row.balance - amount, held: row.held - amount }
        : { held: row.held - amount },
    );
    if (succeeded) changes.change(destination, when, (row) => ({ balance: row.balance + amount }));
    return changes.effect(
      source === undefined ? {} : { endsHold: { accountNumber: source, amount } },
    );
  }
  switch (operationOf(request.transactionType)) {
    case 'account_issuing':
      changes.change(destination, when, () => ({ status: 'closed' }));
      break;
    case 'account_closing':
      changes.change(source, when, () => ({ status: 'open' }));
      break;
    case 'redemption':
      changes.change(source, when, (row) => ({ balance: row.balance + amount }));
      break;
    case 'issuance':
    case 'remittance':
      return { contradictions: ['a credit held until the settlement is settled above'] };
    case undefined:
      return { contradictions: ['the request names no operation'] };
  }
  return changes.effect();
}

/**
 * The rows one step changes, over what it reads: a later change of the same account sees the
 * earlier one. A row's lastUpdate is the latest time of any change to it, whatever order
 * concurrent operations were applied in, so that a replay of A reproduces it exactly.
 */
class AccountChanges {
  readonly #changed = new Map<bigint, AccountRowContent>();
  readonly #contradictions: string[] = [];

  constructor(private readonly read: AccountLookup) {}

  open(accountNumber: bigint, currencyType: string, at: bigint): void {
    if (this.#get(accountNumber)) {
      this.#contradictions.push(`account ${accountNumber} is opened twice`);
      return;
    }
    this.#changed.set(accountNumber, {
      accountNumber,
      currencyType,
      balance: 0n,
      held: 0n,
      status: 'open',
      lastUpdate: at,
    });
  }

  change(
    accountNumber: bigint | undefined,
    at: bigint,
    edit: (row: AccountRowContent) => Partial<AccountRowContent>,
  ): void {
    const row = accountNumber === undefined ? undefined : this.#get(accountNumber);
    if (!row) {
      this.#contradictions.push(
        accountNumber === undefined
          ? 'a change to B names no account'
          : `account ${accountNumber} changes, but A never opened it`,
      );
      return;
    }
    // No check of invariant 3 here: the replay applies whole operations in transaction-number
    // order, so a balance may dip below zero between two concurrent operations and come back (the
    // sums are what count); the device asserts it on every row it signs.
    const lastUpdate = row.lastUpdate > at ? row.lastUpdate : at;
    this.#changed.set(row.accountNumber, { ...row, ...edit(row), lastUpdate });
  }

  /** Credit `amount` to an account, held (not yet spendable) until the settlement ends the hold. */
  credit(
    accountNumber: bigint | undefined,
    amount: bigint,
    at: bigint,
  ): AccountEffect | Contradiction {
    this.change(accountNumber, at, (row) => ({
      balance: row.balance + amount,
      held: row.held + amount,
    }));
    return this.effect(accountNumber === undefined ? {} : { hold: { accountNumber, amount } });
  }

  effect(extra: Omit<AccountEffect, 'rows'> = {}): AccountEffect | Contradiction {
    if (this.#contradictions.length > 0) return { contradictions: this.#contradictions };
    return { rows: [...this.#changed.values()], ...extra };
  }

  #get(accountNumber: bigint): AccountRowContent | undefined {
    return this.#changed.get(accountNumber) ?? this.read(accountNumber);
  }
}

/** One step of a batch at account, in the order the batch runs them. */
export type AccountStep =
  | {
      readonly kind: 'decide';
      readonly request: TransactionRecord;
      readonly accountRequest: TransactionRecord;
      /** Which accounts existed for this request (an account opened later is unknown to it). */
      readonly exists: (accountNumber: bigint) => boolean;
    }
  | { readonly kind: 'settle'; readonly operation: readonly TransactionRecord[] };

/** What a batch does to B: each step's decision or effect, in order, and each changed row once. */
export interface AccountBatch {
  readonly results: readonly (AccountDecision | AccountEffect | Contradiction)[];
  /** The last version of every row the batch changed: what the device writes. */
  readonly rows: readonly AccountRowContent[];
}

/**
 * A batch of steps, each over B as the steps before it left it (S102-S103 decisions and S108-S109
 * settlements alike): the commit of the account machine. A step that contradicts B changes
 * nothing, and the steps after it run on. A batch of one is the single step.
 */
export function commitAccountBatch(
  read: AccountLookup,
  steps: readonly AccountStep[],
): AccountBatch {
  const changed = new Map<bigint, AccountRowContent>();
  const current: AccountLookup = (n) => changed.get(n) ?? read(n);
  const results = steps.map((step) => {
    const result =
      step.kind === 'decide'
        ? decideAccountRequest(
            (n) => (step.exists(n) ? current(n) : undefined),
            step.request,
            step.accountRequest,
          )
        : applySettlement(current, step.operation);
    const effect =
      'contradictions' in result ? undefined : 'rows' in result ? result : result.effect;
    for (const row of effect?.rows ?? []) changed.set(row.accountNumber, row);
    return result;
  });
  assert(results.length === steps.length, 'one result per step');
  return { results, rows: [...changed.values()] };
}
