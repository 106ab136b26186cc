// The operator console (/console) and the browser wallet (/wallet), served by the transaction device
// from the files `npm run build` leaves in dist/console (built by Vite from src/console), and the
// landing page at `/` (the address `triledger up` prints) that links them and the API docs.
//
// The files are read once at start (bounded by consoleBytesMax) and served with a strict content
// security policy: scripts, styles and requests from this origin only, nothing inline, no frames.
// Without a build the pages answer 404 with a hint; the API is unaffected.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../../model/assert.js';
import { fail } from '../../model/errors.js';
import { by } from '../access.js';
import { type HttpServer, sendFailure } from '../http.js';

/** The built console and wallet together may not exceed this. */
export const consoleBytesMax = 8 * 1024 * 1024;
const consoleDir = fileURLToPath(new URL('../../console/', import.meta.url));

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const securityHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The landing page: what this address serves, linked (plain HTML: nothing to build or run). */
const landingPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>triledger</title></head>
<body>
<h1>triledger</h1>
<p>The transaction device of a triledger deployment: the ledger's only public gateway.</p>
<ul>
<li><a href="/wallet">Wallet</a>: open an account, send remittances, check receipts</li>
<li><a href="/console">Console</a>: the operator's view, audit and recovery (operator key)</li>
<li><a href="/docs">API documentation</a> (<a href="/docs/json">OpenAPI document</a>)</li>
<li><a href="/health">Health</a></li>
</ul>
</body>
</html>
`;

function loadFiles(directory: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let total = 0;
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const bytes = readFileSync(full);
        total += bytes.length;
        assert(
          total <= consoleBytesMax,
          `the console build is larger than ${consoleBytesMax} bytes`,
        );
        files.set(relative(directory, full).split('\\').join('/'), bytes);
      }
    }
  };
  if (existsSync(directory)) walk(directory);
  return files;
}

export function registerConsoleRoutes(server: HttpServer): void {
  const files = loadFiles(consoleDir);
  const serve =
    (name: string) => async (_request: unknown, reply: import('fastify').FastifyReply) => {
      const bytes = files.get(name);
      if (!bytes)
        return sendFailure(
          reply,
          fail('NotFound', `${name} is not built here: run npm run build (it builds the console)`),
        );
      return reply
        .headers({
          ...securityHeaders,
          'content-type': contentTypes[extname(name)] ?? 'application/octet-stream',
        })
        .send(bytes);
    };
  const page = { ...by('anyone'), schema: { hide: true } };
  server.get('/', page, async (_request, reply) =>
    reply.headers({ ...securityHeaders, 'content-type': contentTypes['.html']! }).send(landingPage),
  );
  server.get('/console', page, serve('index.html'));
  server.get('/console/', page, serve('index.html'));
  server.get('/wallet', page, serve('wallet.html'));
  server.get('/console/*', page, async (request, reply) =>
    serve((request.params as { '*': string })['*'])(request, reply),
  );
}
