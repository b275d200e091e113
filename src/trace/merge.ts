/**
 * From the clients' separate event lists to one execution: a timeline per client (a restart is a
 * new run on the same timeline), every receive matched to its send by (chan, seq), vector clocks,
 * and one causal order (a linear extension of happened-before) for layout and export.
 */
import type { TraceEvent, TraceMessageType } from '../core/trace-events.js';
import type { NodeId } from '../core/types.js';
import { computeVectorClocks, type VectorClock } from './vclock.js';

export type SendEvent = Extract<TraceEvent, { kind: 'send' }>;
export type ReceiveEvent = Extract<TraceEvent, { kind: 'receive' }>;

export interface TimelineEvent {
  /** `<node>:<run>:<i>`, unique across the trace. */
  readonly id: string;
  readonly event: TraceEvent;
  readonly node: NodeId;
  /** Index of the client in MergedTrace.nodes, and so in every vector clock. */
  readonly lane: number;
  /** Position on its client's timeline, every run counted, from 0. */
  readonly pos: number;
  /** Position in the causal order, from 0. */
  readonly order: number;
  readonly vc: VectorClock;
  /**
   * The client's Lamport clock just before and just after the event. Events that carry no clock
   * (peerUp, commit, channelStart...) leave it as it was.
   */
  readonly clockBefore: number;
  readonly clock: number;
  /** The first event of a run that follows another run of the same client: a restart. */
  readonly restart: boolean;
}

/**
 * delivered: both ends in the trace. inFlight: sent, not received, the connection still up when the
 * trace ends. lost: not received and the connection went down (or later messages on it arrived).
 * untraced: the receiver's side of the trace is not loaded or was rotated away. sendMissing: a
 * receive whose send is not in the trace.
 */
export type MessageStatus = 'delivered' | 'inFlight' | 'lost' | 'untraced' | 'sendMissing';

export interface MessageLink {
  /** `<chan>#<seq>`. */
  readonly key: string;
  readonly chan: string;
  readonly seq: number;
  readonly type: TraceMessageType;
  readonly ts: number;
  readonly desc: string;
  readonly from: NodeId;
  readonly to: NodeId;
  /** MARKER and REPORT: the snapshot they belong to. */
  readonly snapshot: string | null;
  readonly send: TimelineEvent | null;
  readonly receive: TimelineEvent | null;
  readonly status: MessageStatus;
}

export interface CriticalSection {
  readonly node: NodeId;
  /** null when the enter was rotated out of the trace. */
  readonly enter: TimelineEvent | null;
  /** null when the client had not left it when its run ended (a crash) or the trace ended. */
  readonly leave: TimelineEvent | null;
  /** The height of the block it committed; null for none, or when there is no leave. */
  readonly block: number | null;
}

export interface MergedTrace {
  /** Every client in the trace or named by one of its messages, ascending. */
  readonly nodes: readonly NodeId[];
  /** Clients with no event of their own (named only as a peer): their rows stay empty. */
  readonly untracedNodes: readonly NodeId[];
  readonly timelines: ReadonlyMap<NodeId, readonly TimelineEvent[]>;
  /** Every event, in the causal order. */
  readonly ordered: readonly TimelineEvent[];
  readonly messages: readonly MessageLink[];
  /** The message an event sent or received, by event id. */
  readonly messageOf: ReadonlyMap<string, MessageLink>;
  readonly sections: readonly CriticalSection[];
  /** Snapshot ids the trace mentions, by initiator then sequence number. */
  readonly snapshots: readonly string[];
  /** Runs per client, in timeline order. */
  readonly runs: ReadonlyMap<NodeId, readonly string[]>;
  /** Things about the input a reader should know (gaps, contradictions); never fatal. */
  readonly warnings: readonly string[];
}

interface Draft {
  id: string;
  event: TraceEvent;
  node: NodeId;
  lane: number;
  pos: number;
  order: number;
  vc: VectorClock;
  clockBefore: number;
  clock: number;
  restart: boolean;
}

const messageKey = (chan: string, seq: number): string => `${chan}#${seq}`;

export function compareSnapshotIds(a: string, b: string): number {
  const [ai = 0, as = 0] = a.split('.').map(Number);
  const [bi = 0, bs = 0] = b.split('.').map(Number);
  return ai - bi || as - bs;
}

/** The Lamport clock an event states, if it states one (the live view's merge reads them so too). */
export function statedClock(e: TraceEvent): number | null {
  switch (e.kind) {
    case 'start':
    case 'send':
    case 'receive':
    case 'record':
      return e.clock;
    case 'peerUp':
    case 'peerDown':
    case 'enter':
    case 'leave':
    case 'commit':
    case 'channelStart':
    case 'channelStop':
      return null;
  }
}

/** One client's events in timeline order: runs by their first wall-clock time, each run by `i`. */
function buildTimeline(node: NodeId, events: readonly TraceEvent[], lane: number, warnings: string[]): { timeline: Draft[]; runs: string[] } {
  const byRun = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const list = byRun.get(e.run);
    if (list) list.push(e);
    else byRun.set(e.run, [e]);
  }
  const runs = [...byRun.entries()]
    .map(([run, list]) => ({ run, list: list.sort((a, b) => a.i - b.i), firstWall: list.reduce((w, e) => Math.min(w, e.wall), Infinity) }))
    // Runs of one client are on one machine, so its wall clock orders them; the format has no
    // other link between a run and the one before it.
    .sort((a, b) => a.firstWall - b.firstWall || (a.run < b.run ? -1 : a.run > b.run ? 1 : 0));
  const timeline: Draft[] = [];
  for (const [r, { run, list }] of runs.entries()) {
    const firstI = list[0]?.i ?? 0;
    if (firstI > 0) warnings.push(`client${node} run ${run}: the trace starts at its event ${firstI} (the earlier ones were rotated away)`);
    let gaps = 0;
    for (const [k, e] of list.entries()) {
      if (k > 0 && e.i !== (list[k - 1]?.i ?? 0) + 1) gaps++;
      timeline.push({ id: `${node}:${run}:${e.i}`, event: e, node, lane, pos: timeline.length, order: -1, vc: [], clockBefore: 0, clock: 0, restart: r > 0 && k === 0 });
    }
    if (gaps > 0) warnings.push(`client${node} run ${run}: ${gaps} gap(s) in the event numbers: some events are missing`);
  }
  fillLamportClocks(timeline);
  return { timeline, runs: runs.map((r) => r.run) };
}

/**
 * Carries each stated clock forward to the events that state none; the events of a timeline
 * before its first stated clock take that first clock (nothing earlier is known).
 */
function fillLamportClocks(timeline: Draft[]): void {
  const after: (number | null)[] = [];
  let last: number | null = null;
  for (const d of timeline) {
    last = statedClock(d.event) ?? last;
    after.push(last);
  }
  let next: number | null = null;
  for (let k = timeline.length - 1; k >= 0; k--) {
    next = after[k] ?? next;
    timeline[k]!.clock = after[k] ?? next ?? 0;
  }
  for (const [k, d] of timeline.entries()) {
    d.clockBefore = d.event.kind === 'receive' ? d.event.clockBefore : (timeline[k - 1]?.clock ?? d.clock);
  }
}

interface MessageEnds {
  send: Draft | null;
  receive: Draft | null;
}

function pairMessages(timelines: ReadonlyMap<NodeId, Draft[]>, warnings: string[]): Map<string, MessageEnds> {
  const ends = new Map<string, MessageEnds>();
  for (const timeline of timelines.values()) {
    for (const d of timeline) {
      const e = d.event;
      if (e.kind !== 'send' && e.kind !== 'receive') continue;
      const key = messageKey(e.chan, e.seq);
      const entry = ends.get(key) ?? { send: null, receive: null };
      const side = e.kind === 'send' ? 'send' : 'receive';
      if (entry[side] !== null) {
        warnings.push(`channel ${e.chan}: two ${e.kind}s of message ${e.seq} (${entry[side].id} and ${d.id}); the second is left unmatched`);
        ends.set(`${key}#dup:${d.id}`, { send: side === 'send' ? d : null, receive: side === 'receive' ? d : null });
        continue;
      }
      entry[side] = d;
      ends.set(key, entry);
    }
  }
  // A pair whose two ends disagree on who sent what is not one message: keep both, unmatched.
  for (const [key, m] of [...ends.entries()]) {
    if (m.send === null || m.receive === null) continue;
    const s = m.send.event as SendEvent;
    const r = m.receive.event as ReceiveEvent;
    if (s.node !== r.from || s.to !== r.node || s.type !== r.type || s.ts !== r.ts) {
      warnings.push(`channel ${s.chan} message ${s.seq}: the send (${s.node}->${s.to} ${s.type} ts=${s.ts}) and the receive (${r.from}->${r.node} ${r.type} ts=${r.ts}) disagree; both left unmatched`);
      ends.set(key, { send: m.send, receive: null });
      ends.set(`${key}#receive:${m.receive.id}`, { send: null, receive: m.receive });
    }
  }
  return ends;
}

/**
 * A causal order: repeatedly take, among the clients whose next event can happen (it is not a
 * receive whose send is still to come), the one with the earliest wall time. Wall time only
 * breaks ties between events that are already allowed, so the result is a linear extension of
 * happened-before whatever the clocks' skew. A receive that could only come before its own send
 * (contradictory input) loses its match rather than stopping the merge.
 */
function causalOrder(lanes: readonly Draft[][], sendOf: Map<Draft, Draft>, warnings: string[]): Draft[] {
  const next = lanes.map(() => 0);
  const done = new Set<Draft>();
  const ordered: Draft[] = [];
  const total = lanes.reduce((n, l) => n + l.length, 0);
  while (ordered.length < total) {
    let pick = -1;
    let blocked = -1;
    for (let k = 0; k < lanes.length; k++) {
      const d = lanes[k]![next[k]!];
      if (d === undefined) continue;
      const send = sendOf.get(d);
      if (send !== undefined && !done.has(send)) {
        if (blocked < 0 || d.event.wall < lanes[blocked]![next[blocked]!]!.event.wall) blocked = k;
        continue;
      }
      if (pick < 0 || d.event.wall < lanes[pick]![next[pick]!]!.event.wall) pick = k;
    }
    if (pick < 0) {
      const d = lanes[blocked]![next[blocked]!]!;
      warnings.push(`${d.id}: this receive would have to happen before its own send; left unmatched`);
      sendOf.delete(d);
      continue;
    }
    const d = lanes[pick]![next[pick]!]!;
    d.order = ordered.length;
    ordered.push(d);
    done.add(d);
    next[pick]!++;
  }
  return ordered;
}

/** Why a send with no receive got none: what the receiver's side and the sender's connection say. */
function unreceivedStatus(
  send: Draft,
  channelEnded: ReadonlySet<Draft>,
  receiver: { traced: boolean; truncated: boolean; received: { min: number; max: number } | undefined },
): MessageStatus {
  const e = send.event as SendEvent;
  if (!receiver.traced) return 'untraced';
  if (receiver.received !== undefined && e.seq < receiver.received.min && receiver.truncated) return 'untraced';
  // Channels are FIFO: a later message on it arrived, so this one never will.
  if (receiver.received !== undefined && e.seq < receiver.received.max) return 'lost';
  return channelEnded.has(send) ? 'lost' : 'inFlight';
}

/**
 * The sends of a timeline whose connection ended later on that same timeline: the peer went
 * down, came back on another channel, or this client restarted.
 */
function sendsOnEndedChannels(timeline: readonly Draft[]): Set<Draft> {
  const ended = new Set<Draft>();
  const downLater = new Set<NodeId>();
  const upLater = new Map<NodeId, Set<string>>();
  let restartLater = false;
  for (let k = timeline.length - 1; k >= 0; k--) {
    const d = timeline[k]!;
    const e = d.event;
    if (e.kind === 'send') {
      const otherChannel = [...(upLater.get(e.to) ?? [])].some((out) => out !== e.chan);
      if (restartLater || downLater.has(e.to) || otherChannel) ended.add(d);
    } else if (e.kind === 'peerDown') {
      downLater.add(e.peer);
    } else if (e.kind === 'peerUp') {
      const outs = upLater.get(e.peer) ?? new Set<string>();
      outs.add(e.out);
      upLater.set(e.peer, outs);
    }
    if (d.restart) restartLater = true;
  }
  return ended;
}

export function mergeTrace(events: readonly TraceEvent[]): MergedTrace {
  const warnings: string[] = [];
  const byNode = new Map<NodeId, TraceEvent[]>();
  const named = new Set<NodeId>();
  for (const e of events) {
    const list = byNode.get(e.node);
    if (list) list.push(e);
    else byNode.set(e.node, [e]);
    if (e.kind === 'send') named.add(e.to);
    if (e.kind === 'receive') named.add(e.from);
  }
  const nodes = [...new Set([...byNode.keys(), ...named])].sort((a, b) => a - b);
  const untracedNodes = nodes.filter((n) => !byNode.has(n));

  const timelines = new Map<NodeId, Draft[]>();
  const runs = new Map<NodeId, string[]>();
  for (const [lane, node] of nodes.entries()) {
    const built = buildTimeline(node, byNode.get(node) ?? [], lane, warnings);
    timelines.set(node, built.timeline);
    runs.set(node, built.runs);
  }

  const ends = pairMessages(timelines, warnings);
  const sendOf = new Map<Draft, Draft>();
  for (const m of ends.values()) if (m.send !== null && m.receive !== null) sendOf.set(m.receive, m.send);
  const ordered = causalOrder([...timelines.values()], sendOf, warnings);
  const clocks = computeVectorClocks(ordered, nodes.length, (d) => sendOf.get(d) ?? null);
  for (const d of ordered) d.vc = clocks.get(d) ?? [];

  // What the receivers' side of the trace can tell about messages that never arrived.
  const received = new Map<string, { min: number; max: number }>();
  for (const timeline of timelines.values()) {
    for (const d of timeline) {
      if (d.event.kind !== 'receive') continue;
      const r = received.get(d.event.chan) ?? { min: d.event.seq, max: d.event.seq };
      received.set(d.event.chan, { min: Math.min(r.min, d.event.seq), max: Math.max(r.max, d.event.seq) });
    }
  }
  const truncated = new Set<NodeId>([...timelines].filter(([, t]) => (t[0]?.event.i ?? 0) > 0).map(([n]) => n));
  const channelEnded = new Set<Draft>();
  for (const timeline of timelines.values()) for (const d of sendsOnEndedChannels(timeline)) channelEnded.add(d);

  const messages: MessageLink[] = [];
  const messageOf = new Map<string, MessageLink>();
  const addLink = (send: Draft | null, receive: Draft | null): void => {
    const e = (send ?? receive)?.event;
    if (e === undefined || (e.kind !== 'send' && e.kind !== 'receive')) return;
    const from = e.kind === 'send' ? e.node : e.from;
    const to = e.kind === 'send' ? e.to : e.node;
    let status: MessageStatus;
    if (send !== null && receive !== null) status = 'delivered';
    else if (send === null) status = 'sendMissing';
    else status = unreceivedStatus(send, channelEnded, { traced: byNode.has(to), truncated: truncated.has(to), received: received.get(e.chan) });
    const link: MessageLink = { key: messageKey(e.chan, e.seq), chan: e.chan, seq: e.seq, type: e.type, ts: e.ts, desc: e.desc, from, to, snapshot: e.snapshot ?? null, send, receive, status };
    messages.push(link);
    if (send !== null) messageOf.set(send.id, link);
    if (receive !== null) messageOf.set(receive.id, link);
  };
  for (const m of ends.values()) {
    if (m.send !== null && m.receive !== null && sendOf.get(m.receive) === m.send) {
      addLink(m.send, m.receive);
    } else {
      if (m.send !== null) addLink(m.send, null);
      if (m.receive !== null) addLink(null, m.receive);
    }
  }
  messages.sort((a, b) => (a.send ?? a.receive)!.order - (b.send ?? b.receive)!.order);

  const sections: CriticalSection[] = [];
  for (const [node, timeline] of timelines) {
    let open: Draft | null = null;
    for (const d of timeline) {
      if (d.restart && open !== null) {
        sections.push({ node, enter: open, leave: null, block: null });
        open = null;
      }
      if (d.event.kind === 'enter') {
        if (open !== null) sections.push({ node, enter: open, leave: null, block: null });
        open = d;
      } else if (d.event.kind === 'leave') {
        sections.push({ node, enter: open, leave: d, block: d.event.block });
        open = null;
      }
    }
    if (open !== null) sections.push({ node, enter: open, leave: null, block: null });
  }

  const snapshots = new Set<string>();
  for (const e of events) {
    if (e.kind === 'record' || e.kind === 'channelStart' || e.kind === 'channelStop') snapshots.add(e.snapshot);
    else if ((e.kind === 'send' || e.kind === 'receive') && e.snapshot !== undefined) snapshots.add(e.snapshot);
  }

  return {
    nodes,
    untracedNodes,
    timelines,
    ordered,
    messages,
    messageOf,
    sections,
    snapshots: [...snapshots].sort(compareSnapshotIds),
    runs,
    warnings,
  };
}
