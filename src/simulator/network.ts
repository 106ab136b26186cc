// The simulated network between the terminals and the three devices: every message is an event on
// the simulated clock, delayed, and (while faults are on) dropped, duplicated, reordered by its
// delay, or cut by a partition, all chosen by the seed.
//
// A request whose message or answer is lost is seen by its sender as no answer after timeoutMs,
// exactly as an HTTP client sees a timeout: it cannot tell a lost request from a lost answer. A
// duplicated request is delivered twice (the second copy later); the sender hears the first
// answer. A message to a device that is down is lost. Payloads cross as JSON text, so nothing
// passes between devices by reference.

import type { DeviceName } from '../devices/context.js';
import { assert } from '../model/assert.js';
import type { SeededRandom } from './random.js';
import type { SimulatedTime } from './time.js';

export type Endpoint = DeviceName | 'terminal';

export interface NetworkFaults {
  readonly dropChance: number;
  readonly duplicateChance: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
}

export const calmNetwork: NetworkFaults = {
  dropChance: 0,
  duplicateChance: 0,
  delayMsMin: 1,
  delayMsMax: 3,
};

/** A sender hears nothing back after this long. */
export const messageTimeoutMs = 2_000;

export class SimulatedNetwork {
  faults: NetworkFaults = calmNetwork;
  readonly #cut = new Set<string>();
  messagesSent = 0;
  messagesLost = 0;

  constructor(
    private readonly time: SimulatedTime,
    private readonly random: SeededRandom,
  ) {}

  /** Cut the link between `a` and `b`, both ways, until heal(). */
  partition(a: Endpoint, b: Endpoint): void {
    assert(a !== b, 'a partition is between two endpoints');
    this.#cut.add(linkOf(a, b));
    this.time.note(`partition ${linkOf(a, b)}`);
  }

  heal(): void {
    if (this.#cut.size > 0) this.time.note('heal');
    this.#cut.clear();
  }

  get partitions(): number {
    return this.#cut.size;
  }

  /**
   * Send `payload` from `from` to `to`; `handle` runs at the receiver (it throws or rejects when the
   * receiver is down or dies on it) and its answer travels back. Undefined: no answer in time.
   */
  request<Payload, Answer>(
    from: Endpoint,
    to: Endpoint,
    label: string,
    payload: Payload,
    handle: (payload: Payload) => Promise<Answer>,
  ): Promise<Answer | undefined> {
    this.messagesSent += 1;
    const text = JSON.stringify(payload);
    return new Promise((resolve) => {
      let answered = false;
      const answer = (value: Answer | undefined) => {
        if (answered) return;
        answered = true;
        resolve(value);
      };
      this.time.after(messageTimeoutMs, 'timeout', () => answer(undefined));
      const deliveries =
        this.faults.duplicateChance > 0 && this.random.chance(this.faults.duplicateChance) ? 2 : 1;
      for (let copy = 0; copy < deliveries; copy++) {
        if (this.#lost(from, to)) continue;
        this.time.after(this.#delayMs(), 'deliver', () => {
          this.time.note(`${from}->${to} ${label}${copy > 0 ? ' (duplicate)' : ''}`);
          this.#deliver(from, to, text, handle, answer);
        });
      }
    });
  }

  #deliver<Payload, Answer>(
    from: Endpoint,
    to: Endpoint,
    text: string,
    handle: (payload: Payload) => Promise<Answer>,
    answer: (value: Answer | undefined) => void,
  ): void {
    let handled: Promise<Answer>;
    try {
      handled = handle(JSON.parse(text) as Payload);
    } catch {
      return; // the receiver is down: the message is lost
    }
    handled.then(
      (value) => {
        if (this.#lost(to, from)) return;
        const back = JSON.stringify(value ?? null);
        this.time.after(this.#delayMs(), 'answer', () =>
          answer(JSON.parse(back) as Answer | undefined),
        );
      },
      () => undefined, // the receiver died while handling it: no answer
    );
  }

  #lost(from: Endpoint, to: Endpoint): boolean {
    const lost =
      this.#cut.has(linkOf(from, to)) ||
      (this.faults.dropChance > 0 && this.random.chance(this.faults.dropChance));
    if (lost) this.messagesLost += 1;
    return lost;
  }

  #delayMs(): number {
    return this.random.between(this.faults.delayMsMin, this.faults.delayMsMax);
  }
}

function linkOf(a: Endpoint, b: Endpoint): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
