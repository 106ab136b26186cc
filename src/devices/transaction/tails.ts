// Whether a store came back with less than it acknowledged (issue 18: a WAL cut between commits, a
// store restored from an older copy, a store set aside and started empty), checked by the
// transaction device when it starts, before it resumes anything.
//
// The peers know. Every number the transaction device gives out is reserved in its store before
// any record of it is sent, so a peer never holds a record past the last number this store gave
// out: if one does, this store lost its tail. And every operation up to `settledUpTo` is stored
// at both peers (they acknowledged it): a peer that holds nothing from its last record on lost
// its tail. Each peer is asked with one plain answer (a count), never read from a stream that a
// cut connection could end early. Either way the device holds (TransactionService.holdForRecovery:
// no new operation, nothing resumed) until an operator runs `triledger recover`, which puts the
// missing records back and derives the counters again; the hold ends when this check then finds
// the stores whole. A peer that does not answer tells nothing: the check is made again at the next
// tick, without holding anything meanwhile.

import type { PeerClient } from '../peerClient.js';
import type { TransactionService } from './service.js';

export type TailVerdict =
  | { readonly kind: 'whole' }
  | { readonly kind: 'unanswered' }
  | { readonly kind: 'behind'; readonly reason: string };

/** How many records of A the peer holds after `number`; undefined when it does not answer. */
async function recordsAfter(peer: PeerClient, number: bigint): Promise<bigint | undefined> {
  const answer = await peer.get(`/internal/v1/records-after/${number}`);
  const count = answer.ok ? (answer.value as { count?: unknown }).count : undefined;
  return typeof count === 'string' && /^[0-9]{1,19}$/.test(count) ? BigInt(count) : undefined;
}

export async function checkTails(
  service: TransactionService,
  peers: Readonly<Record<'account' | 'currency', PeerClient>>,
): Promise<TailVerdict> {
  const lastGiven = (await service.nextTransactionNumber()) - 1n;
  const settled = await service.settledUpTo();
  let unanswered = false;
  for (const device of ['account', 'currency'] as const) {
    const ahead = await recordsAfter(peers[device], lastGiven);
    if (ahead !== undefined && ahead > 0n)
      return {
        kind: 'behind',
        reason: `${device} holds records after ${lastGiven}, the last number this store gave out: this store holds less than it acknowledged`,
      };
    // A tail lost from the acknowledged part on leaves nothing at or after its last record.
    const acknowledged = settled === 0n ? 1n : await recordsAfter(peers[device], settled - 1n);
    if (acknowledged === 0n)
      return {
        kind: 'behind',
        reason: `${device}'s store holds nothing from record ${settled} on, which it acknowledged: it holds less than it stored`,
      };
    if (ahead === undefined || acknowledged === undefined) unanswered = true;
  }
  return unanswered ? { kind: 'unanswered' } : { kind: 'whole' };
}
