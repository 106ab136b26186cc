// One simulated run of the ledger, from a seed: the three devices' real code over memory stores,
// the simulated network and clock, a bank workload, faults chosen by the seed; then the network is
// healed, every device started, the ledger left to settle, and the end checks run (./checks.ts).
//
// Everything random comes from the seed, so a seed is a run: `triledger simulate --seed N` runs it
// again, event for event, and the digest of its trace says so.

import type { DeviceName } from '../devices/context.js';
import type { Environment } from '../model/environment.js';
import { checkLedger } from './checks.js';
import { deviceNamesAll, SimulatedCluster } from './cluster.js';
import { DeploymentKeys } from './keys.js';
import { calmNetwork, type NetworkFaults, SimulatedNetwork } from './network.js';
import { SeededRandom } from './random.js';
import { storageFaultViolations } from './storageFaults.js';
import { SimulatedTime } from './time.js';
import { BankWorkload } from './workload.js';

export const operationsDefault = 200;
/** The simulated time a run's workload may take before the run is called stuck. */
export const workloadMsMax = 30 * 60_000;
/** After healing: the simulated time every operation has to settle in. */
export const settleMsMax = 5 * 60_000;
const settleCheckEveryMs = 500;
/** Of the runs with faults, the share that ends with a storage fault to find and repair. */
const storageFaultChance = 0.5;
const startMs = 1_767_225_600_000; // 2026-01-01T00:00:00Z

export interface SimulationOptions {
  readonly seed: number;
  readonly operations?: number;
  /** Faults on (the default), or a calm run: no drops, crashes or partitions. */
  readonly faults?: boolean;
  /** Called at rest, before the end checks (a test changes a store here to see the checks bite). */
  readonly beforeChecks?: (cluster: SimulatedCluster) => void;
}

export interface SimulationResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly traceDigest: string;
  readonly requests: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly crashes: number;
  /** Lazy commits (acknowledgements of settlements) that crashes took away before a sync. */
  readonly lazyCommitsLost: number;
  readonly messagesSent: number;
  readonly messagesLost: number;
  readonly simulatedMs: number;
  readonly events: number;
  /** The last lines of the trace (for a failing seed). */
  readonly traceTail: readonly string[];
}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const { seed } = options;
  const random = new SeededRandom(seed);
  const time = new SimulatedTime(startMs);
  const environment: Environment = {
    nowMs: () => time.nowMs,
    randomBytes: (count) => random.bytes(count),
  };
  const network = new SimulatedNetwork(time, random);
  const keys = new DeploymentKeys(random, environment);
  const mode = random.chance(0.75) ? 'confirm' : 'update';
  const cluster = new SimulatedCluster(time, random, network, keys, mode);
  const workload = new BankWorkload(time, random, network, cluster, keys, environment);
  time.note(`seed ${seed} mode ${mode}`);
  cluster.startAll();
  if (options.faults !== false) planFaults(random, time, network, cluster);

  const shape = {
    terminals: random.between(1, 16),
    accounts: random.between(2, 10),
    operations: options.operations ?? operationsDefault,
  };
  void workload.run(shape);
  const violations: string[] = [];
  if (!(await time.run(() => workload.done, time.nowMs + workloadMsMax)))
    violations.push(`the workload did not finish in ${workloadMsMax} simulated ms`);

  // Heal: no more faults, every device up; then let everything settle.
  network.faults = calmNetwork;
  network.heal();
  cluster.faults.crashesLeft = 0;
  cluster.startAll();
  time.note('healed');
  if (!(await settle(time, cluster)))
    violations.push(
      `operations were still open or unsettled ${settleMsMax} simulated ms after healing`,
    );
  options.beforeChecks?.(cluster);
  violations.push(...cluster.failures, ...cluster.continuousFindings.slice(0, 5));
  violations.push(...(await checkLedger(cluster.stores(), keys, workload.submitted)));
  // At rest and checked: now and then one store is damaged, found and repaired.
  if (options.faults !== false && violations.length === 0 && random.chance(storageFaultChance))
    violations.push(...(await storageFaultViolations(random, time, cluster, keys)));
  time.note(`end violations ${violations.length}`);

  const outcomes: Record<string, number> = {};
  for (const { outcome } of workload.submitted) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  return {
    seed,
    violations,
    traceDigest: time.traceDigest(),
    requests: workload.submitted.length,
    outcomes,
    crashes: cluster.crashes,
    lazyCommitsLost: deviceNamesAll.reduce(
      (lost, device) => lost + cluster.databases[device].lazyTransactionsLost,
      0,
    ),
    messagesSent: network.messagesSent,
    messagesLost: network.messagesLost,
    simulatedMs: time.nowMs - startMs,
    events: time.eventsRun,
    traceTail: time.recent,
  };
}

/**
 * The seed's faults: how lossy the network is, how often a device dies at a protocol step, and a
 * few crashes and partitions at random moments of the workload.
 */
function planFaults(
  random: SeededRandom,
  time: SimulatedTime,
  network: SimulatedNetwork,
  cluster: SimulatedCluster,
): void {
  const faults: NetworkFaults = {
    dropChance: random.pick([0, 0.01, 0.03, 0.08]),
    duplicateChance: random.pick([0, 0.02, 0.05]),
    delayMsMin: 1,
    delayMsMax: random.pick([5, 30, 200]),
  };
  network.faults = faults;
  cluster.faults.crashesLeft = random.between(0, 8);
  cluster.faults.crashAtStepChance = random.pick([0, 0.005, 0.02]);
  const horizonMs = 20_000;
  for (let crash = random.between(0, 3); crash > 0; crash--) {
    const device = random.pick(deviceNamesAll);
    time.after(random.between(0, horizonMs), 'crash', () => {
      if (cluster.faults.crashesLeft <= 0) return;
      cluster.faults.crashesLeft -= 1;
      cluster.crash(device, 'between steps');
    });
  }
  for (let partition = random.between(0, 2); partition > 0; partition--) {
    const ends: [DeviceName | 'terminal', DeviceName] = [
      random.pick(['terminal', 'account', 'currency'] as const),
      'transaction',
    ];
    if (ends[0] === 'terminal' && random.chance(0.5)) ends[1] = random.pick(deviceNamesAll);
    const atMs = random.between(0, horizonMs);
    time.after(atMs, 'partition', () => network.partition(...ends));
    time.after(atMs + random.between(200, 8_000), 'heal', () => network.heal());
  }
}

async function settle(time: SimulatedTime, cluster: SimulatedCluster): Promise<boolean> {
  const deadlineMs = time.nowMs + settleMsMax;
  while (time.nowMs < deadlineMs) {
    if (await cluster.settled()) return true;
    await time.run(() => false, time.nowMs + settleCheckEveryMs);
  }
  return cluster.settled();
}
