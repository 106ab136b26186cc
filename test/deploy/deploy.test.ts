// The files in deploy/: the systemd unit passes `systemd-analyze verify` for each device (unknown
// keys, a missing executable and malformed values are errors there), and the unit and the
// container file start the package's own command at the path the package installs it to.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const unitPath = join(root, 'deploy', 'triledger-device@.service');
const containerPath = join(root, 'deploy', 'Containerfile');
const bin = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    bin: { triledger: string };
  }
).bin.triledger;
const installedBin = `/opt/triledger/node_modules/triledger/${bin}`;

const analyzer = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const haveAnalyzer = analyzer.status === 0;
if (!haveAnalyzer) {
  if (process.env['CI'] === 'true') throw new Error('systemd-analyze is required in CI');
  process.stderr.write('\nNOTICE: systemd-analyze is not here: the unit is not verified.\n\n');
}

describe('deploy/', () => {
  it.skipIf(!haveAnalyzer).each(['transaction', 'account', 'currency'])(
    'the systemd unit verifies as triledger-device@%s',
    (device) => {
      const dir = mkdtempSync(join(tmpdir(), 'triledger-unit-'));
      const instance = join(dir, `triledger-device@${device}.service`);
      copyFileSync(unitPath, instance);
      const verified = spawnSync('systemd-analyze', ['verify', '--man=no', instance], {
        encoding: 'utf8',
      });
      expect(verified.stderr).toBe('');
      expect(verified.status).toBe(0);
    },
  );

  it('the unit and the container file start the installed triledger command', () => {
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(
      `ExecStart=/usr/bin/node ${installedBin} device %i --config /etc/triledger/%i.json`,
    );
    const container = readFileSync(containerPath, 'utf8');
    expect(container).toContain(`ENTRYPOINT ["node", "${installedBin}"]`);
    expect(container).toMatch(/^FROM node:20-/m);
  });
});
