// Where each microsecond of a remittance goes (issue 17): the throughput benchmark's `--stages`.
//
// The devices run with V8's sampling profiler (`--cpu-prof`, through NODE_OPTIONS, so the devices
// carry no profiling code of their own). After the run each device's main-thread profile is read,
// only the samples taken in the measured time are kept (V8 stamps them with the same monotonic
// clock as process.hrtime), and each sample is put in one stage by its stack, leaf first: the
// first frame that names a stage decides, except that anything the audit's work called is audit.
// The stages follow the list: admit (the HTTP edge: routing, schemas, rate limits), read,
// write and commit (the store: statements by the store method that runs them, named for what it
// does, and the group commit, which waits on the disk's sync), core (the pure machines), wire
// (record encoding and the inter-device client), crypto (signature device and node:crypto), http
// (sockets and HTTP parsing; a socket's work for the store, PostgreSQL's, is the store's: read,
// unless a frame above it names a commit or a write, which a round trip's one write of several
// statements, sent when the socket is uncorked, does not), audit (the continuous audit and
// checkpoints, background work), log, pipeline (the rest of the devices' own code), gc, and runtime
// (V8 and Node.js with no project frame above). Native methods and builtins (a SQLite statement, an
// HMAC, JSON.stringify) are sampled in the JavaScript function that called them, so they count in
// its stage.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const stages = [
  'admit',
  'read',
  'write',
  'commit',
  'core',
  'wire',
  'crypto',
  'http',
  'audit',
  'log',
  'pipeline',
  'gc',
  'runtime',
] as const;
export type Stage = (typeof stages)[number];

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A profile's file for one process's main thread: V8 names them CPU.<date>.<time>.<pid>.0.<n>. */
export function mainThreadProfile(directory: string, pid: number): string | undefined {
  const name = readdirSync(directory).find((file) =>
    new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.0\\.\\d+\\.cpuprofile$`).test(file),
  );
  return name === undefined ? undefined : join(directory, name);
}

/** Microseconds of CPU per stage in the samples taken from `fromUs` to `toUs` (monotonic clock). */
export function stageMicroseconds(
  profilePath: string,
  fromUs: number,
  toUs: number,
): Record<Stage, number> {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const stageOf = stagesOfNodes(profile.nodes);
  const totals = Object.fromEntries(stages.map((stage) => [stage, 0])) as Record<Stage, number>;
  let atUs = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const deltaUs = profile.timeDeltas[i + 1] ?? 0;
    atUs += profile.timeDeltas[i] ?? 0;
    if (atUs < fromUs || atUs >= toUs) continue;
    const stage = stageOf.get(profile.samples[i]!);
    if (stage !== 'idle' && stage !== undefined) totals[stage] += deltaUs;
  }
  return totals;
}

/** Each node's stage, from its own frame and its callers'. */
function stagesOfNodes(nodes: readonly ProfileNode[]): Map<number, Stage | 'idle'> {
  const parentOf = new Map<number, ProfileNode>();
  for (const node of nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const result = new Map<number, Stage | 'idle'>();
  for (const node of nodes) {
    const leaf = node.callFrame.functionName;
    if (leaf === '(idle)') result.set(node.id, 'idle');
    else if (leaf === '(garbage collector)') result.set(node.id, 'gc');
    else if (calledByAudit(node, parentOf)) result.set(node.id, 'audit');
    else result.set(node.id, stageUpFrom(node, parentOf) ?? 'runtime');
  }
  return result;
}

const auditWork = /\/(?:src|dist)\/(?:audit\/|devices\/(?:checkpoints|recoveryRoutes)\.)/;

function calledByAudit(leaf: ProfileNode, parentOf: ReadonlyMap<number, ProfileNode>): boolean {
  for (let node: ProfileNode | undefined = leaf; node; node = parentOf.get(node.id))
    if (auditWork.test(node.callFrame.url)) return true;
  return false;
}

/**
 * The stage of the first frame from the leaf that names one; but a socket's work (http) that the
 * store asked for (a PostgreSQL statement sent) is the store's: the first of the store's frames
 * above the socket's that names commit or write, else read.
 */
function stageUpFrom(
  leaf: ProfileNode,
  parentOf: ReadonlyMap<number, ProfileNode>,
): Stage | undefined {
  let socket = false;
  let storeRead = false;
  for (let node: ProfileNode | undefined = leaf; node; node = parentOf.get(node.id)) {
    const stage = stageOfFrame(node.callFrame);
    if (stage === undefined) continue;
    if (stage === 'http' && !storeRead) {
      socket = true;
      continue;
    }
    if (!socket) return stage;
    // Above a socket's frames, the store's name what the socket did for it.
    if (stage === 'commit' || stage === 'write') return stage;
    if (stage !== 'read') return storeRead ? 'read' : 'http';
    storeRead = true;
  }
  if (!socket) return undefined;
  return storeRead ? 'read' : 'http';
}

/** The store methods that write (src/store/types.ts); every other store method reads. */
const storeWriteNames =
  /^#?(run|exec|put|append|raise|restore|delete|quarantine|reserve|finish|mark|load|next)/;

/** The stage a frame names, if any. */
function stageOfFrame(frame: CallFrame): Stage | undefined {
  const url = frame.url;
  const project = /\/(?:src|dist)\/([a-z]+)\/(?:([a-zA-Z]+)\/)?([a-zA-Z]+)\.[jt]sx?$/.exec(url);
  const folder = project?.[1];
  if (folder === 'signature' || url.startsWith('node:internal/crypto')) return 'crypto';
  if (folder === 'store' || url.includes('/better-sqlite3/') || url.includes('/node_modules/pg'))
    return /^#?commit/.test(frame.functionName)
      ? 'commit'
      : storeWriteNames.test(frame.functionName)
        ? 'write'
        : 'read';
  if (folder === 'core') return 'core';
  if (folder === 'protocol' || project?.[3] === 'encoding' || project?.[3] === 'peerClient')
    return 'wire';
  if (url.includes('/undici/')) return 'wire';
  if (folder === 'audit') return 'audit';
  if (url.includes('/pino') || url.includes('/sonic-boom/')) return 'log';
  if (/\/(fastify|find-my-way|avvio|fast-json-stringify|ajv|@fastify)\//.test(url)) return 'admit';
  if (project?.[3] === 'routes' || project?.[3] === 'http' || project?.[3] === 'rateLimits')
    return 'admit';
  if (/^node:(net|_http|stream|internal\/(stream|http|net|streams))/.test(url)) return 'http';
  if (folder === 'devices' || folder === 'model') return 'pipeline';
  return undefined;
}
