// A device whose store is damaged when it starts (issue 18: here its file replaced by zeros while
// the deployment was stopped). It does not open that store: it starts fenced, answering nothing
// but its health, which names the damage; an operation that needs it is refused StoreDamaged (at a
// peer, the operation stays open). `triledger recover` has it set the file aside (kept) and start
// again on a new store (`up` starts it), rebuilds that store from the other two, and the ledger
// serves again. The transaction device runs the recovery itself: asked to recover on its damaged
// store, it restarts on a new one, and the operator's client asks again once it answers.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecoveryReport } from '../../src/audit/recovery.js';
import { openAccount } from '../../src/cli/clientCommands.js';
import { triledger } from '../cli/run.js';
import {
  issue,
  remit,
  startDeployment,
  type TestDeployment,
  testBackend,
} from '../helpers/deployment.js';

const portOffsets = { transaction: 0, account: 1, currency: 2 } as const;

describe.skipIf(testBackend() !== 'sqlite')(
  'a device whose store is damaged when it starts',
  () => {
    let deployment: TestDeployment | undefined;

    afterEach(async () => {
      await deployment?.stop();
      deployment = undefined;
    });

    it.each(['currency', 'transaction'] as const)(
      '%s starts fenced; recover rebuilds it; the ledger then serves',
      async (device) => {
        const first = await startDeployment();
        expect((await remit(first, 1n, 2n, 100n)).ok).toBe(true);
        await first.stop();
        const path = join(first.dir, `${device}.sqlite`);
        const zeros = Buffer.alloc(statSync(path).size);
        writeFileSync(path, zeros);

        deployment = await startDeployment({ dir: first.dir });
        const url = deployment.url.replace(
          /:(\d+)$/,
          (_m, port) => `:${Number(port) + portOffsets[device]}`,
        );
        const health = (await (await fetch(`${url}/health`)).json()) as {
          status: string;
          storeDamage: string;
        };
        expect(health.status).toBe('damaged');
        expect(health.storeDamage).toMatch(new RegExp(`${device}\\.sqlite`));
        const open = await remit(deployment, 1n, 2n, 50n);
        expect(open).toMatchObject({ ok: false, code: 'StoreDamaged' });

        const recovered = triledger(['recover', '--data', deployment.dir, '--json'], {
          cwd: deployment.dir,
        });
        expect(recovered.status, recovered.stderr).toBe(0);
        const recovery = JSON.parse(recovered.stdout) as RecoveryReport;
        expect(recovery.storesRebuilt).toEqual([device]);
        expect(recovery.after.findings).toEqual([]);
        // The damaged file is kept as it was, beside the new one.
        const [aside] = readdirSync(deployment.dir).filter((name) =>
          name.startsWith(`${device}.sqlite.damaged-`),
        );
        expect(readFileSync(join(deployment.dir, aside!)).equals(zeros)).toBe(true);

        // An old account pays, an issuance and a new account go through, and the audit is clean.
        expect((await remit(deployment, 1n, 2n, 25n)).ok).toBe(true);
        expect((await issue(deployment, 2n, [10n])).ok).toBe(true);
        expect((await openAccount(deployment.dir, 'JPY')).accountNumber).toBe(3n);
        const audited = triledger(['audit', '--full', '--data', deployment.dir, '--json'], {
          cwd: deployment.dir,
        });
        expect(audited.status, audited.stderr).toBe(0);
      },
      180_000,
    );
  },
);
