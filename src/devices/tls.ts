// Mutual TLS between devices: an option on top of the message signatures, for devices on separate
// hosts. Certificates come from files (PEM): the device's own certificate and key, and the CA that
// signed every device's certificate.
//
// With `tls` configured a device serves HTTPS and asks every client for a certificate. `account`
// and `currency` serve only devices, so a connection without a certificate from the CA fails in
// the handshake. `transaction` is also the public gateway: users connect without a certificate, so
// it checks the certificate per request, on the routes declared for devices (access.ts). The same device calls its
// peers with its own certificate and trusts only the CA for theirs.

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { FastifyServerFactory } from 'fastify';
import { fail, ok, type Result } from '../model/errors.js';
import { capConnectionsPerClient, connectionTimeouts } from './connectionLimits.js';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface DeviceTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** PEM files are small: a certificate chain, a key. */
export const pemBytesMax = 64 * 1024;

export function loadDeviceTls(files: TlsFiles): Result<DeviceTls> {
  const read = (path: string): Result<Buffer> => {
    try {
      const bytes = readFileSync(path);
      if (bytes.length > pemBytesMax || !bytes.includes('-----BEGIN '))
        return fail('InvalidInput', `${path} is not a PEM file`);
      return ok(bytes);
    } catch (error) {
      return fail('InvalidInput', `cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const cert = read(files.certFile);
  if (!cert.ok) return cert;
  const key = read(files.keyFile);
  if (!key.ok) return key;
  const ca = read(files.caFile);
  if (!ca.ok) return ca;
  return ok({ cert: cert.value, key: key.value, ca: ca.value });
}

/**
 * The raw server behind fastify: plain HTTP, or HTTPS that asks for a client certificate (and
 * refuses the handshake without one when `clientCertificateRequired`); either way with the limits
 * on connections of ./connectionLimits.ts.
 */
export function serverFactory(
  tls: DeviceTls | undefined,
  clientCertificateRequired: boolean,
  perClientMax: number,
): FastifyServerFactory {
  return (handler) =>
    capConnectionsPerClient(
      tls
        ? (createHttpsServer(
            {
              ...connectionTimeouts,
              cert: tls.cert,
              key: tls.key,
              ca: tls.ca,
              requestCert: true,
              rejectUnauthorized: clientCertificateRequired,
              minVersion: 'TLSv1.3',
            },
            handler,
          ) as unknown as Server)
        : createHttpServer(connectionTimeouts, handler),
      perClientMax,
    );
}

/** What a device's client presents and trusts when it calls a peer. */
export function clientTlsOptions(tls: DeviceTls | undefined) {
  return tls ? { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: 'TLSv1.3' as const } : {};
}
