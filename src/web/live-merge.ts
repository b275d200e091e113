/**
 * The clients' live streams merged into one execution as the events arrive, the way
 * `client trace` merges saved traces (trace/merge.ts), but one event at a time: every receive
 * matched to its send by (chan, seq), vector clocks (one entry per client, counting its events),
 * and each client's Lamport clock carried to the events that state none.
 *
 * The streams come over separate connections, so a receive can arrive before its send (another
 * client's stream lags). Such a receive, and every later event of its client, waits until the
 * send comes; events leave here in a causal order, so the page always has the send first.
 * Waiting is bounded: past `maxHeld` events or `maxWaitMs`, the receive is placed without its send
 * (marked unmatched: its send was dropped, or never streamed), and its client goes on. A stream
 * that leaves events out (a subscriber that fell behind) costs no wait: channels are FIFO, so once
 * a later send on the receive's channel has come, its own send never will.
 */
import type { TraceEvent } from '../core/trace-events.js';
import { statedClock } from '../trace/merge.js';
import type { NodeId } from '../core/types.js';
import type { EventItem } from './items.js';

export interface LiveMergeOptions {
  /** Events of one client held behind a receive whose send has not come. */
  readonly maxHeld: number;
  /** How long a receive may wait for its send. */
  readonly maxWaitMs: number;
  /** Sends remembered until their receive comes (the oldest are forgotten first). */
  readonly maxSends: number;
}

export const LIVE_MERGE_LIMITS: LiveMergeOptions = { maxHeld: 5000, maxWaitMs: 2000, maxSends: 20_000 };

interface Lane {
  readonly index: number;
  vc: number[];
  clock: number;
  /** Events waiting, oldest first, from `head`; the first is a receive whose send has not come. */
  held: TraceEvent[];
  head: number;
  /** When the head began to wait. */
  since: number;
}

const messageKey = (e: { readonly chan: string; readonly seq: number }): string => `${e.chan}#${e.seq}`;

export class LiveMerge {
  private readonly lanes = new Map<NodeId, Lane>();
  private readonly byIndex: Lane[] = [];
  /** The vector clock of each send whose receive has not come yet. */
  private readonly sends = new Map<string, readonly number[]>();
  /** Message key -> the lane whose first held event is its receive. */
  private readonly waitingOn = new Map<string, Lane>();
  /** Per channel, the receive waiting for its send (one at most: only its receiver's lane reads it). */
  private readonly waitingOnChannel = new Map<string, { readonly seq: number; readonly lane: Lane }>();
  /** Per channel, the highest send placed (the oldest channels are forgotten first). */
  private readonly lastSent = new Map<string, number>();
  /** Lanes whose held events may go on now. */
  private ready: Lane[] = [];

  constructor(
    readonly nodes: readonly NodeId[],
    private readonly emit: (item: EventItem) => void,
    private readonly o: LiveMergeOptions = LIVE_MERGE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    for (const [index, node] of nodes.entries()) {
      const lane: Lane = { index, vc: new Array<number>(nodes.length).fill(0), clock: 0, held: [], head: 0, since: 0 };
      this.lanes.set(node, lane);
      this.byIndex.push(lane);
    }
  }

  /** Events held now, every client counted. */
  get held(): number {
    return this.byIndex.reduce((n, l) => n + l.held.length - l.head, 0);
  }

  /** One client's events, in the order that client saw them. Events of unknown clients are ignored. */
  push(events: readonly TraceEvent[]): void {
    for (const e of events) {
      const lane = this.lanes.get(e.node);
      if (lane === undefined) continue;
      if (lane.head < lane.held.length) {
        lane.held.push(e);
        if (lane.held.length - lane.head > this.o.maxHeld) this.giveUp(lane);
      } else if (!this.place(lane, e)) {
        lane.held = [e];
        lane.head = 0;
        lane.since = this.now();
      }
      this.drainReady();
    }
  }

  /** Places receives that have waited longer than `maxWaitMs` without their send. */
  tick(): void {
    const now = this.now();
    for (const lane of this.byIndex) if (lane.head < lane.held.length && now - lane.since >= this.o.maxWaitMs) this.giveUp(lane);
    this.drainReady();
  }

  /** Places `e` now if it can be (false: a receive whose send has not come; it is waited on). */
  private place(lane: Lane, e: TraceEvent): boolean {
    if (e.kind !== 'receive') {
      this.apply(lane, e, null, false);
      return true;
    }
    const key = messageKey(e);
    const sent = this.sends.get(key);
    if (sent === undefined) {
      // A later message on this channel was sent already: this one's send was left out of its stream.
      if ((this.lastSent.get(e.chan) ?? 0) > e.seq) {
        this.apply(lane, e, null, true);
        return true;
      }
      this.waitingOn.set(key, lane);
      this.waitingOnChannel.set(e.chan, { seq: e.seq, lane });
      return false;
    }
    this.sends.delete(key);
    this.apply(lane, e, sent, false);
    return true;
  }

  /** The lane's first held receive goes without its send; the events behind it follow. */
  private giveUp(lane: Lane): void {
    const e = lane.held[lane.head];
    if (e === undefined) return;
    if (e.kind === 'receive') {
      this.waitingOn.delete(messageKey(e));
      this.waitingOnChannel.delete(e.chan);
    }
    lane.head++;
    this.apply(lane, e, null, true);
    this.ready.push(lane);
  }

  private drainReady(): void {
    while (this.ready.length > 0) {
      const lane = this.ready.pop()!;
      while (lane.head < lane.held.length) {
        if (!this.place(lane, lane.held[lane.head]!)) {
          lane.since = this.now();
          break;
        }
        lane.head++;
      }
      if (lane.head >= lane.held.length) {
        lane.held = [];
        lane.head = 0;
      } else if (lane.head > 1024) {
        lane.held = lane.held.slice(lane.head);
        lane.head = 0;
      }
    }
  }

  private apply(lane: Lane, e: TraceEvent, sent: readonly number[] | null, unmatched: boolean): void {
    const vc = lane.vc.slice();
    if (sent !== null) for (let k = 0; k < vc.length; k++) vc[k] = Math.max(vc[k]!, sent[k] ?? 0);
    vc[lane.index]!++;
    lane.vc = vc;
    const clockBefore = e.kind === 'receive' ? e.clockBefore : lane.clock;
    lane.clock = statedClock(e) ?? lane.clock;
    this.emit({ t: 'ev', e, lane: lane.index, vc, clockBefore, clock: lane.clock, ...(unmatched ? { unmatched: true as const } : {}) });
    if (e.kind !== 'send') return;
    const key = messageKey(e);
    this.sends.set(key, vc);
    if (this.sends.size > this.o.maxSends) this.sends.delete(this.sends.keys().next().value!);
    this.lastSent.delete(e.chan);
    this.lastSent.set(e.chan, e.seq);
    if (this.lastSent.size > this.o.maxSends) this.lastSent.delete(this.lastSent.keys().next().value!);
    const waiting = this.waitingOn.get(key);
    if (waiting !== undefined) {
      this.waitingOn.delete(key);
      this.waitingOnChannel.delete(e.chan);
      this.ready.push(waiting);
      return;
    }
    // The receive waiting on this channel is for an earlier message, whose send was left out.
    const skipped = this.waitingOnChannel.get(e.chan);
    if (skipped !== undefined && skipped.seq < e.seq) {
      this.waitingOnChannel.delete(e.chan);
      this.giveUp(skipped.lane);
    }
  }
}
