// `triledger simulate`: run the seeded simulator (src/simulator). One seed (`--seed N`), or many
// (`--seeds K`, from --seed on). Each seed prints one line; a failing seed prints its violations,
// the end of its trace and the command that runs it again, and the command exits 1.

import type { Command } from 'commander';
import { operationsDefault, type SimulationResult, simulate } from '../simulator/simulator.js';
import { CliFailure, printJson, usageError } from './output.js';
import { progressBar } from './progress.js';

/** Seeds one command may run (a long run is a command; days of seeds are many commands). */
export const seedsMax = 10_000_000;
export const operationsMax = 100_000;

interface SimulateOptions {
  seed: string;
  seeds: string;
  operations: string;
  calm?: boolean;
  json?: boolean;
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^[0-9]{1,16}$/.test(text) || value < min || value > max)
    throw usageError(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description(
      'run the ledger in the seeded simulator (faults, crashes, a bank workload); exit 0 when every seed passes its end checks, 1 when one fails',
    )
    .option('--seed <n>', 'the seed (with --seeds, the first)', '1')
    .option('--seeds <k>', 'how many seeds, one after another', '1')
    .option('--operations <m>', 'operations of the workload per seed', String(operationsDefault))
    .option('--calm', 'no faults: no drops, duplicates, crashes or partitions')
    .option('--json', 'print one JSON object per seed')
    .action(async (options: SimulateOptions) => {
      const first = wholeNumber(options.seed, '--seed', 0, Number.MAX_SAFE_INTEGER - seedsMax);
      const count = wholeNumber(options.seeds, '--seeds', 1, seedsMax);
      const operations = wholeNumber(options.operations, '--operations', 1, operationsMax);
      const bar = progressBar(process.stderr, Date.now, 'seeds');
      const startedMs = Date.now();
      let failed: SimulationResult | undefined;
      for (let seed = first; seed < first + count && !failed; seed++) {
        const result = await simulate({ seed, operations, faults: options.calm !== true });
        if (options.json) printJson(result);
        else if (count === 1 || result.violations.length > 0)
          process.stdout.write(`${lineOf(result)}\n`);
        if (result.violations.length > 0) failed = result;
        bar.update('seeds', seed - first + 1, count);
      }
      bar.finish();
      const seconds = (Date.now() - startedMs) / 1000;
      if (!options.json && count > 1 && !failed)
        process.stdout.write(
          `${count} seeds passed (${first}-${first + count - 1}) in ${seconds.toFixed(1)} s, ${(count / seconds).toFixed(2)} seeds/s\n`,
        );
      if (failed) {
        if (!options.json) {
          for (const violation of failed.violations)
            process.stdout.write(`  violation: ${violation}\n`);
          process.stdout.write(
            `  trace ends:\n${failed.traceTail.map((l) => `    ${l}`).join('\n')}\n`,
          );
        }
        const again = `triledger simulate --seed ${failed.seed} --operations ${operations}${options.calm ? ' --calm' : ''}`;
        throw new CliFailure(`seed ${failed.seed} failed; run it again with: ${again}`, 1);
      }
    });
}

function lineOf(result: SimulationResult): string {
  const outcomes = Object.entries(result.outcomes)
    .map(([outcome, count]) => `${outcome} ${count}`)
    .join(', ');
  const verdict =
    result.violations.length === 0 ? 'passed' : `FAILED (${result.violations.length} violations)`;
  return (
    `seed ${result.seed}: ${verdict}; ${result.requests} requests (${outcomes}); ` +
    `${result.crashes} crashes (${result.lazyCommitsLost} unsynced commits lost), ` +
    `${result.messagesLost} of ${result.messagesSent} messages lost; ` +
    `${(result.simulatedMs / 1000).toFixed(1)} s simulated; trace ${result.traceDigest.slice(0, 16)}`
  );
}
