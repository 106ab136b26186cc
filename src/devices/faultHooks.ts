// Fault hooks: ways for tests to slow or break a device at a named point, enabled only by an
// environment variable that no deployment sets. Each hook is read once, at start, and bounded.
//
// TRILEDGER_FAULT_RECOVERY_PAUSE_MS  hold maintenance this long before recovery repairs anything
//                                    (so a test can watch requests get 503 meanwhile)
// TRILEDGER_FAULT_START_PAUSE_MS     hold a starting device this long before it listens (so a test
//                                    can watch `up` give up on a device that does not start)
// TRILEDGER_FAULT_CRASH              "S104:0.05,S109:0.2": at each named step, die at once (SIGKILL,
//                                    as `kill -9` would) with that probability. The steps, and what
//                                    is durable when each fires, are listed in docs/faults.md.

import { randomInt } from 'node:crypto';

export const faultPauseMsMax = 60_000;

/** The protocol steps of FIG. 1E where a crash can be injected (docs/faults.md). */
export const faultSteps = [
  'S101',
  'S102',
  'S103',
  'S104',
  'S105',
  'S106',
  'S107',
  'S108',
  'S109',
  'S110',
  'S111',
] as const;
export type FaultStep = (typeof faultSteps)[number];

function pauseMs(name: string): number {
  const text = process.env[name];
  if (text === undefined || text === '') return 0;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > faultPauseMsMax)
    throw new Error(`${name} must be a whole number of milliseconds up to ${faultPauseMsMax}`);
  return value;
}

export function recoveryPauseMs(): number {
  return pauseMs('TRILEDGER_FAULT_RECOVERY_PAUSE_MS');
}

export function startPauseMs(): number {
  return pauseMs('TRILEDGER_FAULT_START_PAUSE_MS');
}

/** Parse TRILEDGER_FAULT_CRASH: step -> probability in parts per million. */
export function parseCrashPlan(text: string | undefined): ReadonlyMap<FaultStep, number> {
  const plan = new Map<FaultStep, number>();
  if (text === undefined || text.trim() === '') return plan;
  for (const entry of text.split(',')) {
    const [step, probability] = entry.trim().split(':');
    const chance = Number(probability ?? '1');
    if (!faultSteps.includes(step as FaultStep) || !(chance > 0 && chance <= 1))
      throw new Error(
        `TRILEDGER_FAULT_CRASH: "${entry}" is not STEP:PROBABILITY (S101-S111, 0 < p <= 1)`,
      );
    plan.set(step as FaultStep, Math.round(chance * 1_000_000));
  }
  return plan;
}

const crashPlan = parseCrashPlan(process.env['TRILEDGER_FAULT_CRASH']);

/**
 * A named point of the protocol where a device may die: the device's own hook when its context
 * has one (the simulator's crashes), otherwise the process's (TRILEDGER_FAULT_CRASH).
 */
export function crashPoint(
  context: { readonly crashPoint?: ((step: FaultStep) => void) | undefined },
  step: FaultStep,
): void {
  if (context.crashPoint) context.crashPoint(step);
  else processCrashPoint(step);
}

/** With TRILEDGER_FAULT_CRASH naming the step, the process may die here. */
function processCrashPoint(step: FaultStep): void {
  const partsPerMillion = crashPlan.get(step);
  if (partsPerMillion === undefined || randomInt(1_000_000) >= partsPerMillion) return;
  process.stderr.write(`fault hook: crashing at ${step}\n`);
  process.kill(process.pid, 'SIGKILL');
}
