// Device processes for tests that kill and restart devices one at a time (the fault test, the
// crash scenarios): each device is its own `triledger device` process, started from its
// configuration file, and can be stopped, killed with SIGKILL, and started again.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DeviceName } from '../../src/deployment/demo.js';
import { binPath } from '../cli/run.js';

export { freePorts } from './deployment.js';

const deviceStartMsMax = 20_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One device process that can be killed and started again. */
export class DeviceProcess {
  child: ChildProcess | undefined;
  crashPlan: string | undefined;
  /** Called when the process died without being asked to stop. */
  onDeath: (signal: NodeJS.Signals | null) => void = () => {};
  /** The last lines the process wrote (logs), to show when a test fails. */
  output = '';

  constructor(
    readonly device: DeviceName,
    private readonly dir: string,
    /** A command that runs the device elsewhere (`ip netns exec NAME`); none: on this host. */
    private readonly launcher: readonly string[] = [],
  ) {}

  async start(crashPlan?: string): Promise<void> {
    this.crashPlan = crashPlan;
    const command = [
      ...this.launcher,
      process.execPath,
      binPath,
      'device',
      this.device,
      '--config',
      join(this.dir, `${this.device}.json`),
    ];
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TRILEDGER_FAULT_CRASH: crashPlan ?? '' },
    });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    child.stderr!.on('data', keep);
    let listening = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.device} did not start:\n${this.output}`)),
        deviceStartMsMax,
      );
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        keep(Buffer.from(`${line}\n`));
        if (line.includes(' listening on ')) {
          listening = true;
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const current = this.child === child;
        if (current) this.child = undefined;
        // A step crash can come before the device listens (while it resumes what was cut off).
        if (!listening && signal !== 'SIGKILL')
          reject(
            new Error(
              `${this.device} exited (${code ?? signal}) before it listened:\n${this.output}`,
            ),
          );
        resolve();
        if (current && (listening || signal === 'SIGKILL')) this.onDeath(signal);
      });
    });
  }

  kill9(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

export function editJson(path: string, change: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  change(json);
  writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
}

/**
 * Short time limits for a test deployment, so that undecided operations and old holds are dealt
 * with within the test; the continuous audit off and the logs quiet.
 */
export function shortTimeLimits(
  dir: string,
  limits: { operationTimeoutMs: number; holdTimeoutMs: number; resumeIntervalMs: number },
): void {
  for (const device of ['transaction', 'account', 'currency'] as const)
    editJson(join(dir, `${device}.json`), (config) => {
      config['protocol'] = {
        ...(config['protocol'] as object),
        operationTimeoutMs: limits.operationTimeoutMs,
        holdTimeoutMs: limits.holdTimeoutMs,
      };
      config['resumeIntervalMs'] = limits.resumeIntervalMs;
      config['continuousAuditIntervalMs'] = 0;
      config['logLevel'] = 'error';
    });
}
