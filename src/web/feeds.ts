/**
 * The live view's connections to the clients: one control connection per client, subscribed to
 * its live stream, and found again when the client restarts (tried every `retryMs` while it is
 * away). The same connection carries the page's requests to that client (a transfer, a snapshot,
 * a link held). What answers in client n's data dir must be client n: one that answers as
 * another is not watched, nor tried again, and the status says why.
 */
import type { TraceEvent } from '../core/trace-events.js';
import { type NodeId, assertNever } from '../core/types.js';
import { ControlClient } from '../daemon/control/client.js';
import { type LiveStatus, type StreamItem, controlSocketPath } from '../daemon/control/protocol.js';
import type { SnapshotRecord } from '../daemon/snapshot-record.js';
import type { SnapshotItem } from './items.js';
import { snapshotItem } from './snapshot-item.js';

/**
 * Trace events a client sends the live view each second, at most: more than a page can draw, far
 * fewer than a client makes under load (where each sent would cost it); the rest are counted.
 */
export const LIVE_EVENTS_PER_SECOND = 1000;

export interface FeedHandlers {
  readonly events: (node: NodeId, events: readonly TraceEvent[]) => void;
  /** `status` null: not connected (yet, or any more); `reason`, when given, why it is not watched at all. */
  readonly status: (node: NodeId, status: LiveStatus | null, reason?: string) => void;
  readonly snapshot: (item: SnapshotItem) => void;
  /** The client's stream left out events for this server: a running total. */
  readonly dropped: (node: NodeId, count: number) => void;
}

/** The page's item of a snapshot a client sent as it saved it. */
const liveSnapshotItem = (r: SnapshotRecord): SnapshotItem => snapshotItem({ ...r, checks: r.verification.checks ?? [] });

export class ClientFeeds {
  private readonly connections = new Map<NodeId, ControlClient>();
  private readonly timers = new Map<NodeId, NodeJS.Timeout>();
  /** Clients whose data dir answers as another client: why; they are not tried again. */
  private readonly refused = new Map<NodeId, string>();
  private closed = false;

  constructor(
    readonly nodes: readonly NodeId[],
    private readonly dataDir: (id: NodeId) => string,
    private readonly on: FeedHandlers,
    private readonly retryMs = 500,
    /** Trace events each client sends a second, at most (see LIVE_EVENTS_PER_SECOND). */
    private readonly maxEventsPerSecond = LIVE_EVENTS_PER_SECOND,
  ) {}

  /**
   * Subscribes to every client; resolves once each has been tried (subscribed, or found not
   * running and to be tried again), so that a caller can say which stream from now on.
   */
  start(): Promise<void> {
    for (const id of this.nodes) this.on.status(id, null);
    return Promise.all(this.nodes.map((id) => this.connect(id))).then(() => undefined);
  }

  /** The connection to client `id`, or null when it does not answer now. */
  client(id: NodeId): ControlClient | null {
    const c = this.connections.get(id);
    return c !== undefined && !c.closed ? c : null;
  }

  /** Why client `id` cannot be asked anything now. */
  absent(id: NodeId): string {
    return this.refused.get(id) ?? `client${id} is not running (no control socket answers at ${controlSocketPath(this.dataDir(id))})`;
  }

  connected(): NodeId[] {
    return this.nodes.filter((id) => this.client(id) !== null);
  }

  private async connect(id: NodeId): Promise<void> {
    this.timers.delete(id);
    if (this.closed) return;
    let client: ControlClient;
    try {
      client = await ControlClient.connect(this.dataDir(id));
    } catch {
      this.retry(id);
      return;
    }
    if (this.closed) {
      client.close();
      return;
    }
    client.onClose(() => {
      if (this.connections.get(id) === client) this.connections.delete(id);
      if (this.closed || this.refused.has(id)) return;
      this.on.status(id, null);
      this.retry(id);
    });
    // Items that come in the same read as the answer are held until the answer says whose they are.
    let held: StreamItem[] | null = [];
    try {
      const who = await client.subscribe((item) => (held === null ? this.take(id, item) : void held.push(item)), { maxEventsPerSecond: this.maxEventsPerSecond });
      // What answers in client n's data dir must be client n, or its events would land on the wrong lane.
      if (who.self !== id) {
        const reason = `the control socket in client${id}'s data dir (${client.socketPath}) answers as client${who.self}: its events are not client${id}'s, so it is not watched (give client web the --data-dir or config its clients run with)`;
        this.refused.set(id, reason);
        client.close();
        this.on.status(id, null, reason);
        return;
      }
      const early = held;
      held = null;
      for (const item of early) this.take(id, item);
      this.connections.set(id, client);
    } catch {
      client.close();
    }
  }

  /** An item of client `id`'s live stream. */
  private take(id: NodeId, item: StreamItem): void {
    switch (item.type) {
      case 'trace':
        this.on.events(id, item.events);
        return;
      case 'status':
        this.on.status(id, item.status);
        return;
      case 'snapshot':
        this.on.snapshot(liveSnapshotItem(item.record));
        return;
      case 'dropped':
        this.on.dropped(id, item.events);
        return;
      default:
        assertNever(item);
    }
  }

  private retry(id: NodeId): void {
    if (this.closed || this.timers.has(id)) return;
    this.timers.set(id, setTimeout(() => void this.connect(id), this.retryMs));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}
