/**
 * Transfer keys under the simulator: callers retry keys across crashes, withdrawals and lost
 * answers, and the key checkers (test/sim/keys.ts) hold; two broken protocols show that they
 * can fail: a cluster that forgets committed keys commits one twice. (That honest replicas refuse
 * a block holding a committed key is in test/unit/core-keys.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { CheckFailure, type SimOptions, type SimResult, runSeed } from './simulator.js';

function firstCaught(overrides: Partial<SimOptions>, seeds: number): { seed: number; rule: string; detail: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    try {
      runSeed(seed, overrides);
    } catch (e) {
      if (e instanceof CheckFailure) return { seed, rule: e.rule, detail: e.message };
      throw e;
    }
  }
  return null;
}

/** Never finds a committed key: in the critical section, on arrival, on blocks from peers. */
const forgetsKeys = (c: NodeConfig): Node => new Node({ ...c, policy: { findKey: () => null } });

describe('transfer keys in the simulator', () => {
  it('over 60 seeds with and without faults, keys are retried as is, with other content, at other clients and after a withdrawal, and every key checker holds', () => {
    const results: SimResult[] = [];
    for (let seed = 1; seed <= 30; seed++) results.push(runSeed(seed), runSeed(seed, { faults: true }));
    const sum = (f: (r: SimResult) => number): number => results.reduce((n, r) => n + f(r), 0);
    const figures = { retries: sum((r) => r.keys.retries), repeats: sum((r) => r.keys.repeats), conflicts: sum((r) => r.keys.conflicts), withdrawn: sum((r) => r.keys.withdrawn) };
    console.log('keys over 60 seeds:', figures);
    // The checks are only as good as what they see: every kind of answer came up.
    expect(figures.repeats).toBeGreaterThan(0);
    expect(figures.conflicts).toBeGreaterThan(0);
    expect(figures.withdrawn).toBeGreaterThan(0);
  });

  it('a key commits at most once: clients that forget committed keys commit a retried one twice, and the chain checker catches it', () => {
    const caught = firstCaught({ makeNode: forgetsKeys }, 100);
    console.log('forgotten keys caught by:', caught);
    expect(caught?.rule).toBe('a key commits at most once');
  });
});
