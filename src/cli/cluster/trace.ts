/**
 * `trace on|off` at the cluster prompt and in command files: every traced client's messages as
 * they happen, each line after its client, in the words a client's own `trace on` uses. The
 * lines come from each client's live stream on its control socket (the live view's
 * subscription, found again when a client restarts), so a client needs no prompt of its own.
 */
import type { TraceEvent } from '../../core/trace-events.js';
import type { NodeId } from '../../core/types.js';
import { ClientFeeds } from '../../web/feeds.js';
import { renderTraceEvent } from '../render.js';

/** Trace events each client streams here a second, at most: more than anyone reads in a terminal; the rest are counted. */
export const TRACE_LINES_PER_SECOND = 1000;

/** The longest a line waits for the traced clients' streams to catch up (a stream left out events, say). */
const CATCH_UP_MAX_MS = 1000;
const POLL_MS = 5;

export interface TraceOutput {
  /** One traced event of client `id`, in the form the session prints (a line, or JSON). */
  readonly event: (id: NodeId, e: TraceEvent, line: string) => void;
  /** Client `id` left out events (more than TRACE_LINES_PER_SECOND a second): `total` so far. */
  readonly dropped: (id: NodeId, total: number) => void;
}

export class ClusterTrace {
  /** One subscription per traced client, so that each is switched on and off alone. */
  private readonly feeds = new Map<NodeId, ClientFeeds>();
  /**
   * The Lamport clock of the latest step each traced client's stream has brought: at first its
   * clock when it was subscribed to (the first state its stream sends, before any event), then
   * each event's.
   */
  private readonly clocks = new Map<NodeId, number>();
  /** Clients (re)subscribed to whose stream has not yet sent its first state. */
  private readonly fresh = new Set<NodeId>();

  constructor(
    private readonly dataDir: (id: NodeId) => string,
    private readonly out: TraceOutput,
  ) {}

  /** The clients traced now, in order. */
  get traced(): NodeId[] {
    return [...this.feeds.keys()].sort((a, b) => a - b);
  }

  /**
   * Starts tracing `ids` (those traced already go on as they are); resolves once each has been
   * subscribed to, with the clients among them that do not answer now (their lines follow once
   * they run again).
   */
  async on(ids: readonly NodeId[]): Promise<NodeId[]> {
    const added = ids.filter((id) => !this.feeds.has(id));
    const feeds = added.map((id) => {
      const f = new ClientFeeds([id], this.dataDir, {
        events: (node, events) => this.print(node, events),
        status: (node, status) => {
          if (status === null) {
            this.fresh.add(node);
            this.clocks.delete(node);
          } else if (this.fresh.delete(node)) {
            this.clocks.set(node, Math.max(this.clocks.get(node) ?? -1, status.node.clock));
          }
        },
        snapshot: () => undefined,
        dropped: (node, total) => this.out.dropped(node, total),
      }, 500, TRACE_LINES_PER_SECOND);
      this.feeds.set(id, f);
      return f;
    });
    await Promise.all(feeds.map((f) => f.start()));
    return added.filter((id) => this.feeds.get(id)?.connected().length === 0);
  }

  /** Stops tracing `ids`. */
  off(ids: readonly NodeId[]): void {
    for (const id of ids) {
      this.feeds.get(id)?.close();
      this.feeds.delete(id);
      this.clocks.delete(id);
      this.fresh.delete(id);
    }
  }

  /**
   * Waits until each traced client's stream has brought the events of every step it took before
   * now: until an event as late as the client's Lamport clock now (each step that moves the clock
   * is traced, and a step's events come together). Piped or from a file, a command's lines so
   * come before its answer. At most CATCH_UP_MAX_MS; at once when nothing is traced.
   */
  async caughtUp(): Promise<void> {
    const deadline = Date.now() + CATCH_UP_MAX_MS;
    await Promise.all(
      [...this.feeds].map(async ([id, feed]) => {
        const conn = feed.client(id);
        if (conn === null) return;
        let clock: number;
        try {
          clock = (await conn.status()).node.clock;
        } catch {
          return; // gone meanwhile: it has nothing more to say
        }
        while ((this.clocks.get(id) ?? -1) < clock && Date.now() < deadline && this.feeds.get(id) === feed) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }),
    );
  }

  /** Stops every trace; with `drain`, once the streams have caught up (input that ended wants its last steps' lines). */
  async close(drain: boolean): Promise<void> {
    if (drain) await this.caughtUp();
    this.off([...this.feeds.keys()]);
  }

  private print(id: NodeId, events: readonly TraceEvent[]): void {
    for (const e of events) {
      if ('clock' in e) this.clocks.set(id, Math.max(this.clocks.get(id) ?? -1, e.clock));
      const line = renderTraceEvent(e);
      if (line !== null) this.out.event(id, e, line);
    }
  }
}
