// Runs the real `triledger` command (the package's bin, built by `npm test`) as a child process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const binPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CommandRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function triledger(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): CommandRun {
  if (!existsSync(binPath))
    throw new Error(`${binPath} is missing: run "npm run build" (npm test does it)`);
  const result = spawnSync(process.execPath, [binPath, ...args], {
    cwd: options.cwd,
    // Nothing of the test's environment but PATH, and the run's TMPDIR (test/globalSetup.ts).
    env: {
      PATH: process.env['PATH'] ?? '',
      ...(process.env['TMPDIR'] === undefined ? {} : { TMPDIR: process.env['TMPDIR'] }),
      ...options.env,
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
