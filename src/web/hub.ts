/**
 * Server-Sent Events to every open page. History items get an event id (`<instance>.<n>`) and
 * stay in a ring of the most recent ones, so that a page that reconnects (EventSource sends the
 * last id it saw) resumes where it stopped, or is told how many it missed when that is older
 * than the ring. State items (the latest of each kind) carry no id and are sent whole to a page
 * that (re)connects.
 *
 * Bounded per page: a page that reads slowly gets at most `maxQueued` items waiting for it; past
 * that, history items are dropped for that page with a running count it is told, and state items
 * are coalesced (only the latest of each kind waits). Nothing a page does grows the server.
 */
import { randomBytes } from 'node:crypto';
import type { DirectItem, HistoryItem, StateItem } from './items.js';

export interface HubLimits {
  /** History items kept for pages that reconnect. */
  readonly ringSize: number;
  /** Items waiting for one page before its history items are dropped. */
  readonly maxQueued: number;
  /** A comment line this often keeps idle connections (and proxies) open. */
  readonly heartbeatMs: number;
}

export const HUB_LIMITS: HubLimits = { ringSize: 5000, maxQueued: 5000, heartbeatMs: 15_000 };

/** An HTTP response as the hub uses it (a test passes a stand-in). */
export interface EventSink {
  /** False when the connection's buffer is full: write no more until 'drain'. */
  write(text: string): boolean;
  once(event: 'drain', f: () => void): unknown;
}

/** The most one write to a page carries (a page that reads fast gets the rest at once after). */
const CHUNK_BYTES = 256 * 1024;

const sse = (json: string, id: string | null): string => `${id === null ? '' : `id: ${id}\n`}data: ${json}\n\n`;

export class PageStream {
  private queue: string[] = [];
  private head = 0;
  private readonly states = new Map<string, string>();
  private dropped = 0;
  private droppedSaid = 0;
  private blocked = false;
  /** A 'drain' listener is registered: one at a time, however many heartbeats find the page blocked. */
  private waitingForDrain = false;
  private scheduled = false;
  closed = false;

  constructor(
    private readonly sink: EventSink,
    private readonly maxQueued: number,
  ) {}

  /** History items this page lost because it read too slowly. */
  get droppedItems(): number {
    return this.dropped;
  }

  get waiting(): number {
    return this.queue.length - this.head + this.states.size;
  }

  offer(text: string): void {
    if (this.closed) return;
    if (this.queue.length - this.head >= this.maxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push(text);
    this.schedule();
  }

  /** The latest state of `key` replaces any not yet written. */
  offerState(key: string, text: string): void {
    if (this.closed) return;
    this.states.delete(key);
    this.states.set(key, text);
    this.schedule();
  }

  /** Written ahead of what is queued (used at attach only, before anything is). */
  backlog(texts: readonly string[]): void {
    for (const t of texts) this.queue.push(t);
    this.schedule();
  }

  ping(): void {
    if (!this.closed && !this.blocked) this.blocked = !this.sink.write(': ping\n\n');
    if (this.blocked) this.waitForDrain();
  }

  private schedule(): void {
    if (this.scheduled || this.blocked) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Writes what waits, in one write of at most CHUNK_BYTES: the drop count, the states, then history in order. */
  private pump(): void {
    if (this.closed || this.blocked) return;
    const parts: string[] = [];
    if (this.dropped > this.droppedSaid) {
      this.droppedSaid = this.dropped;
      const item: DirectItem = { t: 'dropped', where: 'server', count: this.dropped };
      parts.push(sse(JSON.stringify(item), null));
    }
    for (const text of this.states.values()) parts.push(text);
    this.states.clear();
    let bytes = 0;
    while (this.head < this.queue.length && bytes < CHUNK_BYTES) {
      const text = this.queue[this.head]!;
      this.head++;
      bytes += text.length;
      parts.push(text);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (parts.length === 0) return;
    if (!this.sink.write(parts.join(''))) {
      this.blocked = true;
      this.waitForDrain();
    } else if (this.head < this.queue.length) this.schedule();
  }

  private waitForDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.sink.once('drain', () => {
      this.waitingForDrain = false;
      this.blocked = false;
      this.pump();
    });
  }
}

export class Hub {
  /** Names this server run; event ids of another run are not resumed. */
  readonly instance = randomBytes(4).toString('hex');
  private readonly ring: { readonly n: number; readonly text: string }[] = [];
  private ringStart = 0;
  private next = 1;
  private readonly states = new Map<string, string>();
  private readonly pages = new Set<PageStream>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly limits: HubLimits = HUB_LIMITS) {
    this.timer = setInterval(() => {
      for (const p of this.pages) p.ping();
    }, limits.heartbeatMs);
    this.timer.unref();
  }

  get pageCount(): number {
    return this.pages.size;
  }

  publish(item: HistoryItem): void {
    const n = this.next++;
    const text = sse(JSON.stringify(item), `${this.instance}.${n}`);
    if (this.ring.length < this.limits.ringSize) this.ring.push({ n, text });
    else {
      this.ring[this.ringStart] = { n, text };
      this.ringStart = (this.ringStart + 1) % this.limits.ringSize;
    }
    for (const p of this.pages) p.offer(text);
  }

  setState(key: string, item: StateItem): void {
    const text = sse(JSON.stringify(item), null);
    this.states.set(key, text);
    for (const p of this.pages) p.offerState(key, text);
  }

  /** The history kept, oldest first. */
  private kept(): { readonly n: number; readonly text: string }[] {
    return [...this.ring.slice(this.ringStart), ...this.ring.slice(0, this.ringStart)];
  }

  /**
   * A page connects: every state, then what it has not seen of the history (all of it for a new
   * page; after `lastEventId` for one that reconnects, with a `missed` item when that is gone).
   */
  attach(sink: EventSink, lastEventId: string | null): PageStream {
    const page = new PageStream(sink, this.limits.maxQueued);
    sink.write('retry: 1000\n\n');
    for (const [key, text] of this.states) page.offerState(key, text);
    const kept = this.kept();
    const [instance, seen] = (lastEventId ?? '').split('.');
    const after = instance === this.instance && seen !== undefined && /^\d+$/.test(seen) ? Number(seen) : null;
    let backlog = kept;
    if (after !== null) {
      const oldest = kept[0]?.n ?? this.next;
      if (after + 1 < oldest) {
        const missed: DirectItem = { t: 'missed', count: oldest - after - 1 };
        page.backlog([sse(JSON.stringify(missed), null)]);
      } else backlog = kept.filter((k) => k.n > after);
    }
    page.backlog(backlog.map((k) => k.text));
    this.pages.add(page);
    return page;
  }

  detach(page: PageStream): void {
    page.closed = true;
    this.pages.delete(page);
  }

  close(): void {
    clearInterval(this.timer);
    for (const p of this.pages) p.closed = true;
    this.pages.clear();
  }
}
