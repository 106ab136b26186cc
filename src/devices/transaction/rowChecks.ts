// The transaction device checks every row of B and C it serves (FIG. 4, FIG. 5): signed by the
// device that owns it, over exactly the fields it carries. A row that fails is never shown as a
// balance; the console shows it as failing.

import { accountRowBytes, currencyRowBytes } from '../../protocol/rows.js';
import type { WireAccountRow, WireCurrencyRow } from '../../protocol/rowWire.js';
import { parseIso } from '../../protocol/wire.js';
import type { DeviceContext } from '../context.js';

function isoMs(text: string): bigint {
  const parsed = parseIso(text, 'lastUpdate');
  return parsed.ok ? parsed.value : -1n;
}

export function accountRowVerifies(context: DeviceContext, row: WireAccountRow): boolean {
  const bytes = accountRowBytes({
    ...row,
    accountNumber: BigInt(row.accountNumber),
    balance: BigInt(row.balance),
    held: BigInt(row.held),
    lastUpdate: isoMs(row.lastUpdate),
  });
  return (
    row.signerKeyNumber === context.deviceKeys.account &&
    context.signatures.verify(row.signerKeyNumber, bytes, Buffer.from(row.signature, 'hex')).ok
  );
}

export function unitRowVerifies(context: DeviceContext, unit: WireCurrencyRow): boolean {
  const bytes = currencyRowBytes({
    ...unit,
    currencyNumber: BigInt(unit.currencyNumber),
    value: BigInt(unit.value),
    ownerAccount: BigInt(unit.ownerAccount),
    lastUpdate: isoMs(unit.lastUpdate),
  });
  return (
    unit.signerKeyNumber === context.deviceKeys.currency &&
    context.signatures.verify(unit.signerKeyNumber, bytes, Buffer.from(unit.signature, 'hex')).ok
  );
}
