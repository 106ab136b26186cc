// TRILEDGER_* environment variables set what the command line can (docs/cli.md): every setting of
// `up` and `device`, and `--data` everywhere. The command line wins over them; `--help` names them.
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePortBase } from '../helpers/deployment.js';
import { triledger } from './run.js';

describe('settings from the environment', () => {
  it('up takes its folder and ports from TRILEDGER_DATA and TRILEDGER_PORT_BASE', async () => {
    // The three ports from the base are held, so that no run here starts a deployment: each is
    // refused at the first port it checks (account's, the base + 1), which shows the base it used.
    const portBase = await freePortBase();
    const holders = [0, 1, 2].map(() => createServer());
    await Promise.all(
      holders.map(
        (holder, i) =>
          new Promise<void>((resolve) => holder.listen(portBase + i, '127.0.0.1', resolve)),
      ),
    );
    try {
      const cwd = mkdtempSync(join(tmpdir(), 'triledger-env-'));
      const env = { TRILEDGER_DATA: join(cwd, 'data'), TRILEDGER_PORT_BASE: String(portBase) };
      const fromEnvironment = triledger(['up'], { cwd, env });
      expect(fromEnvironment.status).toBe(2);
      expect(fromEnvironment.stderr).toContain(`port ${portBase + 1} on 127.0.0.1 (the account`);
      // The command line wins over the environment.
      const fromLine = triledger(['up', '--port-base', String(portBase - 1)], { cwd, env });
      expect(fromLine.stderr).toContain(`port ${portBase} on 127.0.0.1 (the account`);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      for (const holder of holders) holder.close();
    }
  });

  it('device takes its configuration from TRILEDGER_CONFIG; a missing one is exit 2, one line', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'triledger-env-'));
    const missing = join(cwd, 'account.json');
    const run = triledger(['device', 'account'], { cwd, env: { TRILEDGER_CONFIG: missing } });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(`^triledger: InvalidInput: cannot read the configuration ${missing}: .*\\n$`),
    );
  });

  it('--help names the variable of each setting', () => {
    const cwd = tmpdir();
    const up = triledger(['up', '--help'], { cwd }).stdout.replace(/\s+/g, ' ');
    for (const name of ['DATA', 'SCHEME', 'MODE', 'PORT_BASE', 'STORE'])
      expect(up).toContain(`env: TRILEDGER_${name}`);
    const device = triledger(['device', '--help'], { cwd }).stdout.replace(/\s+/g, ' ');
    for (const name of ['CONFIG', 'PORT', 'STORE'])
      expect(device).toContain(`env: TRILEDGER_${name}`);
    const balance = triledger(['balance', '--help'], { cwd }).stdout.replace(/\s+/g, ' ');
    expect(balance).toContain('env: TRILEDGER_DATA');
  });
});
