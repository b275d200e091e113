import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMessage } from '../../src/core/describe.js';
import type { Message } from '../../src/core/types.js';
import { describeCut } from '../../src/trace/cut.js';
import { TraceErrorKind, isTraceError } from '../../src/trace/errors.js';
import { loadTrace } from '../../src/trace/load.js';
import { renderSvg } from '../../src/trace/svg.js';
import { buildView, type TraceView } from '../../src/trace/view.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';
import { type SvgElement, byClass, child, readSvg } from './trace-svg-read.js';

interface SavedFile {
  channels: { from: number; to: number; messages: Message[] }[];
}

let fx: TraceFixture;
let scratch: string;
let view: TraceView;
let svg: SvgElement;

beforeAll(async () => {
  fx = writeTraceFixture();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'll-trace-cut-'));
  view = buildView(await loadTrace(fx.dirs), { snapshot: fx.snapshotId });
  svg = readSvg(renderSvg(view));
});
afterAll(() => {
  fx.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** "2->1 RELEASE ts=14 ..." for every message the saved snapshot recorded, read straight from its file. */
function savedChannelStates(file: string): string[] {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedFile;
  return saved.channels.flatMap((c) => c.messages.map((m) => `${c.from}->${c.to} ${describeMessage(m)}`)).sort();
}

/** A copy of the fixture's data dirs whose saved snapshot was changed by `edit`. */
async function viewWithSaved(name: string, edit: (text: string) => string | null): Promise<TraceView> {
  const root = path.join(scratch, name);
  cpSync(fx.root, root, { recursive: true });
  const file = path.join(root, 'client-1', 'snapshots', `${fx.snapshotId}.json`);
  const edited = edit(readFileSync(file, 'utf8'));
  if (edited === null) rmSync(file);
  else writeFileSync(file, edited);
  const dirs = fx.dirs.map((d) => path.join(root, path.basename(d)));
  return buildView(await loadTrace(dirs), { snapshot: fx.snapshotId });
}

describe("a snapshot's cut", () => {
  it("passes through each client's record event", () => {
    const cut = view.cut!;
    expect(cut.points.map((p) => [p.node, p.record?.event.kind, p.record?.event.kind === 'record' ? p.record.event.snapshot : null])).toEqual([
      [1, 'record', '1.1'],
      [2, 'record', '1.1'],
      [3, 'record', '1.1'],
    ]);
    expect(cut.complete).toBe(true);
    expect(cut.backwards).toEqual([]);
  });

  it('finds as crossing messages exactly the channel states of the saved snapshot', () => {
    const crossing = view.cut!.crossing.map((m) => `${m.from}->${m.to} ${m.desc}`).sort();
    expect(crossing).toEqual(savedChannelStates(fx.snapshotFile));
    // The script put client2's two RELEASEs in flight at the cut; nothing else crosses it.
    expect(crossing).toHaveLength(2);
    expect(crossing.every((c) => c.startsWith('2->') && c.includes('RELEASE ts=14 block #2'))).toBe(true);
    expect(view.cut!.agreement).toEqual({ kind: 'agrees', file: fx.snapshotFile });
    for (const c of view.cut!.channels) expect(c.stopCount ?? 0).toBe(c.saved!.length);
  });

  it('highlights in the SVG exactly the messages the saved snapshot recorded', () => {
    const highlighted = byClass(svg, 'msg', 'in-cut').map((g) => `${g.attrs['data-from']}->${g.attrs['data-to']} ${g.attrs['data-desc']}`).sort();
    expect(highlighted).toEqual(savedChannelStates(fx.snapshotFile));
    for (const g of byClass(svg, 'msg', 'in-cut')) {
      expect(g.attrs['data-type']).not.toBe('MARKER');
      expect(child(g, 'line', 'halo')).toBeDefined();
    }
  });

  it('draws the cut through the record points, one per client, top to bottom', () => {
    const [cut] = byClass(svg, 'cut');
    expect(cut).toBeDefined();
    expect(cut!.attrs['data-snapshot']).toBe('1.1');
    expect(cut!.attrs['data-crossing']).toBe('2');
    const points = child(cut!, 'polyline')!.attrs.points!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(points).toHaveLength(3 + 2);
    const records = byClass(svg, 'event').filter((g) => g.attrs['data-kind'] === 'record' && g.attrs['data-snapshot'] === '1.1');
    expect(records).toHaveLength(3);
    for (const [k, g] of records.sort((a, b) => Number(a.attrs['data-node']) - Number(b.attrs['data-node'])).entries()) {
      // The diamond's first point is its top: (x, y - 8).
      const [x, top] = child(g, 'path')!.attrs.d!.slice(1).split(' ')[0]!.split(',').map(Number) as [number, number];
      expect(points[k + 1]).toEqual([x, top + 8]);
    }
  });

  it('says when the saved snapshot records something else', async () => {
    const v = await viewWithSaved('tampered', (text) => {
      const saved = JSON.parse(text) as SavedFile;
      const ch = saved.channels.find((c) => c.from === 2 && c.to === 3)!;
      ch.messages = [];
      return JSON.stringify(saved);
    });
    expect(v.cut!.agreement).toMatchObject({ kind: 'disagrees', channels: ['2->3'] });
    expect(describeCut(v.cut!)).toContain('records different channel states on 2->3');
    // The cut itself does not change: it comes from the trace.
    expect(v.cut!.crossing.map((m) => m.key)).toEqual(view.cut!.crossing.map((m) => m.key));
  });

  it('works without a saved snapshot, and says why', async () => {
    const missing = await viewWithSaved('missing', () => null);
    expect(missing.cut!.agreement.kind).toBe('noSavedSnapshot');
    expect(describeCut(missing.cut!)).toContain('no saved snapshot file');
    const broken = await viewWithSaved('broken', () => '{"id": "1.1", ');
    expect(broken.cut!.agreement.kind).toBe('noSavedSnapshot');
    expect(describeCut(broken.cut!)).toContain('not JSON');
    const wrong = await viewWithSaved('wrong', (text) => text.replace('"type": "RELEASE"', '"type": "GOSSIP"'));
    expect(describeCut(wrong.cut!)).toContain('not a protocol message');
  });

  it('rejects a snapshot the trace does not have, naming the ones it has', async () => {
    const loaded = await loadTrace(fx.dirs);
    let error: unknown;
    try {
      buildView(loaded, { snapshot: '9.9' });
    } catch (e) {
      error = e;
    }
    expect(isTraceError(error, TraceErrorKind.UnknownSnapshot)).toBe(true);
    expect((error as Error).message).toBe('snapshot 9.9: no client recorded it in this trace (snapshots in it: 1.1)');
  });
});
