// Progress for long benchmarks: a line rewritten in place on a terminal, nothing when piped.
export function progressLine(): { update(text: string): void; done(): void } {
  const enabled = process.stderr.isTTY === true;
  return {
    update(text: string) {
      if (enabled) process.stderr.write(`\r\x1b[2K${text}`);
    },
    done() {
      if (enabled) process.stderr.write('\r\x1b[2K');
    },
  };
}
