/**
 * A saved run for the page to replay: the data dirs `client trace` reads, merged the same way
 * (trace/load.ts, trace/merge.ts), as the same event items the live stream carries, in causal
 * order, with the verdicts of the snapshots saved beside them. The page plays it with a slider.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { SNAPSHOT_DIR } from '../daemon/snapshot-files.js';
import type { NodeId } from '../core/types.js';
import { TRACE_FILES, loadTrace, resolveSources } from '../trace/load.js';
import { mergeTrace } from '../trace/merge.js';
import { findSavedSnapshot } from '../trace/saved-snapshot.js';
import { countTrace, summaryLine } from '../trace/summary.js';
import type { EventItem, SnapshotItem } from './items.js';
import { snapshotItem } from './snapshot-item.js';

/** Events a replay carries at most: the last ones of the causal order (the page's own bound). */
export const REPLAY_MAX_EVENTS = 20_000;

export interface Replay {
  readonly t: 'replay';
  readonly nodes: readonly NodeId[];
  /** In causal order: each send before its receive. */
  readonly events: readonly EventItem[];
  readonly snapshots: readonly SnapshotItem[];
  /** As `client trace` says it: clients, events, messages matched, in flight, lost, snapshots. */
  readonly summary: string;
  /** Earlier events left out to keep to REPLAY_MAX_EVENTS. */
  readonly leftOut: number;
  readonly sources: readonly string[];
}

/** The data dirs among `dirs` that hold a trace (a client that never ran has none). */
export function tracedDirs(dirs: readonly string[]): string[] {
  return dirs.filter((d) => TRACE_FILES.some((f) => existsSync(path.join(d, f))));
}

export async function loadReplay(sources: readonly string[]): Promise<Replay> {
  const loaded = await loadTrace(sources);
  const merged = mergeTrace(loaded.events);
  const ordered = merged.ordered.slice(-REPLAY_MAX_EVENTS);
  const events: EventItem[] = ordered.map((te) => {
    const unmatched = te.event.kind === 'receive' && merged.messageOf.get(te.id)?.status === 'sendMissing';
    return { t: 'ev', e: te.event, lane: te.lane, vc: te.vc, clockBefore: te.clockBefore, clock: te.clock, ...(unmatched ? { unmatched: true as const } : {}) };
  });
  const snapshots: SnapshotItem[] = [];
  for (const id of merged.snapshots) {
    const found = findSavedSnapshot(loaded.dataDirs, id);
    if (found.status !== 'found') continue;
    const s = found.snapshot;
    snapshots.push(snapshotItem({ ...s, checks: s.checks ?? [], markers: s.markers ?? s.nodes.length * (s.nodes.length - 1), elapsedMs: s.elapsedMs ?? 0 }));
  }
  return {
    t: 'replay',
    nodes: merged.nodes,
    events,
    snapshots,
    summary: summaryLine(countTrace(merged)),
    leftOut: merged.ordered.length - ordered.length,
    sources: [...sources],
  };
}

/**
 * The replay of a set of sources, as JSON, loaded and merged once and kept while what it was made
 * from stays as it was: the trace files (size and modification time) and each data dir's saved
 * snapshots (the directory's modification time). A page that asks again, or many pages, cost a
 * look at those files, not a reload and a merge of every trace. A live cluster's traces grow, so
 * the replay of its data dirs is made again once they changed.
 */
export class ReplayCache {
  private kept: { readonly stamp: string; readonly json: Promise<string> } | null = null;

  constructor(private readonly load: (sources: readonly string[]) => Promise<Replay> = loadReplay) {}

  json(sources: readonly string[]): Promise<string> {
    const stamp = stampOf(sources);
    if (this.kept?.stamp === stamp) return this.kept.json;
    const json = this.load(sources).then((r) => JSON.stringify(r));
    const kept = { stamp, json };
    this.kept = kept;
    // A load that failed is not kept: the next ask tries again.
    json.catch(() => {
      if (this.kept === kept) this.kept = null;
    });
    return json;
  }
}

/** What the replay of `sources` is made from, as one string that changes when any of it does. */
function stampOf(sources: readonly string[]): string {
  const { files, dataDirs } = resolveSources(sources);
  const stat = (f: string): [string, number, number] | [string] => {
    try {
      const s = statSync(f);
      return [f, s.size, s.mtimeMs];
    } catch {
      return [f];
    }
  };
  return JSON.stringify([sources, files.map(stat), dataDirs.map((d) => stat(path.join(d, SNAPSHOT_DIR)))]);
}
