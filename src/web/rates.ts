/**
 * Messages per channel per second: what the page shows when events come faster than a diagram
 * can be read (under load, thousands a second), instead of drawing each or freezing. They come
 * from each client's counters of messages sent to each peer (its state, a few times a second), so
 * they are right even when the clients' streams leave events out; the types are of those drawn.
 */
import type { NodeId } from '../core/types.js';
import type { LiveStatus } from '../daemon/control/protocol.js';
import type { EventItem, StateItem } from './items.js';

type Rates = Extract<StateItem, { t: 'rates' }>;

interface ChannelCount {
  readonly from: NodeId;
  readonly to: NodeId;
  count: number;
  types: Record<string, number>;
}

export class RateCounter {
  private channels = new Map<string, ChannelCount>();
  /** Each client's counters as last reported, by peer. */
  private readonly lastSent = new Map<NodeId, Map<NodeId, number>>();
  private events = 0;

  private channel(from: NodeId, to: NodeId): ChannelCount {
    const key = `${from}>${to}`;
    let c = this.channels.get(key);
    if (c === undefined) {
      c = { from, to, count: 0, types: {} };
      this.channels.set(key, c);
    }
    return c;
  }

  /** Counts a placed event toward the events drawn, and a send toward its channel's types. */
  count(item: EventItem): void {
    this.events++;
    const e = item.e;
    if (e.kind !== 'send') return;
    const c = this.channel(e.node, e.to);
    c.types[e.type] = (c.types[e.type] ?? 0) + 1;
  }

  /** A client's counters: what it sent each peer since its last report counts toward the channel. */
  traffic(node: NodeId, traffic: LiveStatus['traffic']): void {
    const last = this.lastSent.get(node) ?? new Map<NodeId, number>();
    for (const t of traffic) {
      const before = last.get(t.peer);
      if (before !== undefined && t.sent > before) this.channel(node, t.peer).count += t.sent - before;
      last.set(t.peer, t.sent);
    }
    this.lastSent.set(node, last);
  }

  /** The counts since the last call, scaled to one second, and a fresh start. */
  take(elapsedMs: number): Rates {
    const scale = elapsedMs > 0 ? 1000 / elapsedMs : 1;
    const channels = [...this.channels.values()]
      .sort((a, b) => a.from - b.from || a.to - b.to)
      .map((c) => ({ from: c.from, to: c.to, count: Math.round(c.count * scale), types: Object.fromEntries(Object.entries(c.types).map(([t, n]) => [t, Math.round(n * scale)])) }));
    const perSecond = Math.round(this.events * scale);
    this.channels = new Map();
    this.events = 0;
    return { t: 'rates', perSecond, channels };
  }
}
