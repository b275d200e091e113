/**
 * The daemon's transfer key index (src/daemon/tx-index.ts): fixed memory, runs on disk, and
 * derived data that is checked against the chain at every start and rebuilt from it when it does
 * not match.
 */
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeGenesis, sealBlock } from '../../src/core/ledger.js';
import type { Block } from '../../src/core/types.js';
import { FINGERPRINT_SPACE, TABLE_FLUSH_AT, fingerprint } from '../../src/daemon/key-fingerprints.js';
import { Run, writeRun } from '../../src/daemon/key-runs.js';
import { DiskTxIndex, type IndexedChain } from '../../src/daemon/tx-index.js';

const genesis = makeGenesis(new Map([[1, 10 ** 12], [2, 10 ** 12]]), 'tx-index');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'lltxi-'));
  dirs.push(d);
  return d;
};

/** A chain of `blocks` blocks of `perBlock` transfers each, keys `k<height>.<i>` (hashes are not checked here). */
function chainOf(blocks: number, perBlock: number, tag = 'a'): Block[] {
  const out: Block[] = [];
  let prev = genesis.hash;
  for (let h = 1; h <= blocks; h++) {
    const txs = Array.from({ length: perBlock }, (_, i) => ({ id: `${tag}${h}.${i}`, from: 1, to: 2, amount: 1 }));
    const b = sealBlock({ height: h, prevHash: prev, ts: h, creator: 1, txs });
    out.push(b);
    prev = b.hash;
  }
  return out;
}

const reader = (blocks: readonly Block[], reads = { blocks: 0 }): IndexedChain => ({
  genesis,
  height: blocks.length,
  read: (from, to) => {
    const got = blocks.slice(from - 1, to);
    reads.blocks += got.length;
    return got;
  },
});

async function opened(dir: string, blocks: readonly Block[], reads = { blocks: 0 }): Promise<{ index: DiskTxIndex; rebuilt: string | null }> {
  return DiskTxIndex.open(dir, reader(blocks, reads));
}

const runFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('run-'));

/** File descriptors this process holds open on run files of `dir`. */
function openRunFds(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path.join(dir, 'run-'))) n++;
    } catch {
      // closed meanwhile (the directory's own fd, say)
    }
  }
  return n;
}

/** Lets the background merges finish. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 5));
};

describe('fingerprints', () => {
  it('are whole numbers below 2^52, the same for the same key, spread over the range', () => {
    const fps = Array.from({ length: 10_000 }, (_, i) => fingerprint(`key-${i}`));
    for (const fp of fps) {
      expect(Number.isInteger(fp)).toBe(true);
      expect(fp).toBeGreaterThanOrEqual(0);
      expect(fp).toBeLessThan(FINGERPRINT_SPACE);
    }
    expect(fingerprint('key-7')).toBe(fps[7]);
    expect(new Set(fps).size).toBe(fps.length);
    // Uniform enough for interpolation search: each tenth of the range holds about a tenth.
    const tenths = Array.from({ length: 10 }, (_, t) => fps.filter((fp) => Math.floor((fp / FINGERPRINT_SPACE) * 10) === t).length);
    for (const n of tenths) expect(n).toBeGreaterThan(850);
  });
});

describe('DiskTxIndex', () => {
  it('finds the height of every key added, through the table, flushed runs and merged runs; a key never added finds nothing', async () => {
    const dir = tempDir();
    const blocks = chainOf(300, 1000); // 300,000 keys: four flushes, merged into one run, and a table
    const { index } = await opened(dir, []);
    for (const b of blocks) index.add(b);
    await settle();
    expect(index.figures().runs).toBe(1);
    expect(index.figures().keysInRuns).toBeGreaterThanOrEqual(4 * TABLE_FLUSH_AT);
    expect(index.figures().keysInRuns).toBeLessThan(5 * TABLE_FLUSH_AT);
    for (const h of [1, 33, 65, 66, 130, 199, 262, 263, 300]) for (const i of [0, 499, 999]) expect(index.find(`a${h}.${i}`)).toContain(h);
    expect(index.find('genesis:tx-index:1')).toEqual([0]);
    let found = 0;
    for (let i = 0; i < 10_000; i++) found += index.find(`absent-${i}`).length;
    expect(found).toBe(0);
    expect(index.figures().filtered).toBeGreaterThanOrEqual(9_990);
    await index.close();
  });

  it('refuses a block that does not follow the last one added (a programmer error, said loudly)', async () => {
    const { index } = await opened(tempDir(), []);
    expect(() => index.add(chainOf(2, 1)[1]!)).toThrow(/block #2 added after #0/);
  });

  it('is reopened from its runs without reading the chain again, and catches up from the chain when behind', async () => {
    const dir = tempDir();
    const blocks = chainOf(100, 1000);
    const first = await opened(dir, blocks.slice(0, 90)); // a flush at #66, then 24,000 keys: a run at close
    expect(first.rebuilt).toBe('there was none');
    await settle();
    await first.index.close();
    const reads = { blocks: 0 };
    const again = await opened(dir, blocks, reads);
    expect(again.rebuilt).toBeNull();
    // One block read to compare hashes, then the 10 the index lacked.
    expect(reads.blocks).toBe(11);
    for (const h of [1, 90, 91, 100]) expect(again.index.find(`a${h}.5`)).toContain(h);
    await again.index.close();
  });

  it('a small table is not written at close: the next start adds its blocks again from the chain, as after a crash', async () => {
    const dir = tempDir();
    const blocks = chainOf(100, 1000);
    const first = await opened(dir, blocks.slice(0, 70)); // a flush at #66, then 4,000 keys in the table
    await settle();
    await first.index.close();
    expect(runFiles(dir)).toHaveLength(1);
    const reads = { blocks: 0 };
    const again = await opened(dir, blocks, reads);
    expect(again.rebuilt).toBeNull();
    // One block read to compare hashes, the 4 of the table not written, and the 30 the index lacked.
    expect(reads.blocks).toBe(1 + 4 + 30);
    for (const h of [1, 66, 67, 70, 100]) expect(again.index.find(`a${h}.5`)).toContain(h);
    await again.index.close();
  });

  it('restarts do not pile up runs or open files: 40 runs of a client that sees a few blocks each', async () => {
    const dir = tempDir();
    const blocks = chainOf(400, 10);
    for (let cycle = 1; cycle <= 40; cycle++) {
      const { index } = await opened(dir, blocks.slice(0, 10 * cycle - 5));
      for (const b of blocks.slice(10 * cycle - 5, 10 * cycle)) index.add(b);
      await index.close();
    }
    expect(runFiles(dir)).toEqual([]);
    const { index } = await opened(dir, blocks);
    expect(index.figures().runs).toBe(0);
    expect(openRunFds(dir)).toBe(0);
    expect(index.find('a400.9')).toEqual([400]);
    await index.close();
  });

  it('restarts that each leave a run behind have them merged after the next start: runs and open files stay at most 3 per level', async () => {
    const dir = tempDir();
    const blocks = chainOf(16 * 20, 1000); // each run of the client adds 20,000 keys: a run at close
    const counts: number[] = [];
    for (let cycle = 1; cycle <= 16; cycle++) {
      const { index } = await opened(dir, blocks.slice(0, 20 * (cycle - 1)));
      await settle();
      for (const b of blocks.slice(20 * (cycle - 1), 20 * cycle)) index.add(b);
      counts.push(index.figures().runs);
      expect(openRunFds(dir)).toBe(index.figures().runs);
      await index.close();
    }
    const { index } = await opened(dir, blocks);
    await settle();
    counts.push(index.figures().runs);
    expect(openRunFds(dir)).toBe(index.figures().runs);
    // 320,000 keys: at most 3 runs of each of levels 0..2 wait, never one per restart.
    expect(Math.max(...counts)).toBeLessThanOrEqual(6);
    expect(index.figures().keysInRuns).toBeGreaterThanOrEqual(300_000);
    for (const h of [1, 20, 21, 200, 320]) expect(index.find(`a${h}.7`)).toContain(h);
    await index.close();
  });

  it('removes the run files a crash left behind that the manifest does not list', async () => {
    const dir = tempDir();
    const { index } = await opened(dir, chainOf(70, 1000));
    await index.close();
    writeFileSync(path.join(dir, 'run-999999.bin'), Buffer.alloc(64));
    const again = await opened(dir, chainOf(70, 1000));
    expect(again.rebuilt).toBeNull();
    expect(readdirSync(dir)).not.toContain('run-999999.bin');
    await again.index.close();
  });

  it('is rebuilt from the chain when it is ahead of the chain (cut after a torn write), from another chain, or damaged', async () => {
    const dir = tempDir();
    const blocks = chainOf(90, 1000);
    const { index } = await opened(dir, blocks);
    await index.close();

    const cut = await opened(dir, blocks.slice(0, 60));
    expect(cut.rebuilt).toMatch(/reaches block #90, beyond the chain's head #60/);
    expect(cut.index.find('a85.1')).toEqual([]);
    expect(cut.index.find('a60.1')).toContain(60);
    await cut.index.close();

    const other = await opened(dir, chainOf(60, 1000, 'b'));
    expect(other.rebuilt).toMatch(/is not the chain's/);
    expect(other.index.find('a10.1')).toEqual([]);
    expect(other.index.find('b10.1')).toContain(10);
    await other.index.close();

    const run = readdirSync(dir).find((f) => f.startsWith('run-'))!;
    const bytes = readFileSync(path.join(dir, run));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(path.join(dir, run), bytes);
    const damaged = await opened(dir, chainOf(60, 1000, 'b'));
    expect(damaged.rebuilt).toMatch(new RegExp(`${run}`));
    expect(damaged.index.find('b59.999')).toContain(59);
    await damaged.index.close();

    writeFileSync(path.join(dir, 'manifest.json'), '{"version": 1');
    expect((await opened(dir, [])).rebuilt).toBe('its manifest is not JSON');
  });

  it('a run finds every record of a fingerprint, even many that span pages (keys that share one)', () => {
    const dir = tempDir();
    const fps: number[] = [];
    for (let i = 0; i < 5000; i++) fps.push(Math.floor((i / 5000) * FINGERPRINT_SPACE));
    const shared = fps[2500]!;
    for (let i = 0; i < 700; i++) fps.push(shared);
    fps.sort((a, b) => a - b);
    const records = new Float64Array(fps.length * 2);
    fps.forEach((fp, i) => {
      records[2 * i] = fp;
      records[2 * i + 1] = fp === shared ? 1_000_000 + i : i;
    });
    const run = new Run(dir, writeRun(dir, 'run-000001.bin', 0, records));
    const out: number[] = [];
    run.find(shared, out);
    expect(out).toHaveLength(701);
    const one: number[] = [];
    run.find(fps[10]!, one);
    expect(one).toEqual([10]);
    const none: number[] = [];
    run.find(shared + 1, none);
    expect(none).toEqual([]);
    run.close();
  });
});
