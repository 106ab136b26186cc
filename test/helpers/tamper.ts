// What an attacker with a stolen device key can forge: a B row that verifies (the tamper matrix and
// the recovery tests edit the stores with test/helpers/stores.ts).
import { type AccountRowContent, accountRowBytes } from '../../src/protocol/rows.js';
import type { SignatureDevice } from '../../src/signature/device.js';

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
