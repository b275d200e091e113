/**
 * Server-Sent Events to the pages: a page that reconnects resumes after the last event id it saw
 * (or is told how many it missed, when that is older than the ring kept), and a page that reads
 * slowly costs the server a bounded queue, then loses history items with a count it is told,
 * while it always gets the latest state.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { SseReader } from '../../src/base/sse.js';
import { type EventSink, Hub } from '../../src/web/hub.js';
import type { HistoryItem, PageItem, StateItem } from '../../src/web/items.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A page: what it was sent, parsed as EventSource would, and whether its connection is full. */
function page(): EventSink & { frames: { id: string | null; item: PageItem }[]; full: boolean; drain(): void; lastId(): string | null } {
  let drainers: (() => void)[] = [];
  const reader = new SseReader();
  const sink = {
    full: false,
    frames: [] as { id: string | null; item: PageItem }[],
    write(chunk: string): boolean {
      for (const f of reader.push(chunk)) sink.frames.push({ id: f.id, item: JSON.parse(f.data) as PageItem });
      return !sink.full;
    },
    once(_event: 'drain', f: () => void) {
      drainers.push(f);
    },
    drain() {
      sink.full = false;
      const fs = drainers;
      drainers = [];
      for (const f of fs) f();
    },
    lastId: () => [...sink.frames].reverse().find((f) => f.id !== null)?.id ?? null,
  };
  return sink;
}

const action = (n: number): HistoryItem => ({ t: 'action', action: `a${n}`, ok: true, text: String(n) });
const numbers = (frames: { item: PageItem }[]): number[] => frames.flatMap((f) => (f.item.t === 'action' ? [Number(f.item.text)] : []));
const hello: StateItem = { t: 'hello', instance: 'x', mode: 'live', nodes: [1, 2], title: 't', processes: { enabled: false, reason: 'r' }, replay: true };

describe('the event hub', () => {
  it('sends a new page every state, then the history kept, then what comes', async () => {
    const hub = new Hub({ ringSize: 100, maxQueued: 100, heartbeatMs: 60_000 });
    hub.setState('hello', hello);
    for (let n = 1; n <= 3; n++) hub.publish(action(n));
    const p = page();
    hub.attach(p, null);
    hub.publish(action(4));
    await tick();
    expect(p.frames[0]?.item).toEqual(hello);
    expect(numbers(p.frames)).toEqual([1, 2, 3, 4]);
    hub.close();
  });

  it('resumes a page that reconnects right after the last event it saw', async () => {
    const hub = new Hub({ ringSize: 100, maxQueued: 100, heartbeatMs: 60_000 });
    const first = page();
    const attached = hub.attach(first, null);
    for (let n = 1; n <= 5; n++) hub.publish(action(n));
    await tick();
    const last = first.lastId();
    hub.detach(attached);
    for (let n = 6; n <= 9; n++) hub.publish(action(n));
    const again = page();
    hub.attach(again, last);
    await tick();
    expect(numbers(again.frames)).toEqual([6, 7, 8, 9]);
    expect(again.frames.some((f) => f.item.t === 'missed')).toBe(false);
    hub.close();
  });

  it('tells a page that resumes from before the ring how many it missed, and sends what is kept', async () => {
    const hub = new Hub({ ringSize: 10, maxQueued: 100, heartbeatMs: 60_000 });
    const first = page();
    const attached = hub.attach(first, null);
    hub.publish(action(1));
    await tick();
    const last = first.lastId();
    hub.detach(attached);
    for (let n = 2; n <= 30; n++) hub.publish(action(n));
    const again = page();
    hub.attach(again, last);
    await tick();
    expect(again.frames.find((f) => f.item.t === 'missed')?.item).toEqual({ t: 'missed', count: 19 });
    expect(numbers(again.frames)).toEqual(Array.from({ length: 10 }, (_, k) => 21 + k));
    // An id from another run of the server is no place to resume from: the page gets what is kept.
    const stranger = page();
    hub.attach(stranger, 'deadbeef.3');
    await tick();
    expect(stranger.frames.some((f) => f.item.t === 'missed')).toBe(false);
    expect(numbers(stranger.frames)).toEqual(Array.from({ length: 10 }, (_, k) => 21 + k));
    hub.close();
  });

  it('holds at most maxQueued items for a page that does not read, counts what it drops, and keeps only the latest state', async () => {
    const hub = new Hub({ ringSize: 10, maxQueued: 50, heartbeatMs: 60_000 });
    const p = page();
    const stream = hub.attach(p, null);
    await tick();
    p.full = true;
    hub.publish(action(0));
    await tick();
    for (let n = 1; n <= 1000; n++) {
      hub.publish(action(n));
      hub.setState('status:1', { t: 'status', node: 1, connected: true, process: `p${n}`, status: null, reason: null });
    }
    await tick();
    expect(stream.waiting).toBeLessThanOrEqual(51);
    expect(stream.droppedItems).toBe(950);
    const before = p.frames.length;
    p.drain();
    await tick();
    const after = p.frames.slice(before);
    expect(after[0]?.item).toEqual({ t: 'dropped', where: 'server', count: 950 });
    const states = after.filter((f) => f.item.t === 'status');
    expect(states.map((f) => (f.item.t === 'status' ? f.item.process : null))).toEqual(['p1000']);
    expect(numbers(after)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
    // It goes on: a new item arrives as usual.
    hub.publish(action(2000));
    await tick();
    expect(numbers(p.frames).at(-1)).toBe(2000);
    hub.close();
  });

  it('waits for a stalled page\'s drain with one listener, however many heartbeats pass meanwhile (no MaxListenersExceededWarning)', async () => {
    const hub = new Hub({ ringSize: 10, maxQueued: 50, heartbeatMs: 2 });
    // A connection as node:http gives one: an EventEmitter whose write says when its buffer is full.
    const written: string[] = [];
    const conn = Object.assign(new EventEmitter(), {
      full: true,
      write(text: string): boolean {
        written.push(text);
        return !conn.full;
      },
    });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      hub.attach(conn, null);
      hub.publish(action(1));
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(conn.listenerCount('drain')).toBe(1);
      conn.full = false;
      conn.emit('drain');
      hub.publish(action(2));
      await tick();
      expect(conn.listenerCount('drain')).toBe(0);
      expect(written.join('')).toMatch(/"text":"2"/);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      hub.close();
    }
  });
});
