/**
 * `client bench`, run as a user would (a real process spawning real clients), small: checks the
 * JSON result has the figures it promises, every lock round cost 3(N-1) = 6 messages and the end
 * check passed. Never a timing assertion: figures only have to exist and be positive.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../src/bench/index.js';
import { runClientCli } from './harness.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

async function run(args: string[], timeoutMs = 100_000): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runClientCli(args, { timeoutMs });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('client bench', () => {
  it('measures contended-1 and batched on 3 clients, writes the JSON result and passes the end check', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'll-bench-test-'));
    temps.push(out);
    const r = await run(['bench', '--clients', '3', '--duration', '1', '--phases', 'contended-1,batched', '--compare', 'no-fsync', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('end check: PASSED');
    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const result = JSON.parse(readFileSync(path.join(out, files[0]!), 'utf8')) as BenchResult;
    expect(result.endCheckPassed).toBe(true);
    expect(result.runs).toHaveLength(1);
    const run3 = result.runs[0]!;
    expect(run3.clients).toBe(3);
    expect(run3.error).toBeUndefined();
    expect(run3.endCheck?.passed).toBe(true);
    expect(run3.endCheck?.chainsIdentical).toBe(true);
    expect(run3.endCheck?.conserved).toBe(true);
    for (const phase of [run3.contended1, run3.batched]) {
      expect(phase).toBeDefined();
      if (!phase) continue;
      expect(phase.committed).toBeGreaterThan(0);
      expect(phase.failed).toBe(0);
      expect(phase.transfersPerSec).toBeGreaterThan(0);
      expect(phase.blocks).toBeGreaterThan(0);
      expect(phase.blocksPerSec).toBeGreaterThan(0);
      expect(phase.transfersPerBlock).toBeGreaterThanOrEqual(1);
      expect(phase.messagesPerBlock).toBe(6);
      expect(phase.lockWaitMs.p50).toBeGreaterThan(0);
      expect(phase.lockWaitMs.p99).toBeGreaterThanOrEqual(phase.lockWaitMs.p50);
    }
    // One transfer outstanding per client: every block holds exactly one transfer.
    expect(run3.contended1?.transfersPerBlock).toBe(1);
    // Phases not asked for are not run.
    expect(run3.uncontended).toBeUndefined();
    expect(run3.snapshots).toBeUndefined();
    expect(result.baseline).toBeUndefined();
    for (const rss of Object.values(run3.memory?.endRssMiB ?? {})) expect(rss).toBeGreaterThan(0);
    // The variant asked for ran on a cluster of its own, beside the defaults, and passed its check.
    expect(run3.variants?.map((v) => v.variant)).toEqual(['no-fsync']);
    const noFsync = run3.variants![0]!;
    expect(noFsync.endCheck?.passed).toBe(true);
    expect(noFsync.contended1?.committed).toBeGreaterThan(0);
    expect(noFsync.batched?.committed).toBeGreaterThan(0);
    expect(r.out).toMatch(/no-fsync: contended-1 transfers\/s \(vs defaults\) +[\d,]+ \([+-][\d.]+%\)/);
  });
});
