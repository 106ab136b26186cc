// A turn of the event loop, for work that runs long on synchronous reads and checks underneath (an
// audit's walk over a store, an export streamed to an auditor, a group of store transactions):
// awaiting it lets what arrived meanwhile (requests, peers' answers, timers) run first. Awaiting a
// resolved promise would not: it lets only other promise jobs run, never I/O.

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
