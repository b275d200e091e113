/**
 * Everything the renderers draw from, built once from the loaded trace and the user's choices:
 * the merged execution, the window, the layout and, for a chosen snapshot, its cut and saved file.
 */
import { computeCut, type SnapshotCut } from './cut.js';
import { TraceError, TraceErrorKind } from './errors.js';
import { layoutWindow, type Layout } from './layout.js';
import type { LoadedTrace } from './load.js';
import { mergeTrace, type MergedTrace } from './merge.js';
import { findSavedSnapshot, type SavedSnapshotLookup } from './saved-snapshot.js';
import { applyWindow, type TraceWindow, type WindowSpec } from './window.js';

export interface ViewSpec extends WindowSpec {
  /** Draw this snapshot's cut; `around` implies it when not given. */
  readonly snapshot?: string;
}

export interface TraceView {
  readonly loaded: LoadedTrace;
  readonly merged: MergedTrace;
  readonly window: TraceWindow;
  readonly layout: Layout;
  readonly cut: SnapshotCut | null;
  readonly saved: SavedSnapshotLookup | null;
  readonly title: string;
}

const SNAPSHOT_ID = /^\d+\.\d+$/;

export function checkSnapshotId(id: string, flag: string): string {
  if (!SNAPSHOT_ID.test(id)) throw new TraceError(TraceErrorKind.BadOption, `${flag} ${id}: a snapshot id is <initiator>.<number>, e.g. 1.2`);
  return id;
}

export function buildView(loaded: LoadedTrace, spec: ViewSpec): TraceView {
  const merged = mergeTrace(loaded.events);
  const snapshot = spec.snapshot ?? spec.around;
  const saved = snapshot === undefined ? null : findSavedSnapshot(loaded.dataDirs, snapshot);
  const cut = snapshot === undefined || saved === null ? null : computeCut(merged, snapshot, saved);
  const window = applyWindow(merged, spec);
  const layout = layoutWindow(merged, window);
  const clients = merged.nodes.length;
  const title = `lamport-ledger trace: ${clients} client${clients === 1 ? '' : 's'}, ${window.label}${cut === null ? '' : `, snapshot ${cut.id}`}`;
  return { loaded, merged, window, layout, cut, saved, title };
}
