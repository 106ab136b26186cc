// A device's files are private to the user that runs it: the data folder 0700, the databases (with
// SQLite's -wal and -shm files), keystores and passphrase 0600.
//
// The CLI sets the process umask to privateUmask before anything is written, so every file and
// folder triledger creates is private. At start a device looks at the files it uses and warns, once
// per file, when an operator made one readable by others: a copy of a store is a copy of every
// balance, and a keystore is only as safe as its passphrase.

import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Group and others get nothing. */
export const privateUmask = 0o077;

/** A warning for each existing path that its group or others can read, write or enter. */
export function filesOpenToOthers(paths: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const path of paths) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      continue; // not there (yet): nothing to open up
    }
    if ((mode & 0o077) !== 0)
      warnings.push(
        `${path} is open to other users (mode ${(mode & 0o777).toString(8)}): make it private (chmod go-rwx)`,
      );
  }
  return warnings;
}

/** The files of a SQLite store: the database, its write-ahead log and shared memory, its folder. */
export function sqliteFiles(databasePath: string): string[] {
  return [dirname(databasePath), databasePath, `${databasePath}-wal`, `${databasePath}-shm`];
}
