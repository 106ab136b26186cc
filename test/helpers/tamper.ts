// What an attacker with database access does: edit a device's SQLite file directly, under the
// device or while it is stopped. Shared by the tamper matrix (devices stopped) and the recovery
// tests (devices running).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CopyName } from '../../src/audit/audit.js';
import { type AccountRowContent, accountRowBytes } from '../../src/protocol/rows.js';
import type { SignatureDevice } from '../../src/signature/device.js';

export type Statement = [string, ...unknown[]];

export function tamper(dir: string, device: CopyName, ...statements: Statement[]): void {
  const db = new Database(join(dir, `${device}.sqlite`));
  db.defaultSafeIntegers(true);
  for (const [sql, ...parameters] of statements) db.prepare(sql).run(...parameters);
  db.close();
}

export function readRow<T>(
  dir: string,
  device: CopyName,
  sql: string,
  ...parameters: unknown[]
): T {
  const db = new Database(join(dir, `${device}.sqlite`), { readonly: true });
  db.defaultSafeIntegers(true);
  const row = db.prepare(sql).get(...parameters) as T;
  db.close();
  return row;
}

export function signatureOf(dir: string, device: CopyName, transactionNumber: number): Buffer {
  return readRow<{ signature: Buffer }>(
    dir,
    device,
    'SELECT signature FROM transactions WHERE transaction_number = ?',
    transactionNumber,
  ).signature;
}

/** Account 2 claiming `balance`, signed with the account device's own key (stolen): it verifies. */
export function forgedAccountRow(
  accountKeys: SignatureDevice,
  balance: bigint,
  lastUpdate: bigint,
): { content: AccountRowContent; signature: Buffer } {
  const content = {
    accountNumber: 2n,
    currencyType: 'JPY',
    balance,
    held: 0n,
    status: 'open' as const,
    lastUpdate,
  };
  const signature = accountKeys.sign(2, accountRowBytes(content));
  if (!signature.ok) throw new Error(signature.message);
  return { content, signature: signature.value };
}
