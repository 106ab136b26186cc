// Every table of a device's store as plain rows: what an export archive carries (store/archive.ts)
// and what an import writes back, on either backend.
//
// The tables and their columns are listed here once, so that SQLite and PostgreSQL dump and load
// exactly the same columns. Columns that only order rows inside one backend (SQLite's rowid,
// PostgreSQL's identity columns) are not carried: rows are dumped in that order and loaded in it,
// so holds and unit plans keep their arrival order and the quarantine its sequence.

import { recordColumns } from './rows.js';
import type { DeviceKind } from './types.js';

export type DumpValue = bigint | string | Buffer | null;

export interface DumpRow {
  readonly table: string;
  readonly row: Readonly<Record<string, DumpValue>>;
}

export interface DumpTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** The key that orders the rows, or `arrival` (SQLite rowid, PostgreSQL `position`/`id`). */
  readonly orderBy: string | 'arrival';
}

const ledgerTables: readonly DumpTable[] = [
  { name: 'transactions', columns: recordColumns, orderBy: 'transaction_number' },
  {
    name: 'checkpoints',
    columns: ['transaction_number', 'checkpoint_json'],
    orderBy: 'transaction_number',
  },
  {
    name: 'quarantine',
    columns: ['quarantined_at', 'table_name', 'row_key', 'row_json', 'reason'],
    orderBy: 'arrival',
  },
];

const counters: DumpTable = { name: 'counters', columns: ['name', 'value'], orderBy: 'name' };

const signedRowColumns = ['status', 'last_update', 'signer_key_number', 'signature'];

export const dumpTables: Record<DeviceKind, readonly DumpTable[]> = {
  transaction: [
    ...ledgerTables,
    {
      name: 'operations',
      columns: [
        'remittance_id',
        'request_digest',
        'base_number',
        'state',
        'response_json',
        'settled',
      ],
      orderBy: 'base_number',
    },
    counters,
  ],
  account: [
    ...ledgerTables,
    {
      name: 'accounts',
      columns: ['account_number', 'currency_type', 'balance', 'held', ...signedRowColumns],
      orderBy: 'account_number',
    },
    { name: 'holds', columns: ['remittance_id', 'account_number', 'amount'], orderBy: 'arrival' },
  ],
  currency: [
    ...ledgerTables,
    {
      name: 'currency_units',
      columns: ['currency_number', 'currency_type', 'value', 'owner_account', ...signedRowColumns],
      orderBy: 'currency_number',
    },
    { name: 'unit_plans', columns: ['remittance_id', 'plan_json'], orderBy: 'arrival' },
    counters,
  ],
};

/** The table a dumped row belongs to, when the row has exactly its columns and plain values; else undefined. */
export function dumpTableOf(kind: DeviceKind, row: DumpRow): DumpTable | undefined {
  const table = dumpTables[kind].find((t) => t.name === row.table);
  if (!table) return undefined;
  const names = Object.keys(row.row);
  if (names.length !== table.columns.length || !table.columns.every((c) => c in row.row))
    return undefined;
  const plain = Object.values(row.row).every(
    (v) => v === null || typeof v === 'bigint' || typeof v === 'string' || Buffer.isBuffer(v),
  );
  return plain ? table : undefined;
}

/** A database value as a dump value: integers are bigint (both backends are set so), bytes Buffer. */
export function dumpValue(value: unknown): DumpValue {
  if (value === null || typeof value === 'bigint' || typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  throw new Error(`a stored value of type ${typeof value} has no dump form`);
}
