// A task a device runs every so often in the background (resuming operations, settling old holds):
// never two runs at once, a run that fails unexpectedly is logged and the next one still comes, and
// `stop` waits for the run in progress so that a stopping device closes its store after it. A
// violated invariant is not a failure to retry: it stops the process, as it does in a request.

import { InvariantViolation } from '../model/assert.js';

export class PeriodicTask {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly name: string,
    private readonly run: () => Promise<void>,
    private readonly log: (level: 'error' | 'fatal', message: string) => void,
  ) {}

  /** Run now, then `intervalMs` after each run ends. */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.run()
        .catch((error: unknown) => {
          const message = `${this.name}: ${error instanceof Error ? error.message : String(error)}`;
          if (!(error instanceof InvariantViolation)) return this.log('error', message);
          this.log('fatal', `invariant violated; stopping: ${message}`);
          this.#stopped = true;
          setImmediate(() => process.exit(70));
        })
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
