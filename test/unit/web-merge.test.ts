/**
 * The live view's merge of the clients' streams: each event placed with the vector clock and the
 * Lamport clocks `client trace` computes for the same run, however the streams interleave (a
 * receive can reach the server before its send, on another client's stream), with bounded
 * waiting when a send never comes.
 */
import { describe, expect, it } from 'vitest';
import { TRACE_VERSION, type TraceEvent } from '../../src/core/trace-events.js';
import { mergeTrace } from '../../src/trace/merge.js';
import type { EventItem } from '../../src/web/items.js';
import { LiveMerge } from '../../src/web/live-merge.js';
import { RateCounter } from '../../src/web/rates.js';
import { Rng } from '../sim/rng.js';
import { runSeed } from '../sim/simulator.js';

const idOf = (e: TraceEvent): string => `${e.node}:${e.run}:${e.i}`;

const ev = (node: number, i: number, body: Record<string, unknown>): TraceEvent => ({ v: TRACE_VERSION, node, run: `r${node}`, i, wall: 0, ...body }) as TraceEvent;
const send = (node: number, i: number, to: number, seq: number, clock: number): TraceEvent => ev(node, i, { kind: 'send', to, chan: `${node}>${to}/c`, seq, type: 'REQUEST', ts: clock, desc: 'REQUEST', clock });
const receive = (node: number, i: number, from: number, seq: number, ts: number, clockBefore: number): TraceEvent =>
  ev(node, i, { kind: 'receive', from, chan: `${from}>${node}/c`, seq, type: 'REQUEST', ts, desc: 'REQUEST', clockBefore, clock: Math.max(clockBefore, ts) + 1 });
const enter = (node: number, i: number): TraceEvent => ev(node, i, { kind: 'enter', ts: 9, height: 0, transfers: 1 });

/** Each client's stream delivered in chunks of 1-20 events, the clients taking turns at random. */
function interleave(events: readonly TraceEvent[], random: () => number): TraceEvent[][] {
  const streams = new Map<number, TraceEvent[]>();
  for (const e of events) streams.set(e.node, [...(streams.get(e.node) ?? []), e]);
  const queues = [...streams.values()];
  const chunks: TraceEvent[][] = [];
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0);
    const q = open[Math.floor(random() * open.length)]!;
    chunks.push(q.splice(0, 1 + Math.floor(random() * 20)));
  }
  return chunks;
}

describe('the live merge', () => {
  for (const faults of [false, true]) {
    it(`${faults ? 'with faults: ' : ''}gives every event of a simulated run the vector clock and Lamport clocks client trace gives it, whatever the order the streams arrive in`, () => {
      for (let seed = 1; seed <= 8; seed++) {
        const events: TraceEvent[] = [];
        runSeed(seed, { faults, onTrace: (e) => events.push(e) });
        const batch = mergeTrace(events);
        const rng = new Rng(seed);
        const random = (): number => rng.float();
        const placed: EventItem[] = [];
        const live = new LiveMerge(batch.nodes, (item) => placed.push(item), { maxHeld: 1_000_000, maxWaitMs: 1e12, maxSends: 1_000_000 });
        let waited = 0;
        for (const chunk of interleave(events, random)) {
          live.push(chunk);
          waited = Math.max(waited, live.held);
        }
        // The interleaving did deliver receives ahead of their sends, and all were placed in the end.
        expect(waited, `seed ${seed}`).toBeGreaterThan(0);
        expect(live.held, `seed ${seed}`).toBe(0);
        expect(placed).toHaveLength(events.length);
        expect(placed.filter((p) => p.unmatched)).toEqual([]);
        const expected = new Map(batch.ordered.map((t) => [t.id, t]));
        const position = new Map<string, number>();
        for (const [k, p] of placed.entries()) {
          const id = idOf(p.e);
          position.set(id, k);
          const t = expected.get(id)!;
          expect({ id, vc: p.vc, clock: p.clock, clockBefore: p.clockBefore, lane: p.lane }, `seed ${seed}`).toEqual({ id, vc: t.vc, clock: t.clock, clockBefore: t.clockBefore, lane: t.lane });
        }
        // A causal order: every send is placed before its receive.
        for (const m of batch.messages) if (m.send && m.receive) expect(position.get(m.send.id)!).toBeLessThan(position.get(m.receive.id)!);
      }
    });
  }

  it('holds a receive that arrives before its send, and every later event of its client, until the send comes', () => {
    const placed: EventItem[] = [];
    const live = new LiveMerge([1, 2], (p) => placed.push(p));
    live.push([receive(2, 0, 1, 1, 5, 0), enter(2, 1)]);
    expect(placed).toEqual([]);
    expect(live.held).toBe(2);
    live.push([send(1, 0, 2, 1, 5)]);
    expect(placed.map((p) => `${p.e.node}:${p.e.kind}:${p.vc.join(',')}`)).toEqual(['1:send:1,0', '2:receive:1,1', '2:enter:1,2']);
    // The enter states no clock: it keeps the receive's.
    expect(placed[2]).toMatchObject({ clockBefore: 6, clock: 6 });
    expect(live.held).toBe(0);
  });

  it('places a receive without its send once it has waited maxWaitMs, and its client goes on', () => {
    let now = 0;
    const placed: EventItem[] = [];
    const live = new LiveMerge([1, 2], (p) => placed.push(p), { maxHeld: 100, maxWaitMs: 2000, maxSends: 100 }, () => now);
    live.push([receive(2, 0, 1, 1, 5, 0), enter(2, 1)]);
    now = 1999;
    live.tick();
    expect(placed).toEqual([]);
    now = 2000;
    live.tick();
    expect(placed.map((p) => [p.e.kind, p.unmatched ?? false, p.vc])).toEqual([
      ['receive', true, [0, 1]],
      ['enter', false, [0, 2]],
    ]);
  });

  it('places at once a receive whose send its stream left out: a later send on the same channel came (FIFO)', () => {
    const placed: EventItem[] = [];
    const live = new LiveMerge([1, 2], (p) => placed.push(p), { maxHeld: 100, maxWaitMs: 1e12, maxSends: 100 });
    // Waiting first, then the later send comes: the wait ends there.
    live.push([receive(2, 0, 1, 1, 5, 0), enter(2, 1)]);
    expect(live.held).toBe(2);
    live.push([send(1, 1, 2, 2, 6)]);
    expect(live.held).toBe(0);
    // The later send known first: the receive of the left-out one does not wait at all.
    live.push([send(1, 2, 2, 4, 7), receive(2, 2, 1, 3, 6, 6)]);
    expect(live.held).toBe(0);
    expect(placed.filter((p) => p.e.kind === 'receive').map((p) => [p.e.i, p.unmatched ?? false])).toEqual([
      [0, true],
      [2, true],
    ]);
    // And the receive of the send that did come matches it.
    live.push([receive(2, 3, 1, 4, 7, 7)]);
    expect(placed.at(-1)?.unmatched).toBeUndefined();
    expect(placed.at(-1)?.vc).toEqual([2, 4]);
  });

  it('holds at most maxHeld events of a client: past that the head goes without its send', () => {
    const placed: EventItem[] = [];
    const live = new LiveMerge([1, 2], (p) => placed.push(p), { maxHeld: 3, maxWaitMs: 1e12, maxSends: 100 });
    live.push([receive(2, 0, 1, 1, 5, 0), enter(2, 1), enter(2, 2)]);
    expect(live.held).toBe(3);
    live.push([enter(2, 3)]);
    expect(live.held).toBe(0);
    expect(placed.map((p) => p.e.i)).toEqual([0, 1, 2, 3]);
    expect(placed[0]?.unmatched).toBe(true);
  });

  it('forgets the oldest sends beyond maxSends: their receives go unmatched', () => {
    const placed: EventItem[] = [];
    const live = new LiveMerge([1, 2], (p) => placed.push(p), { maxHeld: 100, maxWaitMs: 1e12, maxSends: 2 });
    live.push([send(1, 0, 2, 1, 1), send(1, 1, 2, 2, 2), send(1, 2, 2, 3, 3)]);
    live.push([receive(2, 0, 1, 1, 1, 0)]);
    expect(live.held).toBe(0);
    live.push([receive(2, 1, 1, 2, 2, 2)]);
    expect(placed.filter((p) => p.e.kind === 'receive').map((p) => p.unmatched ?? false)).toEqual([true, false]);
  });
});

describe('the rates per channel', () => {
  it('counts each channel from its sender\'s counters, whatever the streams left out, and the types of what was drawn', () => {
    const r = new RateCounter();
    const item = (e: TraceEvent): EventItem => ({ t: 'ev', e, lane: 0, vc: [], clockBefore: 0, clock: 0 });
    // The first report only sets where counting starts.
    r.traffic(1, [{ peer: 2, sent: 100, received: 0 }, { peer: 3, sent: 50, received: 0 }]);
    r.traffic(1, [{ peer: 2, sent: 400, received: 0 }, { peer: 3, sent: 50, received: 0 }]);
    r.traffic(2, [{ peer: 1, sent: 7, received: 0 }]);
    r.traffic(2, [{ peer: 1, sent: 17, received: 0 }]);
    for (let k = 0; k < 10; k++) r.count(item(send(1, k, 2, k + 1, k)));
    r.count(item(enter(1, 20)));
    expect(r.take(500)).toEqual({ t: 'rates', perSecond: 22, channels: [{ from: 1, to: 2, count: 600, types: { REQUEST: 20 } }, { from: 2, to: 1, count: 20, types: {} }] });
    expect(r.take(1000)).toEqual({ t: 'rates', perSecond: 0, channels: [] });
    r.traffic(1, [{ peer: 2, sent: 401, received: 0 }]);
    expect(r.take(1000).channels).toEqual([{ from: 1, to: 2, count: 1, types: {} }]);
  });
});
