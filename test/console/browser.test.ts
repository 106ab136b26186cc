// The operator console and the browser wallet in a real browser (Debian's Chromium driven by
// playwright-core) against three real device processes: open an account in the wallet, send a
// remittance and see its receipt checked in the page, see it in the console's log; tamper with a
// store, run the audit from the console, see the row highlighted, recover, see it clean.
//
// Without /usr/bin/chromium the suite skips with a notice; in CI (CI=true) it must run (.ci/run
// installs Debian's chromium package when it is missing). TRILEDGER_SCREENSHOTS=1 writes the
// README's screenshots to docs/screenshots/.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentInfo, issuerKeyNumber, operatorKeyNumber } from '../../src/deployment/demo.js';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { tamper } from '../helpers/stores.js';

const chromiumPath = '/usr/bin/chromium';
const available = existsSync(chromiumPath);
if (!available && process.env['CI'] === 'true')
  throw new Error(`CI runs the browser tests: ${chromiumPath} is missing (.ci/run installs it)`);
if (!available)
  process.stderr.write(
    `\n[notice] browser tests SKIPPED: no ${chromiumPath} (apt-get install chromium)\n\n`,
  );

const screenshots = process.env['TRILEDGER_SCREENSHOTS'] === '1';
const screenshotDir = new URL('../../docs/screenshots/', import.meta.url).pathname;

async function screenshot(page: Page, name: string) {
  if (!screenshots) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/**
 * In the wallet page: a key made there, an account opened with it, 1000 JPY issued to it with the
 * issuer key (outside the wallet), then 300 sent to account 1; the receipt table once it shows.
 */
async function sendFromNewWallet(
  page: Page,
  deployment: TestDeployment,
  onOpened: (accountNumber: bigint) => void = () => {},
): Promise<Locator> {
  await page.goto(`${deployment.url}/wallet`);
  await page.getByLabel('passphrase').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('button', { name: 'Open account' }).click();
  const heading = page.getByRole('heading', { name: /^Account \d+$/ });
  await heading.waitFor();
  const opened = BigInt((await heading.textContent())!.replace('Account ', ''));
  onOpened(opened);
  const issued = await deployment.client(deployment.keystore('issuer')).issue({
    destinationAccount: opened,
    currencyType: 'JPY',
    values: [1000n],
    issuerKeyNumber,
  });
  expect(issued.ok).toBe(true);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect.poll(() => page.getByTestId('balance').textContent()).toBe('1000');
  await page.getByLabel('destination account').fill('1');
  await page.getByLabel('amount').fill('300');
  await page.getByRole('button', { name: 'Send' }).click();
  const receipt = page.getByTestId('receipt');
  await receipt.waitFor();
  return receipt;
}

/**
 * In a locked wallet: a wrong passphrase opens nothing (the error says so), `passphrase` opens
 * account `opened`, whose balance shows 0.
 */
async function unlockAfterWrongPassphrase(page: Page, passphrase: string, opened: string) {
  await page.getByLabel('passphrase').fill('wrong passphrase');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong passphrase');
  await page.getByLabel('passphrase').fill(passphrase);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('heading', { name: `Account ${opened}` }).waitFor();
  await expect.poll(() => page.getByTestId('balance').textContent()).toBe('0');
}

describe.skipIf(!available)('console and wallet in Chromium', () => {
  let deployment: TestDeployment;
  let browser: Browser;
  let accountNumber = '';

  beforeAll(async () => {
    deployment = await startDeployment({ scheme: 'ed25519' });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await deployment?.stop();
  });

  it('wallet: a key made in the page, an account opened, a remittance sent and its receipt checked', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const receipt = await sendFromNewWallet(page, deployment, (opened) => {
      accountNumber = opened.toString();
    });
    await expect.poll(() => page.getByText('every link checked').count()).toBe(1);
    const checks = await receipt.locator('tbody tr td:last-child').allTextContents();
    expect(checks).toEqual([
      'the request signed here',
      'verified',
      'verified',
      'verified',
      'verified',
      'verified',
    ]);
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('700');
    // The private key is stored only encrypted.
    type PageGlobals = { localStorage: { getItem(key: string): string | null } };
    const stored = await page.evaluate(() =>
      (globalThis as unknown as PageGlobals).localStorage.getItem('triledger.wallet'),
    );
    expect(stored).not.toContain('302e0201');
    await screenshot(page, 'wallet');
    await page.close();
  });

  it('wallet on an HMAC deployment: the receipt says which links it checked, and a later error replaces it', async () => {
    const hmac = await startDeployment({ scheme: 'hmac' });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    try {
      const receipt = await sendFromNewWallet(page, hmac);
      // Only the request is checkable in the page: the devices sign with HMAC keys they alone hold.
      await expect
        .poll(() => page.getByRole('heading', { name: /^Receipt:/ }).textContent())
        .toContain('1 of 6 links checked here');
      expect(await page.getByText('every link checked').count()).toBe(0);
      expect(await receipt.locator('tbody tr td:last-child').allTextContents()).toEqual([
        'the request signed here',
        ...Array(5).fill('not checkable here (HMAC device key)'),
      ]);
      // A request the gateway refuses at the edge: its error, and no receipt of the one before.
      await page.getByLabel('amount').fill('three');
      await page.getByRole('button', { name: 'Send' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('InvalidAmount');
      expect(await page.getByText('1 of 6 links checked here').count()).toBe(0);
    } finally {
      await page.close();
      await hmac.stop();
    }
  }, 90_000);

  it('console: sign in with the operator key, the remittance in the log, a tampered row found and recovered', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${deployment.url}/console`);
    const seed = deployment.keystore('operator').exportSeed(operatorKeyNumber);
    if (!seed.ok) throw new Error(seed.message);
    await page.getByLabel('operator key number').fill(String(operatorKeyNumber));
    await page.getByLabel('operator private key').fill(seed.value.toString('hex'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'log' }).click();

    await page.getByLabel('filter by account').fill(accountNumber);
    await page.getByRole('button', { name: 'Filter' }).click();
    const log = page.getByTestId('log');
    await expect
      .poll(() => log.locator('tbody tr', { hasText: 'remittance_request' }).count())
      .toBe(1);
    const request = log.locator('tbody tr', { hasText: 'remittance_request' });
    expect(await request.locator('td').nth(2).textContent()).toBe(accountNumber);
    expect(await request.locator('td').nth(4).textContent()).toBe('300');
    expect(await request.locator('td').last().textContent()).toBe('verified');

    // A filter that is not an account number is refused in words, before anything is asked.
    await page.getByLabel('filter by account').fill('abc');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toBe('InvalidInput: filter by an account number, such as 2');

    await page.getByRole('button', { name: 'overview' }).click();
    await page.getByText('ready', { exact: true }).waitFor();
    // The status in sentences, and the charts with their axes (a canvas each).
    await expect
      .poll(() => page.getByTestId('status').textContent())
      .toMatch(
        /^The ledger serves\. Every device answers\. Mode confirm; \d+ operations? in flight/,
      );
    const chart = page.getByRole('img', { name: 'remittances, per second, over time' });
    expect(await chart.locator('canvas').count()).toBe(1);
    if (screenshots) {
      // Some traffic for the charts: remittances for several of the page's 2 s polls.
      const client = deployment.client(deployment.wallet(1n));
      for (const startedMs = Date.now(); Date.now() - startedMs < 10_000; )
        await client.remit({
          sourceAccount: 1n,
          destinationAccount: 2n,
          amount: 1n,
          currencyType: 'JPY',
          keyNumber: accountKeyNumberBase + 1,
        });
      await page.waitForTimeout(4_000);
    }
    await screenshot(page, 'console-overview');

    // An attacker with database access changes account 1's balance at the account device.
    await tamper(deployment.dir, 'account', [
      'UPDATE accounts SET balance = balance + 1000000 WHERE account_number = 1',
    ]);
    await page.getByRole('button', { name: 'audit' }).click();
    await page.getByRole('button', { name: 'Run audit' }).click();
    const findings = page.getByTestId('findings');
    await findings.waitFor();
    const row = findings.locator('tbody tr', { hasText: 'accounts' }).first();
    expect(await row.getAttribute('class')).toBe('bad');
    expect(await row.locator('td').nth(0).textContent()).toBe('account');
    expect(await row.locator('td').nth(2).textContent()).toBe('1');
    // Side by side, only what differs: the balance as found and as A says it must be.
    expect(await row.locator('td').nth(4).textContent()).toBe('balance');
    const [found, correct] = await row
      .locator('td')
      .evaluateAll((cells) => cells.slice(5, 7).map((cell) => BigInt(cell.textContent ?? '0')));
    expect(found! - correct!).toBe(1_000_000n);
    expect(await page.getByTestId('audit-result').textContent()).toMatch(/^1 finding /);
    await screenshot(page, 'console-audit');

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Recover…' }).click();
    await expect
      .poll(() => page.getByTestId('recovery-result').textContent(), { timeout: 60_000 })
      .toBe('Recovered');
    expect(await page.getByTestId('audit-result').textContent()).toContain('Clean');

    await page.getByRole('button', { name: 'accounts' }).click();
    const accounts = page.getByTestId('accounts');
    await accounts.locator('tbody tr').first().waitFor();
    expect(await accounts.locator('tbody tr.bad').count()).toBe(0);
    await screenshot(page, 'console-accounts');
    await page.close();
  }, 120_000);

  it('wallet: an imported key, kept encrypted: a wrong passphrase opens nothing, the right one opens the account', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${deployment.url}/wallet`);
    await page.getByLabel('passphrase').fill('another passphrase');
    await page.getByLabel('import key').fill('11'.repeat(32));
    await page.getByRole('button', { name: 'Import key' }).click();
    await page.getByRole('button', { name: 'Open account' }).click();
    const heading = page.getByRole('heading', { name: /^Account \d+$/ });
    await heading.waitFor();
    const opened = (await heading.textContent())!.replace('Account ', '');
    await page.reload();
    // The page derived the same public key from the imported seed as node:crypto does.
    const seed = Buffer.concat([
      Buffer.from('302e020100300506032b657004220420', 'hex'),
      Buffer.alloc(32, 0x11),
    ]);
    const jwk = createPublicKey(
      createPrivateKey({ key: seed, format: 'der', type: 'pkcs8' }),
    ).export({
      format: 'jwk',
    });
    const publicKeyHex = Buffer.from(jwk.x!, 'base64url').toString('hex');
    await page.getByText(`public key ${publicKeyHex}`).waitFor();
    await unlockAfterWrongPassphrase(page, 'another passphrase', opened);
    await context.close();
  });

  it('wallet: the public key shown, an encrypted backup kept and restored in another browser, unlocked with its passphrase', async () => {
    const first = await browser.newContext({ acceptDownloads: true });
    const page = await first.newPage();
    await page.goto(`${deployment.url}/wallet`);
    await page.getByLabel('passphrase').fill('backup passphrase');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('button', { name: 'Open account' }).click();
    const heading = page.getByRole('heading', { name: /^Account \d+$/ });
    await heading.waitFor();
    const opened = (await heading.textContent())!.replace('Account ', '');
    const publicKey = (await page.getByText(/^public key [0-9a-f]{64}$/).textContent())!;
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download encrypted backup' }).click(),
    ]);
    const backupPath = join(mkdtempSync(join(tmpdir(), 'triledger-wallet-')), 'backup.json');
    await download.saveAs(backupPath);
    const backup = JSON.parse(readFileSync(backupPath, 'utf8')) as Record<string, string>;
    expect(backup['format']).toBe('triledger-wallet-backup');
    expect(backup['accountNumber']).toBe(opened);
    expect(JSON.stringify(backup)).not.toContain('302e0201'); // the key is in it only encrypted
    await first.close();

    // Another browser: a file that is not a backup is refused, the backup is restored and opens
    // nothing without its passphrase.
    const second = await browser.newContext();
    const other = await second.newPage();
    await other.goto(`${deployment.url}/wallet`);
    await other.getByLabel('restore backup').setInputFiles({
      name: 'notes.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"format":"something else"}'),
    });
    await expect
      .poll(() => other.getByRole('alert').textContent())
      .toContain('not a triledger wallet backup');
    await other.getByLabel('restore backup').setInputFiles(backupPath);
    await other.getByText(publicKey).waitFor();
    await unlockAfterWrongPassphrase(other, 'backup passphrase', opened);
    await second.close();
  });

  it('the address `up` prints is a landing page linking the wallet, the console and the API docs', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${deployment.url}/`);
    await page.getByRole('heading', { name: 'triledger' }).waitFor();
    await page.getByRole('link', { name: 'API documentation' }).click();
    await page.waitForURL(/\/docs/);
    await page.goto(`${deployment.url}/`);
    await page.getByRole('link', { name: 'Wallet' }).click();
    await page.waitForURL(/\/wallet$/);
    await context.close();
  });

  it('the pages load only what their own origin serves, under a strict content security policy', async () => {
    const response = await fetch(`${deploymentInfo(deployment.dir).transactionUrl}/console`);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await response.text()).toContain('/console/assets/');
  });
});
