/**
 * Lamport's 1978 distributed mutual exclusion as a state machine (no I/O: the caller sends).
 *
 * Rules (Lamport, "Time, Clocks, and the Ordering of Events in a Distributed System"):
 *  1. To request, a process puts (ts, id) in its own queue and sends REQUEST(ts) to every other.
 *  2. On REQUEST it puts the entry in its queue and sends a timestamped REPLY.
 *  3. To release it removes its entry and sends RELEASE to every other.
 *  4. On RELEASE it removes the sender's entry.
 *  5. It enters when its own entry heads its queue (ordered by ts, ties by lower id) and it has
 *     received a message timestamped later than its request from every other process.
 * Channels are FIFO, so any message type counts for rule 5.
 *
 * Crashes add one condition to rule 5. A client that forgets the request of a peer that went down
 * cannot tell whether that peer entered and sent its RELEASE to some of the others; those others
 * may hear of it right up to the moment their own connection to the dead peer closes. So the
 * lock message that satisfies rule 5 for a peer must also have been sent in the same membership
 * view as this client's (every member in session, at the same process incarnation): by then the
 * sender has received all the old incarnation will ever send it, and its height says so.
 */
import type { NodeId, QueueEntry } from './types.js';

export const precedes = (a: QueueEntry, b: QueueEntry): boolean => a.ts < b.ts || (a.ts === b.ts && a.node < b.node);

export class LamportMutex {
  /** At most one entry per node, kept sorted by `precedes`. */
  private queue: QueueEntry[] = [];
  /** Highest timestamp received from each peer on the current connection. */
  private readonly latest = new Map<NodeId, number>();
  /** The membership view of the last lock message received from each peer on the current connection. */
  private readonly views = new Map<NodeId, number>();
  private own: QueueEntry | null = null;

  constructor(
    private readonly self: NodeId,
    private readonly peers: readonly NodeId[],
  ) {}

  get request(): QueueEntry | null {
    return this.own;
  }

  entries(): readonly QueueEntry[] {
    return this.queue;
  }

  /** Rule 1 (the caller sends REQUEST(ts) to every peer). */
  requestAt(ts: number): void {
    if (this.own) throw new Error(`mutex: client${this.self} already has a request at ts ${this.own.ts}`);
    this.own = { ts, node: this.self };
    this.insert(this.own);
  }

  /** Every received message, of any type, counts toward rule 5. */
  observe(from: NodeId, ts: number): void {
    if ((this.latest.get(from) ?? -1) < ts) this.latest.set(from, ts);
  }

  /** A lock message carries the view its sender was in; FIFO makes the last one its current view. */
  observeView(from: NodeId, view: number): void {
    this.views.set(from, view);
  }

  /** Rule 2 (the caller sends the REPLY). A repeated request from the same node replaces the old one. */
  onRequest(from: NodeId, ts: number): void {
    this.remove(from);
    this.insert({ ts, node: from });
  }

  /** Rule 4. */
  onRelease(from: NodeId): void {
    this.remove(from);
  }

  /** Rule 5, in membership view `view`. */
  canEnter(view: number): boolean {
    const own = this.own;
    if (!own || this.queue[0] !== own) return false;
    return this.peers.every((p) => (this.latest.get(p) ?? -1) > own.ts && this.views.get(p) === view);
  }

  /** The latest timestamp received from `peer` on the current connection, if any. */
  latestFrom(peer: NodeId): number | undefined {
    return this.latest.get(peer);
  }

  /** Entries that precede this client's own request in its queue (rule 5's first half). */
  ahead(): QueueEntry[] {
    const own = this.own;
    if (!own) return [];
    return this.queue.slice(0, this.queue.indexOf(own));
  }

  /** Peers that have sent nothing timestamped later than this client's request (rule 5's second half). */
  withoutLaterMessage(): NodeId[] {
    const own = this.own;
    if (!own) return [];
    return this.peers.filter((p) => (this.latest.get(p) ?? -1) <= own.ts);
  }

  /** Peers whose last lock message was sent in another view than `view`. */
  inOtherView(view: number): NodeId[] {
    return this.peers.filter((p) => this.views.get(p) !== view);
  }

  /** Rule 3, also used to withdraw a request that will not be served (the caller sends RELEASE). */
  release(): void {
    if (!this.own) throw new Error(`mutex: client${this.self} releases without a request`);
    this.remove(this.self);
    this.own = null;
  }

  /**
   * A connection with `peer` was lost, and messages on it may be lost with it: drop its request (it
   * re-sends it first thing on the new connection) and what it told us of its clock, so that rule 5
   * counts only messages that follow that re-sent request.
   */
  forget(peer: NodeId): void {
    this.remove(peer);
    this.latest.delete(peer);
    this.views.delete(peer);
  }

  private insert(entry: QueueEntry): void {
    let i = this.queue.length;
    while (i > 0 && precedes(entry, this.queue[i - 1]!)) i--;
    this.queue.splice(i, 0, entry);
  }

  private remove(node: NodeId): void {
    const i = this.queue.findIndex((e) => e.node === node);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
