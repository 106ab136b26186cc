// Where a remittance's time goes under load (issue 17): each device's Prometheus figures
// (devices/metrics.ts) read at the start and at the end of the measured time, and the difference
// turned into means: the time of each protocol step, how many store commits a remittance costs at
// each device, how long a commit takes and how many device transactions it carries, and how many
// signatures and verifications each device makes per remittance (records and rows together, the
// continuous audit's included), and how many messages of steps the transaction device sends each
// peer per remittance, with how many steps each carries (what a message's fixed cost is spread
// on), and how many settlements it sends together. The CPU side of the same question is
// ./stageProfile.ts.

import type { DeviceName } from '../src/devices/context.js';
import { metricsPortOffsets } from './devices.js';

/** A metric's value by name and labels, e.g. `triledger_store_commit_seconds_sum` or `..._sum{step="open"}`. */
export type MetricValues = ReadonlyMap<string, number>;

export async function readMetrics(portBase: number): Promise<Record<DeviceName, MetricValues>> {
  const devices = Object.keys(metricsPortOffsets) as DeviceName[];
  const texts = await Promise.all(
    devices.map(async (device) => {
      const port = portBase + metricsPortOffsets[device];
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      return parseMetrics(await response.text());
    }),
  );
  return Object.fromEntries(devices.map((device, i) => [device, texts[i]!])) as Record<
    DeviceName,
    MetricValues
  >;
}

/** The Prometheus text format's samples, the `device` label left out (one device per text). */
export function parseMetrics(text: string): MetricValues {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = (match[2] ?? '')
      .split(',')
      .filter((label) => label !== '' && !label.startsWith('device='))
      .join(',');
    values.set(labels === '' ? match[1]! : `${match[1]}{${labels}}`, Number(match[3]));
  }
  return values;
}

export interface StepTimes {
  /** Mean milliseconds of each timed step in the measured time, by `device step`. */
  readonly stepMs: Record<string, number>;
  /** Store commits per remittance, mean commit ms, mean device transactions per commit. */
  readonly commits: Record<DeviceName, { perRemittance: number; ms: number; works: number }>;
  /** Signatures and verifications per remittance at each device (its signature device's counts). */
  readonly signatures: Record<DeviceName, { sign: number; verify: number }>;
  /** The transaction device's messages of steps to each peer per remittance, and steps in each. */
  readonly peerMessages: Record<Peer, { perRemittance: number; steps: number }>;
  /** The transaction device's batches of settlements per remittance, and settlements each. */
  readonly settlementBatches: { perRemittance: number; settlements: number };
}

/** The transaction device's peers, which its messages of steps go to. */
export const peers = ['account', 'currency'] as const;
type Peer = (typeof peers)[number];

/** The signature device's operations of one authority in the measured time, every key and result. */
function signatureOperations(
  before: MetricValues,
  after: MetricValues,
  authority: 'sign' | 'verify',
): number {
  let count = 0;
  for (const [name, value] of after)
    if (
      name.startsWith('triledger_signature_operations_total{') &&
      name.includes(`authority="${authority}"`)
    )
      count += value - (before.get(name) ?? 0);
  return count;
}

const timedSteps: Readonly<Record<DeviceName, readonly string[]>> = {
  transaction: ['open', 'exchange_account', 'exchange_currency', 'settle'],
  account: ['exchange', 'settlement'],
  currency: ['exchange', 'settlement'],
};

export function stepTimes(
  before: Record<DeviceName, MetricValues>,
  after: Record<DeviceName, MetricValues>,
  remittances: number,
): StepTimes {
  const delta = (device: DeviceName, name: string) =>
    (after[device].get(name) ?? 0) - (before[device].get(name) ?? 0);
  const stepMs: Record<string, number> = {};
  for (const device of Object.keys(timedSteps) as DeviceName[])
    for (const step of timedSteps[device]) {
      const labels = `{step="${step}"}`;
      const count = delta(device, `triledger_protocol_step_seconds_count${labels}`);
      const seconds = delta(device, `triledger_protocol_step_seconds_sum${labels}`);
      stepMs[`${device} ${step}`] = count === 0 ? 0 : (seconds / count) * 1000;
    }
  const commits = Object.fromEntries(
    (Object.keys(timedSteps) as DeviceName[]).map((device) => {
      const count = delta(device, 'triledger_store_commit_seconds_count');
      const seconds = delta(device, 'triledger_store_commit_seconds_sum');
      const works = delta(device, 'triledger_store_commit_group_size_sum');
      return [
        device,
        {
          perRemittance: remittances === 0 ? 0 : count / remittances,
          ms: count === 0 ? 0 : (seconds / count) * 1000,
          works: count === 0 ? 0 : works / count,
        },
      ];
    }),
  ) as StepTimes['commits'];
  const signatures = Object.fromEntries(
    (Object.keys(timedSteps) as DeviceName[]).map((device) => {
      const per = (authority: 'sign' | 'verify') =>
        remittances === 0
          ? 0
          : signatureOperations(before[device], after[device], authority) / remittances;
      return [device, { sign: per('sign'), verify: per('verify') }];
    }),
  ) as StepTimes['signatures'];
  const peerMessages = Object.fromEntries(
    peers.map((peer) => {
      const count = delta('transaction', `triledger_peer_batch_steps_count{peer="${peer}"}`);
      const steps = delta('transaction', `triledger_peer_batch_steps_sum{peer="${peer}"}`);
      return [
        peer,
        {
          perRemittance: remittances === 0 ? 0 : count / remittances,
          steps: count === 0 ? 0 : steps / count,
        },
      ];
    }),
  ) as StepTimes['peerMessages'];
  const batches = delta('transaction', 'triledger_settlement_batch_size_count');
  const settlements = delta('transaction', 'triledger_settlement_batch_size_sum');
  const settlementBatches = {
    perRemittance: remittances === 0 ? 0 : batches / remittances,
    settlements: batches === 0 ? 0 : settlements / batches,
  };
  return { stepMs, commits, signatures, peerMessages, settlementBatches };
}
