// The operator's endpoints on the transaction device: audit and recovery (docs/design.md section 6).
//
// POST /v1/admin/audit and POST /v1/admin/recover act only on a request signed by an operator key
// (the envelope of protocol/envelope.ts, `operatorKeyNumbers` in the configuration). The audit
// reads the three copies of A, B and C through the devices' streaming exports, never by opening
// another device's database. The answer is a stream of JSON lines: progress events while it runs,
// then the report (or an error), so a terminal can draw a progress bar and a console can watch.
// Recovery puts the ledger in maintenance first: new requests get 503 Maintenance with
// Retry-After until it is done. One audit or recovery runs at a time.

import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import {
  type AuditInputs,
  type AuditReport,
  audit,
  copyNames,
  type DigestedCopy,
} from '../../audit/audit.js';
import { peerBlocks } from '../../audit/blockDigests.js';
import { withChainWorker } from '../../audit/chainsAhead.js';
import {
  type Checkpoint,
  type CheckpointBody,
  checkpointBytes,
  headerOf,
  headerToJson,
  verifiedCheckpointOf,
} from '../../audit/checkpoint.js';
import {
  accountOfLine,
  exportContentType,
  ownRecordPages,
  peerRecords,
  readLines,
  StreamFailure,
  unitOfLine,
} from '../../audit/exportLines.js';
import {
  type LedgerAccess,
  type RecoveryPhase,
  type RecoveryProgress,
  type RecoveryReport,
  type RowContent,
  recover,
} from '../../audit/recovery.js';
import { InvariantViolation } from '../../model/assert.js';
import { type Failure, fail, ok, type Result } from '../../model/errors.js';
import { nextTurn } from '../../model/turns.js';
import { baseOfBlock, blockSize, type SignedRecord } from '../../protocol/records.js';
import type { AccountRowContent, CurrencyRowContent } from '../../protocol/rows.js';
import { accountContentToWire, currencyContentToWire } from '../../protocol/rowWire.js';
import type { VerifyingKeys } from '../../protocol/verify.js';
import { recordToWire } from '../../protocol/wire.js';
import { by } from '../access.js';
import type { CheckpointKeeper } from '../checkpoints.js';
import type { DeviceContext } from '../context.js';
import {
  type HttpServer,
  recoverRoute,
  type StoreFence,
  sendFailure,
  setAsideRoute,
} from '../http.js';
import { type DeviceMetrics, noMetrics } from '../metrics.js';
import type { RepairBatch, RepairCounts } from '../repair.js';
import { AdminStream, ErrorBody } from './replySchemas.js';
import type { Peers, TransactionService } from './service.js';
import { checkTails } from './tails.js';

/** Progress events are sent at most this often. */
export const progressIntervalMs = 250;
/** Stored checkpoints looked at, newest first, for one that verifies. */
export const checkpointsTriedMax = 8;
/** How long a device may take to hash its copy of A (digest, checkpoint signature). */
export const digestTimeoutMs = 300_000;
/**
 * How far the devices' clocks may disagree (keep them on NTP): on a live ledger, rows of B and C
 * changed this long before the oldest unsettled operation began are still checked by signature
 * only, since their `lastUpdate` comes from another device's clock.
 */
export const deviceClockSkewMsMax = 1_000n;
/** How long a recovery waits for a peer that set its damaged store aside to answer again. */
export const peerRestartMsMax = 60_000;
const peerRestartPollMs = 200;

/** The audit's report, with where it started and the checkpoint it left. */
export type CheckpointedAuditReport = AuditReport & {
  /** Why the audit ran from the beginning although checkpoints exist. */
  readonly note?: string;
  /** The transaction number of the checkpoint this clean audit left. */
  readonly checkpointMade?: string;
};

export interface AuditSummary {
  readonly atMs: number;
  readonly clean: boolean;
  readonly findings: number;
}

export type AdminEvent =
  | { event: 'progress'; phase: RecoveryPhase; done: number; total: number }
  | { event: 'report'; report: CheckpointedAuditReport }
  | { event: 'recovery'; recovery: RecoveryReport }
  /** Its own store is damaged: it sets it aside and starts again; recover once it answers. */
  | { event: 'rebuilding'; damage: string }
  | { event: 'error'; error: { code: string; message: string } };

export class AdminService {
  #running = false;
  #lastAudit: AuditSummary | undefined;

  constructor(
    private readonly context: DeviceContext,
    private readonly service: TransactionService,
    private readonly peers: Peers,
    /** Fresh verifying keys for each audit: the keystore file's keys, never keys learned at run time. */
    private readonly verifyingKeys: () => VerifyingKeys,
    /** This device's part in checkpoints (its own digest and signature). */
    private readonly keeper: CheckpointKeeper,
    /** A fault hook for tests: hold maintenance this long before repairing (faultHooks.ts). */
    private readonly recoveryPauseMs = 0,
    private readonly metrics: DeviceMetrics = noMetrics,
  ) {}

  get lastAudit(): AuditSummary | undefined {
    return this.#lastAudit;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Records the running audit will read (the transaction device's copy after its start, three times). */
  #recordsTotal = 0;

  get recordsTotal(): number {
    return this.#recordsTotal;
  }

  async #expectRecordsAfter(after: bigint): Promise<void> {
    this.#recordsTotal = 3 * Number(await this.service.recordCount(after));
  }

  /**
   * An audit from the newest checkpoint that verifies and that every copy still agrees with (or
   * from the beginning with `full`); a clean audit then leaves a new checkpoint where every
   * operation is settled.
   */
  async audit(
    onProgress: (done: number) => void,
    full = false,
  ): Promise<Result<CheckpointedAuditReport>> {
    // What was answered is what the audit reads in B and C (a settlement after an answer).
    await this.service.settlementsOf();
    return this.#exclusive(async () => {
      const keys = this.verifyingKeys();
      const start = full ? { note: 'full audit, as asked' } : await this.#startingPoint(keys);
      const after = start.from?.transactionNumber ?? 0n;
      await this.#expectRecordsAfter(after);
      // In this order: an operation pending when `settled` is read began after `changingSinceMs`.
      const changingSinceMs = (await this.service.unsettledSinceMs()) - deviceClockSkewMsMax;
      const settled = await this.service.settledUpTo();
      const ownMark = await this.keeper.changeMark();
      const unreadable = await this.#unreadablePeers();
      let snapshot: CheckpointBody | undefined;
      const report = await withChainWorker(keys, (chainWorker) =>
        audit(keys, this.#access(unreadable).open(start.from, settled), {
          onProgress,
          settledUpTo: settled,
          changingSinceMs,
          ...(settled > after ? { snapshotAt: settled } : {}),
          onSnapshot: (body) => {
            snapshot = body;
          },
          chainWorker,
          betweenBlocks: nextTurn,
        }),
      );
      this.#remember(report);
      const made = report.clean && snapshot ? await this.#makeCheckpoint(snapshot) : undefined;
      // The clean audit found this device's copy equal to A up to the checkpoint, as read after
      // ownMark: the next audit from it need not read that part again.
      if (made && snapshot)
        this.keeper.remember(snapshot.transactionNumber, snapshot.digestA, ownMark);
      return ok({
        ...report,
        ...(start.note ? { note: start.note } : {}),
        ...(made ? { checkpointMade: made } : {}),
      });
    });
  }

  /** The newest stored checkpoint that verifies, if all three copies of A agree with it up to its number. */
  async #startingPoint(keys: VerifyingKeys): Promise<{ from?: Checkpoint; note?: string }> {
    const stored = await this.service.checkpoints(checkpointsTriedMax);
    for (const json of stored) {
      const checkpoint = verifiedCheckpointOf(keys, json);
      if (!checkpoint) continue;
      const n = checkpoint.transactionNumber;
      const digests = await Promise.all([
        this.keeper.digestUpTo(n).then((digest) => ok(digest)),
        this.#peerDigest('account', n),
        this.#peerDigest('currency', n),
      ]);
      const unanswered = copyNames.filter((_, index) => !digests[index]!.ok);
      const differing = copyNames.filter((_, index) => {
        const digest = digests[index]!;
        return digest.ok && !digest.value.equals(checkpoint.digestA);
      });
      if (unanswered.length === 0 && differing.length === 0) return { from: checkpoint };
      return {
        note:
          differing.length > 0
            ? `the ${differing.join(' and ')} copy of A differs from checkpoint ${n} before it: full audit`
            : `the ${unanswered.join(' and ')} device gave no digest up to checkpoint ${n}: full audit`,
      };
    }
    return stored.length > 0 ? { note: 'no stored checkpoint verifies: full audit' } : {};
  }

  async #peerDigest(device: 'account' | 'currency', upTo: bigint): Promise<Result<Buffer>> {
    const answer = await this.peers[device].get(`/internal/v1/digest/${upTo}`, digestTimeoutMs);
    if (!answer.ok) return answer;
    const digest = (answer.value as { digest?: unknown }).digest;
    return typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest)
      ? ok(Buffer.from(digest, 'hex'))
      : fail('PeerUnavailable', `${device} answered no digest`);
  }

  /**
   * The other two devices each check their own copy against the digest and sign; this device signs
   * at once, because the clean audit that made the body has just found its copy equal to A. Then
   * all three keep it.
   */
  async #makeCheckpoint(body: CheckpointBody): Promise<string | undefined> {
    const header = headerOf(body);
    const own = this.context.signatures.sign(
      this.context.signingKeyNumber,
      checkpointBytes(header),
    );
    const unsigned = headerToJson(header);
    const [account, currency] = await Promise.all(
      (['account', 'currency'] as const).map((device) =>
        this.peers[device].post('/internal/v1/checkpoints/sign', unsigned, digestTimeoutMs),
      ),
    );
    const signatureOf = (answer: Result<unknown> | undefined) => {
      const hex = answer?.ok ? (answer.value as { signature?: unknown }).signature : undefined;
      return typeof hex === 'string' ? Buffer.from(hex, 'hex') : undefined;
    };
    const signatures = {
      transaction: own.ok ? own.value : undefined,
      account: signatureOf(account),
      currency: signatureOf(currency),
    };
    if (!signatures.transaction || !signatures.account || !signatures.currency) return undefined;
    const checkpoint: Checkpoint = {
      ...body,
      signatures: {
        transaction: signatures.transaction,
        account: signatures.account,
        currency: signatures.currency,
      },
    };
    const kept = await this.keeper.keep(checkpoint);
    if (!kept.ok) return undefined;
    const json = headerToJson(header, checkpoint.signatures);
    await Promise.all(
      (['account', 'currency'] as const).map((device) =>
        this.peers[device].post('/internal/v1/checkpoints', json),
      ),
    );
    return body.transactionNumber.toString();
  }

  async recover(onProgress: RecoveryProgress): Promise<Result<RecoveryReport>> {
    return this.#exclusive(async () => {
      const entered = await this.service.enterMaintenance();
      if (!entered.ok) return entered;
      // account and currency take repairs only while they know a recovery runs.
      const tellPeers = (running: boolean) =>
        Promise.all(
          (['account', 'currency'] as const).map((device) =>
            this.peers[device].post('/internal/v1/recovery', { running }),
          ),
        );
      try {
        // A peer fenced on a damaged store comes back on a new, empty store, rebuilt below.
        const rebuilt = await this.#restartDamagedPeers(onProgress);
        if (!rebuilt.ok) return rebuilt;
        await tellPeers(true);
        await this.#expectRecordsAfter(0n);
        if (this.recoveryPauseMs > 0)
          await new Promise((resolve) => setTimeout(resolve, this.recoveryPauseMs));
        const access = this.#access(await this.#unreadablePeers());
        const recovered = await recover(this.verifyingKeys, access, onProgress, true);
        if (!recovered.ok) return recovered;
        this.#remember(recovered.value.after);
        // What this device keeps beside A (its operations, its counters) follows the repaired A.
        await this.service.deriveTables();
        // A store that had lost its tail holds it again (tails.ts): the device takes operations.
        if ((await checkTails(this.service, this.peers)).kind === 'whole')
          this.service.releaseHold();
        return rebuilt.value.length === 0
          ? recovered
          : ok({ ...recovered.value, storesRebuilt: rebuilt.value });
      } finally {
        await tellPeers(false);
        this.service.leaveMaintenance();
      }
    });
  }

  async #exclusive<T>(work: () => Promise<Result<T>>): Promise<Result<T>> {
    if (this.#running)
      return fail('AuditInProgress', 'an audit or recovery is already running; try again later');
    this.#running = true;
    try {
      return await work();
    } catch (error) {
      if (error instanceof StreamFailure) return error.failure;
      throw error;
    } finally {
      this.#running = false;
    }
  }

  #remember(report: AuditReport): void {
    this.#lastAudit = {
      atMs: this.context.environment.nowMs(),
      clean: report.clean,
      findings: report.findings.length + report.findingsOmitted,
    };
    this.metrics.auditDone('full', report.clean, this.#lastAudit.atMs);
  }

  /** A peer's copy of A by block digests; blocks that differ are fetched in full. */
  #digestedCopy(device: 'account' | 'currency', path: string): DigestedCopy {
    const peer = this.peers[device];
    return {
      blocks: peerBlocks(peer.linePages(path), device),
      fetchBlocks: async (first, last) => {
        const records: SignedRecord[] = [];
        const lines = peer.lines(
          `/internal/v1/export/transactions?after=${baseOfBlock(first) - 1n}&upTo=${baseOfBlock(last) + blockSize - 1n}`,
        );
        for await (const signed of peerRecords(lines, device)) records.push(signed);
        return records;
      },
    };
  }

  /**
   * The peers fenced on a damaged store (their /health says so), with the damage: the audit reads
   * the other copies and names these (audit.ts, AuditInputs.unreadable). A peer that does not
   * answer at all is not taken for one: the audit then stops, as a peer unavailable.
   */
  /**
   * Each peer fenced on a damaged store sets it aside (kept) and is started again by its
   * supervisor on a new, empty store (devices/storeRebuild.ts); waits until each answers again,
   * unfenced. The names of the peers so restarted.
   */
  async #restartDamagedPeers(
    onProgress: RecoveryProgress,
  ): Promise<Result<('account' | 'currency')[]>> {
    const damaged = Object.keys(await this.#unreadablePeers()) as ('account' | 'currency')[];
    for (const device of damaged) {
      const asked = await this.peers[device].post(setAsideRoute, {});
      if (!asked.ok) return asked;
    }
    for (const [index, device] of damaged.entries()) {
      const back = await this.#backOnNewStore(device, () =>
        onProgress('rebuild', index, damaged.length),
      );
      if (!back.ok) return back;
    }
    return ok(damaged);
  }

  /** Polls the peer's health; `waiting` is told at each poll (progress keeps the stream alive). */
  async #backOnNewStore(
    device: 'account' | 'currency',
    waiting: () => void,
  ): Promise<Result<undefined>> {
    const { nowMs } = this.context.environment;
    for (const deadlineMs = nowMs() + peerRestartMsMax; nowMs() < deadlineMs; ) {
      waiting();
      await new Promise((resolve) => setTimeout(resolve, peerRestartPollMs));
      const health = await this.peers[device].get('/health');
      if (health.ok && (health.value as { storeDamage?: unknown }).storeDamage === undefined)
        return ok(undefined);
    }
    return fail(
      'PeerUnavailable',
      `the ${device} device set its damaged store aside but did not come back on a new store within ${peerRestartMsMax / 1000} s; it needs a supervisor that starts it again (triledger up, or systemd): start it, then run recover again`,
    );
  }

  async #unreadablePeers(): Promise<Partial<Record<'account' | 'currency', string>>> {
    const unreadable: Partial<Record<'account' | 'currency', string>> = {};
    for (const device of ['account', 'currency'] as const) {
      const health = await this.peers[device].get('/health');
      const damage = health.ok
        ? (health.value as { storeDamage?: unknown }).storeDamage
        : undefined;
      if (typeof damage === 'string') unreadable[device] = damage;
    }
    return unreadable;
  }

  #access(
    unreadable: Partial<Record<'account' | 'currency', string>>,
  ): LedgerAccess & { open(from?: Checkpoint, digestUpTo?: bigint): AuditInputs } {
    const { account, currency } = this.peers;
    return {
      open: (from?: Checkpoint, digestUpTo?: bigint) => {
        const after = from?.transactionNumber ?? 0n;
        // The peers hash their copy on the way, for the checkpoint this audit may leave.
        const digest =
          digestUpTo !== undefined && digestUpTo > after ? `&digestUpTo=${digestUpTo}` : '';
        const path = `/internal/v1/export/transactions?after=${after}${digest}`;
        return {
          ...(from ? { from } : {}),
          copies: {
            transaction: ownRecordPages(this.service.exportRecordPages(after)),
            account: this.#digestedCopy('account', `${path}&form=digests`),
            currency: this.#digestedCopy('currency', `${path}&form=digests`),
          },
          accounts: readLines(
            account.lines('/internal/v1/export/accounts'),
            accountOfLine,
            'account',
          ),
          units: readLines(currency.lines('/internal/v1/export/units'), unitOfLine, 'currency'),
          unreadable,
        };
      },
      repair: async (device, batch) => {
        if (device === 'transaction') {
          const repaired = await this.service.repair(batch);
          this.keeper.forget();
          return repaired;
        }
        const toWire = (content: RowContent) =>
          device === 'account'
            ? accountContentToWire(content as AccountRowContent)
            : currencyContentToWire(content as CurrencyRowContent);
        const answer = await this.peers[device].post(
          '/internal/v1/repair',
          batchToWire(batch, toWire),
        );
        if (!answer.ok) return answer;
        const counts = answer.value as Partial<Record<keyof RepairCounts, unknown>>;
        const named = ['recordsRemoved', 'recordsPut', 'rowsRemoved', 'rowsPut'] as const;
        return named.every((name) => Number.isSafeInteger(counts[name]))
          ? ok(answer.value as RepairCounts)
          : fail('PeerUnavailable', `${device} answered a repair without its counts`);
      },
    };
  }
}

function batchToWire(batch: RepairBatch<RowContent>, toWire: (content: RowContent) => unknown) {
  const removals = (list: readonly { key: bigint; kind: string }[]) =>
    list.map(({ key, kind }) => ({ key: key.toString(), kind }));
  return {
    records: { remove: removals(batch.records.remove), put: batch.records.put.map(recordToWire) },
    rows: { remove: removals(batch.rows.remove), put: batch.rows.put.map(toWire) },
  };
}

const AdminBody = Type.Object({}, { additionalProperties: false });
const AuditBody = Type.Object(
  {
    full: Type.Optional(
      Type.Boolean({
        description: 'from the beginning of the log, not from the newest checkpoint',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * The device's own store's fence, and its answer to a recovery while that store is damaged: one
 * line, after which the store is set aside for a rebuild (storeRebuild.ts, SetAsideRequest).
 */
export interface OwnStoreRebuild {
  readonly fence: StoreFence;
  readonly answerRecovery: (reply: FastifyReply, damage: string) => FastifyReply;
}

export function registerAdminRoutes(
  server: HttpServer,
  context: DeviceContext,
  service: TransactionService,
  admin: AdminService,
  ownStore?: OwnStoreRebuild,
): void {
  // While recovery runs, or the device is held until one (tails.ts), users' requests and reads
  // wait (access.ts has checked who calls already).
  server.addHook('preValidation', async (request, reply) => {
    const callers = request.routeOptions.config.callers;
    if (callers !== 'record-signer' && callers !== 'account-holder') return;
    if (service.inMaintenance)
      return sendFailure(
        reply,
        fail('Maintenance', 'the ledger is in maintenance (recovery); retry shortly'),
      );
    const held = service.heldRefusal;
    if (held) return sendFailure(reply, held);
  });

  /** Run a job, streaming its progress and its result as JSON lines. */
  const stream = async <T>(
    reply: FastifyReply,
    job: (progress: RecoveryProgress) => Promise<Result<T>>,
    resultEvent: (value: T) => AdminEvent,
  ) => {
    if (admin.running)
      return sendFailure(reply, fail('AuditInProgress', 'an audit or recovery is already running'));
    const out = new PassThrough();
    const send = (event: AdminEvent) => out.write(`${JSON.stringify(event)}\n`);
    let sentAtMs = 0;
    const progress = (phase: RecoveryPhase, done: number, total = admin.recordsTotal) => {
      const nowMs = context.environment.nowMs();
      if (nowMs - sentAtMs < progressIntervalMs) return;
      sentAtMs = nowMs;
      send({ event: 'progress', phase, done, total });
    };
    void reply.type(exportContentType).send(out);
    void job(progress)
      .then(
        (result) => send(result.ok ? resultEvent(result.value) : errorEvent(result)),
        (error: unknown) => {
          send(errorEvent(fail('PeerUnavailable', 'the job stopped unexpectedly')));
          out.end();
          // A violated invariant stops the device (as in http.ts); any other error is a bug to log.
          if (error instanceof InvariantViolation) {
            reply.log.fatal({ err: error }, 'invariant violated during an audit; stopping');
            setImmediate(() => process.exit(70));
          } else reply.log.error({ err: error }, 'audit or recovery failed unexpectedly');
        },
      )
      .finally(() => {
        if (!out.writableEnded) out.end();
      });
    return reply;
  };

  server.post(
    '/v1/admin/audit',
    {
      ...by('operator'),
      schema: {
        summary: 'Audit every copy (operator key); a stream of JSON lines',
        body: AuditBody,
        response: { 200: AdminStream, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request, reply) =>
      stream(
        reply,
        (progress) => admin.audit((done) => progress('audit', done), request.body.full === true),
        (report) => ({ event: 'report', report }),
      ),
  );

  server.post(
    recoverRoute,
    {
      ...by('operator'),
      schema: {
        summary: 'Repair what the audit finds (operator key); a stream of JSON lines',
        body: AdminBody,
        response: { 200: AdminStream, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (_request, reply) => {
      // The recovery runs here: on this device's own damaged store it is rebuilt after a restart.
      const damage = ownStore?.fence.damage;
      if (damage !== undefined) return ownStore?.answerRecovery(reply, damage);
      return stream(
        reply,
        (progress) => admin.recover(progress),
        (recovery) => ({ event: 'recovery', recovery }),
      );
    },
  );
}

function errorEvent(failure: Failure): AdminEvent {
  return { event: 'error', error: { code: failure.code, message: failure.message } };
}
