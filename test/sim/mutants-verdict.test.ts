/**
 * Recorder mutants that counts alone cannot see (test/sim/verdict-mutants.ts), judged by the
 * simulator's wire checker and by the verdict every user sees: each wrong cut must be rejected by
 * the check whose job it is. The Marker-Receiving Rule they break (Chandy and Lamport 1985,
 * section 3): "q records the state of c as the sequence of messages received along c after q's
 * state was recorded and before q received the marker along c", and a recorded state is the
 * process's own.
 */
import { describe, expect, it } from 'vitest';
import type { GlobalSnapshot, VerificationCheckName } from '../../src/core/api.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { runSeed } from './simulator.js';
import { type Mutant, copiesPrevious, doubleCountsAgreeing, forkedAbove, reversesChannels } from './verdict-mutants.js';

const SEEDS = 100;

interface Judged {
  cuts: number;
  wrong: number;
  /** For each wrong cut, the checks that failed and their first problem. */
  rejected: { checks: VerificationCheckName[]; problem: string }[];
}

function judge(mutant: Mutant): Judged {
  const judged: Judged = { cuts: 0, wrong: 0, rejected: [] };
  for (let seed = 1; seed <= SEEDS; seed++) {
    let last: GlobalSnapshot | null = null;
    runSeed(seed, {
      makeNode: (c: NodeConfig) => new Node({ ...c, policy: mutant() }),
      ticks: true,
      onSnapshot: (s) => (last = s),
      auditSnapshot: (verdictOk, wireProblem) => {
        judged.cuts++;
        if (wireProblem === null) {
          expect(verdictOk, `seed ${seed}: a false alarm on a cut the wire checker accepts`).toBe(true);
          return;
        }
        judged.wrong++;
        const v = last!.verification;
        if (!verdictOk) judged.rejected.push({ checks: v.checks.filter((c) => !c.ok).map((c) => c.name), problem: v.problems[0] ?? '' });
      },
    });
  }
  return judged;
}

describe('recorder mutants counts cannot see are rejected by the built-in verdict, each by the check that names it', () => {
  it.each([
    ['a recorder that stores each channel in reverse order', reversesChannels, 'channels', /digests differ|in flight after/],
    ['a recorder that records a copy of the message before each REPLY in its place', copiesPrevious, 'channels', /digests differ/],
    ['a recorder that counts a message in its state and its channel, one fewer received so that the counts agree', doubleCountsAgreeing, 'channels', /digests differ/],
    ['a replica that records a head on a fork above the initiator\'s', forkedAbove, 'one history', /is not on client\d+'s chain|did not reach #\d+ in time|differs from [0-9a-f]{8} in flight to it/],
  ] as const)('%s', (name, mutant, check, words) => {
    const j = judge(mutant);
    console.log(`${name}: ${j.cuts} cuts, ${j.wrong} wrong by the wire checker, ${j.rejected.length} rejected by the verdict; e.g. ${j.rejected[0]?.problem}`);
    expect(j.wrong).toBeGreaterThan(0);
    expect(j.rejected).toHaveLength(j.wrong);
    for (const r of j.rejected) {
      expect(r.checks).toContain(check);
      expect(r.problem).toMatch(words);
    }
  });
});

it('with faults too (connections dropped, processes and machines crashed), over seeds 1-100 the verdict rejects exactly the cuts the wire checker rejects', () => {
  for (const [name, mutant] of [['reversed', reversesChannels], ['copied', copiesPrevious], ['double counted', doubleCountsAgreeing], ['forked', forkedAbove], ['honest', () => ({})]] as const) {
    let wrong = 0;
    let rejected = 0;
    let falseAlarms = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      runSeed(seed, {
        faults: true,
        makeNode: (c: NodeConfig) => new Node({ ...c, policy: mutant() }),
        auditSnapshot: (verdictOk, wireProblem) => {
          if (wireProblem !== null) wrong++;
          if (wireProblem !== null && !verdictOk) rejected++;
          if (wireProblem === null && !verdictOk) falseAlarms++;
        },
      });
    }
    console.log(`${name} with faults: ${wrong} wrong cuts, ${rejected} rejected, ${falseAlarms} false alarms`);
    expect(rejected).toBe(wrong);
    expect(falseAlarms).toBe(0);
    if (name !== 'honest') expect(wrong).toBeGreaterThan(0);
  }
});
