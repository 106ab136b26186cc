// What must hold at the end of every simulated run, once the network is healed, every device is
// up and every operation has settled. Each check that fails adds a line to the run's violations.
//
// - every copy of A holds the same records, byte for byte;
// - what A decided is applied exactly once: each balance is what A's successful operations add
//   up to, so an operation applied twice, or a refused one applied at all, shows;
// - per currency, the balances add up to what was issued less what was redeemed;
// - no balance is negative, nothing is still held, and each balance is the sum of its units;
// - every answer a terminal heard is what A says (a refusal at the door leaves nothing in A);
// - the audit of the three stores is clean, and the devices' continuous audits found nothing.

import { auditStores } from '../audit/offline.js';
import { recordBytes, type SignedRecord } from '../protocol/records.js';
import { operationOf, outcomeOk, stepOf } from '../protocol/transactionTypes.js';
import type { AccountStore, CurrencyStore, Store, TransactionTx } from '../store/types.js';
import type { DeploymentKeys } from './keys.js';
import type { Submitted } from './workload.js';

export interface SettledStores {
  readonly transaction: Store<TransactionTx>;
  readonly account: AccountStore;
  readonly currency: CurrencyStore;
}

export async function checkLedger(
  stores: SettledStores,
  keys: DeploymentKeys,
  submitted: readonly Submitted[],
): Promise<string[]> {
  const violations: string[] = [];
  const copies = {
    transaction: await recordLines(stores.transaction),
    account: await recordLines(stores.account),
    currency: await recordLines(stores.currency),
  };
  for (const device of ['account', 'currency'] as const)
    if (copies[device].join('\n') !== copies.transaction.join('\n'))
      violations.push(`${device}'s copy of A differs from transaction's`);
  const operations = operationsOf(await collect(stores.transaction.exportRecords()));
  violations.push(...checkAnswers(operations, submitted));
  violations.push(...(await checkBalances(stores, operations)));
  const report = await auditStores(keys.verifying, stores);
  for (const finding of report.findings.slice(0, 5))
    violations.push(`audit: ${finding.device} ${finding.store} ${finding.key}: ${finding.message}`);
  return violations;
}

/** Each operation of A by request id: its records in order. */
function operationsOf(records: readonly SignedRecord[]): Map<string, SignedRecord[]> {
  const operations = new Map<string, SignedRecord[]>();
  for (const signed of records) {
    const id = signed.record.remittanceId;
    operations.set(id, [...(operations.get(id) ?? []), signed]);
  }
  return operations;
}

function outcomeIn(records: readonly SignedRecord[] | undefined): string | undefined {
  const response = records?.find((r) => stepOf(r.record.transactionType) === 6);
  return response?.record.outcome;
}

function checkAnswers(
  operations: ReadonlyMap<string, SignedRecord[]>,
  submitted: readonly Submitted[],
): string[] {
  const violations: string[] = [];
  for (const { request, signature, outcome, accountsHeardOpened } of submitted) {
    const records = operations.get(request.remittanceId);
    if (records && outcomeIn(records) === undefined)
      violations.push(`${request.remittanceId} is in A without a response after settling`);
    if (outcome === 'unknown') continue;
    // An answer holds for the next request: an account heard opened is known from then on.
    if (outcome === 'UnknownAccount' && accountsHeardOpened)
      violations.push(`${request.remittanceId}: UnknownAccount for accounts heard opened before`);
    // Two requests under one id (a terminal reused it): A holds one of them; the other was never
    // stored, so it was refused at the door (RequestIdReused once A held the first).
    if (records && !records[0]!.signature.equals(signature)) {
      if (outcome === 'ok')
        violations.push(`${request.remittanceId}: heard ok for a request A does not hold`);
      continue;
    }
    const decided = outcomeIn(records);
    // A refusal at the door (a bad signature, a stale time, a same-account remittance) leaves
    // nothing in A; anything decided in A is what the terminal heard.
    if (decided === undefined ? outcome === 'ok' : decided !== outcome)
      violations.push(
        `${request.remittanceId}: the terminal heard ${outcome}, A says ${decided ?? 'nothing'}`,
      );
  }
  return violations;
}

async function checkBalances(
  stores: SettledStores,
  operations: ReadonlyMap<string, SignedRecord[]>,
): Promise<string[]> {
  const violations: string[] = [];
  const expected = new Map<bigint, bigint>();
  const add = (account: bigint | undefined, amount: bigint) => {
    if (account !== undefined) expected.set(account, (expected.get(account) ?? 0n) + amount);
  };
  let issuedLessRedeemed = 0n;
  for (const records of operations.values()) {
    const request = records[0]!.record;
    if (outcomeIn(records) !== outcomeOk) continue;
    const amount = request.amount ?? 0n;
    switch (operationOf(request.transactionType)) {
      case 'issuance':
        add(request.destinationAccount, amount);
        issuedLessRedeemed += amount;
        break;
      case 'redemption':
        add(request.sourceAccount, -amount);
        issuedLessRedeemed -= amount;
        break;
      case 'remittance':
        add(request.sourceAccount, -amount);
        add(request.destinationAccount, amount);
        break;
      default:
        break;
    }
  }
  const unitSums = new Map<bigint, bigint>();
  for await (const unit of stores.currency.exportUnits())
    if (unit.status === 'active')
      unitSums.set(unit.ownerAccount, (unitSums.get(unit.ownerAccount) ?? 0n) + unit.value);
    else if (unit.status === 'held') violations.push(`unit ${unit.currencyNumber} is still held`);
  let total = 0n;
  for await (const row of stores.account.exportAccounts()) {
    const n = row.accountNumber;
    total += row.balance;
    if (row.balance < 0n) violations.push(`account ${n} has a negative balance ${row.balance}`);
    if (row.held !== 0n) violations.push(`account ${n} still holds ${row.held}`);
    if (row.balance !== (expected.get(n) ?? 0n))
      violations.push(
        `account ${n}: balance ${row.balance}, A adds up to ${expected.get(n) ?? 0n}`,
      );
    if (row.balance !== (unitSums.get(n) ?? 0n))
      violations.push(`account ${n}: balance ${row.balance}, its units ${unitSums.get(n) ?? 0n}`);
  }
  if (total !== issuedLessRedeemed)
    violations.push(`balances add up to ${total}, issued less redeemed is ${issuedLessRedeemed}`);
  return violations;
}

/** A copy of A as text, a line per record: its bytes and its signature. */
export async function recordLines(store: {
  exportRecords(): AsyncIterable<SignedRecord>;
}): Promise<string[]> {
  return (await collect(store.exportRecords())).map(
    (r) => `${recordBytes(r.record).toString('hex')}:${r.signature.toString('hex')}`,
  );
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
