// `npm run bench [-- SUITE...]`: runs the named benchmark suites (all when none is named), prints a
// table, and writes the figures as JSON to bench/results/. Suites: signature, throughput, audit
// (`-- audit --scheme ed25519 --remittances N`; `-- throughput --store postgres://… --scheme hmac
// --mode confirm --clients 64 --batch 1 --seconds 15 --warmup 3 --light 300
// --light-warmup 300 --no-pgbench --stages --keep-profiles`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { renderTable } from '../src/cli/output.js';
import { auditRemittancesDefault, runAuditBench } from './audit.js';
import { runSignatureBench, signatureBenchSettings, signatureTargetRatio } from './signature.js';
import { runThroughputBench, throughputDefaults } from './throughput.js';
import { throughputReport } from './throughputReport.js';

const suites: Record<
  string,
  () =>
    | Promise<{ table: string; figures: unknown; met: boolean }>
    | { table: string; figures: unknown; met: boolean }
> = {
  audit: async () => {
    const scheme = optionValue('--scheme') ?? 'hmac';
    if (scheme !== 'hmac' && scheme !== 'ed25519')
      throw new Error('--scheme must be hmac or ed25519');
    const remittances = Number(optionValue('--remittances') ?? auditRemittancesDefault);
    const r = await runAuditBench({ scheme, remittances });
    const seconds = (value: number) => `${value.toFixed(2)} s`;
    const targetSeconds =
      r.verificationsAloneSeconds === undefined ? 10 : r.verificationsAloneSeconds * 1.25;
    const met =
      r.audit.clean &&
      r.fromCheckpoint.clean &&
      r.recovery.recovered &&
      Object.values(r.rebuilds).every((rebuild) => rebuild.recovered) &&
      r.audit.seconds <= targetSeconds;
    const table = renderTable(
      [
        `measure (${scheme}, ${r.remittances.toLocaleString('en-US')} remittances, 3 processes, SQLite)`,
        'value',
      ],
      [
        [
          'full audit, with signing the checkpoint it leaves: median (runs)',
          `${seconds(r.audit.seconds)} (${r.audit.runsSeconds.map(seconds).join(', ')})`,
        ],
        [
          'CPU in that audit: transaction (with its worker) / account / currency',
          `${seconds(r.audit.cpuSeconds.transaction)} / ${seconds(r.audit.cpuSeconds.account)} / ${seconds(r.audit.cpuSeconds.currency)}`,
        ],
        [
          'records of A checked (three copies) / rows of B and C',
          `${r.audit.recordsChecked.toLocaleString('en-US')} / ${r.audit.rowsChecked.toLocaleString('en-US')}`,
        ],
        [
          'records checked per second',
          Math.round(r.audit.recordsPerSecond).toLocaleString('en-US'),
        ],
        ['audit clean (must be yes)', r.audit.clean ? 'yes' : 'NO'],
        [
          `audit from the checkpoint it left (after ${r.fromCheckpoint.startedAfter}), nothing new`,
          seconds(r.fromCheckpoint.seconds),
        ],
        [
          'recovery of B and C (every row deleted): time, rows re-signed',
          `${seconds(r.recovery.seconds)}, ${r.recovery.rowsPut.toLocaleString('en-US')}`,
        ],
        ['recovered (must be yes)', r.recovery.recovered ? 'yes' : 'NO'],
        ...(['transaction', 'account', 'currency'] as const).map((device) => [
          `${device}'s store set aside and rebuilt by recover from the other two`,
          `${seconds(r.rebuilds[device].seconds)}${r.rebuilds[device].recovered ? '' : ` (NOT recovered: ${r.rebuilds[device].failure})`}`,
        ]),
        [
          'transaction device peak memory (VmHWM)',
          `${Math.round(r.transactionDevicePeakBytes / 2 ** 20)} MiB`,
        ],
        ...(r.verificationsAloneSeconds === undefined
          ? []
          : [
              [
                `its ${(r.audit.recordsVerified + r.audit.rowsChecked).toLocaleString('en-US')} Ed25519 verifications (records and rows) alone, raw node:crypto`,
                seconds(r.verificationsAloneSeconds),
              ],
            ]),
      ],
    );
    return {
      table: `${table}\ntarget: full audit within ${seconds(targetSeconds)}: ${met ? 'met' : 'MISSED'}`,
      figures: r,
      met,
    };
  },
  throughput: async () => {
    const store = optionValue('--store');
    if (store !== undefined && !/^postgres(ql)?:\/\//.test(store))
      throw new Error('--store must be a postgres:// URL (SQLite is the default)');
    const listOption = <T extends string>(name: string, all: readonly T[]): T[] => {
      const value = optionValue(name);
      if (value === undefined) return [...all];
      const chosen = value.split(',') as T[];
      if (chosen.some((v) => !all.includes(v)))
        throw new Error(`${name} takes ${all.join(' or ')}`);
      return chosen;
    };
    const numberOption = (name: string, fallback: number, least = 1) => {
      const value = Number(optionValue(name) ?? fallback);
      if (!Number.isInteger(value) || value < least)
        throw new Error(`${name} takes a whole number >= ${least}`);
      return value;
    };
    const r = await runThroughputBench({
      ...(store === undefined ? {} : { store }),
      schemes: listOption('--scheme', throughputDefaults.schemes),
      modes: listOption('--mode', throughputDefaults.modes),
      clients: numberOption('--clients', throughputDefaults.clients),
      batch: numberOption('--batch', throughputDefaults.batch),
      warmupSeconds: numberOption('--warmup', throughputDefaults.warmupSeconds),
      measureSeconds: numberOption('--seconds', throughputDefaults.measureSeconds),
      lightCount: numberOption('--light', throughputDefaults.lightCount),
      lightWarmupCount: numberOption('--light-warmup', throughputDefaults.lightWarmupCount, 0),
      pgbench: !process.argv.includes('--no-pgbench'),
      stages: process.argv.includes('--stages') || process.argv.includes('--keep-profiles'),
      keepProfiles: process.argv.includes('--keep-profiles'),
    });
    return throughputReport(r);
  },
  signature: () => {
    const results = runSignatureBench();
    const table = renderTable(
      ['operation (200-byte record, 1 core)', 'raw node:crypto /s', 'device /s', 'device / raw'],
      results.map((r) => [
        r.operation,
        Math.round(r.rawPerSecond).toLocaleString('en-US'),
        Math.round(r.devicePerSecond).toLocaleString('en-US'),
        `${r.ratio.toFixed(3)}x`,
      ]),
    );
    const met = results.every((r) => r.ratio >= signatureTargetRatio);
    return {
      table: `${table}\ntarget: device >= ${signatureTargetRatio}x raw: ${met ? 'met' : 'MISSED'}`,
      figures: { settings: signatureBenchSettings, results },
      met,
    };
  },
};

function optionValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}
const optionValues = new Set(
  [
    '--scheme',
    '--remittances',
    '--store',
    '--mode',
    '--clients',
    '--batch',
    '--seconds',
    '--warmup',
    '--light',
    '--light-warmup',
  ]
    .map((name) => optionValue(name))
    .filter((v) => v !== undefined),
);
const requested = process.argv
  .slice(2)
  .filter((arg) => !arg.startsWith('-') && !optionValues.has(arg));
const names = requested.length > 0 ? requested : Object.keys(suites);
const unknown = names.filter((name) => !(name in suites));
if (unknown.length > 0) {
  process.stderr.write(
    `bench: unknown suite ${unknown.join(', ')} (known: ${Object.keys(suites).join(', ')})\n`,
  );
  process.exit(2);
}

const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryBytes: totalmem(),
};
for (const name of names) {
  const { table, figures, met } = await runSuite(name);
  process.stdout.write(`\n== ${name} ==\n${table}\n`);
  const directory = new URL('./results/', import.meta.url);
  mkdirSync(directory, { recursive: true });
  const file = new URL(`${name}-${new Date().toISOString().replaceAll(':', '-')}.json`, directory);
  writeFileSync(
    file,
    `${JSON.stringify({ suite: name, at: new Date().toISOString(), machine, targetMet: met, figures }, null, 2)}\n`,
  );
  process.stdout.write(`figures written to bench/results/${file.pathname.split('/').at(-1)}\n`);
}

/** A suite's result; a suite that cannot run (a bad option, a port in use) ends the run with one line. */
async function runSuite(name: string): Promise<{ table: string; figures: unknown; met: boolean }> {
  try {
    return await suites[name]!();
  } catch (error) {
    process.stderr.write(
      `bench: ${name}: ${(error instanceof Error ? error.message : String(error)).trim()}\n`,
    );
    process.exit(1);
  }
}
