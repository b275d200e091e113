import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraceErrorKind, isTraceError } from '../../src/trace/errors.js';
import { type LoadedTrace, loadTrace } from '../../src/trace/load.js';
import type { TimelineEvent } from '../../src/trace/merge.js';
import { renderSvg } from '../../src/trace/svg.js';
import { buildView, type ViewSpec } from '../../src/trace/view.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';
import { byClass, child, readSvg } from './trace-svg-read.js';

let fx: TraceFixture;
let loaded: LoadedTrace;

beforeAll(async () => {
  fx = writeTraceFixture();
  loaded = await loadTrace(fx.dirs);
});
afterAll(() => fx.cleanup());

const ids = (es: readonly TimelineEvent[]): string[] => es.map((e) => e.id);

function errorOf(spec: ViewSpec): unknown {
  try {
    buildView(loaded, spec);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('window options', () => {
  it('--last N keeps the last N events of the causal order', () => {
    const v = buildView(loaded, { last: 25 });
    const all = v.merged.ordered;
    expect(ids(v.window.events)).toEqual(ids(all.slice(all.length - 25)));
    expect(v.window.label).toBe(`25 of ${all.length} events (the last 25)`);
    const tree = readSvg(renderSvg(v));
    expect(byClass(tree, 'event').map((g) => g.attrs['data-id'])).toEqual(ids(v.window.events));
  });

  it('--around ID keeps from a margin before the first record to a margin after the last channelStop', () => {
    const v = buildView(loaded, { around: '1.1', margin: 3 });
    const all = v.merged.ordered;
    const marks = all.filter((e) => (e.event.kind === 'record' || e.event.kind === 'channelStop') && e.event.snapshot === '1.1');
    const firstRecord = all.find((e) => e.event.kind === 'record')!;
    const lastStop = marks[marks.length - 1]!;
    expect(lastStop.event.kind).toBe('channelStop');
    expect(ids(v.window.events)).toEqual(ids(all.slice(firstRecord.order - 3, lastStop.order + 3 + 1)));
    // --around draws the snapshot's cut too.
    expect(v.cut?.id).toBe('1.1');
  });

  it('--from/--to keep the events whose Lamport clock is in the range', () => {
    const v = buildView(loaded, { from: 10, to: 20 });
    const expected = v.merged.ordered.filter((e) => e.clock >= 10 && e.clock <= 20);
    expect(ids(v.window.events)).toEqual(ids(expected));
    // Where an event states its clock, that is the clock the window goes by.
    for (const e of v.window.events) if (e.event.kind === 'send' || e.event.kind === 'receive') expect(e.event.clock).toBe(e.clock);
    expect(v.window.events.length).toBeGreaterThan(10);
    expect(buildView(loaded, { from: 30 }).window.events.every((e) => e.clock >= 30)).toBe(true);
  });

  it('several options together keep what each of them keeps', () => {
    const v = buildView(loaded, { last: 40, to: 28 });
    const all = v.merged.ordered;
    const expected = all.slice(all.length - 40).filter((e) => e.clock <= 28);
    expect(ids(v.window.events)).toEqual(ids(expected));
  });

  it('draws a message with one end outside the window cut at the edge, and leaves out those with none inside', () => {
    const v = buildView(loaded, { around: '1.1', margin: 2 });
    const tree = readSvg(renderSvg(v));
    const drawn = byClass(tree, 'msg');
    const inside = new Set(ids(v.window.events));
    const expected = v.merged.messages.filter((m) => (m.send !== null && inside.has(m.send.id)) || (m.receive !== null && inside.has(m.receive.id)));
    expect(drawn.map((g) => g.attrs['data-key']).sort()).toEqual(expected.map((m) => m.key).sort());
    const clipped = byClass(tree, 'msg', 'clipped');
    expect(clipped.length).toBeGreaterThan(0);
    const shafts = drawn.map((g) => child(g, 'line', 'shaft')!);
    const left = Math.min(...shafts.map((l) => Number(l.attrs.x1)));
    const right = Math.max(...shafts.map((l) => Number(l.attrs.x2)));
    for (const g of clipped) {
      const line = child(g, 'line', 'shaft')!;
      const m = v.merged.messages.find((x) => x.key === g.attrs['data-key'])!;
      if (g.attrs['data-clipped'] === 'send') {
        expect(inside.has(m.send!.id)).toBe(false);
        expect(Number(line.attrs.x1)).toBe(left);
      } else {
        expect(g.attrs['data-clipped']).toBe('receive');
        expect(inside.has(m.receive!.id)).toBe(false);
        expect(Number(line.attrs.x2)).toBe(right);
      }
    }
    // Every message crossing the cut has an end in this window, so all of them are highlighted.
    expect(byClass(tree, 'msg', 'in-cut')).toHaveLength(v.cut!.crossing.length);
  });

  it('refuses windows that keep nothing or make no sense', () => {
    const empty = errorOf({ from: 1000 });
    expect(isTraceError(empty, TraceErrorKind.BadOption)).toBe(true);
    expect((empty as Error).message).toMatch(/keeps none of the \d+ events/);
    expect(isTraceError(errorOf({ from: 9, to: 3 }), TraceErrorKind.BadOption)).toBe(true);
    const unknown = errorOf({ around: '2.7' });
    expect(isTraceError(unknown, TraceErrorKind.UnknownSnapshot)).toBe(true);
    expect((unknown as Error).message).toContain('snapshots in it: 1.1');
  });
});
