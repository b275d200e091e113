/**
 * The live stream of a client's control socket (`subscribe`): the answer first, then the trace
 * events in order, the state whenever it changes, and a bound on what a slow subscriber can cost:
 * a fixed queue, then trace events dropped with a running count, and the latest state kept apart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/trace-events.js';
import type { LedgerApi, LinkChange, LiveItem, LiveSource } from '../../src/daemon/api.js';
import { ControlClient } from '../../src/daemon/control/client.js';
import { type StreamItem, controlSocketPath } from '../../src/daemon/control/protocol.js';
import { ControlServer } from '../../src/daemon/control/server.js';
import { Subscription, type SubscriptionOutput } from '../../src/daemon/control/subscription.js';
import type { SnapshotRecord } from '../../src/daemon/snapshot-record.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A client whose clock the test sets, and whose live items the test emits. */
function fakeClient(): { api: LedgerApi; live: LiveSource & { emit(item: LiveItem): void; watchers: number }; setClock(c: number): void } {
  let clock = 0;
  const listeners = new Set<(item: LiveItem) => void>();
  const status = () => ({
    node: { id: 1, clock, height: 0, head: 'ab', queue: [], requesting: null, pendingTransfers: 0, peersUp: [2], snapshotsInProgress: 0, pendingBlocks: 0, latest: [], heard: [], waitingFor: null, view: 1 },
    listen: '127.0.0.1:1',
    dataDir: 'd',
    delay: null,
    tls: false,
  });
  const api: LedgerApi = {
    identity: () => ({ self: 1, nodes: [1, 2] }),
    transfer: () => Promise.reject(new Error('not here')),
    transfers: () => Promise.reject(new Error('not here')),
    snapshot: () => Promise.reject(new Error('not here')),
    balances: () => ({ balances: { '1': 1000, '2': 1000 }, height: 0, head: 'ab', total: 2000 }),
    chain: () => ({ height: 0, head: 'ab', blocks: [] }),
    peers: () => ({ peers: [], tls: false }),
    status,
    snapshots: () => ({ snapshots: [] }),
    savedSnapshot: () => null,
    links: () => ({ self: 1, links: [{ peer: 2, held: false, delay: null, waiting: 0, up: true }] }),
    link: (_peer: number, _change: LinkChange) => ({ self: 1, links: [] }),
    tx: (key: string) => ({ state: 'unknown', txId: key }) as const,
    withdraw: (key: string) => ({ state: 'unknown', txId: key }) as const,
  };
  const live = {
    watch(listener: (item: LiveItem) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(item: LiveItem) {
      for (const l of listeners) l(item);
    },
    get watchers() {
      return listeners.size;
    },
  };
  return { api, live, setClock: (c) => (clock = c) };
}

function traceItem(i: number, pad = 0): LiveItem {
  const e = { v: 1, node: 1, run: 'r', i, wall: 0, kind: 'peerDown', peer: 2, ...(pad > 0 ? { pad: 'x'.repeat(pad) } : {}) } as unknown as TraceEvent;
  return { type: 'trace', events: [e], lines: () => [JSON.stringify(e)] };
}

describe('subscribe on a control connection', () => {
  let dir: string;
  let server: ControlServer;
  let fake: ReturnType<typeof fakeClient>;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'llsub-'));
    fake = fakeClient();
    server = new ControlServer(dir, fake.api, pino({ level: 'silent' }), fake.live);
    await server.start();
  });

  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers first, then streams the trace in order and the state each time it changes', async () => {
    const client = await ControlClient.connect(dir);
    const items: StreamItem[] = [];
    try {
      expect(await client.subscribe((item) => items.push(item))).toEqual({ subscribed: true, self: 1, nodes: [1, 2] });
      for (let i = 0; i < 50; i++) fake.live.emit(traceItem(i));
      await sleep(300);
      fake.setClock(7);
      await sleep(450);
      const traced = items.flatMap((it) => (it.type === 'trace' ? it.events.map((e) => e.i) : []));
      expect(traced).toEqual(Array.from({ length: 50 }, (_, i) => i));
      const clocks = items.flatMap((it) => (it.type === 'status' ? [it.status.node.clock] : []));
      // Sent when it changes, not on every look: once at 0, once at 7.
      expect(clocks).toEqual([0, 7]);
      const status = items.find((it) => it.type === 'status');
      expect(status?.type === 'status' && status.status.links).toEqual([{ peer: 2, held: false, delay: null, waiting: 0, up: true }]);
      // Other requests still work on a subscribed connection.
      expect((await client.links()).links[0]?.peer).toBe(2);
    } finally {
      client.close();
    }
    await sleep(50);
    expect(fake.live.watchers).toBe(0);
  });

  it('drops trace events for a subscriber that does not read, says how many, and recovers', async () => {
    const socket = net.connect(controlSocketPath(dir));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('{"id": 1, "type": "subscribe"}\n');
    await sleep(100);
    socket.pause();
    // 40 MiB offered to a subscriber that reads nothing: ten times the queue's bound.
    for (let i = 0; i < 40_000; i++) fake.live.emit(traceItem(i, 1000));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.resume();
    await sleep(1000);
    fake.live.emit(traceItem(99_999));
    await sleep(300);
    socket.destroy();
    const lines = data.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: number; stream?: StreamItem });
    const traced = lines.flatMap((l) => (l.stream?.type === 'trace' ? l.stream.events.map((e) => e.i) : []));
    const dropped = lines.flatMap((l) => (l.stream?.type === 'dropped' ? [l.stream.events] : []));
    expect(dropped.length).toBeGreaterThan(0);
    // Every event is either delivered or counted as dropped, in order, and the stream goes on after.
    expect(traced.length + dropped.at(-1)!).toBe(40_001);
    expect(traced.length).toBeLessThan(10_000);
    expect([...traced].sort((a, b) => a - b)).toEqual(traced);
    expect(traced.at(-1)).toBe(99_999);
  });
});

describe('the subscription queue', () => {
  /** An output whose backlog the test sets: above the high water, the subscriber is stalled. */
  function stalledOutput(): SubscriptionOutput & { lines: string[]; backlogBytes: number; drain(): void } {
    let onDrain: (() => void) | null = null;
    const out = {
      lines: [] as string[],
      backlogBytes: 1 << 20,
      write: (text: string) => {
        out.lines.push(...text.split('\n').filter(Boolean).map((l) => `${l}\n`));
        return out.backlogBytes < 1000;
      },
      backlog: () => out.backlogBytes,
      onDrain: (f: () => void) => void (onDrain = f),
      drain: () => {
        out.backlogBytes = 0;
        const f = onDrain;
        onDrain = null;
        f?.();
      },
    };
    return out;
  }

  it('holds at most its byte bound while stalled, keeps the latest state apart, and sends the count first', async () => {
    const fake = fakeClient();
    const out = stalledOutput();
    const sub = new Subscription(3, fake.api, fake.live, out, { maxQueuedBytes: 10_000, highWaterBytes: 1000, statusEveryMs: 20, flushAfterMs: 5 });
    sub.start();
    for (let i = 0; i < 1000; i++) fake.live.emit(traceItem(i, 100));
    fake.setClock(5);
    await sleep(60);
    expect(out.lines).toEqual([]);
    expect(sub.droppedEvents).toBeGreaterThan(900);
    out.drain();
    await sleep(30);
    const frames = out.lines.map((l) => JSON.parse(l) as { id: number; stream: StreamItem });
    expect(frames.every((f) => f.id === 3)).toBe(true);
    expect(frames[0]?.stream).toEqual({ type: 'dropped', events: sub.droppedEvents });
    expect(frames[1]?.stream.type === 'status' && frames[1].stream.status.node.clock).toBe(5);
    const kept = frames.slice(2).map((f) => (f.stream.type === 'trace' ? f.stream.events[0]!.i : -1));
    expect(kept.length + sub.droppedEvents).toBe(1000);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => k));
    const queued = out.lines.slice(2).reduce((n, l) => n + l.length, 0);
    expect(queued).toBeLessThanOrEqual(10_000 + out.lines[2]!.length);
    sub.stop();
  });

  it('never loses a snapshot to a full queue: a stalled subscriber gets every verdict when it catches up, in order with the events kept', async () => {
    const fake = fakeClient();
    const out = stalledOutput();
    const sub = new Subscription(5, fake.api, fake.live, out, { maxQueuedBytes: 10_000, highWaterBytes: 1000, statusEveryMs: 1000, flushAfterMs: 5 });
    sub.start();
    for (let i = 0; i < 1000; i++) fake.live.emit(traceItem(i, 100));
    const record = (seq: number) => ({ id: `1.${seq}`, verified: true }) as unknown as SnapshotRecord;
    for (let seq = 1; seq <= 3; seq++) fake.live.emit({ type: 'snapshot', record: record(seq) });
    await sleep(30);
    expect(sub.droppedEvents).toBeGreaterThan(900);
    out.drain();
    await sleep(30);
    const frames = out.lines.map((l) => JSON.parse(l) as { stream: StreamItem });
    expect(frames.flatMap((f) => (f.stream.type === 'snapshot' ? [f.stream.record.id] : []))).toEqual(['1.1', '1.2', '1.3']);
    sub.stop();
  });

  it('sends at most maxEventsPerSecond, the first of each second in whole steps, and counts the rest', async () => {
    const fake = fakeClient();
    const lines: string[] = [];
    const out = { write: (t: string) => (lines.push(...t.split('\n').filter(Boolean)), true), backlog: () => 0, onDrain: () => undefined };
    let now = 10_000;
    const sub = new Subscription(4, fake.api, fake.live, out, { maxQueuedBytes: 1 << 20, highWaterBytes: 1 << 20, statusEveryMs: 1000, flushAfterMs: 1 }, 5, () => now);
    sub.start();
    const step = (first: number, n: number): LiveItem => {
      const events = Array.from({ length: n }, (_, k) => (traceItem(first + k) as { events: readonly TraceEvent[] }).events[0]!);
      return { type: 'trace', events, lines: () => events.map((e) => JSON.stringify(e)) };
    };
    fake.live.emit(step(0, 2));
    fake.live.emit(step(2, 2));
    fake.live.emit(step(4, 2)); // 6 > 5: this step is left out whole
    fake.live.emit(step(6, 1)); // 5: fits
    now += 1000;
    fake.live.emit(step(7, 3)); // a new second
    await sleep(20);
    const frames = lines.map((l) => JSON.parse(l) as { stream: StreamItem });
    expect(frames.flatMap((f) => (f.stream.type === 'trace' ? f.stream.events.map((e) => e.i) : []))).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    expect(frames.find((f) => f.stream.type === 'dropped')?.stream).toEqual({ type: 'dropped', events: 2 });
    sub.stop();
  });
});
