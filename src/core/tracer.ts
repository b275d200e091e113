/**
 * Turns one client's steps (input, effects, the clock before) into trace events (trace-events.ts).
 * Pure: the daemon writes them to its trace file, and the simulator produces the same events for a
 * seed.
 *
 * The names of a session's two channels come from outside the core (the connections' names, the
 * same at both ends); everything else is derived from what the core already says: sends and
 * receives, the critical section's `entered`/`left`, each `blockApplied`, and `snapshotStarted`
 * (the state is recorded there, and recording starts on every incoming channel but the one the
 * first marker came on, which is recorded empty and gets no start or stop event).
 *
 * The events go to a `TraceSink`: `EventSink` makes them `TraceEvent` objects (the simulator, a
 * live view); the daemon's file sink writes each as a few bytes, without making objects or text,
 * since a client traces every message it sends and receives.
 */
import type { Effect, Input } from './api.js';
import { describeMessage } from './describe.js';
import { TRACE_VERSION, type TraceEvent } from './trace-events.js';
import { type Block, type Message, type NodeId, type SnapshotId, isApplicationMessage, snapshotKey } from './types.js';

/**
 * Where a tracer's events go, one call each. `i` is the event's position in its run and `wall`
 * the step's wall-clock time (see TraceEvent); the rest is the event's own data.
 */
export interface TraceSink {
  start(i: number, wall: number, nodes: readonly NodeId[], clock: number, height: number): void;
  peerUp(i: number, wall: number, peer: NodeId, out: string, inn: string): void;
  peerDown(i: number, wall: number, peer: NodeId): void;
  send(i: number, wall: number, to: NodeId, chan: string, seq: number, m: Message): void;
  receive(i: number, wall: number, from: NodeId, chan: string, seq: number, m: Message, clockBefore: number): void;
  enter(i: number, wall: number, ts: number, height: number, transfers: number): void;
  leave(i: number, wall: number, ts: number, block: number | null): void;
  commit(i: number, wall: number, block: Block, from: NodeId | null): void;
  record(i: number, wall: number, snapshot: SnapshotId, clock: number, height: number): void;
  channelStart(i: number, wall: number, snapshot: SnapshotId, from: NodeId): void;
  channelStop(i: number, wall: number, snapshot: SnapshotId, from: NodeId, messages: number): void;
}

/** A session's channel with one peer, one direction: its name and the messages counted on it. */
export interface TraceChannel {
  readonly name: string;
  seq: number;
}

export class Tracer {
  private i = 0;
  private height: number;
  private readonly out = new Map<NodeId, TraceChannel>();
  private readonly in = new Map<NodeId, TraceChannel>();
  /** Snapshot key -> incoming channels still recorded, with the messages recorded on each so far. */
  private readonly recording = new Map<string, Map<NodeId, number>>();

  constructor(
    readonly node: NodeId,
    /** Names this run of the client's process. */
    readonly run: string,
    private readonly peers: readonly NodeId[],
    height: number,
  ) {
    this.height = height;
  }

  /** The position the next event gets in this run. */
  get next(): number {
    return this.i;
  }

  /** The channels of every session up, by peer: what a trace file that begins now must name first. */
  sessions(): { readonly peer: NodeId; readonly out: string; readonly in: string }[] {
    const up: { peer: NodeId; out: string; in: string }[] = [];
    for (const [peer, out] of this.out) {
      const inn = this.in.get(peer);
      if (inn !== undefined) up.push({ peer, out: out.name, in: inn.name });
    }
    return up;
  }

  /** The client started, with its clock and chain restored. */
  start(clock: number, wall: number): TraceEvent[] {
    const sink = new EventSink(this);
    this.startInto(sink, clock, wall);
    return sink.events;
  }

  /** A session is up: call before the core's peerUp step, whose sends already use its channel. */
  peerUp(peer: NodeId, channels: { readonly out: string; readonly in: string }, wall: number): TraceEvent[] {
    const sink = new EventSink(this);
    this.peerUpInto(sink, peer, channels, wall);
    return sink.events;
  }

  /** The events of one core step, in the order they happened. */
  step(input: Input, effects: readonly Effect[], clockBefore: number, wall: number): TraceEvent[] {
    const sink = new EventSink(this);
    this.stepInto(sink, input, effects, clockBefore, wall);
    return sink.events;
  }

  startInto(sink: TraceSink, clock: number, wall: number): void {
    sink.start(this.i++, wall, [this.node, ...this.peers].sort((a, b) => a - b), clock, this.height);
  }

  peerUpInto(sink: TraceSink, peer: NodeId, channels: { readonly out: string; readonly in: string }, wall: number): void {
    this.out.set(peer, { name: channels.out, seq: 0 });
    this.in.set(peer, { name: channels.in, seq: 0 });
    sink.peerUp(this.i++, wall, peer, channels.out, channels.in);
  }

  stepInto(sink: TraceSink, input: Input, effects: readonly Effect[], clockBefore: number, wall: number): void {
    switch (input.kind) {
      case 'receive':
        this.received(input.from, input.message, clockBefore, wall, sink);
        break;
      case 'peerDown':
        this.out.delete(input.peer);
        this.in.delete(input.peer);
        sink.peerDown(this.i++, wall, input.peer);
        break;
      case 'command':
      case 'peerUp':
      case 'tick':
        break;
    }
    // The state is recorded before anything of the step is sent: at the clock after a receive.
    const recordClock = input.kind === 'receive' ? Math.max(clockBefore, input.message.ts) + 1 : clockBefore;
    for (const e of effects) {
      switch (e.kind) {
        case 'send': {
          const ch = this.out.get(e.to);
          if (ch === undefined) break; // not in a session: the mesh drops it, nothing went out
          ch.seq++;
          sink.send(this.i++, wall, e.to, ch.name, ch.seq, e.message);
          break;
        }
        case 'persist':
          this.height = e.block.height;
          break;
        case 'log': {
          const ev = e.event;
          if (ev.type === 'entered') sink.enter(this.i++, wall, ev.ts, ev.height, ev.transfers);
          else if (ev.type === 'left') sink.leave(this.i++, wall, ev.ts, ev.block);
          else if (ev.type === 'blockApplied') sink.commit(this.i++, wall, ev.block, ev.from);
          else if (ev.type === 'snapshotStarted') {
            sink.record(this.i++, wall, ev.id, recordClock, this.height);
            const open = new Map<NodeId, number>();
            for (const p of this.peers) {
              if (p === ev.from) continue;
              open.set(p, 0);
              sink.channelStart(this.i++, wall, ev.id, p);
            }
            if (open.size > 0) this.recording.set(snapshotKey(ev.id), open);
          } else if (ev.type === 'snapshotAbandoned') this.recording.delete(snapshotKey(ev.id));
          break;
        }
        case 'reply':
        case 'snapshotComplete':
          break;
      }
    }
  }

  private received(from: NodeId, m: Message, clockBefore: number, wall: number, sink: TraceSink): void {
    const ch = this.in.get(from);
    if (ch !== undefined) {
      ch.seq++;
      sink.receive(this.i++, wall, from, ch.name, ch.seq, m, clockBefore);
    }
    if (isApplicationMessage(m)) {
      if (this.recording.size > 0) for (const open of this.recording.values()) if (open.has(from)) open.set(from, open.get(from)! + 1);
      return;
    }
    if (m.type !== 'MARKER') return;
    const key = snapshotKey(m.snapshot);
    const open = this.recording.get(key);
    const count = open?.get(from);
    if (open === undefined || count === undefined) return;
    open.delete(from);
    if (open.size === 0) this.recording.delete(key);
    sink.channelStop(this.i++, wall, m.snapshot, from, count);
  }
}

/** A sink that makes each event a TraceEvent object (built whole: one is made for every message). */
export class EventSink implements TraceSink {
  readonly events: TraceEvent[] = [];
  private readonly node: NodeId;
  private readonly run: string;

  constructor(of: { readonly node: NodeId; readonly run: string }) {
    this.node = of.node;
    this.run = of.run;
  }

  start(i: number, wall: number, nodes: readonly NodeId[], clock: number, height: number): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'start', nodes, clock, height });
  }

  peerUp(i: number, wall: number, peer: NodeId, out: string, inn: string): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'peerUp', peer, out, in: inn });
  }

  peerDown(i: number, wall: number, peer: NodeId): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'peerDown', peer });
  }

  send(i: number, wall: number, to: NodeId, chan: string, seq: number, m: Message): void {
    const base = { v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'send', to, chan, seq, type: m.type, ts: m.ts, desc: describeMessage(m), clock: m.ts } as const;
    this.events.push(m.type === 'MARKER' || m.type === 'REPORT' ? { ...base, snapshot: snapshotKey(m.snapshot) } : base);
  }

  receive(i: number, wall: number, from: NodeId, chan: string, seq: number, m: Message, clockBefore: number): void {
    const base = { v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'receive', from, chan, seq, type: m.type, ts: m.ts, desc: describeMessage(m), clockBefore, clock: Math.max(clockBefore, m.ts) + 1 } as const;
    this.events.push(m.type === 'MARKER' || m.type === 'REPORT' ? { ...base, snapshot: snapshotKey(m.snapshot) } : base);
  }

  enter(i: number, wall: number, ts: number, height: number, transfers: number): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'enter', ts, height, transfers });
  }

  leave(i: number, wall: number, ts: number, block: number | null): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'leave', ts, block });
  }

  commit(i: number, wall: number, block: Block, from: NodeId | null): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'commit', height: block.height, hash: block.hash, creator: block.creator, txs: block.txs.length, from });
  }

  record(i: number, wall: number, snapshot: SnapshotId, clock: number, height: number): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'record', snapshot: snapshotKey(snapshot), clock, height });
  }

  channelStart(i: number, wall: number, snapshot: SnapshotId, from: NodeId): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'channelStart', snapshot: snapshotKey(snapshot), from });
  }

  channelStop(i: number, wall: number, snapshot: SnapshotId, from: NodeId, messages: number): void {
    this.events.push({ v: TRACE_VERSION, node: this.node, run: this.run, i, wall, kind: 'channelStop', snapshot: snapshotKey(snapshot), from, messages });
  }
}

/** Every event to two sinks. */
export class TeeSink implements TraceSink {
  constructor(
    private readonly a: TraceSink,
    private readonly b: TraceSink,
  ) {}

  start(i: number, wall: number, nodes: readonly NodeId[], clock: number, height: number): void {
    this.a.start(i, wall, nodes, clock, height);
    this.b.start(i, wall, nodes, clock, height);
  }

  peerUp(i: number, wall: number, peer: NodeId, out: string, inn: string): void {
    this.a.peerUp(i, wall, peer, out, inn);
    this.b.peerUp(i, wall, peer, out, inn);
  }

  peerDown(i: number, wall: number, peer: NodeId): void {
    this.a.peerDown(i, wall, peer);
    this.b.peerDown(i, wall, peer);
  }

  send(i: number, wall: number, to: NodeId, chan: string, seq: number, m: Message): void {
    this.a.send(i, wall, to, chan, seq, m);
    this.b.send(i, wall, to, chan, seq, m);
  }

  receive(i: number, wall: number, from: NodeId, chan: string, seq: number, m: Message, clockBefore: number): void {
    this.a.receive(i, wall, from, chan, seq, m, clockBefore);
    this.b.receive(i, wall, from, chan, seq, m, clockBefore);
  }

  enter(i: number, wall: number, ts: number, height: number, transfers: number): void {
    this.a.enter(i, wall, ts, height, transfers);
    this.b.enter(i, wall, ts, height, transfers);
  }

  leave(i: number, wall: number, ts: number, block: number | null): void {
    this.a.leave(i, wall, ts, block);
    this.b.leave(i, wall, ts, block);
  }

  commit(i: number, wall: number, block: Block, from: NodeId | null): void {
    this.a.commit(i, wall, block, from);
    this.b.commit(i, wall, block, from);
  }

  record(i: number, wall: number, snapshot: SnapshotId, clock: number, height: number): void {
    this.a.record(i, wall, snapshot, clock, height);
    this.b.record(i, wall, snapshot, clock, height);
  }

  channelStart(i: number, wall: number, snapshot: SnapshotId, from: NodeId): void {
    this.a.channelStart(i, wall, snapshot, from);
    this.b.channelStart(i, wall, snapshot, from);
  }

  channelStop(i: number, wall: number, snapshot: SnapshotId, from: NodeId, messages: number): void {
    this.a.channelStop(i, wall, snapshot, from, messages);
    this.b.channelStop(i, wall, snapshot, from, messages);
  }
}
