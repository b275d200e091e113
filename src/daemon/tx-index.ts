/**
 * The transfer key index of one client: the core's `TxIndex` (src/core/api.ts), in memory of a
 * fixed size whatever the chain's length, in `<data-dir>/tx-index/` beside the chain file.
 *
 *   find(key): fingerprint (52 bits) -> Bloom filter (8 MiB): "not there" for almost every new key,
 *              else the table of recent fingerprints (2 MiB) and an interpolation search in each run
 *   add(block): each key's fingerprint -> filter and table; a full table (65,536 keys) is sorted and
 *              written as a run of 16-byte records; four runs of one level merge into one of the
 *              next (in the background), so a chain of n keys has at most 3 log4(n / 65,536) runs
 *   close():   the table is written as a run only when it holds at least a quarter of a flush
 *              (16,384 keys); a smaller one is added again from the chain at the next start, as
 *              after a crash. Otherwise every restart that saw a block would leave one more run,
 *              and one more open file, behind it. Runs a restart left are merged after the next
 *              start, as after a flush.
 *
 * The index is derived data: the manifest says up to which block (height and hash) the runs hold
 * every key, and each run's checksum. At start every run is read back (which also fills the filter)
 * and checked; an index that is missing, damaged, from another chain, or ahead of the chain (the
 * chain file was cut after a torn write) is rebuilt from the chain, and one behind it catches up.
 * Nothing is synced: whatever a crash leaves is checked at the next start.
 */
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TxIndex } from '../core/api.js';
import type { Block } from '../core/types.js';
import { BloomFilter, FingerprintTable, RecentLookups, TABLE_FLUSH_AT, fingerprint } from './key-fingerprints.js';
import { Run, type RunInfo, mergeRuns, verifyRun, writeRun } from './key-runs.js';

export const TX_INDEX_DIR = 'tx-index';
const MANIFEST = 'manifest.json';
const VERSION = 1;
/** Blocks read from the chain at a time while (re)building. */
const READ_BLOCKS = 256;
const NONE: readonly number[] = [];
/**
 * Runs of one level merged into one of the next: each key is rewritten about log4(n / 65,536)
 * times over a chain of n keys, and at most 3 runs of each level wait (lookups that pass the
 * filter read them all; they are few).
 */
const FANOUT = 4;
/**
 * The smallest table written as a run at close. Below it, the next start reads the table's blocks
 * from the chain again (at most this many blocks: a block holds a key at least), less than it
 * reads after a crash (a whole table, up to TABLE_FLUSH_AT keys); a run at close then holds at
 * least a quarter of a flushed one, so restarts add at most one run per 16,384 keys to merge.
 */
const CLOSE_RUN_AT = TABLE_FLUSH_AT / FANOUT;

/** The chain the index is of: read at start to check, catch up or rebuild the index. */
export interface IndexedChain {
  readonly genesis: Block;
  readonly height: number;
  read(from: number, to: number): readonly Block[];
}

interface Manifest {
  readonly version: number;
  /** Runs hold doubles in the machine's byte order. */
  readonly endianness: string;
  /** Every key of the blocks up to this one is in the runs. */
  readonly height: number;
  readonly hash: string;
  readonly nextRun: number;
  readonly runs: readonly RunInfo[];
}

interface Point {
  readonly height: number;
  readonly hash: string;
}

const NOTHING: Point = { height: -1, hash: '' };

function isManifest(v: unknown): v is Manifest {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    m.version === VERSION && typeof m.endianness === 'string' && Number.isSafeInteger(m.height) && typeof m.hash === 'string' && Number.isSafeInteger(m.nextRun) &&
    Array.isArray(m.runs) &&
    m.runs.every((r: unknown) => {
      const x = r as Record<string, unknown> | null;
      return x !== null && typeof x === 'object' && typeof x.file === 'string' && /^run-[0-9]+\.bin$/.test(x.file) && Number.isSafeInteger(x.count) && Number.isSafeInteger(x.level) && Number.isSafeInteger(x.check);
    })
  );
}

const hashAt = (chain: IndexedChain, height: number): string | undefined => (height === 0 ? chain.genesis.hash : chain.read(height, height)[0]?.hash);

/** What the index did and costs, for the benchmark and the log. */
export interface TxIndexFigures {
  readonly lookups: number;
  /** Lookups the filter answered alone ("not there"). */
  readonly filtered: number;
  /** Pages read from runs by lookups. */
  readonly pagesRead: number;
  readonly runs: number;
  readonly keysInRuns: number;
}

export class DiskTxIndex implements TxIndex {
  private readonly bloom = new BloomFilter();
  private readonly recent = new RecentLookups();
  private readonly table = new FingerprintTable();
  private runs: Run[] = [];
  /** The last block whose keys are all in runs (flushed), and the last block added at all. */
  private flushed: Point = NOTHING;
  private last: Point = NOTHING;
  private nextRun = 1;
  private merging: Promise<void> | null = null;
  private closed = false;
  private lookups = 0;
  private filtered = 0;
  private retiredReads = 0;

  private constructor(
    readonly dir: string,
    /** Says what went wrong in the background (a merge that failed); the index goes on without it. */
    private readonly warn: (line: string) => void,
  ) {}

  /**
   * Opens the index of `chain` in `dir`, checking it against the chain; `rebuilt` says why it was
   * built again from the chain, if it was.
   */
  static open(dir: string, chain: IndexedChain, warn: (line: string) => void = () => {}): { index: DiskTxIndex; rebuilt: string | null } {
    fs.mkdirSync(dir, { recursive: true });
    const index = new DiskTxIndex(dir, warn);
    let rebuilt: string | null = null;
    try {
      rebuilt = index.load(chain);
    } catch (e) {
      rebuilt = `it could not be read (${(e as Error).message})`;
    }
    if (rebuilt !== null) index.reset();
    index.addChain(chain, index.last.height + 1);
    // Runs the last process run left at close (or whose merge it abandoned) merge now, in the background.
    index.mergeInBackground();
    return { index, rebuilt };
  }

  find(key: string): readonly number[] {
    this.lookups++;
    const fp = fingerprint(key);
    this.recent.note(key, fp);
    if (!this.bloom.mayHave(fp)) {
      this.filtered++;
      return NONE;
    }
    const out: number[] = [];
    this.table.find(fp, out);
    for (const run of this.runs) run.find(fp, out);
    return out;
  }

  add(block: Block): void {
    if (this.closed) throw new Error('tx index: add after close');
    if (block.height !== this.last.height + 1) throw new Error(`tx index: block #${block.height} added after #${this.last.height}`);
    // A block is added right after its keys were looked up (validation, the critical section):
    // their fingerprints are taken from there rather than computed again.
    let at = this.recent.startOf(block.txs);
    for (const tx of block.txs) {
      const fp = at >= 0 ? this.recent.fingerprintAt(at++, tx.id) : fingerprint(tx.id);
      this.bloom.add(fp);
      this.table.add(fp, block.height);
    }
    this.last = { height: block.height, hash: block.hash };
    if (this.table.size >= TABLE_FLUSH_AT) this.flush();
  }

  figures(): TxIndexFigures {
    return {
      lookups: this.lookups,
      filtered: this.filtered,
      pagesRead: this.retiredReads + this.runs.reduce((n, r) => n + r.reads, 0),
      runs: this.runs.length,
      keysInRuns: this.runs.reduce((n, r) => n + r.info.count, 0),
    };
  }

  /** Stops merging; writes the table as a run if it is not small (see CLOSE_RUN_AT), so that the next start reads little of the chain. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.merging;
    if (this.table.size >= CLOSE_RUN_AT) this.writeTable();
    for (const r of this.runs) r.close();
    this.runs = [];
  }

  // ---- start ----

  /** Loads the manifest and its runs; why they cannot be used as they are, or null. */
  private load(chain: IndexedChain): string | null {
    let raw: string;
    try {
      raw = fs.readFileSync(path.join(this.dir, MANIFEST), 'utf8');
    } catch {
      return 'there was none';
    }
    let m: unknown;
    try {
      m = JSON.parse(raw);
    } catch {
      return 'its manifest is not JSON';
    }
    if (!isManifest(m)) return 'its manifest is not one this program writes';
    if (m.endianness !== os.endianness()) return `it was written on a ${m.endianness} machine`;
    if (m.height > chain.height) return `it reaches block #${m.height}, beyond the chain's head #${chain.height} (the chain was cut)`;
    if (m.height >= 0 && hashAt(chain, m.height) !== m.hash) return `its block #${m.height} is not the chain's (another chain)`;
    for (const info of m.runs) {
      const problem = verifyRun(this.dir, info, m.height, (fp) => this.bloom.add(fp));
      if (problem !== null) return problem;
    }
    this.runs = m.runs.map((info) => new Run(this.dir, info));
    // Runs a crash left behind: merged but not yet deleted, or a merge's unfinished output.
    const listed = new Set(m.runs.map((r) => r.file));
    for (const f of fs.readdirSync(this.dir)) if (/^run-[0-9]+\.bin$/.test(f) && !listed.has(f)) fs.rmSync(path.join(this.dir, f), { force: true });
    this.flushed = this.last = { height: m.height, hash: m.hash };
    this.nextRun = m.nextRun;
    return null;
  }

  /** Forgets everything, on disk too: the index is built again from the chain. */
  private reset(): void {
    for (const r of this.runs) r.close();
    this.runs = [];
    for (const f of fs.readdirSync(this.dir)) if (/^run-[0-9]+\.bin$|^manifest\.json/.test(f)) fs.rmSync(path.join(this.dir, f), { force: true });
    this.bloom.clear();
    this.table.clear();
    this.flushed = this.last = NOTHING;
    this.nextRun = 1;
  }

  /** Adds the chain's blocks from height `from` to its head. */
  private addChain(chain: IndexedChain, from: number): void {
    if (from === 0) {
      this.add(chain.genesis);
      from = 1;
    }
    for (let h = from; h <= chain.height; h += READ_BLOCKS) {
      const blocks = chain.read(h, Math.min(chain.height, h + READ_BLOCKS - 1));
      if (blocks.length === 0) throw new Error(`tx index: the chain returned no block at #${h} below its head #${chain.height}`);
      for (const b of blocks) this.add(b);
    }
  }

  // ---- runs ----

  private writeTable(): void {
    const info = writeRun(this.dir, `run-${String(this.nextRun++).padStart(6, '0')}.bin`, 0, this.table.sortedRecords());
    this.runs.push(new Run(this.dir, info));
    this.table.clear();
    this.flushed = this.last;
    this.writeManifest();
  }

  private flush(): void {
    this.writeTable();
    this.mergeInBackground();
  }

  /** Starts merging full levels in the background, unless a merge is already under way. */
  private mergeInBackground(): void {
    this.merging ??= this.mergeWhileFull().then(
      () => {
        this.merging = null;
      },
      (e: unknown) => {
        this.merging = null;
        this.warn(`tx index: merging runs failed (${(e as Error).message}); lookups read more runs until the next start`);
      },
    );
  }

  /** FANOUT runs of one level, or null when no level has that many. */
  private mergeable(): Run[] | null {
    const byLevel = new Map<number, Run[]>();
    for (const r of this.runs) {
      const same = byLevel.get(r.info.level) ?? [];
      same.push(r);
      if (same.length === FANOUT) return same;
      byLevel.set(r.info.level, same);
    }
    return null;
  }

  /** Merges runs of one level, FANOUT at a time, in the background, until no level has that many. */
  private async mergeWhileFull(): Promise<void> {
    // Begin after the step that flushed: its effects (the chain's persist, the RELEASE) go first.
    await new Promise((resolve) => setImmediate(resolve));
    for (let group = this.mergeable(); group !== null && !this.closed; group = this.mergeable()) {
      const file = `run-${String(this.nextRun++).padStart(6, '0')}.bin`;
      const info = await mergeRuns(this.dir, group.map((r) => r.info), file, group[0]!.info.level + 1, () => this.closed);
      if (info === null || this.closed) return;
      // Flushes only append: the merged runs are still there; the new one takes the place of the first.
      this.runs = this.runs.flatMap((r) => (r === group[0] ? [new Run(this.dir, info)] : group.includes(r) ? [] : [r]));
      this.writeManifest();
      for (const r of group) {
        this.retiredReads += r.reads;
        r.close();
        fs.rmSync(path.join(this.dir, r.info.file), { force: true });
      }
    }
  }

  private writeManifest(): void {
    const m: Manifest = { version: VERSION, endianness: os.endianness(), height: this.flushed.height, hash: this.flushed.hash, nextRun: this.nextRun, runs: this.runs.map((r) => r.info) };
    const file = path.join(this.dir, MANIFEST);
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(m)}\n`);
    fs.renameSync(`${file}.tmp`, file);
  }
}
