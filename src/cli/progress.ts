// A progress bar for long jobs (audit, recovery, benchmarks): on a terminal only.
//
// It draws on stderr, over itself, at most every 100 ms: the phase, a bar, how many of how many,
// the rate and the time left. When stderr is not a terminal (a pipe, a file, CI) it draws nothing,
// so logs and JSON output stay clean.

export const redrawMsMin = 100;
const barWidth = 24;

export interface ProgressBar {
  update(phase: string, done: number, total: number): void;
  finish(): void;
}

const quiet: ProgressBar = { update() {}, finish() {} };

export function progressBar(
  stream: NodeJS.WriteStream = process.stderr,
  nowMs: () => number = Date.now,
  unit = 'records',
): ProgressBar {
  if (!stream.isTTY) return quiet;
  let drawnAtMs = 0;
  let drawn = false;
  let phaseStart = { phase: '', atMs: nowMs() };
  return {
    update(phase, done, total) {
      const at = nowMs();
      if (phase !== phaseStart.phase) phaseStart = { phase, atMs: at };
      if (at - drawnAtMs < redrawMsMin) return;
      drawnAtMs = at;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(fraction * barWidth);
      const seconds = Math.max((at - phaseStart.atMs) / 1000, 0.001);
      const rate = done / seconds;
      const left = rate > 0 && total > done ? Math.ceil((total - done) / rate) : 0;
      const line =
        `${phase.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ` +
        `${Math.floor(fraction * 100)
          .toString()
          .padStart(3)}%  ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${unit}  ` +
        `${Math.round(rate).toLocaleString('en')}/s  ${left} s left`;
      stream.write(
        `\r${line.padEnd((stream.columns ?? 100) - 1).slice(0, (stream.columns ?? 100) - 1)}`,
      );
      drawn = true;
    },
    finish() {
      if (drawn) stream.write(`\r${' '.repeat((stream.columns ?? 100) - 1)}\r`);
    },
  };
}
