/**
 * Messages per channel per second: what the page draws when events come faster than a diagram
 * can be read (under batched load, thousands a second), instead of drawing each or freezing.
 */
import type { NodeId } from '../core/types.js';
import type { EventItem, StateItem } from './items.js';

type Rates = Extract<StateItem, { t: 'rates' }>;

export class RateCounter {
  private counts = new Map<string, { from: NodeId; to: NodeId; count: number; types: Record<string, number> }>();
  private events = 0;

  /** Counts a placed event: every event toward the rate, each send toward its channel. */
  count(item: EventItem): void {
    this.events++;
    const e = item.e;
    if (e.kind !== 'send') return;
    const key = `${e.node}>${e.to}`;
    let c = this.counts.get(key);
    if (c === undefined) {
      c = { from: e.node, to: e.to, count: 0, types: {} };
      this.counts.set(key, c);
    }
    c.count++;
    c.types[e.type] = (c.types[e.type] ?? 0) + 1;
  }

  /** The counts since the last call, scaled to one second, and a fresh start. */
  take(elapsedMs: number): Rates {
    const scale = elapsedMs > 0 ? 1000 / elapsedMs : 1;
    const channels = [...this.counts.values()]
      .sort((a, b) => a.from - b.from || a.to - b.to)
      .map((c) => ({ from: c.from, to: c.to, count: Math.round(c.count * scale), types: Object.fromEntries(Object.entries(c.types).map(([t, n]) => [t, Math.round(n * scale)])) }));
    const perSecond = Math.round(this.events * scale);
    this.counts = new Map();
    this.events = 0;
    return { t: 'rates', perSecond, channels };
  }
}
