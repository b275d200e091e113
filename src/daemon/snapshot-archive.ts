/**
 * The global snapshots this client initiates, from the command to the saved file: the sequence
 * number reserved before the markers leave, the time it took, the record (snapshot-record.ts)
 * the command is answered with, and its file (snapshot-files.ts), written after the answer, off
 * the path where the answer waits. Until its file is written a record is kept here, so that
 * reading it back (`snapshot show`, a listing) never misses it.
 */
import type { Logger } from 'pino';
import type { CommandResult, GlobalSnapshot } from '../core/api.js';
import { type NodeId, snapshotKey } from '../core/types.js';
import type { SnapshotAnswer, SnapshotListing } from './api.js';
import { SnapshotFiles } from './snapshot-files.js';
import { type SnapshotRecord, UNREADABLE_VERDICT, isSnapshotRecord, snapshotRecord, summaryOf } from './snapshot-record.js';

export class SnapshotArchive {
  private readonly files: SnapshotFiles;
  /** When each snapshot started here, by key, until it completes or fails. */
  private readonly started = new Map<string, number>();
  /** Records made in the step that completes them, picked up by the command's reply in that step. */
  private readonly completed = new Map<string, SnapshotRecord>();
  /** Records whose files are not written yet, by id. */
  private readonly unsaved = new Map<string, SnapshotRecord>();
  private readonly saving = new Set<Promise<void>>();

  constructor(
    dataDir: string,
    fsync: boolean,
    private readonly self: NodeId,
    private readonly log: Logger,
  ) {
    this.files = new SnapshotFiles(dataDir, { fsync });
  }

  /** The sequence number of this client's first snapshot in this run. */
  firstSeq(): number {
    return this.files.nextSeq(this.self);
  }

  /** A snapshot with sequence number `seq` starts here now: its number is reserved for good first. */
  starting(seq: number): void {
    this.files.reserveSeq(seq);
    this.started.set(`${this.self}.${seq}`, performance.now());
  }

  /** The snapshot completed in this step: its record, kept for the reply and written after it. */
  completes(s: GlobalSnapshot): SnapshotRecord {
    const key = snapshotKey(s.id);
    const started = this.started.get(key);
    this.started.delete(key);
    const record = snapshotRecord(s, started === undefined ? 0 : performance.now() - started, new Date());
    this.log[record.verified ? 'info' : 'error']({ snapshot: record.id, verified: record.verified }, `snapshot ${record.id}: ${record.verdict}`);
    this.completed.set(record.id, record);
    this.unsaved.set(record.id, record);
    // Written once the step, and the answer it sends, are on their way: at once, so that it
    // never runs beside the next snapshot's steps (a snapshot started right after this one).
    const saved = new Promise<void>((resolve) =>
      setImmediate(() => {
        try {
          this.files.save(record.id, record);
        } catch (err) {
          this.log.error({ err }, `could not save snapshot ${record.id}`);
        }
        this.unsaved.delete(record.id);
        this.saving.delete(saved);
        resolve();
      }),
    );
    this.saving.add(saved);
    return record;
  }

  /** What a snapshot command is answered with. */
  answer(r: Extract<CommandResult, { type: 'snapshot' }>): SnapshotAnswer {
    if (!r.ok) {
      this.started.delete(snapshotKey(r.id));
      return { ok: false, id: snapshotKey(r.id), error: r.error, missing: r.missing };
    }
    const key = snapshotKey(r.snapshot.id);
    const record = this.completed.get(key) ?? snapshotRecord(r.snapshot, 0, new Date());
    this.completed.delete(key);
    return { ok: true, record };
  }

  /** The saved snapshots (and those being saved), oldest first. */
  list(): SnapshotListing {
    const onDisk = this.files.list();
    const written = new Set(onDisk.map((s) => s.id));
    return {
      snapshots: [
        ...onDisk.map((s) => {
          const record = this.saved(s.id);
          return record ? summaryOf(record) : { id: s.id, takenAt: new Date(s.mtimeMs).toISOString(), verified: false, verdict: UNREADABLE_VERDICT };
        }),
        ...[...this.unsaved.values()].filter((r) => !written.has(r.id)).map(summaryOf),
      ],
    };
  }

  /** The ids of the saved snapshots (and those being saved), without reading them. */
  ids(): string[] {
    const ids = this.files.list().map((s) => s.id);
    for (const id of this.unsaved.keys()) if (!ids.includes(id)) ids.push(id);
    return ids;
  }

  /** One saved snapshot; null when it is missing or its file is not one this program wrote. */
  saved(id: string): SnapshotRecord | null {
    const pending = this.unsaved.get(id);
    if (pending) return pending;
    let value: unknown;
    try {
      value = this.files.load(id);
    } catch {
      return null;
    }
    return isSnapshotRecord(value) ? value : null;
  }

  /** Waits for the files still being written. */
  async close(): Promise<void> {
    await Promise.all([...this.saving]);
  }
}
