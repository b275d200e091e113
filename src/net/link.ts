/**
 * What stands between the mesh and one outgoing channel: a link that can be held (its frames
 * wait, none is lost, none overtakes another) and delayed (`--delay`, or `link delay` at run
 * time: each frame waits a random time in [minMs, maxMs]). Frame k leaves at max(its due time,
 * frame k-1's), and not at all while the link is held. It stands in front of a channel (the same
 * `send`), so that the mesh and the protocol never know it is there, and messages in flight
 * become visible in snapshots and in the live view.
 *
 * Heartbeats do not pass through it: the channel writes them itself when nothing went out for a
 * while, so a held link stays alive (its peer hears heartbeats) however long it is held.
 */
import type { FrameSink } from './channel.js';

export interface Delay {
  readonly minMs: number;
  readonly maxMs: number;
}

/** The most a delay may be (ten minutes): a longer one is a typo, not an experiment. */
export const MAX_DELAY_MS = 600_000;

export function checkDelay(d: Delay): Delay {
  if (!(d.minMs >= 0 && d.maxMs >= d.minMs && d.maxMs <= MAX_DELAY_MS && Number.isFinite(d.maxMs))) {
    throw new RangeError(`delay: need 0 <= minMs <= maxMs <= ${MAX_DELAY_MS}, got ${d.minMs}..${d.maxMs}`);
  }
  return d;
}

/** How a link behaves now; the mesh keeps one per peer, so it outlives a reconnection. */
export interface LinkSettings {
  /** Frames wait until the link is released. */
  held: boolean;
  /** Each frame waits a random time in this range; null: none. */
  delay: Delay | null;
}

export interface LinkSinkOptions {
  /** Bytes a link may hold before `onOverflow` is told (the peer would be a slow consumer). */
  readonly maxBytes: number;
  readonly onOverflow: (bytes: number) => void;
  readonly random?: () => number;
  readonly now?: () => number;
}

export class LinkSink implements FrameSink {
  /** Frames waiting, oldest first; `head` indexes the next to leave. */
  private queue: { readonly frame: Buffer; readonly due: number }[] = [];
  private head = 0;
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly inner: FrameSink,
    /** Read on every frame: changing it (then calling `changed`) takes effect at once. */
    private readonly settings: LinkSettings,
    private readonly o: LinkSinkOptions,
  ) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
  }

  /** Frames waiting now. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  send(frame: Buffer): void {
    if (this.stopped) return;
    const { held, delay } = this.settings;
    // An open link with nothing waiting passes frames straight on.
    if (!held && delay === null && this.waiting === 0) {
      this.inner.send(frame);
      return;
    }
    const wait = delay === null ? 0 : delay.minMs + this.random() * (delay.maxMs - delay.minMs);
    this.queue.push({ frame, due: this.now() + wait });
    this.bytes += frame.length;
    if (this.bytes > this.o.maxBytes) {
      this.o.onOverflow(this.bytes);
      return;
    }
    if (!held && this.timer === null) this.arm();
  }

  /** The settings changed: a held link stops sending, a released one sends what is due. */
  changed(): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.settings.held) this.arm();
  }

  /** Drops whatever is still waiting (the channel behind it is gone). */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const next = this.queue[this.head];
    if (next === undefined) {
      this.queue = [];
      this.head = 0;
      return;
    }
    this.timer = setTimeout(() => this.release(), Math.max(0, next.due - this.now()));
  }

  private release(): void {
    this.timer = null;
    if (this.stopped || this.settings.held) return;
    const now = this.now();
    for (let next = this.queue[this.head]; next !== undefined && next.due <= now; next = this.queue[this.head]) {
      this.head++;
      this.bytes -= next.frame.length;
      this.inner.send(next.frame);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
