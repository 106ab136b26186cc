// Streams in pages: the audit's hot paths (a store's export, a peer's export lines) pass arrays
// along, so that a million records cost a few thousand awaits, not a million.

/** The items of pages, one at a time. */
export async function* itemsOfPages<T>(pages: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const page of pages) yield* page;
}
