/**
 * Turns one client's steps (input, effects, the clock before) into trace events (trace-events.ts).
 * Pure: the daemon writes what it returns to `<data-dir>/trace.jsonl`, and the simulator produces
 * the same events for a seed.
 *
 * The names of a session's two channels come from outside the core (the connections' names, the
 * same at both ends); everything else is derived from what the core already says: sends and
 * receives, the critical section's `entered`/`left`, each `blockApplied`, and `snapshotStarted`
 * (the state is recorded there, and recording starts on every incoming channel but the one the
 * first marker came on, which is recorded empty and gets no start or stop event).
 */
import type { Effect, Input } from './api.js';
import { describeMessage } from './describe.js';
import { TRACE_VERSION, type TraceEvent } from './trace-events.js';
import { type Message, type NodeId, isApplicationMessage, snapshotKey } from './types.js';

/** TraceEvent without the fields the tracer stamps on every event. */
type Body = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'v' | 'node' | 'run' | 'i' | 'wall'> : never) : never;

interface Channel {
  readonly name: string;
  seq: number;
}

export class Tracer {
  private i = 0;
  private height: number;
  private readonly out = new Map<NodeId, Channel>();
  private readonly in = new Map<NodeId, Channel>();
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

  /** The client started, with its clock and chain restored. */
  start(clock: number, wall: number): TraceEvent[] {
    return [this.event(wall, { kind: 'start', nodes: [this.node, ...this.peers].sort((a, b) => a - b), clock, height: this.height })];
  }

  /** A session is up: call before the core's peerUp step, whose sends already use its channel. */
  peerUp(peer: NodeId, channels: { readonly out: string; readonly in: string }, wall: number): TraceEvent[] {
    this.out.set(peer, { name: channels.out, seq: 0 });
    this.in.set(peer, { name: channels.in, seq: 0 });
    return [this.event(wall, { kind: 'peerUp', peer, out: channels.out, in: channels.in })];
  }

  /** The events of one core step, in the order they happened. */
  step(input: Input, effects: readonly Effect[], clockBefore: number, wall: number): TraceEvent[] {
    const events: TraceEvent[] = [];
    const push = (b: Body): void => void events.push(this.event(wall, b));
    switch (input.kind) {
      case 'receive':
        this.received(input.from, input.message, clockBefore, wall, events, push);
        break;
      case 'peerDown':
        this.out.delete(input.peer);
        this.in.delete(input.peer);
        push({ kind: 'peerDown', peer: input.peer });
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
          // Built whole, not spread from a body: one of these is made for every message.
          const m = e.message;
          const base = { v: TRACE_VERSION, node: this.node, run: this.run, i: this.i++, wall, kind: 'send', to: e.to, chan: ch.name, seq: ch.seq, type: m.type, ts: m.ts, desc: describeMessage(m), clock: m.ts } as const;
          events.push(m.type === 'MARKER' || m.type === 'REPORT' ? { ...base, snapshot: snapshotKey(m.snapshot) } : base);
          break;
        }
        case 'persist':
          this.height = e.block.height;
          break;
        case 'log': {
          const ev = e.event;
          if (ev.type === 'entered') push({ kind: 'enter', ts: ev.ts, height: ev.height, transfers: ev.transfers });
          else if (ev.type === 'left') push({ kind: 'leave', ts: ev.ts, block: ev.block });
          else if (ev.type === 'blockApplied') push({ kind: 'commit', height: ev.block.height, hash: ev.block.hash, creator: ev.block.creator, txs: ev.block.txs.length, from: ev.from });
          else if (ev.type === 'snapshotStarted') {
            const key = snapshotKey(ev.id);
            push({ kind: 'record', snapshot: key, clock: recordClock, height: this.height });
            const open = new Map<NodeId, number>();
            for (const p of this.peers) {
              if (p === ev.from) continue;
              open.set(p, 0);
              push({ kind: 'channelStart', snapshot: key, from: p });
            }
            if (open.size > 0) this.recording.set(key, open);
          } else if (ev.type === 'snapshotAbandoned') this.recording.delete(snapshotKey(ev.id));
          break;
        }
        case 'reply':
        case 'snapshotComplete':
          break;
      }
    }
    return events;
  }

  private received(from: NodeId, m: Message, clockBefore: number, wall: number, events: TraceEvent[], push: (b: Body) => void): void {
    const ch = this.in.get(from);
    if (ch !== undefined) {
      ch.seq++;
      const base = { v: TRACE_VERSION, node: this.node, run: this.run, i: this.i++, wall, kind: 'receive', from, chan: ch.name, seq: ch.seq, type: m.type, ts: m.ts, desc: describeMessage(m), clockBefore, clock: Math.max(clockBefore, m.ts) + 1 } as const;
      events.push(m.type === 'MARKER' || m.type === 'REPORT' ? { ...base, snapshot: snapshotKey(m.snapshot) } : base);
    }
    if (isApplicationMessage(m)) {
      for (const open of this.recording.values()) if (open.has(from)) open.set(from, open.get(from)! + 1);
      return;
    }
    if (m.type !== 'MARKER') return;
    const key = snapshotKey(m.snapshot);
    const open = this.recording.get(key);
    const count = open?.get(from);
    if (open === undefined || count === undefined) return;
    open.delete(from);
    if (open.size === 0) this.recording.delete(key);
    push({ kind: 'channelStop', snapshot: key, from, messages: count });
  }

  private event(wall: number, body: Body): TraceEvent {
    return { v: TRACE_VERSION, node: this.node, run: this.run, i: this.i++, wall, ...body } as TraceEvent;
  }
}

