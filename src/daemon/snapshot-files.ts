/**
 * The snapshots saved by one client: one pretty-printed JSON file per snapshot id in
 * `<dataDir>/snapshots/`, and `<dataDir>/snapshot-seq`, the next sequence number for snapshots
 * started here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeId } from '../core/types.js';
import { describeCause } from '../base/errors.js';
import { DaemonError, DaemonErrorKind, StorageError } from './errors.js';

export const SNAPSHOT_DIR = 'snapshots';
export const SNAPSHOT_SEQ_FILE = 'snapshot-seq';

export interface SnapshotFilesOptions {
  /** Sync each saved snapshot and the reserved sequence number to stable storage (default true). */
  readonly fsync?: boolean;
}

export interface SnapshotFile {
  readonly id: string;
  readonly file: string;
  readonly mtimeMs: number;
}

const SNAPSHOT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function checkSnapshotId(id: string): void {
  if (!SNAPSHOT_ID_RE.test(id)) throw new DaemonError(DaemonErrorKind.BadArgument, `invalid snapshot id "${id}" — ids look like 1.3`);
}

/** Natural order for ids like "1.3" and "1.10": numeric parts compared as numbers. */
function compareIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

let tempCounter = 0;

/** Snapshot sequence numbers reserved with one write and sync (see `reserveSeq`). */
export const SEQ_RESERVE_AHEAD = 64;

export class SnapshotFiles {
  private readonly fsync: boolean;
  /** Every number below this is reserved on disk. */
  private reservedUntil = 0;

  constructor(readonly dataDir: string, options: SnapshotFilesOptions = {}) {
    this.fsync = options.fsync ?? true;
  }

  private get snapshotDir(): string {
    return path.join(this.dataDir, SNAPSHOT_DIR);
  }

  /**
   * Sequence numbers of snapshots started here, kept apart from the saved snapshots: one that
   * failed is never saved, yet peers remember its id and would ignore a second snapshot under it.
   */
  nextSeq(self: NodeId): number {
    let fromFile = 1;
    try {
      const n = Number(fs.readFileSync(path.join(this.dataDir, SNAPSHOT_SEQ_FILE), 'utf8').trim());
      if (Number.isSafeInteger(n) && n >= 1) fromFile = n;
    } catch {
      // no snapshot started here yet
    }
    let fromSaved = 1;
    for (const s of this.list()) {
      const m = /^(\d+)\.(\d+)$/.exec(s.id);
      if (m && Number(m[1]) === self) fromSaved = Math.max(fromSaved, Number(m[2]) + 1);
    }
    return Math.max(fromFile, fromSaved);
  }

  /**
   * Reserves `seq` before its snapshot's markers leave, on stable storage, so that no restart, not
   * even after a power loss, reuses an id: peers remember finished ids and would ignore a second
   * snapshot under one. Numbers are reserved SEQ_RESERVE_AHEAD at a time, so that only one
   * snapshot in that many waits for a write and a sync; a restart skips what was reserved and
   * not used.
   */
  reserveSeq(seq: number): void {
    if (seq < this.reservedUntil) return;
    const until = seq + SEQ_RESERVE_AHEAD;
    const file = path.join(this.dataDir, SNAPSHOT_SEQ_FILE);
    // Written beside and renamed over: a crash never leaves the file empty, which would hand out
    // the numbers of snapshots that failed or were not saved yet again.
    const temp = `${file}.${process.pid}.tmp`;
    try {
      const fd = fs.openSync(temp, 'w', 0o644);
      try {
        fs.writeSync(fd, `${until}\n`);
        if (this.fsync) fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, file);
      if (this.fsync) syncDirectory(this.dataDir);
    } catch (e) {
      fs.rmSync(temp, { force: true });
      throw new StorageError(file, `cannot record the next snapshot number: ${describeCause(e)}`, { cause: e });
    }
    this.reservedUntil = until;
  }

  private prepare(id: string, json: unknown): { text: string; file: string; temp: string } {
    checkSnapshotId(id);
    const text = JSON.stringify(json, null, 2);
    if (text === undefined) throw new TypeError(`snapshot ${id}: value is not JSON-serialisable`);
    const file = path.join(this.snapshotDir, `${id}.json`);
    return { text, file, temp: `${file}.${process.pid}.${++tempCounter}.tmp` };
  }

  /** Writes `<dataDir>/snapshots/<id>.json` atomically (temp file, fsync, rename); returns its path. */
  save(id: string, json: unknown): string {
    const { text, file, temp } = this.prepare(id, json);
    try {
      fs.mkdirSync(this.snapshotDir, { recursive: true });
      const fd = fs.openSync(temp, 'wx', 0o644);
      try {
        fs.writeFileSync(fd, `${text}\n`);
        fs.fsyncSync(fd); // the rename must never expose a file whose contents are not on disk yet
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, file);
    } catch (e) {
      fs.rmSync(temp, { force: true });
      throw new StorageError(file, `cannot save snapshot: ${describeCause(e)}`, { cause: e });
    }
    syncDirectory(this.snapshotDir);
    return file;
  }

  /** Saved snapshots, oldest first. */
  list(): SnapshotFile[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.snapshotDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StorageError(this.snapshotDir, `cannot list snapshots: ${describeCause(e)}`, { cause: e });
    }
    const found: SnapshotFile[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const id = name.slice(0, -'.json'.length);
      if (!SNAPSHOT_ID_RE.test(id)) continue;
      const file = path.join(this.snapshotDir, name);
      try {
        found.push({ id, file, mtimeMs: fs.statSync(file).mtimeMs });
      } catch {
        // Removed between readdir and stat: not a snapshot any more.
      }
    }
    return found.sort((a, b) => a.mtimeMs - b.mtimeMs || compareIds(a.id, b.id));
  }

  /** The saved snapshot `id`, or null if there is none. A file that is not JSON throws StorageError. */
  load(id: string): unknown {
    checkSnapshotId(id);
    const file = path.join(this.snapshotDir, `${id}.json`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StorageError(file, `cannot read snapshot: ${describeCause(e)}`, { cause: e });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new StorageError(file, `snapshot file is not valid JSON: ${describeCause(e)}`, { cause: e });
    }
  }
}

/** Makes a rename durable. Best effort: some platforms cannot open or fsync a directory. */
function syncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not supported here; the rename is still atomic, just not yet durable.
  }
}
