import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/trace/load.js';
import { renderSvg } from '../../src/trace/svg.js';
import { buildView, type TraceView } from '../../src/trace/view.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';
import { type SvgElement, byClass, child, findAll, readSvg, titleOf } from './trace-svg-read.js';

let fx: TraceFixture;
let view: TraceView;
let svg: SvgElement;

beforeAll(async () => {
  fx = writeTraceFixture();
  view = buildView(await loadTrace(fx.dirs), {});
  svg = readSvg(renderSvg(view));
});
afterAll(() => fx.cleanup());

const msgKey = (g: SvgElement): string => `${g.attrs['data-chan']}#${g.attrs['data-seq']}`;

describe('the SVG space-time diagram', () => {
  it('is well-formed SVG naming its clients', () => {
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.attrs['data-nodes']).toBe('1,2,3');
    expect(byClass(svg, 'timeline').map((t) => t.attrs['data-node'])).toEqual(['1', '2', '3']);
    expect(findAll(svg, (e) => e.tag === 'text' && e.text === 'client2')).toHaveLength(1);
  });

  it('draws one arrow per matched message, from its send to its receive', () => {
    const matched = byClass(svg, 'msg').filter((g) => g.attrs['data-status'] === 'delivered');
    const expected = view.merged.messages.filter((m) => m.status === 'delivered');
    expect(matched.map(msgKey).sort()).toEqual(expected.map((m) => `${m.chan}#${m.seq}`).sort());
    expect(new Set(matched.map(msgKey)).size).toBe(matched.length);
    const receives = fx.events.filter((e) => e.kind === 'receive');
    expect(matched).toHaveLength(receives.length);
    const eventX = new Map(byClass(svg, 'event').map((g) => [g.attrs['data-id']!, Number(child(g, 'circle')?.attrs.cx)]));
    for (const g of matched) {
      const m = expected.find((x) => `${x.chan}#${x.seq}` === msgKey(g))!;
      expect(g.attrs['data-from']).toBe(String(m.from));
      expect(g.attrs['data-to']).toBe(String(m.to));
      expect(g.attrs['data-send']).toBe(m.send!.id);
      expect(g.attrs['data-receive']).toBe(m.receive!.id);
      const line = child(g, 'line', 'shaft')!;
      expect(Number(line.attrs.x1)).toBe(eventX.get(m.send!.id));
      // The shaft stops just short of the receive's dot, to the right of the send.
      expect(Number(line.attrs.x2)).toBeGreaterThan(Number(line.attrs.x1));
      expect(titleOf(g)).toContain(m.desc);
    }
  });

  it('labels arrows like the logs do', () => {
    const labels = byClass(svg, 'msg').map((g) => child(g, 'text')!.text);
    expect(labels).toContain('REQUEST ts=1');
    expect(labels).toContain('REPLY ts=3');
    expect(labels).toContain('RELEASE ts=14 #2');
    expect(labels).toContain('MARKER ts=13 (1.1)');
  });

  it('marks the unmatched sends: in flight or lost, drawn to the edge', () => {
    const unmatched = byClass(svg, 'msg', 'unmatched');
    const byStatus = (s: string): string[] => unmatched.filter((g) => g.attrs['data-status'] === s).map(msgKey);
    const keys = (xs: readonly { chan: string; seq: number }[]): string[] => xs.map((x) => `${x.chan}#${x.seq}`);
    expect(byStatus('lost')).toEqual(keys(fx.expected.lost));
    expect(byStatus('in-flight')).toEqual(keys(fx.expected.inFlight));
    expect(unmatched).toHaveLength(fx.expected.lost.length + fx.expected.inFlight.length);
    const edge = Math.max(...unmatched.map((g) => Number(child(g, 'line', 'shaft')!.attrs.x2)));
    for (const g of unmatched) {
      expect(g.attrs['data-receive']).toBeUndefined();
      expect(Number(child(g, 'line', 'shaft')!.attrs.x2)).toBe(edge);
      expect(child(g, 'text')!.text).toMatch(/\((lost|in flight)\)$/);
      expect(titleOf(g)).toMatch(/status: (lost|in flight)/);
    }
    expect(byClass(svg, 'lost-mark')).toHaveLength(fx.expected.lost.length);
  });

  it('draws every event with its vector clock and details', () => {
    const drawn = byClass(svg, 'event');
    expect(drawn).toHaveLength(fx.events.length);
    for (const g of drawn) {
      const e = view.merged.ordered[Number(g.attrs['data-order'])]!;
      expect(g.attrs['data-id']).toBe(e.id);
      expect(g.attrs['data-vc']).toBe(e.vc.join(','));
      expect(titleOf(g)).toContain('vector clock: client1:');
      expect(titleOf(g)).toContain(`Lamport clock: `);
    }
  });

  it('draws critical sections as bars labelled with their block', () => {
    const bars = byClass(svg, 'cs');
    expect(bars.map((b) => [b.attrs['data-node'], b.attrs['data-block']])).toEqual([
      ['1', '1'],
      ['1', '4'],
      ['2', '2'],
      ['3', '3'],
    ]);
    for (const b of bars) {
      expect(child(b, 'text')!.text).toBe(`#${b.attrs['data-block']}`);
      expect(Number(child(b, 'rect')!.attrs.width)).toBeGreaterThan(3);
    }
  });

  it('marks the restart of client3', () => {
    const restarts = byClass(svg, 'restart');
    expect(restarts.map((r) => [r.attrs['data-node'], r.attrs['data-run']])).toEqual([['3', 'r3b']]);
  });

  it('draws no cut when no snapshot is chosen', () => {
    expect(byClass(svg, 'cut')).toHaveLength(0);
    expect(byClass(svg, 'in-cut')).toHaveLength(0);
  });

  it('escapes text so odd descriptions cannot break the XML', async () => {
    const odd = fx.events.map((e) => (e.kind === 'send' || e.kind === 'receive' ? { ...e, desc: `${e.desc} <&"'>` } : e));
    const loaded = await loadTrace(fx.dirs);
    const v = buildView({ ...loaded, events: odd }, {});
    const tree = readSvg(renderSvg(v));
    expect(byClass(tree, 'msg').every((g) => g.attrs['data-desc']!.endsWith(` <&"'>`))).toBe(true);
  });
});
