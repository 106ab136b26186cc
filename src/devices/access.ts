// Who may call each route, declared on the route and checked against the route that matched.
//
// Every route of every device names its callers in its options (`config: { callers }`); a route
// without a declaration stops the device from starting (checked when the server is ready). One
// pair of hooks then checks exactly what the matched route declares, whatever the URL's spelling:
// the router decodes percent-escapes before it matches, so no decision here ever looks at the URL.
//
// - `anyone`: public information (health, the deployment's public keys, the console's files).
// - `record-signer`: the body is a signed step-1 record; the protocol checks its signer (the source
//   account's key, an issuer key, the new account's own key) before anything is decided.
// - `account-holder`: an envelope signed by the key of the account the path names (or of an account
//   of the operation it names), or by an operator key.
// - `operator`: an envelope signed by an operator key.
// - `transaction-device` / `peer-device`: an envelope signed by the transaction device's key, or by
//   the account or currency device's; with TLS also a client certificate from the deployment CA.
//
// An envelope is bound to this device, the method, the decoded path and query, the body, and is
// accepted once (protocol/envelope.ts). The check runs before the body is validated and before any
// answer that depends on what is stored.

import type { TLSSocket } from 'node:tls';
import type { FastifyRequest, RouteOptions } from 'fastify';
import { assert } from '../model/assert.js';
import { fail } from '../model/errors.js';
import { EnvelopeNonces, envelopeHeader, verifyEnvelope } from '../protocol/envelope.js';
import { parseEnvelopeHeader } from '../protocol/envelopeBytes.js';
import { type AccountKey, usableKey } from './accountKeys.js';
import type { DeviceContext } from './context.js';
import { type HttpServer, sendFailure } from './http.js';

export type Callers =
  | 'anyone'
  | 'record-signer'
  | 'account-holder'
  | 'operator'
  | 'transaction-device'
  | 'peer-device';

export const callerKinds: readonly Callers[] = [
  'anyone',
  'record-signer',
  'account-holder',
  'operator',
  'transaction-device',
  'peer-device',
];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route (devices/access.ts); every route declares it. */
    callers?: Callers;
  }
  interface FastifyRequest {
    /** The key whose envelope the access check verified, for routes that need one. */
    signerKeyNumber?: number;
  }
}

/** The route options that declare `callers` (and any other route config, such as a rate limit). */
export function by<Extra extends object = object>(
  callers: Callers,
  extra?: Extra,
): { config: { callers: Callers } & Extra } {
  return { config: { callers, ...(extra as Extra) } };
}

export interface AccessPolicy {
  readonly context: DeviceContext;
  readonly operatorKeyNumbers: readonly number[];
  /** With mutual TLS, routes for devices also need a client certificate from the deployment CA. */
  readonly clientCertificates: boolean;
  /**
   * The stored keys of the accounts that a route's path parameters name (account-holder routes):
   * an account's own key, or the keys of an operation's accounts. None for what does not exist.
   */
  readonly holderKeys?: (params: Readonly<Record<string, string>>) => Promise<AccountKey[]>;
}

const deviceCallers = new Set<Callers>(['transaction-device', 'peer-device']);

/** Install the access check on `server`; register it before any route. */
export function guardRoutes(server: HttpServer, policy: AccessPolicy): void {
  const nonces = new EnvelopeNonces();
  const routes: RouteOptions[] = [];
  server.addHook('onRoute', (route) => {
    routes.push(route);
  });
  server.addHook('onReady', async () => {
    for (const route of routes) {
      const callers = route.config?.callers;
      assert(
        callers !== undefined && callerKinds.includes(callers),
        `route ${String(route.method)} ${route.url} declares its callers`,
      );
    }
  });
  // Before the body is read: a device route needs the certificate, any signed route an envelope.
  server.addHook('onRequest', async (request, reply) => {
    const callers = request.routeOptions.config.callers;
    if (callers === undefined || callers === 'anyone' || callers === 'record-signer') return;
    if (deviceCallers.has(callers) && policy.clientCertificates) {
      if ((request.raw.socket as TLSSocket).authorized !== true)
        return sendFailure(
          reply,
          fail('AuthorityDenied', 'this route answers only devices with a certificate from the CA'),
        );
    }
    if (!parseEnvelopeHeader(request.headers[envelopeHeader] as string | undefined))
      return sendFailure(
        reply,
        fail('SignatureInvalid', `the request carries no valid ${envelopeHeader} header`),
      );
  });
  server.addHook('preValidation', async (request, reply) => {
    const callers = request.routeOptions.config.callers;
    if (callers === undefined || callers === 'anyone' || callers === 'record-signer') return;
    const holders = callers === 'account-holder' ? await holderKeys(policy, request) : [];
    // From here on synchronous: the account keys just made usable stay held while they are used.
    const allowed = [...allowedSigners(policy, callers), ...usableKeyNumbers(policy, holders)];
    const verified = verifyEnvelope(
      policy.context.signatures,
      allowed,
      request.headers[envelopeHeader] as string | undefined,
      {
        receiver: policy.context.device,
        method: request.method,
        url: request.url,
        body: request.rawBody ?? Buffer.alloc(0),
      },
      policy.context.environment.nowMs(),
      nonces,
    );
    if (!verified.ok) return sendFailure(reply, verified);
    request.signerKeyNumber = verified.value;
  });
}

function allowedSigners(policy: AccessPolicy, callers: Callers): readonly number[] {
  const keys = policy.context.deviceKeys;
  switch (callers) {
    case 'transaction-device':
      return [keys.transaction];
    case 'peer-device':
      return [keys.account, keys.currency];
    case 'operator':
    case 'account-holder':
      return policy.operatorKeyNumbers;
    case 'anyone':
    case 'record-signer':
      return [];
  }
}

function holderKeys(policy: AccessPolicy, request: FastifyRequest): Promise<AccountKey[]> {
  assert(policy.holderKeys, 'a device with account-holder routes knows account keys');
  return policy.holderKeys(request.params as Readonly<Record<string, string>>);
}

/** The numbers of the holders' keys that this device can verify with (registerAccountKey). */
function usableKeyNumbers(policy: AccessPolicy, keys: readonly AccountKey[]): number[] {
  return keys.flatMap((key) => {
    const usable = usableKey(policy.context, key);
    return usable.ok ? [usable.value] : [];
  });
}
