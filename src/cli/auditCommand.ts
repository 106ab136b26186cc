// `triledger audit` and `triledger recover`: the operator's commands (docs/design.md section 6).
//
// Both call the transaction device's admin endpoints, signed with the operator key
// (DIR/operator.keystore.json by default). The report is a table for people (what is there, what is
// correct, per device, store and row) or JSON with --json. A progress bar runs on a terminal.
// Exit codes: audit 0 clean, 1 tampering found, 2 could not run; recover 0 the ledger is clean
// again, 1 something stays unrecoverable, 2 could not run.

import { join } from 'node:path';
import type { Command } from 'commander';
import type { AuditReport, Finding } from '../audit/audit.js';
import type { RecoveryReport } from '../audit/recovery.js';
import { OperatorClient } from '../client/operator.js';
import { deploymentInfo, operatorKeyNumber, passphraseOf } from '../deployment/demo.js';
import { systemEnvironment } from '../model/environment.js';
import type { Failure } from '../model/errors.js';
import { loadKeystoreFile } from '../signature/keystoreFile.js';
import { CliFailure, countOf, dataOption, printJson, renderTable, usageError } from './output.js';
import { progressBar } from './progress.js';

export const auditExitCodes = { clean: 0, tampered: 1, couldNotRun: 2 } as const;
/** Rows of findings printed in the table; --json gives them all. */
export const findingRowsMax = 200;
const cellCharsMax = 72;

interface OperatorOptions {
  data: string;
  url?: string;
  keystore?: string;
  key?: string;
  json?: boolean;
}

function couldNotRun(failure: Failure | { message: string; code?: string }): CliFailure {
  return new CliFailure(
    `${failure.code ?? 'InvalidInput'}: ${failure.message}`,
    auditExitCodes.couldNotRun,
  );
}

function operatorClient(options: OperatorOptions): OperatorClient {
  let info: ReturnType<typeof deploymentInfo> & { operatorKeyNumbers?: number[] };
  try {
    info = deploymentInfo(options.data);
  } catch {
    throw couldNotRun({ message: `no deployment in ${options.data} (deployment.json)` });
  }
  const keyNumber =
    options.key === undefined
      ? (info.operatorKeyNumbers?.[0] ?? operatorKeyNumber)
      : Number(options.key);
  if (!Number.isInteger(keyNumber) || keyNumber < 1) throw usageError('--key must be a key number');
  const passphrase = process.env['TRILEDGER_PASSPHRASE'] ?? passphraseOf(options.data);
  const keys = loadKeystoreFile(
    options.keystore ?? join(options.data, 'operator.keystore.json'),
    passphrase,
    { environment: systemEnvironment },
  );
  if (!keys.ok) throw couldNotRun(keys);
  return new OperatorClient(options.url ?? info.transactionUrl, keys.value, keyNumber);
}

/** A finding's row content, short: for a change, only the fields that differ. */
function describe(
  values: Record<string, string | number> | undefined,
  other: Record<string, string | number> | undefined,
): string {
  if (!values) return '-';
  const fields = Object.entries(values).filter(
    ([name, value]) => other === undefined || other[name] !== value,
  );
  const text = (fields.length > 0 ? fields : Object.entries(values))
    .map(([name, value]) => {
      const shown = String(value);
      return `${name}=${shown.length > 20 ? `${shown.slice(0, 16)}...` : shown}`;
    })
    .join(' ');
  return text.length > cellCharsMax ? `${text.slice(0, cellCharsMax - 3)}...` : text;
}

function findingRow(finding: Finding): string[] {
  return [
    finding.device,
    `${finding.store} ${finding.table}`,
    finding.key,
    finding.kind,
    describe(finding.found, finding.expected),
    describe(finding.expected, finding.found),
  ];
}

export function renderAuditReport(
  report: AuditReport & { note?: string; checkpointMade?: string },
  title = 'Audit',
): string {
  const total = report.findings.length + report.findingsOmitted;
  const from = report.startedAfter === '0' ? '' : ` after checkpoint ${report.startedAfter}`;
  const lines = [
    `${title}${from}: ${report.operations} operations, ${report.recordsChecked} records of A and ${report.rowsChecked} rows of B and C checked: ${
      report.clean ? 'clean' : `${total} finding${total === 1 ? '' : 's'}`
    }`,
  ];
  if (report.note) lines.push(`Note: ${report.note}.`);
  if (report.checkpointMade)
    lines.push(`Checkpoint ${report.checkpointMade} signed by all three devices.`);
  if (!report.replayed)
    lines.push('Part of A is unrecoverable: B and C were checked by their signatures only.');
  if (total > 0) {
    const shown = report.findings.slice(0, findingRowsMax);
    lines.push(
      renderTable(
        ['device', 'store', 'row', 'change', 'what is there', 'what is correct'],
        shown.map(findingRow),
      ),
    );
    if (total > shown.length)
      lines.push(`... and ${total - shown.length} more (--json lists ${report.findings.length}).`);
  }
  return lines.join('\n');
}

function renderRecovery(recovery: RecoveryReport): string {
  const rows = Object.entries(recovery.repaired).map(([device, counts]) => [
    device,
    counts.recordsRemoved,
    counts.recordsPut,
    counts.rowsRemoved,
    counts.rowsPut,
  ]);
  const rebuilt = (recovery.storesRebuilt ?? []).map(
    (device) =>
      `The ${device} device's damaged store was set aside (kept, its name marked damaged) and rebuilt on a new store from the other two.`,
  );
  return [
    ...rebuilt,
    renderAuditReport(recovery.before, 'Before'),
    renderTable(
      ['device', 'records quarantined', 'records put', 'rows quarantined', 'rows re-signed'],
      rows,
    ),
    renderAuditReport(recovery.after, 'After'),
    recovery.recovered
      ? 'Recovered: the ledger is clean again.'
      : 'Not everything could be recovered: see the findings above. Nothing was repaired where no copy is trustworthy.',
  ].join('\n');
}

export function registerAuditCommands(program: Command): void {
  const operatorOptions = (command: Command) =>
    command
      .addOption(dataOption())
      .option('--url <url>', 'the transaction device (default: from the deployment)')
      .option('--keystore <file>', 'the operator keystore (default: DIR/operator.keystore.json)')
      .option('--key <number>', 'the operator key number')
      .option('--json', 'print JSON');

  operatorOptions(program.command('audit'))
    .description('check every copy of A, B and C; exit 0 clean, 1 tampering found, 2 could not run')
    .option('--full', 'from the beginning of the log, not from the newest checkpoint')
    .action(async (options: OperatorOptions & { full?: boolean }) => {
      const client = operatorClient(options);
      const bar = progressBar();
      const report = await client.audit((phase, done, total) => bar.update(phase, done, total), {
        full: options.full === true,
      });
      bar.finish();
      if (!report.ok) throw couldNotRun(report);
      if (options.json) printJson(report.value);
      else process.stdout.write(`${renderAuditReport(report.value)}\n`);
      if (!report.value.clean)
        throw new CliFailure(
          `tampering found: ${countOf(report.value.findings.length + report.value.findingsOmitted, 'finding')}`,
          auditExitCodes.tampered,
        );
    });

  operatorOptions(program.command('recover'))
    .description(
      'repair what the audit finds (the ledger pauses meanwhile); exit 0 recovered, 1 not all, 2 could not run',
    )
    .action(async (options: OperatorOptions) => {
      const client = operatorClient(options);
      const bar = progressBar();
      const recovery = await client.recover((phase, done, total) => bar.update(phase, done, total));
      bar.finish();
      if (!recovery.ok) throw couldNotRun(recovery);
      if (options.json) printJson(recovery.value);
      else process.stdout.write(`${renderRecovery(recovery.value)}\n`);
      if (!recovery.value.recovered)
        throw new CliFailure(
          'some of the ledger is unrecoverable: no copy of it is trustworthy',
          auditExitCodes.tampered,
        );
    });
}
