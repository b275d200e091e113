/**
 * One live subscriber on a control connection: the client's trace events as they happen, its
 * state (lock queue, chain, balances, links) whenever it changes, and each snapshot it assembles.
 *
 * Bounded whatever the subscriber does: items wait in a queue of at most `maxQueuedBytes`, and
 * are written only while the socket holds less than `highWaterBytes`. A subscriber that reads too
 * slowly (or not at all) loses trace events, which it is told as a running count, and never
 * grows this client's memory. The latest state is kept apart, one at most, so that it is never
 * lost to a full queue: a stalled subscriber that catches up sees the client as it is now. A
 * snapshot is queued whatever the queue holds, never lost: a verdict cannot be told as a count,
 * and snapshots are rare (one per snapshot this client assembles, a round of markers and reports
 * each) and each is bounded by the frames its reports came in.
 *
 * A subscriber may also ask for at most so many events a second: a live view cannot draw the
 * thousands a client makes under load, and each it is sent costs the client. The first of each
 * second's are sent, whole steps at a time, so that what arrives hangs together; the rest are
 * counted as left out.
 */
import type { LedgerApi, LiveItem, LiveSource } from '../api.js';
import type { LiveStatus } from './protocol.js';

export interface SubscriptionLimits {
  /** Items waiting to be written, in bytes of JSON; beyond it trace events are dropped. */
  readonly maxQueuedBytes: number;
  /** Bytes the socket may hold unwritten before the queue stops feeding it. */
  readonly highWaterBytes: number;
  /** How often the state is looked at (and sent when it changed). */
  readonly statusEveryMs: number;
  /**
   * What is queued leaves this long after the first of it, in one write: under load a client
   * steps thousands of times a second, and a write per step would cost it more than the step.
   */
  readonly flushAfterMs: number;
}

export const SUBSCRIPTION_LIMITS: SubscriptionLimits = { maxQueuedBytes: 4 * 1024 * 1024, highWaterBytes: 1024 * 1024, statusEveryMs: 200, flushAfterMs: 20 };

/** Where a subscription writes: its connection's socket. */
export interface SubscriptionOutput {
  /** False when the socket's buffer is full: 'drain' follows. */
  write(text: string): boolean;
  /** Bytes written and not yet taken by the kernel. */
  backlog(): number;
  /** Calls `f` once the backlog has drained. */
  onDrain(f: () => void): void;
}

export class Subscription {
  private queue: string[] = [];
  private head = 0;
  private queuedBytes = 0;
  private status: string | null = null;
  private lastStatus = '';
  private dropped = 0;
  private droppedSaid = 0;
  private scheduled = false;
  private waitingForDrain = false;
  private stopped = false;
  private unwatch: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;

  /** Events sent in the current second of the clock, for `maxEventsPerSecond`. */
  private second = 0;
  private sentThisSecond = 0;

  constructor(
    private readonly id: number,
    private readonly api: LedgerApi,
    private readonly live: LiveSource,
    private readonly out: SubscriptionOutput,
    private readonly limits: SubscriptionLimits = SUBSCRIPTION_LIMITS,
    private readonly maxEventsPerSecond: number | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts the stream; call once the answer to `subscribe` is on its way, so that it comes first. */
  start(): void {
    this.unwatch = this.live.watch((item) => this.offer(item));
    this.timer = setInterval(() => void this.lookAtStatus(), this.limits.statusEveryMs);
    void this.lookAtStatus();
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    this.unwatch = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  /** Trace events dropped so far because this subscriber fell behind. */
  get droppedEvents(): number {
    return this.dropped;
  }

  private offer(item: LiveItem): void {
    if (this.stopped) return;
    const cost = item.type === 'trace' ? item.events.length : 0;
    // Judged before any JSON is made: a subscriber that is far behind costs the client nothing more.
    if (item.type === 'trace' && (this.queuedBytes >= this.limits.maxQueuedBytes || this.overBudget(cost))) {
      this.dropped += cost;
      return;
    }
    const text =
      item.type === 'trace'
        ? `{"id":${this.id},"stream":{"type":"trace","events":[${item.lines().join(',')}]}}\n`
        : `${JSON.stringify({ id: this.id, stream: { type: 'snapshot', record: item.record } })}\n`;
    this.queue.push(text);
    this.queuedBytes += text.length;
    this.schedule();
  }

  /** Whether `events` more would pass this second's allowance (and if not, counts them in). */
  private overBudget(events: number): boolean {
    if (this.maxEventsPerSecond === null || events === 0) return false;
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.sentThisSecond = 0;
    }
    if (this.sentThisSecond + events > this.maxEventsPerSecond) return true;
    this.sentThisSecond += events;
    return false;
  }

  private async lookAtStatus(): Promise<void> {
    let status: LiveStatus;
    try {
      const [s, balances, links, peers] = await Promise.all([this.api.status(), this.api.balances(), this.api.links(), this.api.peers()]);
      status = { node: s.node, balances, links: links.links, traffic: peers.peers.map((p) => ({ peer: p.id, sent: p.sent, received: p.received })) };
    } catch {
      return; // shutting down: the connection goes with it
    }
    const text = JSON.stringify(status);
    if (this.stopped || text === this.lastStatus) return;
    this.lastStatus = text;
    this.status = `{"id":${this.id},"stream":{"type":"status","status":${text}}}\n`;
    this.schedule();
  }

  /** A pump `flushAfterMs` from now (or at once, `soon`: the rest of what the socket already takes). */
  private schedule(soon = false): void {
    if (this.scheduled || this.waitingForDrain) return;
    this.scheduled = true;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.scheduled = false;
      this.pump();
    }, soon ? 0 : this.limits.flushAfterMs);
  }

  /** Writes what the socket takes, in one write: the drop count, the latest state, then the queue in order. */
  private pump(): void {
    if (this.stopped) return;
    const room = this.limits.highWaterBytes - this.out.backlog();
    if (room <= 0) {
      this.awaitDrain();
      return;
    }
    const parts: string[] = [];
    let bytes = 0;
    if (this.dropped > this.droppedSaid) {
      this.droppedSaid = this.dropped;
      parts.push(`{"id":${this.id},"stream":{"type":"dropped","events":${this.dropped}}}\n`);
    }
    if (this.status !== null) {
      parts.push(this.status);
      bytes += this.status.length;
      this.status = null;
    }
    while (this.head < this.queue.length && bytes < room) {
      const text = this.queue[this.head]!;
      this.head++;
      this.queuedBytes -= text.length;
      bytes += text.length;
      parts.push(text);
    }
    const taken = parts.length === 0 || this.out.write(parts.join(''));
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length || this.dropped > this.droppedSaid) {
      // A full socket says so and drains; one that took it all gets the rest at the next flush.
      if (taken) this.schedule(true);
      else this.awaitDrain();
    }
  }

  private awaitDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.out.onDrain(() => {
      this.waitingForDrain = false;
      this.pump();
    });
  }
}
