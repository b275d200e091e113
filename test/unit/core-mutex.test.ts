import { describe, expect, it } from 'vitest';
import { LamportMutex, precedes } from '../../src/core/mutex.js';

/** Client 1 of a 3-client cluster. */
const mk = (): LamportMutex => new LamportMutex(1, [2, 3]);

describe('precedes (queue order)', () => {
  it('orders by timestamp first', () => {
    expect(precedes({ ts: 1, node: 3 }, { ts: 2, node: 1 })).toBe(true);
    expect(precedes({ ts: 2, node: 1 }, { ts: 1, node: 3 })).toBe(false);
  });

  it('breaks timestamp ties in favour of the lower id', () => {
    expect(precedes({ ts: 5, node: 1 }, { ts: 5, node: 2 })).toBe(true);
    expect(precedes({ ts: 5, node: 2 }, { ts: 5, node: 1 })).toBe(false);
  });

  it('an entry does not precede itself', () => {
    expect(precedes({ ts: 5, node: 2 }, { ts: 5, node: 2 })).toBe(false);
  });
});

describe('LamportMutex', () => {
  it('keeps its queue ordered by (ts, id) whatever the arrival order', () => {
    const m = mk();
    m.onRequest(3, 7);
    m.onRequest(2, 9);
    m.requestAt(7);
    m.onRequest(4, 1);
    expect(m.entries()).toEqual([
      { ts: 1, node: 4 },
      { ts: 7, node: 1 },
      { ts: 7, node: 3 },
      { ts: 9, node: 2 },
    ]);
  });

  it('puts the lower id first when two requests carry the same timestamp', () => {
    const m = new LamportMutex(2, [1, 3]);
    m.requestAt(4);
    m.onRequest(1, 4);
    m.onRequest(3, 4);
    expect(m.entries().map((e) => e.node)).toEqual([1, 2, 3]);
  });

  it('records its own request and exposes it', () => {
    const m = mk();
    expect(m.request).toBeNull();
    m.requestAt(3);
    expect(m.request).toEqual({ ts: 3, node: 1 });
    expect(m.entries()).toEqual([{ ts: 3, node: 1 }]);
  });

  it('cannot enter without a request', () => {
    const m = mk();
    m.observe(2, 100);
    m.observe(3, 100);
    expect(m.canEnter()).toBe(false);
  });

  it('enters only when its request heads the queue and every peer has sent a later timestamp', () => {
    const m = mk();
    m.requestAt(5);
    expect(m.canEnter()).toBe(false);
    m.observe(2, 6);
    expect(m.canEnter()).toBe(false);
    m.observe(3, 6);
    expect(m.canEnter()).toBe(true);
  });

  it('does not enter while some peer has only sent timestamps equal to or below its request', () => {
    const m = mk();
    m.requestAt(5);
    m.observe(2, 9);
    m.observe(3, 5);
    expect(m.canEnter()).toBe(false);
    m.observe(3, 4);
    expect(m.canEnter()).toBe(false);
    m.observe(3, 6);
    expect(m.canEnter()).toBe(true);
  });

  it('counts a later-timestamped message of any type (observe is type-blind), even one seen before requesting', () => {
    const m = mk();
    // Timestamps seen before the request still count if they are later than it (FIFO makes this sound).
    m.observe(2, 50);
    m.observe(3, 50);
    m.requestAt(10);
    expect(m.canEnter()).toBe(true);
  });

  it('keeps the highest timestamp seen from a peer (a lower one later does not undo it)', () => {
    const m = mk();
    m.requestAt(5);
    m.observe(2, 8);
    m.observe(2, 1);
    m.observe(3, 8);
    expect(m.canEnter()).toBe(true);
  });

  it('does not enter when another request precedes its own', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.requestAt(5);
    m.observe(2, 10);
    m.observe(3, 10);
    expect(m.canEnter()).toBe(false);
    m.onRelease(2);
    expect(m.canEnter()).toBe(true);
  });

  it('does not enter when a peer with a lower id requested at the same timestamp', () => {
    const m = new LamportMutex(2, [1, 3]);
    m.requestAt(5);
    m.onRequest(1, 5);
    m.observe(1, 6);
    m.observe(3, 6);
    expect(m.canEnter()).toBe(false);
  });

  it('enters ahead of a peer with a higher id that requested at the same timestamp', () => {
    const m = mk();
    m.requestAt(5);
    m.onRequest(2, 5);
    m.observe(2, 6);
    m.observe(3, 6);
    expect(m.canEnter()).toBe(true);
  });

  it('a later-timestamped peer request does not stop it entering', () => {
    const m = mk();
    m.requestAt(5);
    m.onRequest(3, 8);
    m.observe(2, 6);
    m.observe(3, 8);
    expect(m.canEnter()).toBe(true);
  });

  it('release removes its own request and leaves the others', () => {
    const m = mk();
    m.onRequest(3, 9);
    m.requestAt(5);
    m.release();
    expect(m.request).toBeNull();
    expect(m.entries()).toEqual([{ ts: 9, node: 3 }]);
    expect(m.canEnter()).toBe(false);
  });

  it('onRelease removes the sender\'s request and nobody else\'s', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.onRequest(3, 4);
    m.requestAt(6);
    m.onRelease(2);
    expect(m.entries()).toEqual([
      { ts: 4, node: 3 },
      { ts: 6, node: 1 },
    ]);
  });

  it('onRelease from a peer with no request changes nothing', () => {
    const m = mk();
    m.onRequest(3, 4);
    m.onRelease(2);
    expect(m.entries()).toEqual([{ ts: 4, node: 3 }]);
  });

  it('a repeated request from the same peer replaces the old one', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.onRequest(2, 12);
    expect(m.entries()).toEqual([{ ts: 12, node: 2 }]);
    m.requestAt(5);
    m.observe(2, 13);
    m.observe(3, 6);
    // The old entry at ts 3 no longer blocks it.
    expect(m.canEnter()).toBe(true);
  });

  it('forget(peer) drops the peer\'s request', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.requestAt(5);
    m.forget(2);
    expect(m.entries()).toEqual([{ ts: 5, node: 1 }]);
  });

  it('forget(peer) drops the peer\'s latest timestamp, so it must speak again before entering', () => {
    const m = mk();
    m.requestAt(5);
    m.observe(2, 7);
    m.observe(3, 7);
    expect(m.canEnter()).toBe(true);
    m.forget(2);
    expect(m.canEnter()).toBe(false);
    m.observe(2, 5);
    expect(m.canEnter()).toBe(false);
    m.observe(2, 6);
    expect(m.canEnter()).toBe(true);
  });

  it('forget(peer) leaves other peers\' state alone', () => {
    const m = mk();
    m.onRequest(3, 2);
    m.observe(3, 9);
    m.forget(2);
    expect(m.entries()).toEqual([{ ts: 2, node: 3 }]);
    m.onRelease(3);
    m.requestAt(5);
    m.observe(2, 6);
    expect(m.canEnter()).toBe(true);
  });

  it('throws on a second request while one is outstanding (a programmer error)', () => {
    const m = mk();
    m.requestAt(5);
    expect(() => m.requestAt(6)).toThrow(/already has a request/);
    // The failed call changed nothing.
    expect(m.entries()).toEqual([{ ts: 5, node: 1 }]);
  });

  it('throws on release without a request (a programmer error)', () => {
    const m = mk();
    expect(() => m.release()).toThrow(/without a request/);
  });

  it('throws on a second release after one release', () => {
    const m = mk();
    m.requestAt(1);
    m.release();
    expect(() => m.release()).toThrow();
  });

  it('can request again after releasing', () => {
    const m = mk();
    m.requestAt(1);
    m.release();
    m.requestAt(9);
    expect(m.request).toEqual({ ts: 9, node: 1 });
    expect(m.entries()).toEqual([{ ts: 9, node: 1 }]);
  });

  it('a lone client (no peers) enters as soon as it requests', () => {
    const m = new LamportMutex(1, []);
    m.requestAt(1);
    expect(m.canEnter()).toBe(true);
  });
});
