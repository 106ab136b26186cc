// The audit (docs/design.md section 6; patent [0027], [0064], [0066], [0069], [0081], [0083]):
// finds any change to any of the five stores (A at each device, B, C) and says what is correct.
//
// A: the three copies are read as streams sorted by transaction number and taken one block of six
// numbers (one operation) at a time, so memory does not grow with the log. The peers' copies come
// as block digests (./blockDigests.ts): a block equal to the own one is taken as it, any other is
// fetched and decided like the rest. A copy's block is valid when every signature and chain link
// verifies, every signer fits its step, and every record sits at its step's number. The correct
// block is the valid one: a validly signed record is never dropped (a valid prefix loses to the
// complete valid version), and an invalid one is never made valid. When no copy is valid, or
// validly signed versions conflict with no majority, the block is unrecoverable and reported as
// such. Every copy is then compared with the correct block, record by record: deleted, inserted,
// modified, reordered (a record of another number of the operation), signature changed.
// B and C: the correct A is replayed (./replay.ts) and every row is compared with the replay and its
// row signature checked: a row that verifies but disagrees with A is found too.

import { assert } from '../model/assert.js';
import { encodeRecord } from '../model/encoding.js';
import { transactionRecordType } from '../model/records.js';
import { baseOfBlock, blockSize, recordBytes, type SignedRecord } from '../protocol/records.js';
import {
  type AccountRowContent,
  accountRowBytes,
  type CurrencyRowContent,
  currencyRowBytes,
} from '../protocol/rows.js';
import { stepOf } from '../protocol/transactionTypes.js';
import { checkStoredBlock, type VerifyingKeys } from '../protocol/verify.js';
import type { NewKey } from '../signature/device.js';
import type { AccountRow, CurrencyRow } from '../store/types.js';
import { type ChainWorker, VerifiedAhead } from './chainsAhead.js';
import { type AccountKeyEntry, type CheckpointBody, RecordDigest } from './checkpoint.js';
import {
  type CopyReader,
  type DigestedCopy,
  DigestReader,
  LastBlockDigest,
  RecordReader,
} from './copyReaders.js';
import {
  AccountReplay,
  accountKeyEntryOf,
  type Contradiction,
  sortedKeyEntries,
  UnitReplay,
} from './replay.js';

export type { DigestedCopy } from './copyReaders.js';

export const copyNames = ['transaction', 'account', 'currency'] as const;
export type CopyName = (typeof copyNames)[number];
export const findingsMax = 10_000;

export type FindingKind =
  | 'deleted'
  | 'inserted'
  | 'modified'
  | 'reordered'
  | 'truncated'
  | 'signature'
  | 'unrecoverable'
  /** Signed records of A that justify a change the ledger cannot take (./replay.ts). */
  | 'contradiction'
  /** A device's store could not be read at all (its device is fenced on a damaged store). */
  | 'unreadable-store';

export interface Finding {
  readonly device: CopyName;
  readonly store: 'A' | 'B' | 'C';
  readonly table: 'transactions' | 'accounts' | 'currency_units';
  /** Transaction number, account number or currency number. */
  readonly key: string;
  readonly kind: FindingKind;
  /** What the store holds (absent when the row is missing). */
  readonly found?: Record<string, string | number>;
  /** What is correct (absent when the row should not exist, or nothing is known to be correct). */
  readonly expected?: Record<string, string | number>;
  readonly message: string;
}

export interface AuditReport {
  readonly clean: boolean;
  /** The checkpoint the audit started after ("0": from the beginning). */
  readonly startedAfter: string;
  readonly recordsChecked: number;
  /** Records whose signatures and chain links were verified (identical copies count once). */
  readonly recordsVerified: number;
  readonly rowsChecked: number;
  readonly operations: number;
  /** False when part of A is unrecoverable: B and C were then checked only by their signatures. */
  readonly replayed: boolean;
  readonly findings: readonly Finding[];
  /** Findings beyond findingsMax, counted but not listed. */
  readonly findingsOmitted: number;
}

export interface AuditInputs {
  /** Start after this checkpoint (verified by the caller): the copies then begin after its number. */
  readonly from?: CheckpointBody;
  /**
   * Each copy of A, in ascending transaction number: the transaction device's own as pages of
   * records, the others as pages too (read from files) or by block digests (through the devices).
   */
  readonly copies: Readonly<
    { transaction: AsyncIterable<readonly SignedRecord[]> } & Record<
      'account' | 'currency',
      AsyncIterable<readonly SignedRecord[]> | DigestedCopy
    >
  >;
  readonly accounts: AsyncIterable<AccountRow>;
  readonly units: AsyncIterable<CurrencyRow>;
  /**
   * The peers whose store cannot be read (fenced on damage), with the reason: their copy of A and
   * their B or C are not read, each is named by an `unreadable-store` finding, and every block is
   * decided with the other two copies as for any changed record.
   */
  readonly unreadable?: Readonly<Partial<Record<'account' | 'currency', string>>>;
}

/**
 * What recovery must do to one row so that its store holds what is correct: `remove` the row that
 * is there (into quarantine), `put` the correct one. A, B and C alike; B and C content is re-signed
 * by its own device when it is put.
 */
export type Repair =
  | {
      readonly store: 'A';
      readonly device: CopyName;
      readonly kind: FindingKind;
      /** The transaction number. */
      readonly key: bigint;
      readonly remove: boolean;
      readonly put?: SignedRecord;
    }
  | {
      readonly store: 'B' | 'C';
      readonly device: 'account' | 'currency';
      readonly kind: FindingKind;
      /** The account number (B) or currency number (C). */
      readonly key: bigint;
      readonly remove: boolean;
      readonly put?: AccountRowContent | CurrencyRowContent;
    };

export interface AuditOptions {
  /** Called as records are checked (after each block of A, and per row of B and C). */
  readonly onProgress?: (checked: number) => void;
  /** Called once per row that recovery would change; never for rows that are correct or unknown. */
  readonly onRepair?: (repair: Repair) => void;
  /**
   * Operations after this number may still be settling at `account` and `currency` while the audit
   * reads (the ledger is live): their absence there is not a finding. Only those that began (their
   * a2, signed) at or after `changingSinceMs` when it is given: an operation that began before
   * was not pending when the audit started, whatever the transaction device's unsigned table of
   * operations says (emptied or lost, it must not hide a missing record).
   */
  readonly settledUpTo?: bigint;
  /**
   * Rows of B and C changed at or after this time may reflect operations that A was read without
   * (on a live ledger: from when the oldest operation not yet settled began, less the allowed
   * clock skew between devices): they are checked by their signatures only.
   */
  readonly changingSinceMs?: bigint;
  /** Where a new checkpoint is wanted: the end of a block that every copy holds settled. */
  readonly snapshotAt?: bigint;
  /** Called with the checkpoint body at `snapshotAt`, when A up to there is known and C's replay is in order. */
  readonly onSnapshot?: (body: CheckpointBody) => void;
  /** Verifies the own copy's signatures ahead, in a worker thread (./chainsAhead.ts). */
  readonly chainWorker?: ChainWorker;
  /**
   * Awaited after every blocksPerTurnMax blocks of A: the running transaction device passes a turn
   * of its event loop (model/turns.ts), so that it serves requests while it audits (its checks
   * are synchronous, and a run of blocks held it for 100-250 ms at a time).
   */
  readonly betweenBlocks?: () => Promise<void>;
}

/** Blocks of A an audit decides in a row before `betweenBlocks` (about a millisecond of work). */
export const blocksPerTurnMax = 64;

function describeRecord({ record, signature }: SignedRecord): Record<string, string | number> {
  const described: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(record))
    if (value !== undefined) described[name] = typeof value === 'bigint' ? value.toString() : value;
  described['signature'] = signature.toString('hex');
  return described;
}

function describeRow(row: object): Record<string, string | number> {
  const described: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(row)) {
    if (value === undefined) continue;
    described[name] =
      typeof value === 'bigint'
        ? value.toString()
        : Buffer.isBuffer(value)
          ? value.toString('hex')
          : (value as string | number);
  }
  return described;
}

const recordKeys = new WeakMap<SignedRecord, string>();

/** Identity of a record, every byte of it and its signature (latin1: one character per byte). */
function recordKey(signed: SignedRecord): string {
  let key = recordKeys.get(signed);
  if (key === undefined) {
    key = `${recordBytes(signed.record).toString('latin1')}|${signed.signature.toString('latin1')}`;
    recordKeys.set(signed, key);
  }
  return key;
}

function contentKey(signed: SignedRecord): string {
  return encodeRecord(transactionRecordType, { ...signed.record, transactionNumber: 0n }).toString(
    'hex',
  );
}

export async function audit(
  keys: VerifyingKeys,
  inputs: AuditInputs,
  {
    onProgress,
    onRepair,
    snapshotAt,
    onSnapshot,
    settledUpTo,
    changingSinceMs,
    chainWorker,
    betweenBlocks,
  }: AuditOptions = {},
): Promise<AuditReport> {
  const findings: Finding[] = [];
  let findingsOmitted = 0;
  const report = (finding: Finding) => {
    if (findings.length < findingsMax) findings.push(finding);
    else findingsOmitted += 1;
  };
  const from = inputs.from;
  const ownCopy = inputs.copies.transaction;
  const ahead = chainWorker && new VerifiedAhead(chainWorker, ownCopy);
  const verifier = new BlockVerifier(keys, chainWorker, ahead);
  for (const entry of from?.state.accountKeys ?? []) verifier.addAccountKey(entry);
  // A contradiction in A is reported where A is kept; B and C are then checked by signature only.
  let contradictions = 0;
  const contradicted = (contradiction: Contradiction) => {
    contradictions += 1;
    report({
      device: 'transaction',
      store: 'A',
      table: 'transactions',
      key: contradiction.transactionNumber.toString(),
      kind: 'contradiction',
      message: `operation ${contradiction.remittanceId}: ${contradiction.message} (the records are signed: an operator must decide)`,
    });
  };
  const accountReplay = new AccountReplay(from?.state.accounts ?? [], contradicted);
  const unitReplay = new UnitReplay(
    from?.state.units ?? [],
    from?.state.nextPlanSequence ?? 1n,
    contradicted,
  );
  const digestA = new RecordDigest(from?.digestA);
  const startedAfter = from?.transactionNumber ?? 0n;
  assert(
    snapshotAt === undefined || (snapshotAt > startedAfter && snapshotAt % blockSize === 0n),
    'a checkpoint is wanted at the end of a block after the audit starts',
  );
  let unrecoverableBlocks = 0;
  let recordsChecked = 0;
  let operations = 0;
  const counters = { recordsVerified: 0 };

  // ---- A: the copies that can be read, block by block -----------------------------------------
  const readable = readableCopies(inputs, report);
  const blockDigests = new LastBlockDigest();
  const readers: CopyReader[] = readable.map((name) => {
    const copy = inputs.copies[name];
    if (!(Symbol.asyncIterator in copy)) return new DigestReader(name, copy, blockDigests);
    return copy === ownCopy && ahead ? ahead : new RecordReader(copy);
  });
  await Promise.all(readers.map((reader) => reader.start()));
  const lastNumber: bigint[] = readable.map(() => startedAfter);
  let lastCorrectNumber = startedAfter;
  for (;;) {
    const block = readers.reduce<bigint | undefined>((low, reader) => {
      const next = reader.nextBlock();
      return next !== undefined && (low === undefined || next < low) ? next : low;
    }, undefined);
    if (block === undefined) break;
    // The own copy (first) is read first: a peer's block is compared with it by digest.
    const versions: SignedRecord[][] = [];
    for (const [index, reader] of readers.entries()) {
      const version = await reader.take(block, versions[0] ?? []);
      versions.push(version);
      recordsChecked += version.length;
      if (version.length > 0) lastNumber[index] = version.at(-1)!.record.transactionNumber;
    }
    operations += 1;
    const blockEnd = baseOfBlock(block) + blockSize - 1n;
    const settlingAfter = settledUpTo !== undefined && baseOfBlock(block) > settledUpTo;
    const settling = (correct: readonly SignedRecord[]) =>
      settlingAfter && (changingSinceMs === undefined || !beganBefore(correct, changingSinceMs));
    const correct = decideBlock(
      verifier,
      block,
      readable,
      versions,
      report,
      onRepair,
      counters,
      settling,
    );
    if (correct === undefined) unrecoverableBlocks += 1;
    // After an unrecoverable block, A is unknown from there on: the replay stops (B and C are then
    // checked by their signatures only).
    if (correct && correct.length > 0 && unrecoverableBlocks === 0) {
      // A copy ends too early only where the operation is settled everywhere.
      const settled =
        !settling(correct) && correct.some((r) => stepOf(r.record.transactionType) === 6);
      if (settled) lastCorrectNumber = correct.at(-1)!.record.transactionNumber;
      const operation = correct.map((r) => r.record);
      accountReplay.apply(operation);
      unitReplay.apply(operation);
      verifier.learnKey(correct);
      // The digest of A is only needed for a checkpoint, and only up to it. The correct block is
      // usually the own copy's, whose digest the peers' copies were compared by: hashed once.
      if (snapshotAt !== undefined && blockEnd <= snapshotAt)
        digestA.addBlock({ block, digest: blockDigests.of(correct) });
      const units = blockEnd === snapshotAt ? unitReplay.snapshot() : undefined;
      if (units)
        onSnapshot?.({
          transactionNumber: snapshotAt!,
          digestA: digestA.value,
          state: {
            accountKeys: verifier.accountKeyEntries(),
            accounts: accountReplay.snapshot(),
            units: units.units,
            nextPlanSequence: units.nextPlanSequence,
          },
        });
    }
    onProgress?.(recordsChecked);
    if (betweenBlocks && operations % blocksPerTurnMax === 0) await betweenBlocks();
  }

  readable.forEach((device, index) => {
    if (lastNumber[index]! < lastCorrectNumber) {
      report({
        device,
        store: 'A',
        table: 'transactions',
        key: `${lastNumber[index]! + 1n}-${lastCorrectNumber}`,
        kind: 'truncated',
        found: { lastTransactionNumber: `${lastNumber[index]}` },
        expected: { lastTransactionNumber: `${lastCorrectNumber}` },
        message: `the copy ends at ${lastNumber[index]}; the log goes on to ${lastCorrectNumber}`,
      });
    }
  });

  // ---- B and C: every row against the replay of the correct A ---------------------------------
  // Where A itself is unknown, or contradicts itself, a replay would be a guess: then only the row
  // signatures are checked.
  const replayedUnits = unitReplay.finish();
  const replayed = unrecoverableBlocks === 0 && contradictions === 0;
  const changedSince = (lastUpdate: bigint) =>
    changingSinceMs !== undefined && lastUpdate >= changingSinceMs;
  const check = { keys, report, onRepair, changedSince };
  const accountsChecked = inputs.unreadable?.account
    ? 0
    : await checkRows(
        accountRows(keys),
        inputs.accounts,
        replayed ? accountReplay.accounts : undefined,
        check,
      );
  const unitsChecked = inputs.unreadable?.currency
    ? 0
    : await checkRows(unitRows(keys), inputs.units, replayed ? replayedUnits : undefined, check);
  const rowsChecked = accountsChecked + unitsChecked;
  return {
    clean: findings.length === 0 && findingsOmitted === 0,
    startedAfter: startedAfter.toString(),
    recordsChecked,
    recordsVerified: counters.recordsVerified,
    rowsChecked,
    operations,
    replayed,
    findings,
    findingsOmitted,
  };
}

/** The valid version of one block, and a finding for every copy that differs from it. */
function decideBlock(
  verifier: BlockVerifier,
  block: bigint,
  /** Whose copy each version is (the transaction device's first). */
  names: readonly CopyName[],
  versions: SignedRecord[][],
  report: (finding: Finding) => void,
  onRepair: ((repair: Repair) => void) | undefined,
  counters: { recordsVerified: number },
  /** Whether the operation (its correct records) may still be on its way to the peers (live audit). */
  settling: (correct: readonly SignedRecord[]) => boolean,
): SignedRecord[] | undefined {
  // Returns the correct records of the block ([] when it should be empty), or undefined when unknown.
  const base = baseOfBlock(block);
  // The usual case: every copy holds the own copy's very records (equal block digests), verified
  // once; when they are valid, that is the block. Anything else is decided record by record below.
  const own = versions[0]!;
  const allOwn = own.length > 0 && versions.every((version) => sameRecords(version, own));
  const ownValid = allOwn ? verifier.isValid(base, own) : undefined;
  if (allOwn) counters.recordsVerified += own.length;
  if (ownValid) return own;
  // Identical copies are verified once.
  const versionKeys = versions.map((version) => version.map(recordKey).join('\n'));
  const validity = new Map<string, boolean>();
  if (ownValid === false) validity.set(versionKeys[0]!, false);
  const valid = versions.map((version, index) => {
    if (version.length === 0) return false;
    const key = versionKeys[index]!;
    let known = validity.get(key);
    if (known === undefined) {
      known = verifier.isValid(base, version);
      counters.recordsVerified += version.length;
      validity.set(key, known);
    }
    return known;
  });
  const candidates = new Map<string, { version: SignedRecord[]; copies: number }>();
  versions.forEach((version, index) => {
    if (!valid[index]) return;
    const key = versionKeys[index]!;
    const entry = candidates.get(key) ?? { version, copies: 0 };
    entry.copies += 1;
    candidates.set(key, entry);
  });
  // A valid version that is part of another valid version was truncated: the longer one stands.
  const maximal = [...candidates.values()].filter(
    (candidate) =>
      ![...candidates.values()].some(
        (other) =>
          other !== candidate &&
          other.version.length > candidate.version.length &&
          candidate.version.every((r) => other.version.some((o) => recordKey(o) === recordKey(r))),
      ),
  );
  maximal.sort((a, b) => b.copies - a.copies);
  let chosen =
    maximal.length === 1 || (maximal.length > 1 && maximal[0]!.copies > maximal[1]!.copies)
      ? maximal[0]!.version
      : undefined;
  // No copy is valid as a whole: each may still hold good records where another was changed.
  // Record by record, the version most copies agree on (or the only one) is taken; the assembled
  // block stands only if its every signature and chain link verifies.
  if (!chosen && maximal.length === 0) chosen = assembleBlock(verifier, base, versions);
  // No valid version, and two copies agree the block is empty: what the third holds was inserted.
  if (!chosen && maximal.length === 0 && versions.filter((v) => v.length === 0).length >= 2) {
    chosen = [];
  }
  if (!chosen) {
    versions.forEach((version, index) => {
      if (version.length === 0) return;
      report({
        device: names[index]!,
        store: 'A',
        table: 'transactions',
        key: `${base}-${base + blockSize - 1n}`,
        kind: 'unrecoverable',
        message:
          maximal.length > 1
            ? `transactions ${base}-${base + 5n}: validly signed copies disagree and no majority decides`
            : `transactions ${base}-${base + 5n}: no copy's signatures verify; nothing is known to be correct`,
      });
    });
    return undefined;
  }
  const inFlight =
    chosen.length > 0 &&
    (settling(chosen) || !chosen.some((r) => stepOf(r.record.transactionType) === 6));
  const chosenKey = chosen.map(recordKey).join('\n');
  versions.forEach((version, index) => {
    if (versionKeys[index] === chosenKey) return; // identical to what is correct
    compareCopy(names[index]!, version, chosen, inFlight, report, onRepair);
  });
  return chosen;
}

/**
 * The copies the audit reads, the transaction device's own first; each peer whose store cannot be
 * read is named by a finding instead.
 */
function readableCopies(inputs: AuditInputs, report: (finding: Finding) => void): CopyName[] {
  const readable: CopyName[] = ['transaction'];
  for (const device of ['account', 'currency'] as const) {
    const reason = inputs.unreadable?.[device];
    if (reason === undefined) {
      readable.push(device);
      continue;
    }
    report({
      device,
      store: device === 'account' ? 'B' : 'C',
      table: device === 'account' ? 'accounts' : 'currency_units',
      key: '*',
      kind: 'unreadable-store',
      message: `${device}'s store cannot be read: ${reason}. Its copy of A and its ${device === 'account' ? 'B' : 'C'} were not checked; A was decided by the other two copies. Rebuild that store, then audit again`,
    });
  }
  assert(readable[0] === 'transaction', "the transaction device's own copy is read first");
  return readable;
}

/** Whether the operation's a2 (signed by the transaction device as it began) is older than `sinceMs`. */
function beganBefore(correct: readonly SignedRecord[], sinceMs: bigint): boolean {
  const opened = correct.find((signed) => stepOf(signed.record.transactionType) === 2);
  return opened !== undefined && opened.record.dateTime < sinceMs;
}

/** The same record objects in the same order. */
function sameRecords(a: readonly SignedRecord[], b: readonly SignedRecord[]): boolean {
  return a.length === b.length && a.every((signed, index) => signed === b[index]);
}

function assembleBlock(
  verifier: BlockVerifier,
  base: bigint,
  versions: SignedRecord[][],
): SignedRecord[] | undefined {
  const byNumber = new Map<bigint, Map<string, { record: SignedRecord; copies: number }>>();
  for (const version of versions)
    for (const signed of version) {
      const candidates = byNumber.get(signed.record.transactionNumber) ?? new Map();
      const key = recordKey(signed);
      const entry = candidates.get(key) ?? { record: signed, copies: 0 };
      entry.copies += 1;
      candidates.set(key, entry);
      byNumber.set(signed.record.transactionNumber, candidates);
    }
  const assembled: SignedRecord[] = [];
  for (const number of [...byNumber.keys()].sort((a, b) => (a < b ? -1 : 1))) {
    const candidates = [...byNumber.get(number)!.values()].sort((a, b) => b.copies - a.copies);
    const [first, second] = candidates;
    if (!first || (second && second.copies === first.copies)) return undefined;
    assembled.push(first.record);
  }
  return assembled.length > 0 && verifier.isValid(base, assembled) ? assembled : undefined;
}

/**
 * What the audit verifies blocks of A with: the keys, who signs for each account (learned from A
 * as the audit goes), and which records of the own copy were verified ahead (./chainsAhead.ts).
 */
class BlockVerifier {
  readonly #accountKeys = new Map<bigint, AccountKeyEntry>();

  constructor(
    private readonly keys: VerifyingKeys,
    private readonly worker: ChainWorker | undefined,
    private readonly ahead: VerifiedAhead | undefined,
  ) {}

  isValid(base: bigint, version: SignedRecord[]): boolean {
    const source = version[0]!.record.sourceAccount;
    const signer = source === undefined ? undefined : this.#accountKeys.get(source)?.keyNumber;
    const trusted = this.ahead?.trustedPrefix(version) ?? 0;
    return checkStoredBlock(this.keys, base, version, signer, trusted) === undefined;
  }

  /** After a correct, settled account issuing: its key signs for the new account from now on. */
  learnKey(operation: SignedRecord[]): void {
    const entry = accountKeyEntryOf(operation.map((r) => r.record));
    if (entry) this.addAccountKey(entry);
  }

  addAccountKey(entry: AccountKeyEntry): void {
    this.#accountKeys.set(entry.accountNumber, entry);
    if (!entry.publicKeyHex || this.keys.signatures.describe(entry.keyNumber).ok) return;
    const key: NewKey = {
      keyNumber: entry.keyNumber,
      owner: `account:${entry.accountNumber}`,
      algorithm: 'ed25519-public',
      material: Buffer.from(entry.publicKeyHex, 'hex'),
      authorities: ['verify'],
    };
    // The worker learns a key only after the audit has it: it never verifies with more keys.
    if (this.keys.signatures.addKey(key).ok) this.worker?.addKey(key);
  }

  /** Who signs for each account, in account order (a checkpoint keeps them). */
  accountKeyEntries(): AccountKeyEntry[] {
    return sortedKeyEntries(this.#accountKeys);
  }
}

function compareCopy(
  device: CopyName,
  version: SignedRecord[],
  correct: SignedRecord[],
  inFlight: boolean,
  report: (finding: Finding) => void,
  onRepair: ((repair: Repair) => void) | undefined,
): void {
  const found = new Map(version.map((r) => [r.record.transactionNumber, r]));
  const repair = (key: bigint, kind: FindingKind, put?: SignedRecord) =>
    onRepair?.({ store: 'A', device, kind, key, remove: found.has(key), ...(put ? { put } : {}) });
  const expected = new Map(correct.map((r) => [r.record.transactionNumber, r]));
  const where = (n: bigint) => ({
    device,
    store: 'A' as const,
    table: 'transactions' as const,
    key: `${n}`,
  });
  for (const [number, right] of expected) {
    const actual = found.get(number);
    if (!actual) {
      // An operation in flight is not yet everywhere: the transaction device stores each record
      // as it goes, account and currency theirs at their exchange and the rest at settlement.
      if (!inFlight) {
        report({
          ...where(number),
          kind: 'deleted',
          expected: describeRecord(right),
          message: `record ${number} is missing`,
        });
        repair(number, 'deleted', right);
      }
      continue;
    }
    if (recordKey(actual) === recordKey(right)) continue;
    const elsewhere = correct.find(
      (other) =>
        other !== right &&
        contentKey(other) === contentKey(actual) &&
        other.signature.equals(actual.signature),
    );
    const kind: FindingKind = elsewhere
      ? 'reordered'
      : contentKey(actual) === contentKey(right) &&
          actual.record.transactionNumber === right.record.transactionNumber
        ? 'signature'
        : 'modified';
    const message = elsewhere
      ? `record ${number} holds record ${elsewhere.record.transactionNumber} (numbers swapped)`
      : kind === 'signature'
        ? `record ${number}: its signature was changed`
        : `record ${number} was changed`;
    report({
      ...where(number),
      kind,
      found: describeRecord(actual),
      expected: describeRecord(right),
      message,
    });
    repair(number, kind, right);
  }
  for (const [number, extra] of found) {
    if (expected.has(number)) continue;
    report({
      ...where(number),
      kind: 'inserted',
      found: describeRecord(extra),
      message: `record ${number} should not exist`,
    });
    repair(number, 'inserted');
  }
}

/** What tells B and C apart for the audit: where the rows live and how they are keyed and signed. */
interface RowStore<Content extends AccountRowContent | CurrencyRowContent> {
  readonly device: 'account' | 'currency';
  readonly store: 'B' | 'C';
  readonly table: 'accounts' | 'currency_units';
  readonly noun: string;
  readonly signerKeyNumber: number;
  keyOf(content: Content): bigint;
  bytesOf(content: Content): Buffer;
}

const accountRows = (keys: VerifyingKeys): RowStore<AccountRowContent> => ({
  device: 'account',
  store: 'B',
  table: 'accounts',
  noun: 'account',
  signerKeyNumber: keys.deviceKeys.account,
  keyOf: (row) => row.accountNumber,
  bytesOf: accountRowBytes,
});

const unitRows = (keys: VerifyingKeys): RowStore<CurrencyRowContent> => ({
  device: 'currency',
  store: 'C',
  table: 'currency_units',
  noun: 'currency unit',
  signerKeyNumber: keys.deviceKeys.currency,
  keyOf: (row) => row.currencyNumber,
  bytesOf: currencyRowBytes,
});

interface RowCheck {
  readonly keys: VerifyingKeys;
  readonly report: (finding: Finding) => void;
  readonly onRepair: ((repair: Repair) => void) | undefined;
  /** Rows changed since the audit started are checked by their signatures only. */
  readonly changedSince: (lastUpdate: bigint) => boolean;
}

/**
 * Every row of B or C against the replay of A (`expected`; undefined when A is unknown, then only
 * signatures are checked), and every replayed row the store lacks. Returns how many rows it read.
 */
async function checkRows<Content extends AccountRowContent | CurrencyRowContent>(
  spec: RowStore<Content>,
  rows: AsyncIterable<Content & { signerKeyNumber: number; signature: Buffer }>,
  expected: Map<bigint, Content> | undefined,
  { keys, report, onRepair, changedSince }: RowCheck,
): Promise<number> {
  const where = (key: bigint) => ({
    device: spec.device,
    store: spec.store,
    table: spec.table,
    key: `${key}`,
  });
  const repair = (key: bigint, kind: FindingKind, remove: boolean, put?: Content) =>
    onRepair?.({
      store: spec.store,
      device: spec.device,
      kind,
      key,
      remove,
      ...(put ? { put } : {}),
    });
  const seen = new Set<bigint>();
  let count = 0;
  for await (const row of rows) {
    count += 1;
    const { signerKeyNumber: rowSigner, signature, ...rest } = row;
    const content = rest as unknown as Content;
    const key = spec.keyOf(content);
    seen.add(key);
    const name = `${spec.noun} ${key}`;
    // The replay's row; null when A justifies no such row; undefined when nothing is known.
    const right =
      expected && !changedSince(content.lastUpdate) ? (expected.get(key) ?? null) : undefined;
    const bytes = spec.bytesOf(content);
    const signatureValid =
      rowSigner === spec.signerKeyNumber &&
      keys.signatures.verify(spec.signerKeyNumber, bytes, signature).ok;
    if (right === null) {
      report({
        ...where(key),
        kind: 'inserted',
        found: describeRow(row),
        message: `${name} is not justified by any record of A`,
      });
      repair(key, 'inserted', true);
    } else if (right !== undefined && !bytes.equals(spec.bytesOf(right))) {
      const verifies = signatureValid ? ' (its signature verifies)' : '';
      report({
        ...where(key),
        kind: 'modified',
        found: describeRow(content),
        expected: describeRow(right),
        message: `${name} differs from the replay of A${verifies}`,
      });
      repair(key, 'modified', true, right);
    } else if (!signatureValid) {
      report({
        ...where(key),
        kind: 'signature',
        found: describeRow(row),
        message: `${name}: its row signature does not verify`,
      });
      // Its content agrees with A: re-signing it repairs it. Without a replay nothing is known.
      if (right !== undefined) repair(key, 'signature', true, content);
    }
  }
  for (const [key, right] of expected ?? []) {
    if (seen.has(key)) continue;
    report({
      ...where(key),
      kind: 'deleted',
      expected: describeRow(right),
      message: `${spec.noun} ${key} is missing`,
    });
    repair(key, 'deleted', false, right);
  }
  return count;
}
