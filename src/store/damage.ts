// Storage faults: a store that the disk, a bad write or a hand outside the device has damaged
// (issue 18), told apart from a database that is merely out of reach.
//
// A damaged store is never served from and never written to: the device that finds it says so
// with the StoreDamaged code (model/errors.ts) and names what the check found. SQLite's own
// integrity check runs when a store opens (`quick_check`: every page's structure, in one pass);
// errors that report damage during use are recognised by their codes.

/** A store found damaged: its message says which file and what the check found. */
export class StoreDamaged extends Error {
  override readonly name = 'StoreDamaged';
}

/** Findings of an integrity check kept in a message; more are counted. */
export const damageFindingsMax = 5;

/**
 * Whether an error from a database says its data is damaged, not that it is unreachable: SQLite's
 * SQLITE_CORRUPT (and its extended codes) and SQLITE_NOTADB, PostgreSQL's data_corrupted (XX001)
 * and index_corrupted (XX002); and a table or column of the device's own schema gone (dropped
 * behind it: SQLite's "no such table", PostgreSQL's undefined_table 42P01 and undefined_column
 * 42703), since every statement a device runs names only what its migrations made.
 */
export function isStoreDamage(error: unknown): boolean {
  if (error instanceof StoreDamaged) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  const schemaGone =
    code === 'SQLITE_ERROR' &&
    typeof message === 'string' &&
    /^no such (table|column)/.test(message);
  return (
    code.startsWith('SQLITE_CORRUPT') ||
    code === 'SQLITE_NOTADB' ||
    schemaGone ||
    ['XX001', 'XX002', '42P01', '42703'].includes(code)
  );
}

/** The message of an integrity check's findings (SQLite answers the single row 'ok' when sound). */
export function damageOf(findings: readonly string[]): string | undefined {
  if (findings.length === 1 && findings[0] === 'ok') return undefined;
  const shown = findings.slice(0, damageFindingsMax).join('; ');
  const more = findings.length - damageFindingsMax;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}
