// How the command line speaks: tables for people, JSON for machines, one line on stderr for errors.
//
// A command returns; it does not call process.exit. Expected failures travel as CliFailure with an
// exit code; main.ts prints them as one line and exits. Tables carry no colour codes, so a pipe
// gets plain text.

import Table from 'cli-table3';
import { Option } from 'commander';
import type { Failure } from '../model/errors.js';

export const exitCodes = {
  ok: 0,
  /** The operation was refused (an error code from the catalogue). */
  refused: 1,
  /** The command line itself is wrong: unknown option, missing argument, malformed value. */
  usage: 2,
  /** A bug: an invariant was violated. */
  internal: 70,
  /** A device set its damaged store aside and asks its supervisor to start it again (EX_TEMPFAIL). */
  restart: 75,
} as const;

export class CliFailure extends Error {
  override readonly name = 'CliFailure';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function refused(failure: Failure): CliFailure {
  return new CliFailure(`${failure.code}: ${failure.message}`, exitCodes.refused);
}

export function usageError(message: string): CliFailure {
  return new CliFailure(`InvalidInput: ${message}`, exitCodes.usage);
}

/** Unwrap a result, or stop the command with its failure. */
export function expectOk<T>(result: { ok: true; value: T } | Failure): T {
  if (!result.ok) throw refused(result);
  return result.value;
}

/** The folder most commands read a deployment from, and its environment variable. */
export const dataDirDefault = 'triledger-data';

/**
 * An option that an environment variable `TRILEDGER_…` can set (the command line wins over it, it
 * wins over the default): every setting of `up` and `device`, and `--data` everywhere, so that a
 * service or a container configures triledger without a command line (docs/cli.md).
 */
export function envOption(flags: string, description: string, env: string, fallback?: string) {
  const option = new Option(flags, description).env(env);
  return fallback === undefined ? option : option.default(fallback);
}

/** `--data <dir>` (TRILEDGER_DATA). */
export function dataOption(description = 'the deployment folder'): Option {
  return envOption('--data <dir>', description, 'TRILEDGER_DATA', dataDirDefault);
}

export function renderTable(head: string[], rows: (string | number)[][]): string {
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(String));
  return table.toString();
}

/**
 * JSON for machines: big integers as decimal strings, and every time in one format, ISO 8601 UTC
 * with milliseconds: a field `dateTime`, or one named `…AtMs` or `…SinceMs` (printed without
 * `Ms`), holding milliseconds since the epoch.
 */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(withIsoTimes(value), (_key, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}

/** What a command prints when it is done: `json` with --json, else the text for people. */
export function printResult(options: { json?: boolean }, json: unknown, text: string): void {
  if (options.json) printJson(json);
  else process.stdout.write(`${text}\n`);
}

function withIsoTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withIsoTimes);
  if (value === null || typeof value !== 'object' || 'toJSON' in value) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => {
      const isTime =
        (typeof field === 'bigint' || typeof field === 'number') &&
        (key === 'dateTime' || /(At|Since)Ms$/.test(key));
      return isTime
        ? [key.replace(/Ms$/, ''), new Date(Number(field)).toISOString()]
        : [key, withIsoTimes(field)];
    }),
  );
}

/** What a system error of the operator's environment means, by its code (errno). */
const operatorMistakes: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'is not a folder (a part of the path is a file)',
  EISDIR: 'is a folder, not a file',
  EACCES: 'may not be read or written by this user',
  EPERM: 'may not be read or written by this user',
  EADDRINUSE: 'is already in use (another process listens there)',
  EADDRNOTAVAIL: 'is not an address of this machine',
};

/** The line for a system error the operator can fix (a missing file, a port in use), if it is one. */
export function operatorMistakeOf(error: unknown): string | undefined {
  const { code, path, address, port } = error as {
    code?: unknown;
    path?: unknown;
    address?: unknown;
    port?: unknown;
  };
  const meaning = typeof code === 'string' ? operatorMistakes[code] : undefined;
  if (meaning === undefined) return undefined;
  const what =
    typeof path === 'string'
      ? path
      : typeof port === 'number'
        ? `the address ${typeof address === 'string' ? address : ''}:${port}`
        : undefined;
  return what === undefined ? undefined : `${what} ${meaning} (${code})`;
}

/** `1 finding`, `2 findings`: a count with its noun. */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
