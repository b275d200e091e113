/**
 * The trace viewer from sources to written files: what `client trace` and the REPL's
 * `snapshot show <id> --html FILE` both call.
 */
import { writeFile } from 'node:fs/promises';
import { describeCause } from '../base/errors.js';
import { describeCut } from './cut.js';
import { TraceError, TraceErrorKind } from './errors.js';
import { renderHtml } from './html.js';
import { defaultSources, describeMalformed, loadTrace } from './load.js';
import { traceLine } from '../core/trace-line.js';
import { renderShiviz } from './shiviz.js';
import { countTrace, summaryLine } from './summary.js';
import { renderSvg } from './svg.js';
import { buildView, checkSnapshotId, type TraceView, type ViewSpec } from './view.js';

export type OutputKind = 'svg' | 'html' | 'shiviz' | 'jsonl';

/** Past this many events a diagram is slow to open and hard to read: the user is told about windows. */
export const LARGE_DIAGRAM = 3000;

export interface TraceOptions extends ViewSpec {
  /** Data dirs and/or trace files; none means the data dirs `<dataRoot>/client-*`. */
  readonly sources: readonly string[];
  /** Where the data dirs are when no sources are named: the config's `dataDir` (default `data`). */
  readonly dataRoot?: string;
  readonly svg?: string;
  readonly html?: string;
  readonly shiviz?: string;
  /** Every event of the window as a line of JSON, in causal order (for jq and other tools). */
  readonly jsonl?: string;
}

export interface TraceReport {
  /** "3 clients, 96 events (1 restart), 27 messages matched, 1 in flight, 1 lost, snapshots found: 1.1". */
  readonly summary: string;
  /** About the chosen snapshot's cut, or null when none was chosen. */
  readonly snapshot: string | null;
  /** Skipped lines (one report for all of them) and what the merge noticed. */
  readonly notes: readonly string[];
  readonly written: readonly { readonly kind: OutputKind; readonly file: string }[];
  readonly view: TraceView;
}

async function writeOutput(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (e) {
    throw new TraceError(TraceErrorKind.WriteFailed, `cannot write ${file}: ${describeCause(e)}`, { cause: e });
  }
}

export async function runTrace(o: TraceOptions): Promise<TraceReport> {
  if (o.snapshot !== undefined) checkSnapshotId(o.snapshot, '--snapshot');
  if (o.around !== undefined) checkSnapshotId(o.around, '--around');
  const sources = o.sources.length > 0 ? o.sources : defaultSources(o.dataRoot);
  const loaded = await loadTrace(sources);
  const view = buildView(loaded, o);
  const outputs: [OutputKind, string | undefined, () => string][] = [
    ['svg', o.svg, () => `<?xml version="1.0" encoding="UTF-8"?>\n${renderSvg(view)}\n`],
    ['html', o.html, () => renderHtml(view)],
    ['shiviz', o.shiviz, () => renderShiviz(view.merged, view.window)],
    ['jsonl', o.jsonl, () => view.window.events.map((e) => `${traceLine(e.event)}\n`).join('')],
  ];
  const written: { kind: OutputKind; file: string }[] = [];
  for (const [kind, file, render] of outputs) {
    if (file === undefined) continue;
    await writeOutput(file, render());
    written.push({ kind, file });
  }
  const drawn = view.window.events.length;
  const large = (o.svg !== undefined || o.html !== undefined) && drawn > LARGE_DIAGRAM
    ? `the diagram has ${drawn} events: narrow it with --around ID, --last N or --from/--to for something readable`
    : null;
  return {
    summary: summaryLine(countTrace(view.merged)),
    snapshot: view.cut === null ? null : describeCut(view.cut),
    notes: [describeMalformed(loaded), large, ...view.merged.warnings].filter((n): n is string => n !== null),
    written,
    view,
  };
}

/**
 * The page around one snapshot (its cut drawn, its saved channel states compared): for the REPL's
 * `snapshot show <id> --html FILE`. `sources` as for `client trace`: the clients' data dirs.
 */
export function writeSnapshotPage(sources: readonly string[], snapshotId: string, htmlFile: string, margin?: number): Promise<TraceReport> {
  return runTrace({ sources, snapshot: snapshotId, around: snapshotId, html: htmlFile, ...(margin === undefined ? {} : { margin }) });
}
