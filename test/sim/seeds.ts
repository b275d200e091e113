/**
 * Runs a share of the simulator's seeds and prints the figures. `SIM_SEEDS=k` runs k seeds
 * (default 500) from `SIM_SEED_BASE` (default 1); `SIM_SEED=s` replays one seed with its transcript.
 */
import { expect, it } from 'vitest';
import { type SimOptions, type SimResult, replayCommand, runSeed } from './simulator.js';

export function seedsFromEnv(): number[] {
  const one = process.env.SIM_SEED;
  if (one !== undefined) return [Number(one)];
  const count = Number(process.env.SIM_SEEDS ?? 500);
  const base = Number(process.env.SIM_SEED_BASE ?? 1);
  return Array.from({ length: count }, (_, i) => base + i);
}

/** `share` of `shares`: the seeds are split across test files so that they run in parallel. */
export function simulateShare(share: number, shares: number, overrides: Partial<SimOptions> = {}, label = 'sim'): void {
  const replaying = process.env.SIM_SEED !== undefined;
  const seeds = seedsFromEnv().filter((s) => replaying ? share === 0 : s % shares === share);
  it(`${label}: ${seeds.length} seeds, every checker holds after every step (share ${share + 1}/${shares})`, () => {
    const started = performance.now();
    const results: SimResult[] = [];
    for (const seed of seeds) {
      const lines: string[] = [];
      try {
        results.push(runSeed(seed, replaying ? { ...overrides, trace: (l) => lines.push(l) } : overrides));
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        if (replaying) console.log(lines.join('\n'));
        expect.fail(`seed ${seed} failed: ${why}\n  replay: ${replayCommand(seed, label)}`);
      }
      if (replaying) console.log(lines.join('\n'));
    }
    const sum = (f: (r: SimResult) => number): number => results.reduce((a, r) => a + f(r), 0);
    console.log(
      `${label} share ${share + 1}/${shares}: ${results.length} seeds, N in {${[...new Set(results.map((r) => r.n))].sort((a, b) => a - b).join(',')}}, ` +
        `${sum((r) => r.steps)} steps, ${sum((r) => r.messages)} messages, ${sum((r) => r.committed)} transfers committed in ${sum((r) => r.blocks)} blocks ` +
        `(${sum((r) => r.rounds)} lock rounds), ${sum((r) => r.failed)} refused, ${sum((r) => r.snapshotsVerified)} snapshots verified ` +
        `(max ${Math.max(0, ...results.map((r) => r.maxInFlightRecorded))} messages in flight in one), ` +
        `${sum((r) => r.keys.retries)} keys retried (${sum((r) => r.keys.repeats)} repeats, ${sum((r) => r.keys.conflicts)} conflicts, ${sum((r) => r.keys.withdrawn)} withdrawn), ` +
        (overrides.faults ? `${sum((r) => r.snapshotsFailed)} snapshots failed, ${sum((r) => r.disconnects)} disconnects, ${sum((r) => r.crashes)} crashes (${sum((r) => r.machineCrashes)} machine crashes losing ${sum((r) => r.blocksLost)} unsynced blocks; ${sum((r) => r.aimedCrashes)} aimed at a RELEASE that reached only some peers, in ${results.filter((r) => r.aimedCrashes > 0).length} seeds), ${sum((r) => r.lostMessages)} messages and ${sum((r) => r.lostCommands)} commands lost, idle replicas in session at one head within ${Math.max(0, ...results.map((r) => r.slowestIdleConvergenceMs))} ms at most, ` : '') +
        `${(performance.now() - started).toFixed(0)} ms`,
    );
    expect(results.length).toBe(seeds.length);
  });
}
