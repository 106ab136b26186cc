// Fault hooks: ways for tests to slow or break a device at a named point, enabled only by an
// environment variable that no deployment sets. Each hook is read once, at start, and bounded.
//
// TRILEDGER_FAULT_RECOVERY_PAUSE_MS  hold maintenance this long before recovery repairs anything
//                                    (so a test can watch requests get 503 meanwhile)

export const faultPauseMsMax = 60_000;

function pauseMs(name: string): number {
  const text = process.env[name];
  if (text === undefined || text === '') return 0;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > faultPauseMsMax)
    throw new Error(`${name} must be a whole number of milliseconds up to ${faultPauseMsMax}`);
  return value;
}

export function recoveryPauseMs(): number {
  return pauseMs('TRILEDGER_FAULT_RECOVERY_PAUSE_MS');
}
