// The seeded simulator (src/simulator) in CI: a fixed list of seeds, each a whole run of the three
// devices' code with a lossy network, crashes and partitions, a bank workload and, for about half
// of them, a storage fault to find and repair, ending with the end checks. Every seed that once
// found a bug stays here as a regression seed, with what the bug was. `npm run simulate -- --seeds
// 10000` is the long run; it is a command, not a test.
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/simulator/simulator.js';

/** Seeds that found a bug, each with the bug: they must pass forever after. */
const regressionSeeds = [
  {
    // Found first as seed 5; the workload has changed since (reused request ids, up to 16
    // terminals), and with credits not held seed 19 is the one that fails today.
    seed: 19,
    bug: 'an update-mode remittance refused (OperationExpired) after its payee had spent the money: taking it back went below zero and the account device stopped at every retry of the settlement',
  },
  {
    // Found by the throughput bench first; the end checks now hold a terminal to what it heard.
    seed: 2,
    bug: 'with the answer ahead of the settlements, an issuance to an account just heard opened was refused UnknownAccount (its opening not yet settled at account)',
  },
  {
    seed: 3018,
    bug: "after transaction restarted, the resumer drove an open issuance to account before it resent the settlement of that account's opening: UnknownAccount for an account heard opened",
  },
  {
    seed: 3063,
    bug: "an account's opening answered (a retry heard the kept answer) but not settled at account after a crash and a partition; an issuance to it reached account first: UnknownAccount",
  },
];

/** The seeds every CI run checks, beside the regression seeds. */
const ciSeeds = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

describe('the seeded simulator', () => {
  it('runs a seed the same way twice: the same trace, event for event', async () => {
    const first = await simulate({ seed: 3, operations: 60 });
    const second = await simulate({ seed: 3, operations: 60 });
    expect(second.traceDigest).toBe(first.traceDigest);
    expect(second).toEqual(first);
    const other = await simulate({ seed: 4, operations: 60 });
    expect(other.traceDigest).not.toBe(first.traceDigest);
  });

  it.each(regressionSeeds)('regression seed $seed: $bug', async ({ seed }) => {
    const result = await simulate({ seed });
    expect(result.violations).toEqual([]);
  });

  it.each(ciSeeds)('seed %i passes its end checks', async (seed) => {
    const result = await simulate({ seed });
    expect(result.violations).toEqual([]);
    expect(result.requests).toBeGreaterThan(200);
  });

  it('crashes that take away acknowledgements committed without a sync: the settlements are sent again and applied once (seed 13)', async () => {
    const result = await simulate({ seed: 13 });
    // If the workload changes and this seed no longer loses one, pick a seed that does.
    expect(result.lazyCommitsLost).toBeGreaterThan(0);
    expect(result.violations).toEqual([]);
  });

  it('a calm run answers every request, and injects nothing', async () => {
    const result = await simulate({ seed: 21, faults: false });
    expect(result.violations).toEqual([]);
    expect(result.outcomes['unknown']).toBeUndefined();
    expect(result.crashes).toBe(0);
    expect(result.messagesLost).toBe(0);
  });

  it("a turn that carries account's answer and a4 to currency waits for no store batch: the transaction device stores one turn per operation the peers decide", async () => {
    let stored: { opening: number; turn: number } | undefined;
    const result = await simulate({
      seed: 21,
      faults: false,
      beforeChecks: (cluster) => {
        stored = cluster.transaction?.service.storedWork();
      },
    });
    expect(result.violations).toEqual([]);
    // Refused at the opening, before any peer hears of them: no turn.
    const refusedAtOpening =
      (result.outcomes['SameAccount'] ?? 0) + (result.outcomes['RequestIdReused'] ?? 0);
    expect(refusedAtOpening).toBeGreaterThan(0);
    expect(stored?.opening).toBe(result.requests);
    // Each other operation stores one turn, its last answer with a6 (with the carry through the
    // store batches, a remittance stored two).
    expect(stored?.turn).toBe(result.requests - refusedAtOpening);
  });

  it('operations decided together are settled together: fewer settlement batches than settlements, each operation settled once and acknowledged by both peers at once', async () => {
    let stored: { turn: number; acknowledgement: number } | undefined;
    let sent: { batches: number; settlements: number } | undefined;
    const result = await simulate({
      seed: 21,
      faults: false,
      beforeChecks: (cluster) => {
        stored = cluster.transaction?.service.storedWork();
        sent = cluster.transaction?.service.settlementCounts();
      },
    });
    expect(result.violations).toEqual([]);
    // A calm run: every decided operation (one turn each) is settled once, in its first batch.
    expect(sent?.settlements).toBe(stored?.turn);
    expect(stored?.acknowledgement).toBe(stored?.turn);
    expect(sent?.batches).toBeGreaterThan(0);
    expect(sent!.batches).toBeLessThan(sent!.settlements);
  });

  it('the end checks bite: a balance changed at rest is reported', async () => {
    const result = await simulate({
      seed: 21,
      faults: false,
      beforeChecks: (cluster) => {
        const accounts = cluster.databases.account.table('accounts').rows;
        const [key, row] = [...accounts.entries()][0]!;
        cluster.databases.account.changeAside('accounts', key, {
          balance: (row['balance'] as bigint) + 7n,
        });
      },
    });
    expect(result.violations.some((v) => /balance .* A adds up to/.test(v))).toBe(true);
    expect(result.violations.some((v) => /its units/.test(v))).toBe(true);
    expect(result.violations.some((v) => v.startsWith('audit: account B'))).toBe(true);
  });
});
