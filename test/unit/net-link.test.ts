/**
 * The link in front of a channel: `--delay` and `link delay` hold frames for a random time and a
 * held link holds them until released, never reordering a channel: frame k leaves at max(its due
 * time, frame k-1's), and none while held. Time and randomness are the test's, so every run is
 * the same.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type LinkSettings, LinkSink, checkDelay } from '../../src/net/link.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A seeded random source: xorshift32. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const noOverflow = { maxBytes: 1 << 30, onOverflow: (): void => expect.fail('no overflow expected') };

function sinkWith(settings: LinkSettings, random?: () => number): { sink: LinkSink; out: { frame: number; at: number }[] } {
  const out: { frame: number; at: number }[] = [];
  const sink = new LinkSink({ send: (f) => out.push({ frame: f[0]!, at: Date.now() }) }, settings, { ...noOverflow, ...(random ? { random } : {}) });
  return { sink, out };
}

describe('a delayed link', () => {
  it('hands every frame on, in the order sent, each no earlier than its own delay', async () => {
    vi.useFakeTimers();
    const { sink, out } = sinkWith({ held: false, delay: { minMs: 10, maxMs: 500 } }, seeded(7));
    const sentAt = new Map<number, number>();
    for (let k = 0; k < 200; k++) {
      sentAt.set(k, Date.now());
      sink.send(Buffer.from([k]));
      await vi.advanceTimersByTimeAsync(3);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(out.map((o) => o.frame)).toEqual(Array.from({ length: 200 }, (_, k) => k));
    for (const o of out) expect(o.at - sentAt.get(o.frame)!).toBeGreaterThanOrEqual(10);
    // Random delays on a FIFO channel: some frames wait past their own due time for an earlier one.
    const late = out.filter((o, i) => i > 0 && o.at === out[i - 1]!.at).length;
    expect(late).toBeGreaterThan(0);
  });

  it('drops what it holds once stopped, and takes nothing more', async () => {
    vi.useFakeTimers();
    const { sink, out } = sinkWith({ held: false, delay: { minMs: 100, maxMs: 100 } });
    sink.send(Buffer.from('a'));
    sink.stop();
    sink.send(Buffer.from('b'));
    await vi.advanceTimersByTimeAsync(500);
    expect(out).toEqual([]);
  });

  it('refuses a range that goes downwards, beyond ten minutes, or is not a number of milliseconds', () => {
    expect(() => checkDelay({ minMs: 10, maxMs: 5 })).toThrow(/0 <= minMs <= maxMs/);
    expect(() => checkDelay({ minMs: -1, maxMs: 5 })).toThrow();
    expect(() => checkDelay({ minMs: 0, maxMs: 600_001 })).toThrow();
    expect(() => checkDelay({ minMs: 0, maxMs: Number.POSITIVE_INFINITY })).toThrow();
    expect(checkDelay({ minMs: 0, maxMs: 0 })).toEqual({ minMs: 0, maxMs: 0 });
  });
});

describe('a held link', () => {
  it('passes frames straight on while open and idle', () => {
    const { sink, out } = sinkWith({ held: false, delay: null });
    sink.send(Buffer.from([1]));
    expect(out.map((o) => o.frame)).toEqual([1]);
    expect(sink.waiting).toBe(0);
  });

  it('writes nothing while held, loses nothing, and releases every frame in order', async () => {
    vi.useFakeTimers();
    const settings: LinkSettings = { held: false, delay: null };
    const { sink, out } = sinkWith(settings);
    sink.send(Buffer.from([0]));
    settings.held = true;
    sink.changed();
    for (let k = 1; k <= 50; k++) sink.send(Buffer.from([k]));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(out.map((o) => o.frame)).toEqual([0]);
    expect(sink.waiting).toBe(50);
    settings.held = false;
    sink.changed();
    // Frames sent after the release queue behind the held ones: FIFO is kept.
    sink.send(Buffer.from([51]));
    await vi.advanceTimersByTimeAsync(1);
    expect(out.map((o) => o.frame)).toEqual(Array.from({ length: 52 }, (_, k) => k));
    expect(sink.waiting).toBe(0);
  });

  it('keeps each frame\'s delay after a release: a frame not yet due still waits', async () => {
    vi.useFakeTimers();
    const settings: LinkSettings = { held: true, delay: { minMs: 1000, maxMs: 1000 } };
    const { sink, out } = sinkWith(settings);
    sink.send(Buffer.from([1]));
    await vi.advanceTimersByTimeAsync(400);
    settings.held = false;
    sink.changed();
    await vi.advanceTimersByTimeAsync(500);
    expect(out).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(out.map((o) => o.frame)).toEqual([1]);
  });

  it('says when it holds more bytes than a peer may be sent without reading', () => {
    const overflows: number[] = [];
    const sink = new LinkSink({ send: () => expect.fail('nothing leaves a held link') }, { held: true, delay: null }, { maxBytes: 10, onOverflow: (b) => overflows.push(b) });
    sink.send(Buffer.alloc(6));
    expect(overflows).toEqual([]);
    sink.send(Buffer.alloc(6));
    expect(overflows).toEqual([12]);
  });
});
