// `npm run bench [-- SUITE...]`: runs the named benchmark suites (all when none is named), prints a
// table, and writes the figures as JSON to bench/results/. Suites: signature, ledger, audit
// (`-- audit --scheme ed25519 --remittances N`, `-- ledger --store postgres://…`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { renderTable } from '../src/cli/output.js';
import { auditRemittancesDefault, runAuditBench } from './audit.js';
import { runLedgerBench } from './ledger.js';
import { runSignatureBench, signatureBenchSettings, signatureTargetRatio } from './signature.js';

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
      r.audit.seconds <= targetSeconds;
    const table = renderTable(
      [
        `measure (${scheme}, ${r.remittances.toLocaleString('en-US')} remittances, 3 processes, SQLite)`,
        'value',
      ],
      [
        ['full audit, with signing the checkpoint it leaves', seconds(r.audit.seconds)],
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
  ledger: async () => {
    const store = optionValue('--store');
    if (store !== undefined && !/^postgres(ql)?:\/\//.test(store))
      throw new Error('--store must be a postgres:// URL (SQLite is the default)');
    const result = await runLedgerBench(store);
    const ms = (value: number) => value.toFixed(2);
    const table = renderTable(
      [
        `measure (3 processes, ${store === undefined ? 'SQLite' : 'PostgreSQL'}, HMAC, confirm)`,
        'value',
      ],
      [
        [
          `single remittance latency, ${result.single.count} one at a time: p50 / p99 / max`,
          `${ms(result.single.p50Ms)} / ${ms(result.single.p99Ms)} / ${ms(result.single.maxMs)} ms`,
        ],
        [
          `throughput, ${result.load.clients} concurrent terminals, ${result.load.seconds.toFixed(1)} s`,
          `${Math.round(result.load.perSecond).toLocaleString('en-US')} remittances/s`,
        ],
        [
          'latency under that load: p50 / p99',
          `${ms(result.load.p50Ms)} / ${ms(result.load.p99Ms)} ms`,
        ],
        ['remittances refused during the load (must be 0)', String(result.load.refused)],
      ],
    );
    return { table, figures: result, met: result.load.refused === 0 };
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
  ['--scheme', '--remittances', '--store']
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
  const { table, figures, met } = await suites[name]!();
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
