// Attack tests: who may call which route, decided by the route that matched and never by the URL's
// spelling (devices/access.ts). Every protected route of every device is sent through the
// encodings a router decodes or a proxy might normalise; each is refused (401/403, or 404 where no
// route matches) and nothing in any store changes. Captured envelopes are replayed, sent to the
// wrong device, and moved to another path.

import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorKeyNumber, portOf } from '../../src/deployment/demo.js';
import { by, guardRoutes } from '../../src/devices/access.js';
import { connectionsPerClientMax, headersTimeoutMs } from '../../src/devices/connectionLimits.js';
import type { DeviceContext } from '../../src/devices/context.js';
import { filesOpenToOthers, sqliteFiles } from '../../src/devices/filePrivacy.js';
import { createHttpServer } from '../../src/devices/http.js';
import { rateLimitsDefault } from '../../src/devices/rateLimits.js';
import { deterministicEnvironment, systemEnvironment } from '../../src/model/environment.js';
import { envelopeHeader, signEnvelope } from '../../src/protocol/envelope.js';
import type { SignatureDevice } from '../../src/signature/device.js';
import { startDeployment, type TestDeployment } from '../helpers/deployment.js';
import { sleep } from '../helpers/devices.js';

let deployment: TestDeployment;
let transactionKeys: SignatureDevice;
const urls = { transaction: '', account: '', currency: '' };

type Device = keyof typeof urls;
interface Protected {
  readonly device: Device;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

const forgedAccount = {
  accountNumber: '2',
  currencyType: 'JPY',
  balance: '1000000000',
  held: '0',
  status: 'open',
  lastUpdate: '2026-01-01T00:00:00.000Z',
};
const repair = (put: unknown[]) => ({
  records: { remove: [], put: [] },
  rows: { remove: [], put },
});

/** Every route that needs a signature, on each device, with a body that would change something. */
const protectedRoutes: Protected[] = [
  ...(['account', 'currency'] as const).flatMap((device): Protected[] => [
    { device, method: 'POST', path: '/internal/v1/batch', body: { steps: [] } },
    { device, method: 'POST', path: '/internal/v1/store/set-aside', body: {} },
    { device, method: 'GET', path: '/internal/v1/export/transactions' },
    { device, method: 'GET', path: '/internal/v1/digest/1' },
    { device, method: 'POST', path: '/internal/v1/checkpoints/sign', body: {} },
    { device, method: 'POST', path: '/internal/v1/checkpoints', body: {} },
  ]),
  { device: 'account', method: 'POST', path: '/internal/v1/repair', body: repair([forgedAccount]) },
  { device: 'account', method: 'GET', path: '/internal/v1/accounts/1' },
  { device: 'account', method: 'GET', path: '/internal/v1/accounts' },
  { device: 'account', method: 'GET', path: '/internal/v1/export/accounts' },
  { device: 'currency', method: 'POST', path: '/internal/v1/repair', body: repair([]) },
  { device: 'currency', method: 'GET', path: '/internal/v1/accounts/1/units?currencyType=JPY' },
  { device: 'currency', method: 'GET', path: '/internal/v1/export/units' },
  { device: 'transaction', method: 'POST', path: '/internal/v1/outcome', body: {} },
  { device: 'transaction', method: 'GET', path: '/v1/admin/whoami' },
  { device: 'transaction', method: 'GET', path: '/v1/admin/transactions' },
  { device: 'transaction', method: 'GET', path: '/v1/admin/accounts' },
  { device: 'transaction', method: 'GET', path: '/v1/admin/accounts/1/units' },
  { device: 'transaction', method: 'POST', path: '/v1/admin/audit', body: {} },
  { device: 'transaction', method: 'POST', path: '/v1/admin/recover', body: {} },
  { device: 'transaction', method: 'GET', path: '/v1/accounts/1' },
  { device: 'transaction', method: 'GET', path: '/v1/accounts/1/currency' },
  { device: 'transaction', method: 'GET', path: '/v1/accounts/1/transactions' },
];

const percentEscape = (char: string) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** The spellings of `path` a router decodes, or a proxy might normalise, to the same route. */
function spellings(path: string): string[] {
  const [pathname, query] = path.split('?') as [string, string | undefined];
  const withQuery = (p: string) => (query === undefined ? p : `${p}?${query}`);
  const variants = new Set<string>([path]);
  // Each letter percent-escaped alone, in lower and upper hex, and every letter at once.
  for (let at = 0; at < pathname.length; at++) {
    const char = pathname[at]!;
    if (!/[a-z]/i.test(char)) continue;
    const before = pathname.slice(0, at);
    const after = pathname.slice(at + 1);
    variants.add(withQuery(`${before}${percentEscape(char)}${after}`));
    variants.add(withQuery(`${before}${percentEscape(char).toUpperCase()}${after}`));
  }
  variants.add(withQuery(pathname.replace(/[a-z]/gi, percentEscape)));
  variants.add(withQuery(pathname.toUpperCase()));
  variants.add(withQuery(pathname.replace(/^\/(.)/, (_, c: string) => `/${c.toUpperCase()}`)));
  variants.add(withQuery(`/${pathname}`));
  variants.add(withQuery(pathname.replaceAll('/', '//')));
  variants.add(withQuery(pathname.replace('/v1/', '/v1/./')));
  variants.add(withQuery(pathname.replace('/v1/', '/x/../v1/')));
  variants.add(withQuery(`${pathname}/`));
  variants.add(`${pathname}?${query ?? 'a=1'}&x=%2e%2e`);
  return [...variants];
}

async function send(device: Device, method: string, path: string, body?: unknown, headers = {}) {
  const response = await request(`${urls[device]}${path}`, {
    method: method as 'GET',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, text };
}

/** What every device holds, as text: records, rows, checkpoints, quarantine, counters. */
async function everything(): Promise<string> {
  const tables = {
    transaction: ['transactions', 'operations', 'checkpoints', 'quarantine', 'counters'],
    account: ['transactions', 'accounts', 'holds', 'checkpoints', 'quarantine'],
    currency: ['transactions', 'currency_units', 'unit_plans', 'checkpoints', 'quarantine'],
  } as const;
  const parts: unknown[] = [];
  for (const [device, names] of Object.entries(tables))
    for (const name of names)
      parts.push(await deployment.rows(device as Device, `SELECT * FROM ${name}`));
  return JSON.stringify(parts, (_key, value) => (typeof value === 'bigint' ? `${value}` : value));
}

beforeAll(async () => {
  deployment = await startDeployment();
  urls.transaction = deployment.url;
  urls.account = `http://127.0.0.1:${portOf('account', deployment.portBase)}`;
  urls.currency = `http://127.0.0.1:${portOf('currency', deployment.portBase)}`;
  transactionKeys = deployment.keystore('transaction');
}, 90_000);

afterAll(async () => {
  await deployment?.stop();
});

describe('every protected route refuses a request without its signature, however it is spelled', () => {
  it('refuses 401/403 (404 where no route matches) and changes nothing', async () => {
    const before = await everything();
    const seen: { url: string; status: number }[] = [];
    for (const route of protectedRoutes) {
      for (const path of spellings(route.path)) {
        const answer = await send(route.device, route.method, path, route.body);
        seen.push({ url: `${route.device} ${route.method} ${path}`, status: answer.status });
        // The framework's own refusals come in the one documented shape, with a catalogue code.
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: expect.any(String) } });
      }
    }
    const admitted = seen.filter(({ status }) => ![401, 403, 404].includes(status));
    expect(admitted).toEqual([]);
    // The escapes the router decodes reach the protected handler, and are refused there.
    const escaped = seen.filter(({ url }) => url.includes('%') && !url.includes('%2e%2e'));
    expect(escaped.length).toBeGreaterThan(200);
    expect(escaped.filter(({ status }) => status === 404)).toEqual([]);
    expect(await everything()).toBe(before);
  }, 120_000);
});

describe('a captured envelope works once, at one device, for one request', () => {
  const signed = (receiver: Device, method: 'GET' | 'POST', url: string, body = '') =>
    signEnvelope(
      transactionKeys,
      1,
      { receiver, method, url, body: Buffer.from(body) },
      systemEnvironment.nowMs(),
      systemEnvironment.randomBytes,
    );

  it('a repeat of an accepted envelope is refused (EnvelopeReplayed)', async () => {
    const envelope = signed('account', 'GET', '/internal/v1/accounts/1');
    const first = await send('account', 'GET', '/internal/v1/accounts/1', undefined, {
      [envelopeHeader]: envelope,
    });
    expect(first.status).toBe(200);
    const again = await send('account', 'GET', '/internal/v1/accounts/1', undefined, {
      [envelopeHeader]: envelope,
    });
    expect(again.status).toBe(401);
    expect(JSON.parse(again.text).error.code).toBe('EnvelopeReplayed');
  });

  it('an envelope meant for account is refused by currency', async () => {
    const path = '/internal/v1/digest/1';
    const answer = await send('currency', 'GET', path, undefined, {
      [envelopeHeader]: signed('account', 'GET', path),
    });
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.text).error.code).toBe('SignatureInvalid');
  });

  it('an envelope moved to another path, method or body is refused', async () => {
    const moved = await send('account', 'GET', '/internal/v1/accounts/2', undefined, {
      [envelopeHeader]: signed('account', 'GET', '/internal/v1/accounts/1'),
    });
    expect(moved.status).toBe(401);
    const body = JSON.stringify(repair([forgedAccount]));
    const otherBody = await send('account', 'POST', '/internal/v1/repair', repair([]), {
      [envelopeHeader]: signed('account', 'POST', '/internal/v1/repair', body),
    });
    expect(otherBody.status).toBe(401);
  });

  it('an envelope by a key the route does not allow is refused (WrongSigner)', async () => {
    const operator = deployment.keystore('operator');
    const envelope = signEnvelope(
      operator,
      operatorKeyNumber,
      { receiver: 'account', method: 'GET', url: '/internal/v1/accounts/1', body: Buffer.alloc(0) },
      systemEnvironment.nowMs(),
      systemEnvironment.randomBytes,
    );
    const answer = await send('account', 'GET', '/internal/v1/accounts/1', undefined, {
      [envelopeHeader]: envelope,
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text).error.code).toBe('WrongSigner');
  });
});

describe('a stolen transaction key alone cannot mint', () => {
  const signedPost = (device: Device, path: string, body: unknown) =>
    send(device, 'POST', path, body, {
      [envelopeHeader]: signEnvelope(
        transactionKeys,
        1,
        { receiver: device, method: 'POST', url: path, body: Buffer.from(JSON.stringify(body)) },
        systemEnvironment.nowMs(),
        systemEnvironment.randomBytes,
      ),
    });

  it('a repair outside a recovery is refused; inside one, a row A does not justify is refused', async () => {
    const before = await everything();
    const outside = await signedPost('account', '/internal/v1/repair', repair([forgedAccount]));
    expect([outside.status, JSON.parse(outside.text).error.code]).toEqual([403, 'AuthorityDenied']);
    expect((await signedPost('account', '/internal/v1/recovery', { running: true })).status).toBe(
      200,
    );
    try {
      const inside = await signedPost('account', '/internal/v1/repair', repair([forgedAccount]));
      expect([inside.status, JSON.parse(inside.text).error.code]).toEqual([
        422,
        'RepairUnjustified',
      ]);
    } finally {
      await signedPost('account', '/internal/v1/recovery', { running: false });
    }
    expect(await everything()).toBe(before);
  });
  it('a checkpoint is co-signed only soon after an audit read the copy up to it, and only for the B or C that copy gives', async () => {
    const audited = await deployment.fetchSigned('/v1/admin/audit', { method: 'POST', body: '{}' });
    const report = (await audited.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const made = report.find((line) => line.event === 'report')?.report.checkpointMade;
    expect(made).toMatch(/^[1-9][0-9]*$/);
    const [stored] = await deployment.rows<{ checkpoint_json: string }>(
      'account',
      'SELECT checkpoint_json FROM checkpoints WHERE transaction_number = ?',
      BigInt(made),
    );
    const { signatures: _signatures, ...header } = JSON.parse(stored!.checkpoint_json);
    const sign = (device: Device, body: unknown) =>
      signedPost(device, '/internal/v1/checkpoints/sign', body);
    const zeros = '0'.repeat(64);
    for (const device of ['account', 'currency'] as const) {
      expect((await sign(device, header)).status).toBe(200);
      const forged = await sign(device, {
        ...header,
        ...(device === 'account' ? { digestB: zeros } : { digestC: zeros }),
      });
      expect([forged.status, JSON.parse(forged.text).error.code]).toEqual([409, 'RecordConflict']);
      const unread = await sign(device, {
        ...header,
        transactionNumber: String(BigInt(made) + 6n),
      });
      expect([unread.status, JSON.parse(unread.text).error.code]).toEqual([403, 'AuthorityDenied']);
    }
  }, 60_000);
});

describe("an account's reads answer its own key or an operator's", () => {
  it("account 2's key cannot read account 1", async () => {
    const wallet = deployment.wallet(2n);
    const answer = await deployment.client(wallet).read('/v1/accounts/1', 1_000_002);
    expect(answer.ok || answer.code).toBe('WrongSigner');
    const own = await deployment.client(wallet).read('/v1/accounts/2', 1_000_002);
    expect(own.ok).toBe(true);
  });

  it('an operator reads any account', async () => {
    const answer = await deployment.fetchSigned('/v1/accounts/1');
    expect(answer.status).toBe(200);
  });
});

describe("the framework's own refusals", () => {
  it('a too long path parameter and an undecodable URL answer the one error shape', async () => {
    for (const path of [`/v1/accounts/${'9'.repeat(129)}`, '/v1/accounts/%E0%A4%A', '/%']) {
      const answer = await send('transaction', 'GET', path);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toEqual({
        error: { code: 'InvalidInput', message: expect.any(String) },
      });
    }
  });
});

/** How long a remittance may take while 200 slow clients hold connections to the gateway. */
const remittanceUnderSlowClientsMsMax = 2_000;

describe('the gateway under slow clients', () => {
  it('200 clients sending headers a byte at a time: capped, cut off, and a remittance goes through', async () => {
    const { port } = new URL(deployment.url);
    const closedAtMs: number[] = [];
    const startedMs = Date.now();
    const sockets = Array.from({ length: 200 }, () => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: '127.0.0.2' });
      socket.on('error', () => {});
      socket.on('close', () => closedAtMs.push(Date.now() - startedMs));
      socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n'));
      return socket;
    });
    const drip = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write('X');
    }, 500);
    try {
      await sleep(1_000);
      // One address holds at most connectionsPerClientMax; the rest were closed at once.
      expect(closedAtMs.length).toBeGreaterThanOrEqual(200 - connectionsPerClientMax);
      const sentMs = Date.now();
      const sent = await deployment.client(deployment.wallet(1n)).remit({
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 500n,
        currencyType: 'JPY',
        keyNumber: 1_000_001,
      });
      expect(sent.ok).toBe(true);
      expect(Date.now() - sentMs).toBeLessThan(remittanceUnderSlowClientsMsMax);
      // Headers that never end are cut off after headersTimeoutMs (checked every second).
      while (closedAtMs.length < 200 && Date.now() - startedMs < headersTimeoutMs + 5_000)
        await sleep(250);
      expect(closedAtMs.length).toBe(200);
    } finally {
      clearInterval(drip);
      for (const socket of sockets) socket.destroy();
    }
  }, 30_000);
});

describe('rate limits at the gateway', () => {
  it('opening accounts is limited per client address: 429 RateLimited with Retry-After', async () => {
    const dispatcher = new Agent({ localAddress: '127.0.0.3' });
    const open = () =>
      request(`${deployment.url}/v1/accounts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        dispatcher,
      });
    try {
      const limit = rateLimitsDefault.accountOpeningsPerClientPerMinute;
      for (let i = 0; i < limit; i++) {
        const answer = await open();
        await answer.body.text();
        expect([i, answer.statusCode]).toEqual([i, 400]);
      }
      const limited = await open();
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(((await limited.body.json()) as { error: { code: string } }).error.code).toBe(
        'RateLimited',
      );
      // Another address is not affected.
      const other = await send('transaction', 'POST', '/v1/accounts', {});
      expect(other.status).toBe(400);
    } finally {
      await dispatcher.close();
    }
  });
});

describe('the API docs cannot reach the wallet', () => {
  it('/docs is served sandboxed (an opaque origin, no storage) under a CSP of its own', async () => {
    const page = await request(`${deployment.url}/docs/`, { maxRedirections: 0 } as object);
    await page.body.text();
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toContain('sandbox allow-scripts');
    expect(policy).not.toContain('allow-same-origin');
    expect(policy).toContain("frame-ancestors 'none'");
  });
});

describe('files are private', () => {
  it('the data folder, stores (with -wal and -shm), keystores and wallets are open to nobody else', () => {
    const paths = [deployment.dir, join(deployment.dir, 'wallets')];
    for (const name of readdirSync(deployment.dir)) paths.push(join(deployment.dir, name));
    expect(paths.some((path) => path.endsWith('.sqlite-wal'))).toBe(true);
    const open = paths.filter((path) => (statSync(path).mode & 0o077) !== 0);
    expect(open).toEqual([]);
  });

  it('a file an operator opened up is named with a warning at start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'triledger-privacy-'));
    const database = join(dir, 'account.sqlite');
    writeFileSync(database, '');
    chmodSync(database, 0o644);
    expect(filesOpenToOthers(sqliteFiles(database))).toEqual([
      expect.stringContaining(`${database} is open to other users (mode 644)`),
    ]);
  });
});

describe('routes declare their callers', () => {
  it('a server with a route that declares none does not start', async () => {
    const environment = deterministicEnvironment('access');
    const server = createHttpServer({ bodyBytesMax: 1024, logLevel: 'silent' });
    guardRoutes(server, {
      context: { device: 'transaction', environment } as unknown as DeviceContext,
      operatorKeyNumbers: [],
      clientCertificates: false,
    });
    server.get('/declared', by('anyone'), async () => ({}));
    server.get('/undeclared', async () => ({}));
    await expect(server.ready()).rejects.toThrow('GET /undeclared declares its callers');
  });
});
