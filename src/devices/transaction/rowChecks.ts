// The transaction device checks every row of B and C it serves (FIG. 4, FIG. 5): signed by the
// device that owns it, over exactly the fields it carries. A row that fails is never shown as a
// balance; the console shows it as failing. Rows arrive in wire form and are read with the same
// converters as everywhere else (protocol/rowWire.ts): a row that does not convert does not verify.
import type { Result } from '../../model/errors.js';
import { accountRowBytes, currencyRowBytes } from '../../protocol/rows.js';
import {
  accountRowFromWire,
  currencyRowFromWire,
  type WireAccountRow,
  type WireCurrencyRow,
} from '../../protocol/rowWire.js';
import type { DeviceContext } from '../context.js';

interface SignedRow {
  readonly signerKeyNumber: number;
  readonly signature: Buffer;
}

function verifies<Row extends SignedRow>(
  context: DeviceContext,
  owner: 'account' | 'currency',
  row: Result<Row>,
  bytesOf: (row: Row) => Buffer,
): boolean {
  return (
    row.ok &&
    row.value.signerKeyNumber === context.deviceKeys[owner] &&
    context.signatures.verify(row.value.signerKeyNumber, bytesOf(row.value), row.value.signature).ok
  );
}

export function accountRowVerifies(context: DeviceContext, row: WireAccountRow): boolean {
  return verifies(context, 'account', accountRowFromWire(row), accountRowBytes);
}

export function unitRowVerifies(context: DeviceContext, unit: WireCurrencyRow): boolean {
  return verifies(context, 'currency', currencyRowFromWire(unit), currencyRowBytes);
}
