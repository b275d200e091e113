import { describe, expect, it } from 'vitest';
import { TRACE_VERSION, type TraceEvent } from '../../src/core/trace-events.js';
import { layoutWindow } from '../../src/trace/layout.js';
import { type MergedTrace, mergeTrace, type TimelineEvent } from '../../src/trace/merge.js';
import { vcBefore } from '../../src/trace/vclock.js';
import { applyWindow } from '../../src/trace/window.js';
import { scriptedTrace } from './trace-fixtures.js';

const { cluster, lost, inFlight } = scriptedTrace();
const events = cluster.events;
const merged = mergeTrace(events);

const keyOf = (m: { chan: string; seq: number }): string => `${m.chan}#${m.seq}`;

/** A deterministic shuffle, so the merge cannot lean on the order events are handed to it. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let k = out.length - 1; k > 0; k--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (k + 1);
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

const ev = (node: number, i: number, body: Record<string, unknown>): TraceEvent => ({ v: TRACE_VERSION, node, run: `r${node}`, i, wall: 1000 + i, ...body }) as TraceEvent;

describe('matching messages', () => {
  it('matches every receive to its send, and keeps the unmatched sends marked', () => {
    const receives = events.filter((e) => e.kind === 'receive').length;
    const sends = events.filter((e) => e.kind === 'send').length;
    const delivered = merged.messages.filter((m) => m.status === 'delivered');
    expect(delivered).toHaveLength(receives);
    expect(merged.messages).toHaveLength(sends);
    for (const m of delivered) {
      expect(m.send!.event).toMatchObject({ kind: 'send', chan: m.chan, seq: m.seq, to: m.to });
      expect(m.receive!.event).toMatchObject({ kind: 'receive', chan: m.chan, seq: m.seq, from: m.from });
    }
    expect(merged.messages.filter((m) => m.status === 'lost').map(keyOf)).toEqual(lost.map(keyOf));
    expect(merged.messages.filter((m) => m.status === 'inFlight').map(keyOf)).toEqual(inFlight.map(keyOf));
    expect(merged.warnings).toEqual([]);
  });

  it('does not depend on the order events arrive in', () => {
    const again = mergeTrace(shuffled(events, 7));
    expect(again.messages.map((m) => [m.key, m.status])).toEqual(merged.messages.map((m) => [m.key, m.status]));
    expect(again.ordered.map((e) => e.id)).toEqual(merged.ordered.map((e) => e.id));
  });

  it('keeps a client whose trace is missing as an empty row, its messages unmatched', () => {
    const partial = mergeTrace(events.filter((e) => e.node !== 3));
    expect(partial.nodes).toEqual([1, 2, 3]);
    expect(partial.untracedNodes).toEqual([3]);
    const to3 = partial.messages.filter((m) => m.to === 3);
    const from3 = partial.messages.filter((m) => m.from === 3);
    expect(to3.length).toBeGreaterThan(0);
    expect(to3.every((m) => m.status === 'untraced' && m.receive === null)).toBe(true);
    expect(from3.every((m) => m.status === 'sendMissing' && m.send === null)).toBe(true);
  });

  it('survives contradictory input: a receive that would precede its own send loses its match', () => {
    // Each client receives the other's message before sending its own: no execution does that.
    const bad = mergeTrace([
      ev(1, 0, { kind: 'receive', from: 2, chan: 'b', seq: 1, type: 'REQUEST', ts: 1, desc: 'REQUEST ts=1', clockBefore: 0, clock: 2 }),
      ev(1, 1, { kind: 'send', to: 2, chan: 'a', seq: 1, type: 'REQUEST', ts: 3, desc: 'REQUEST ts=3', clock: 3 }),
      ev(2, 0, { kind: 'receive', from: 1, chan: 'a', seq: 1, type: 'REQUEST', ts: 3, desc: 'REQUEST ts=3', clockBefore: 0, clock: 4 }),
      ev(2, 1, { kind: 'send', to: 1, chan: 'b', seq: 1, type: 'REQUEST', ts: 1, desc: 'REQUEST ts=1', clock: 5 }),
    ]);
    expect(bad.ordered).toHaveLength(4);
    expect(bad.warnings.some((w) => w.includes('before its own send'))).toBe(true);
    expect(bad.messages.filter((m) => m.status === 'delivered')).toHaveLength(1);
  });

  it('refuses to pair a send and a receive that disagree on what was sent', () => {
    const bad = mergeTrace([
      ev(1, 0, { kind: 'send', to: 2, chan: 'a', seq: 1, type: 'REQUEST', ts: 1, desc: 'REQUEST ts=1', clock: 1 }),
      ev(2, 0, { kind: 'receive', from: 1, chan: 'a', seq: 1, type: 'REPLY', ts: 1, desc: 'REPLY ts=1', clockBefore: 0, clock: 2 }),
    ]);
    expect(bad.messages.map((m) => m.status).sort()).toEqual(['inFlight', 'sendMissing']);
    expect(bad.warnings[0]).toContain('disagree');
  });
});

describe('vector clocks and the causal order', () => {
  const all = merged.ordered;

  it('puts every send before its receive: VC(send) < VC(receive)', () => {
    for (const m of merged.messages) {
      if (m.status !== 'delivered') continue;
      expect(vcBefore(m.send!.vc, m.receive!.vc), `${m.key}`).toBe(true);
      expect(m.send!.order).toBeLessThan(m.receive!.order);
    }
  });

  it("counts each client's own events, across a restart, in its own entry", () => {
    for (const [lane, node] of merged.nodes.entries()) {
      const timeline = merged.timelines.get(node)!;
      timeline.forEach((e, k) => {
        expect(e.vc[lane]).toBe(k + 1);
        expect(e.pos).toBe(k);
        if (k > 0) expect(vcBefore(timeline[k - 1]!.vc, e.vc)).toBe(true);
      });
    }
  });

  it('is a linear extension of happened-before: whenever VC(a) < VC(b), a comes first', () => {
    expect(new Set(all.map((e) => e.order)).size).toBe(all.length);
    all.forEach((e, k) => expect(e.order).toBe(k));
    for (const a of all) for (const b of all) if (vcBefore(a.vc, b.vc)) expect(a.order).toBeLessThan(b.order);
  });

  it('agrees with the Lamport clocks the clients stated: VC(a) < VC(b) implies clock(a) <= clock(b)', () => {
    for (const a of all) for (const b of all) if (vcBefore(a.vc, b.vc)) expect(a.clock).toBeLessThanOrEqual(b.clock);
    for (const e of all) {
      if (e.event.kind === 'receive') {
        expect(e.clockBefore).toBe(e.event.clockBefore);
        expect(e.clock).toBe(Math.max(e.event.clockBefore, e.event.ts) + 1);
      }
    }
  });

  it('lays events out so that every timeline and every arrow points forwards', () => {
    const layout = layoutWindow(merged, applyWindow(merged, {}));
    const col = (e: TimelineEvent): number => layout.column.get(e)!;
    for (const timeline of merged.timelines.values()) for (let k = 1; k < timeline.length; k++) expect(col(timeline[k]!)).toBeGreaterThan(col(timeline[k - 1]!));
    for (const m of merged.messages) if (m.status === 'delivered') expect(col(m.send!)).toBeLessThan(col(m.receive!));
    for (const a of all) for (const b of all) if (vcBefore(a.vc, b.vc) && a.node === b.node) expect(col(a)).toBeLessThan(col(b));
    // Concurrent events share columns: the diagram is narrower than one column per event.
    expect(layout.columns).toBeLessThan(all.length);
  });
});

describe('timelines', () => {
  const byNode = (m: MergedTrace, n: number): readonly TimelineEvent[] => m.timelines.get(n)!;

  it('treats a restart as a new run on the same timeline', () => {
    expect(merged.runs.get(3)).toEqual(['r3a', 'r3b']);
    const restarts = merged.ordered.filter((e) => e.restart);
    expect(restarts.map((e) => e.id)).toEqual(['3:r3b:0']);
    const t3 = byNode(merged, 3);
    const first = t3.findIndex((e) => e.event.run === 'r3b');
    expect(t3.slice(first).every((e) => e.event.run === 'r3b')).toBe(true);
    expect(t3.slice(0, first).every((e) => e.event.run === 'r3a')).toBe(true);
  });

  it('pairs enter and leave into critical sections, with the block each committed', () => {
    expect(merged.sections.map((s) => [s.node, s.block]).sort((a, b) => a[1]! - b[1]!)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [1, 4],
    ]);
    for (const s of merged.sections) expect(s.enter!.pos).toBeLessThan(s.leave!.pos);
  });

  it('carries the Lamport clock over events that state none', () => {
    for (const timeline of merged.timelines.values()) {
      for (let k = 1; k < timeline.length; k++) {
        const e = timeline[k]!;
        if (e.event.kind === 'commit' || e.event.kind === 'peerUp' || e.event.kind === 'channelStart') expect(e.clock).toBe(timeline[k - 1]!.clock);
      }
    }
  });

  it('lists the snapshots the trace mentions', () => {
    expect(merged.snapshots).toEqual(['1.1']);
  });
});
