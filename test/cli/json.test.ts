// `--json` on every command (but `device`, whose output is already one JSON log line per event),
// and one format for times in all of it: ISO 8601 UTC with milliseconds (cli/output.ts printJson).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { triledger } from './run.js';

const cwd = tmpdir();

/** Every command that runs (not a group of commands), by its path, e.g. `keys rotate`. */
function leafCommands(command: Command, path: string[] = []): [string, Command][] {
  const subcommands = command.commands;
  if (subcommands.length === 0) return [[path.join(' '), command]];
  return subcommands.flatMap((sub) => leafCommands(sub, [...path, sub.name()]));
}

describe('--json everywhere', () => {
  it('every command offers --json, but device', async () => {
    const leaves = leafCommands(await buildProgram());
    expect(leaves.length).toBeGreaterThan(20);
    const without = leaves
      .filter(([, command]) => !command.options.some((option) => option.long === '--json'))
      .map(([path]) => path);
    expect(without).toEqual(['device']);
  });

  it('prints times as ISO 8601, the field named without Ms', () => {
    const dir = mkdtempSync(join(tmpdir(), 'triledger-json-'));
    const run = triledger(
      ['keys', 'init', '--keystore', join(dir, 'k.json'), '--owner', 'issuer', '--json'],
      { cwd: dir, env: { TRILEDGER_PASSPHRASE: 'a passphrase long enough for the test' } },
    );
    expect(run.status, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as { keys: Record<string, unknown>[] };
    expect(printed.keys[0]!['createdAt']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(printed.keys[0]).not.toHaveProperty('createdAtMs');
  });

  it('the demo as JSON: the six chained records and what the authorities and the chain refused', () => {
    const demo = JSON.parse(triledger(['demo', '--json'], { cwd }).stdout) as Record<
      string,
      unknown
    >;
    expect((demo['records'] as unknown[]).length).toBe(6);
    expect(demo).toMatchObject({
      chainVerified: true,
      signingWithAnotherDevicesKey: 'AuthorityDenied',
      oneBitChanged: { code: 'ChainBroken', atRecord: 14 },
    });
  });
});
