// A device's configuration file (JSON), validated once at start with zod.
//
// Relative paths are resolved against the file's own directory, so a deployment folder can move.
// See docs/running.md for every field.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { fail, ok, type Result } from '../model/errors.js';
import { accountKeysHeldMaxDefault } from '../signature/device.js';
import { parseStoreLocation, storeSpecPattern } from '../store/open.js';
import { rateLimitsDefault } from './rateLimits.js';

const keyNumber = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);

export const deviceConfigSchema = z.strictObject({
  device: z.enum(['transaction', 'account', 'currency']),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535),
  /** `sqlite:PATH` (relative to this file) or `postgres://…[?schema=NAME]` (store/open.ts). */
  store: z.string().regex(storeSpecPattern, 'store must be sqlite:PATH or postgres://…'),
  keystore: z.string(),
  passphraseFile: z.string().optional(),
  signingKeyNumber: keyNumber,
  deviceKeys: z.strictObject({ transaction: keyNumber, account: keyNumber, currency: keyNumber }),
  issuerKeyNumbers: z.array(keyNumber).default([]),
  /** Keys whose signature authorises the admin endpoints (audit, recovery) on `transaction`. */
  operatorKeyNumbers: z.array(keyNumber).default([]),
  /**
   * Where the other devices listen: `transaction` calls account and currency; account and currency
   * call transaction only to settle a hold that outlived holdTimeoutMs.
   */
  peers: z
    .strictObject({
      account: z.url().optional(),
      currency: z.url().optional(),
      transaction: z.url().optional(),
    })
    .optional(),
  /** Mutual TLS between devices (devices/tls.ts): PEM files, relative to this file. */
  tls: z.strictObject({ certFile: z.string(), keyFile: z.string(), caFile: z.string() }).optional(),
  protocol: z.strictObject({
    mode: z.enum(['confirm', 'update']).default('confirm'),
    signatureZeroHex: z.string().regex(/^([0-9a-f]{2}){16,64}$/),
    timestampSkewMsMax: z
      .number()
      .int()
      .min(1000)
      .max(24 * 3600 * 1000)
      .default(300_000),
    /**
     * An operation not decided within this time is refused (OperationExpired) by the first device
     * that has not yet answered, once it can be reached; nothing is guessed.
     */
    operationTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(24 * 3600 * 1000)
      .default(30_000),
    /** A hold (confirm mode) older than this makes account or currency ask transaction for its outcome. */
    holdTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(7 * 24 * 3600 * 1000)
      .default(120_000),
  }),
  /** How often transaction resumes cut-off operations and resends settlements, and the peers look at old holds. */
  resumeIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
  /**
   * How often a device runs the full integrity check of its store (store/integrity.ts; damage
   * fences it); 0: never. On SQLite the quick check runs at every start anyway.
   */
  integrityCheckIntervalMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600 * 1000)
    .default(24 * 3600 * 1000),
  /**
   * How often the device walks the rows of B or C it signs, and checks the operations that arrived
   * in its copy of A (those at least every operationsTickMsMax: audit/continuous.ts); 0: never.
   */
  continuousAuditIntervalMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000)
    .default(30_000),
  /**
   * Where /metrics and /ready are served to anyone who reaches the address (an operations network);
   * without it they answer on the device's port, only to an operator-signed request.
   */
  operationsListen: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535),
    })
    .optional(),
  /**
   * At the transaction device: requests per client address, account openings, requests per key
   * (devices/rateLimits.ts); at every device: connections per client address (connectionLimits.ts).
   */
  rateLimits: z
    .strictObject({
      requestsPerClientPerSecond: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(rateLimitsDefault.requestsPerClientPerSecond),
      accountOpeningsPerClientPerMinute: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(rateLimitsDefault.accountOpeningsPerClientPerMinute),
      requestsPerKeyPerSecond: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(rateLimitsDefault.requestsPerKeyPerSecond),
      connectionsPerClientMax: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(rateLimitsDefault.connectionsPerClientMax),
    })
    .default(rateLimitsDefault),
  /**
   * Account keys this device holds in memory at once (signature/device.ts): the store holds every
   * account's key; past this many, the key used longest ago is read from the store again when used.
   */
  accountKeysHeldMax: z.number().int().min(1).max(10_000_000).default(accountKeysHeldMaxDefault),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
});

export type DeviceConfig = z.infer<typeof deviceConfigSchema>;

export function loadDeviceConfig(path: string): Result<DeviceConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return fail(
      'InvalidInput',
      `cannot read the configuration ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = deviceConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(
      'InvalidInput',
      `${path}: ${issue?.path.join('.') || 'configuration'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const config = parsed.data;
  if (config.device === 'transaction' && !(config.peers?.account && config.peers.currency))
    return fail(
      'InvalidInput',
      `${path}: the transaction device needs peers.account and peers.currency`,
    );
  if (config.protocol.holdTimeoutMs <= config.protocol.operationTimeoutMs)
    return fail(
      'InvalidInput',
      `${path}: protocol.holdTimeoutMs must be longer than protocol.operationTimeoutMs`,
    );
  const location = parseStoreLocation(config.store, config.device);
  if (!location.ok) return fail('InvalidInput', `${path}: ${location.message}`);
  const base = dirname(resolve(path));
  return ok({
    ...config,
    store:
      location.value.backend === 'sqlite'
        ? `sqlite:${resolve(base, location.value.path)}`
        : config.store,
    keystore: resolve(base, config.keystore),
    ...(config.passphraseFile === undefined
      ? {}
      : { passphraseFile: resolve(base, config.passphraseFile) }),
    ...(config.tls === undefined
      ? {}
      : {
          tls: {
            certFile: resolve(base, config.tls.certFile),
            keyFile: resolve(base, config.tls.keyFile),
            caFile: resolve(base, config.tls.caFile),
          },
        }),
  });
}
