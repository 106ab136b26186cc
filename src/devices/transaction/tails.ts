// Whether a store came back with less than it acknowledged (issue 18: a WAL cut between commits, a
// store restored from an older copy, a store set aside and started empty), checked by the
// transaction device when it starts, before it resumes anything.
//
// The peers know. Every number the transaction device gives out is reserved in its store before
// any record of it is sent, so a peer never holds a record past the last number this store gave
// out: if one does, this store lost its tail. And every operation up to `settledUpTo` is stored
// at both peers (they acknowledged it): a peer whose last record comes before it lost its tail.
// Each peer is asked with one plain answer (its last record's number), never read from a stream
// that a cut connection could end early. Either way the device holds
// (TransactionService.holdForRecovery: no new operation, nothing resumed) until an operator runs
// `triledger recover`, which puts the missing records back and derives the counters again; the
// hold ends when this check then finds the stores whole.
//
// The device asks before it serves (devices/start.ts), and gives out no number until both peers
// have answered (TransactionService.awaitTails): a request that came before the answer could
// otherwise be numbered over records its store lost. A peer that does not answer tells nothing:
// it is asked again at the next tick, and meanwhile a new operation is refused with that peer's
// failure (it could not have gone through without it).

import { type Failure, fail, ok, type Result } from '../../model/errors.js';
import type { PeerClient } from '../peerClient.js';
import type { TransactionService } from './service.js';

export type TailVerdict =
  | { readonly kind: 'whole' }
  | { readonly kind: 'unanswered'; readonly failure: Failure }
  | { readonly kind: 'behind'; readonly reason: string };

/** The highest transaction number the peer holds a record at, or why it did not tell. */
async function lastRecordOf(peer: PeerClient): Promise<Result<bigint>> {
  const answer = await peer.get('/internal/v1/last-record');
  if (!answer.ok) return answer;
  const number = (answer.value as { transactionNumber?: unknown }).transactionNumber;
  return typeof number === 'string' && /^[0-9]{1,19}$/.test(number)
    ? ok(BigInt(number))
    : fail('PeerUnavailable', `${peer.name} answered its last record without a number`);
}

/**
 * In this order, so that operations going on meanwhile cannot look like a lost tail: what this
 * store says is settled, then what each peer holds, then the last number this store gave out (a
 * record a peer held when it answered had its number reserved here before).
 */
export async function checkTails(
  service: TransactionService,
  peers: Readonly<Record<'account' | 'currency', PeerClient>>,
): Promise<TailVerdict> {
  const settled = await service.settledUpTo();
  const [account, currency] = await Promise.all([
    lastRecordOf(peers.account),
    lastRecordOf(peers.currency),
  ]);
  const held = { account, currency };
  const lastGiven = (await service.nextTransactionNumber()) - 1n;
  for (const device of ['account', 'currency'] as const) {
    const answer = held[device];
    const last = answer.ok ? answer.value : undefined;
    if (last !== undefined && last > lastGiven)
      return {
        kind: 'behind',
        reason: `${device} holds records up to ${last}, past ${lastGiven}, the last number this store gave out: this store holds less than it acknowledged`,
      };
    if (last !== undefined && last < settled)
      return {
        kind: 'behind',
        reason: `${device}'s store ends at record ${last}, before ${settled}, which it acknowledged: it holds less than it stored`,
      };
  }
  if (!account.ok) return { kind: 'unanswered', failure: account };
  if (!currency.ok) return { kind: 'unanswered', failure: currency };
  return { kind: 'whole' };
}
