/**
 * `--delay` holds frames for a random time without ever reordering a channel: frame k leaves at
 * max(its due time, frame k-1's). Time and randomness are the test's, so every run is the same.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DelayedSink, checkDelay } from '../../src/net/delay.js';

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

describe('the delay queue in front of a channel', () => {
  it('hands every frame on, in the order sent, each no earlier than its own delay', async () => {
    vi.useFakeTimers();
    const out: { frame: number; at: number }[] = [];
    const sink = new DelayedSink({ send: (f) => out.push({ frame: f[0]!, at: Date.now() }) }, { minMs: 10, maxMs: 500 }, seeded(7));
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
    const out: Buffer[] = [];
    const sink = new DelayedSink({ send: (f) => out.push(f) }, { minMs: 100, maxMs: 100 });
    sink.send(Buffer.from('a'));
    sink.stop();
    sink.send(Buffer.from('b'));
    await vi.advanceTimersByTimeAsync(500);
    expect(out).toEqual([]);
  });

  it('refuses a range that goes downwards or is not a number of milliseconds', () => {
    expect(() => checkDelay({ minMs: 10, maxMs: 5 })).toThrow(/0 <= minMs <= maxMs/);
    expect(() => checkDelay({ minMs: -1, maxMs: 5 })).toThrow();
    expect(() => checkDelay({ minMs: 0, maxMs: Number.POSITIVE_INFINITY })).toThrow();
    expect(checkDelay({ minMs: 0, maxMs: 0 })).toEqual({ minMs: 0, maxMs: 0 });
  });
});
