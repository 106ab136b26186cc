// Damage met in a device's store while it runs (issue 18): the request that met it is answered 503
// StoreDamaged (not 500 Internal, not PeerUnavailable), and from then on the device is fenced:
// everything but its health, readiness and metrics is refused with StoreDamaged, and /ready says
// why it is not ready.
import { afterAll, describe, expect, it } from 'vitest';
import { accountKeyNumberBase } from '../../src/devices/context.js';
import { createHttpServer, StoreFence } from '../../src/devices/http.js';
import { PrometheusMetrics } from '../../src/devices/metrics.js';
import { registerOperationalRoutes } from '../../src/devices/operationalRoutes.js';

describe('a device that meets damage in its store', () => {
  const storeFence = new StoreFence();
  const server = createHttpServer({ bodyBytesMax: 1024, logLevel: 'silent', storeFence });
  server.get('/health', async () => ({ ok: true }));
  registerOperationalRoutes(
    server,
    new PrometheusMetrics('account', accountKeyNumberBase),
    { store: { isEmpty: async () => false }, peers: [], audits: () => ({}), storeFence },
    'anyone',
  );
  server.get('/v1/reads', async () => ({ read: true }));
  server.get('/v1/damaged', async () => {
    throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
  });
  afterAll(() => server.close());

  it('answers StoreDamaged, then is fenced but for its health', async () => {
    expect((await server.inject({ method: 'GET', url: '/v1/reads' })).statusCode).toBe(200);
    expect((await server.inject({ method: 'GET', url: '/ready' })).json()).toMatchObject({
      ready: true,
    });
    const damaged = await server.inject({ method: 'GET', url: '/v1/damaged' });
    expect(damaged.statusCode).toBe(503);
    expect(damaged.json()).toMatchObject({
      error: { code: 'StoreDamaged', message: expect.stringContaining('malformed') },
    });
    expect(storeFence.damage).toContain('database disk image is malformed');
    const fenced = await server.inject({ method: 'GET', url: '/v1/reads' });
    expect(fenced.statusCode).toBe(503);
    expect(fenced.json()).toMatchObject({ error: { code: 'StoreDamaged' } });
    expect((await server.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const ready = await server.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({
      ready: false,
      checks: { store: false, storeDamage: expect.stringContaining('malformed') },
    });
  });
});
