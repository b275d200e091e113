/**
 * `--delay`: holds each outgoing frame for a random time in [minMs, maxMs] before handing it to
 * the channel, never reordering: frame k leaves at max(its due time, frame k-1's). It stands in
 * front of a channel (the same `send`), so that the mesh and the protocol never know it is there,
 * and messages in flight become visible in snapshots.
 */
import type { FrameSink } from './channel.js';

export interface Delay {
  readonly minMs: number;
  readonly maxMs: number;
}

export function checkDelay(d: Delay): Delay {
  if (!(d.minMs >= 0 && d.maxMs >= d.minMs && Number.isFinite(d.maxMs))) {
    throw new RangeError(`delay: need 0 <= minMs <= maxMs, got ${d.minMs}..${d.maxMs}`);
  }
  return d;
}

export class DelayedSink implements FrameSink {
  /** Frames held, oldest first; `head` indexes the next to leave. */
  private held: { readonly frame: Buffer; readonly due: number }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly inner: FrameSink,
    private readonly delay: Delay,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  send(frame: Buffer): void {
    if (this.stopped) return;
    this.held.push({ frame, due: this.now() + this.delay.minMs + this.random() * (this.delay.maxMs - this.delay.minMs) });
    if (this.timer === null) this.arm();
  }

  /** Drops whatever is still held (the channel behind it is gone). */
  stop(): void {
    this.stopped = true;
    this.held = [];
    this.head = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const next = this.held[this.head];
    if (next === undefined) {
      this.held = [];
      this.head = 0;
      return;
    }
    this.timer = setTimeout(() => this.release(), Math.max(0, next.due - this.now()));
  }

  private release(): void {
    this.timer = null;
    const now = this.now();
    for (let next = this.held[this.head]; next !== undefined && next.due <= now; next = this.held[this.head]) {
      this.head++;
      this.inner.send(next.frame);
    }
    if (this.head > 1024 && this.head * 2 > this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
    if (!this.stopped) this.arm();
  }
}
