// A deployment across three hosts: each device started alone (`triledger device`) on its own
// network address with the addresses of its peers, mutual TLS between the devices on top of the
// message signatures, and users reaching only the transaction device. The hosts are network
// namespaces where the machine allows it, else loopback addresses (test/helpers/hosts.ts).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeployment, type DeviceName, deploymentInfo } from '../../src/deployment/demo.js';
import { systemEnvironment } from '../../src/model/environment.js';
import { triledger } from '../cli/run.js';
import { DeviceProcess, editJson, freePorts } from '../helpers/devices.js';
import { createCertificates, createTestHosts, type TestHosts } from '../helpers/hosts.js';

const devices: readonly DeviceName[] = ['transaction', 'account', 'currency'];
let hosts: TestHosts;
let dir: string;
let processes: DeviceProcess[] = [];
const url: Partial<Record<DeviceName, string>> = {};

const cli = (...args: string[]) =>
  triledger([...args, '--data', dir], {
    cwd: dir,
    env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') },
  });

beforeAll(async () => {
  hosts = createTestHosts(3);
  dir = join(mkdtempSync(join(tmpdir(), 'triledger-hosts-')), 'data');
  // In namespaces every host has its own ports; on loopback they share this machine's.
  const port =
    hosts.kind === 'network namespaces'
      ? () => 7443
      : await freePorts(3).then((base) => {
          let next = base;
          return () => next++;
        });
  const address = Object.fromEntries(devices.map((d, i) => [d, hosts.addresses[i]!])) as Record<
    DeviceName,
    string
  >;
  createDeployment(
    dir,
    { scheme: 'ed25519', mode: 'confirm', portBase: 7101, host: '127.0.0.1' },
    systemEnvironment,
  );
  createCertificates(
    dir,
    devices.map((name) => ({ name, address: address[name] })),
  );
  const ports = Object.fromEntries(devices.map((d) => [d, port()])) as Record<DeviceName, number>;
  for (const device of devices) url[device] = `https://${address[device]}:${ports[device]}`;
  for (const device of devices)
    editJson(join(dir, `${device}.json`), (config) => {
      config['host'] = address[device];
      config['port'] = ports[device];
      config['peers'] =
        device === 'transaction'
          ? { account: url.account, currency: url.currency }
          : { transaction: url.transaction };
      config['tls'] = { certFile: `${device}.pem`, keyFile: `${device}.key`, caFile: 'ca.pem' };
    });
  editJson(join(dir, 'deployment.json'), (info) => {
    info['transactionUrl'] = url.transaction;
  });
  processes = devices.map((device, index) => new DeviceProcess(device, dir, hosts.launcher(index)));
  // The peers first, then the gateway (as `triledger up` does): the transaction device asks them
  // for the last records they hold before it takes an operation, and a peer not yet listening
  // left it waiting for its next background pass (a clean-clone run met that: PeerUnavailable).
  for (const device of [...processes].reverse()) await device.start();
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((device) => device.stop()));
  hosts?.remove();
});

describe(`three hosts (network namespaces where possible, else loopback addresses)`, () => {
  it('each device runs alone on its own address; a user opens accounts, issues, remits and audits through transaction alone', () => {
    expect(deploymentInfo(dir).transactionUrl).toMatch(/^https:/);
    for (const args of [
      ['account', 'open'],
      ['account', 'open'],
    ]) {
      const opened = cli(...args);
      expect(opened.status, opened.stderr).toBe(0);
    }
    const issued = cli('issue', '--to', '1', '--values', '500,500,500');
    expect(issued.status, issued.stderr).toBe(0);
    const remitted = cli('remit', '--from', '1', '--to', '2', '--amount', '700');
    expect(remitted.status, remitted.stderr).toBe(0);
    const balance = cli('balance', '2', '--json');
    expect(balance.status, balance.stderr).toBe(0);
    expect(JSON.parse(balance.stdout)).toMatchObject({ balance: '700', held: '0' });
    const audited = cli('audit');
    expect(audited.status, audited.stderr).toBe(0);
  });

  it('mutual TLS: without a certificate from the deployment CA, account refuses the connection and transaction its internal routes', async () => {
    // Trusts the CA (so the server is known) but shows no certificate of its own.
    const anonymous = new Agent({ connect: { ca: readFileSync(join(dir, 'ca.pem')) } });
    try {
      await expect(
        request(`${url.account}/health`, { dispatcher: anonymous }).then((r) => r.body.text()),
      ).rejects.toThrow();
      const internal = await request(`${url.transaction}/internal/v1/outcome`, {
        method: 'POST',
        dispatcher: anonymous,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ remittanceId: 'x' }),
      });
      expect(internal.statusCode).toBe(403);
      expect(((await internal.body.json()) as { error: { code: string } }).error.code).toBe(
        'AuthorityDenied',
      );
      // The public API needs no certificate.
      const health = await request(`${url.transaction}/health`, { dispatcher: anonymous });
      expect(health.statusCode).toBe(200);
      await health.body.dump();
    } finally {
      await anonymous.close();
    }
  });
});
