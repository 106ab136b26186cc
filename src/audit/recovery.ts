// Recovery (docs/design.md section 6): repair what the audit found, then audit again.
//
// The audit (./audit.ts) decides what is correct and names, for every wrong row, what to remove and
// what to put (a Repair). Recovery only carries that out, device by device, in batches that each
// apply atomically (devices/repair.ts): removed rows go to the device's quarantine table, B and C
// rows are re-signed by their own device. Where the audit found no correct version (an
// unrecoverable block of A, or B and C without a replay), it names no repair, and nothing is
// changed there. A second audit then shows what recovery achieved; it is clean unless something
// was unrecoverable.
//
// The module is generic over how stores are read and repaired (LedgerAccess): the transaction
// device wires it to its own store and its peers over HTTP.

import {
  batchSize,
  type RepairBatch,
  type RepairCounts,
  repairBatchSizeMax,
} from '../devices/repair.js';
import { fail, ok, type Result } from '../model/errors.js';
import type { SignedRecord } from '../protocol/records.js';
import type { AccountRowContent, CurrencyRowContent } from '../protocol/rows.js';
import type { VerifyingKeys } from '../protocol/verify.js';
import {
  type AuditInputs,
  type AuditOptions,
  type AuditReport,
  audit,
  type CopyName,
  copyNames,
  type Repair,
} from './audit.js';
import { withChainWorker } from './chainsAhead.js';

/** The most row changes one recovery run makes; beyond it, it refuses before changing anything. */
export const repairsMax = 1_000_000;

export type RowContent = AccountRowContent | CurrencyRowContent;

export interface LedgerAccess {
  /** Fresh streams of the five stores, for one audit. */
  open(): AuditInputs;
  /** Apply one batch at one device, atomically. */
  repair(device: CopyName, batch: RepairBatch<RowContent>): Promise<Result<RepairCounts>>;
}

/** `rebuild`: waiting for a device that set its damaged store aside to start on a new one. */
export type RecoveryPhase = 'rebuild' | 'audit' | 'repair' | 'verify';
/** `total` is given for the repair phase (changes to make); the audits count records. */
export type RecoveryProgress = (phase: RecoveryPhase, done: number, total?: number) => void;

export interface RecoveryReport {
  /** The audit that decided the repairs. */
  readonly before: AuditReport;
  readonly repaired: Readonly<Record<CopyName, RepairCounts>>;
  /** The audit after the repairs: clean, unless part of the ledger was unrecoverable. */
  readonly after: AuditReport;
  readonly recovered: boolean;
  /** Devices whose damaged store was set aside (kept) and rebuilt from the other two. */
  readonly storesRebuilt?: readonly string[];
}

interface MutableBatch {
  records: { remove: { key: bigint; kind: string }[]; put: SignedRecord[] };
  rows: { remove: { key: bigint; kind: string }[]; put: RowContent[] };
}

const emptyBatch = (): MutableBatch => ({
  records: { remove: [], put: [] },
  rows: { remove: [], put: [] },
});

/**
 * Repairs grouped per device into batches; a repair's removal and put stay in one batch. Records of
 * A and rows of B or C never share a batch: a device checks rows against its own replay of A
 * (devices/repair.ts), which must already hold the repaired records.
 */
class RepairPlan {
  readonly batches: Record<CopyName, MutableBatch[]> = {
    transaction: [],
    account: [],
    currency: [],
  };
  size = 0;

  add(repair: Repair): void {
    this.size += 1;
    if (this.size > repairsMax) return;
    const batches = this.batches[repair.device];
    let batch = batches.at(-1);
    const holdsRows = batch !== undefined && batch.rows.remove.length + batch.rows.put.length > 0;
    const holdsRecords =
      batch !== undefined && batch.records.remove.length + batch.records.put.length > 0;
    const mixed = repair.store === 'A' ? holdsRows : holdsRecords;
    if (!batch || mixed || batchSize(batch) + 2 > repairBatchSizeMax) {
      batch = emptyBatch();
      batches.push(batch);
    }
    const removal = { key: repair.key, kind: repair.kind };
    if (repair.store === 'A') {
      if (repair.remove) batch.records.remove.push(removal);
      if (repair.put) batch.records.put.push(repair.put);
    } else {
      if (repair.remove) batch.rows.remove.push(removal);
      if (repair.put) batch.rows.put.push(repair.put);
    }
  }
}

const noRepairs: RepairCounts = { recordsRemoved: 0, recordsPut: 0, rowsRemoved: 0, rowsPut: 0 };

/**
 * Audit, repair what it found, audit again. `verifyAhead`: each audit verifies the transaction
 * device's copy in a worker thread (./chainsAhead.ts; the devices do, from the built package).
 */
export async function recover(
  keys: () => VerifyingKeys,
  access: LedgerAccess,
  onProgress?: RecoveryProgress,
  verifyAhead = false,
): Promise<Result<RecoveryReport>> {
  const auditOnce = (options: AuditOptions) => {
    const auditKeys = keys();
    return verifyAhead
      ? withChainWorker(auditKeys, (chainWorker) =>
          audit(auditKeys, access.open(), { ...options, chainWorker }),
        )
      : audit(auditKeys, access.open(), options);
  };
  const plan = new RepairPlan();
  const before = await auditOnce({
    onProgress: (done) => onProgress?.('audit', done),
    onRepair: (repair) => plan.add(repair),
  });
  const repaired: Record<CopyName, RepairCounts> = {
    transaction: noRepairs,
    account: noRepairs,
    currency: noRepairs,
  };
  if (plan.size === 0) return ok({ before, repaired, after: before, recovered: before.clean });
  if (plan.size > repairsMax)
    return fail(
      'RepairTooLarge',
      `the audit asks for ${plan.size} repairs, more than ${repairsMax} in one run; nothing was changed`,
    );
  let done = 0;
  for (const device of copyNames) {
    for (const batch of plan.batches[device]) {
      const applied = await access.repair(device, batch);
      if (!applied.ok)
        return fail(
          applied.code,
          `repairing ${device} stopped after ${done} changes (each batch applies whole; run recovery again): ${applied.message}`,
        );
      const total = repaired[device];
      repaired[device] = {
        recordsRemoved: total.recordsRemoved + applied.value.recordsRemoved,
        recordsPut: total.recordsPut + applied.value.recordsPut,
        rowsRemoved: total.rowsRemoved + applied.value.rowsRemoved,
        rowsPut: total.rowsPut + applied.value.rowsPut,
      };
      done += batchSize(batch);
      onProgress?.('repair', done, plan.size);
    }
  }
  const after = await auditOnce({ onProgress: (checked) => onProgress?.('verify', checked) });
  return ok({ before, repaired, after, recovered: after.clean });
}
