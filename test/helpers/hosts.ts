// Test hosts for a deployment across a network: three network namespaces joined by a bridge
// (`ip netns`, veth), each with its own address and network stack, where the machine allows it
// (root, iproute2); otherwise three loopback addresses on this host. And the certificates of a
// test CA for mutual TLS between them (openssl).
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestHosts {
  readonly kind: 'network namespaces' | 'loopback addresses';
  readonly addresses: readonly string[];
  /** The command prefix that runs a program on host `index`. */
  launcher(index: number): readonly string[];
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

function namespaceHosts(count: number): TestHosts {
  const id = randomInt(1000, 9999);
  const subnet = `10.${200 + (id % 50)}.${id % 250}`;
  const bridge = `tlb${id}`;
  const names = Array.from({ length: count }, (_, i) => `tln${id}h${i}`);
  const remove = () => {
    for (const name of names) {
      try {
        ip('netns', 'del', name);
      } catch {}
    }
    try {
      ip('link', 'del', bridge);
    } catch {}
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('link', 'set', bridge, 'up');
    ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
    names.forEach((name, i) => {
      ip('netns', 'add', name);
      ip('link', 'add', `tlv${id}h${i}`, 'type', 'veth', 'peer', 'name', `tlp${id}h${i}`);
      ip('link', 'set', `tlp${id}h${i}`, 'netns', name);
      ip('link', 'set', `tlv${id}h${i}`, 'master', bridge);
      ip('link', 'set', `tlv${id}h${i}`, 'up');
      ip(
        'netns',
        'exec',
        name,
        'ip',
        'addr',
        'add',
        `${subnet}.${i + 1}/24`,
        'dev',
        `tlp${id}h${i}`,
      );
      ip('netns', 'exec', name, 'ip', 'link', 'set', `tlp${id}h${i}`, 'up');
      ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    });
  } catch (error) {
    remove();
    throw error;
  }
  return {
    kind: 'network namespaces',
    addresses: names.map((_, i) => `${subnet}.${i + 1}`),
    launcher: (index) => ['ip', 'netns', 'exec', names[index]!],
    remove,
  };
}

/** Namespaces when they can be made here, else loopback addresses (said on stderr). */
export function createTestHosts(count: number): TestHosts {
  try {
    return namespaceHosts(count);
  } catch (error) {
    process.stderr.write(
      `NOTICE: no network namespaces here (${(error as Error).message.split('\n')[0]}); the hosts are loopback addresses\n`,
    );
    return {
      kind: 'loopback addresses',
      addresses: Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`),
      launcher: () => [],
      remove: () => undefined,
    };
  }
}

const openssl = (cwd: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/**
 * A CA (ca.pem) and, per host, a certificate for its address that serves and connects
 * (NAME.pem, NAME.key), in `dir`.
 */
export function createCertificates(
  dir: string,
  hosts: readonly { name: string; address: string }[],
): void {
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    dir,
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=triledger test CA',
  );
  for (const { name, address } of hosts) {
    writeFileSync(
      join(dir, `${name}.ext`),
      `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    openssl(
      dir,
      'req',
      ...ecKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
}
