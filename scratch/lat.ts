import { join } from 'node:path';
import { TerminalClient } from '/work/main/src/client/terminal.js';
import { deploymentInfo, passphraseOf, walletPath } from '/work/main/src/deployment/demo.js';
import { systemEnvironment } from '/work/main/src/model/environment.js';
import { loadKeystoreFile } from '/work/main/src/signature/keystoreFile.js';
const dir = '/tmp/lat/d';
const k = loadKeystoreFile(walletPath(dir, 1n), passphraseOf(dir), { environment: systemEnvironment });
if (!k.ok) throw new Error();
const c = new TerminalClient(deploymentInfo(dir), k.value);
for (let i = 0; i < 40; i++) {
  const t = performance.now();
  const r = await c.remit({ sourceAccount: 1n, destinationAccount: 2n, amount: 1n, currencyType: 'JPY', keyNumber: 1_000_001 });
  const total = performance.now() - t;
  if (!r.ok) throw new Error(r.message);
  const ts = r.records.map((x) => Number(x.record.dateTime));
  if (i >= 30) console.log(total.toFixed(1), ts.map((x) => x - ts[0]!).join(' '));
}
await c.close();
