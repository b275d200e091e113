/**
 * The mutex alone, rule by rule. The rules are those of Lamport's 1978 paper as quoted at the top of
 * src/core/mutex.ts; rule 5 carries the extra condition crashes add (the membership view).
 */
import { describe, expect, it } from 'vitest';
import { LamportMutex, precedes } from '../../src/core/mutex.js';

/** The membership view every process is in, unless a test says otherwise. */
const V = 41;
/** Another view: the one before a peer restarted. */
const OLD = 40;

/** Client 1 of a 3-client cluster. */
const mk = (): LamportMutex => new LamportMutex(1, [2, 3]);

/** A lock message from `peer` stamped `ts`, sent in view `view`: the node observes both. */
function lockMessage(m: LamportMutex, peer: number, ts: number, view = V): void {
  m.observe(peer, ts);
  m.observeView(peer, view);
}

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

  it('rule 1: a request puts (ts, id) in its own queue and exposes it', () => {
    const m = mk();
    expect(m.request).toBeNull();
    m.requestAt(3);
    expect(m.request).toEqual({ ts: 3, node: 1 });
    expect(m.entries()).toEqual([{ ts: 3, node: 1 }]);
  });

  it('rule 5 (its own entry must head its queue): cannot enter without a request', () => {
    const m = mk();
    lockMessage(m, 2, 100);
    lockMessage(m, 3, 100);
    expect(m.canEnter(V)).toBe(false);
  });

  it('rule 5: enters only when its request heads the queue and every peer has sent a later timestamp', () => {
    const m = mk();
    m.requestAt(5);
    expect(m.canEnter(V)).toBe(false);
    lockMessage(m, 2, 6);
    expect(m.canEnter(V)).toBe(false);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 5: does not enter while some peer has only sent timestamps equal to or below its request', () => {
    const m = mk();
    m.requestAt(5);
    lockMessage(m, 2, 9);
    lockMessage(m, 3, 5);
    expect(m.canEnter(V)).toBe(false);
    lockMessage(m, 3, 4);
    expect(m.canEnter(V)).toBe(false);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 5 ("a message timestamped later"): a later-timestamped message of any type counts (observe is type-blind), even one seen before requesting', () => {
    const m = mk();
    // Each peer's last lock message is in this view; what comes later may be of any type.
    m.observeView(2, V);
    m.observeView(3, V);
    // Timestamps seen before the request still count if they are later than it (FIFO makes this sound).
    m.observe(2, 50);
    m.observe(3, 50);
    m.requestAt(10);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 5: keeps the highest timestamp seen from a peer (a lower one later does not undo it)', () => {
    const m = mk();
    m.requestAt(5);
    lockMessage(m, 2, 8);
    m.observe(2, 1);
    lockMessage(m, 3, 8);
    expect(m.canEnter(V)).toBe(true);
    expect(m.latestFrom(2)).toBe(8);
  });

  it('rule 5: does not enter when another request precedes its own', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.requestAt(5);
    lockMessage(m, 2, 10);
    lockMessage(m, 3, 10);
    expect(m.canEnter(V)).toBe(false);
    m.onRelease(2);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 5 (ties by lower id): does not enter when a peer with a lower id requested at the same timestamp', () => {
    const m = new LamportMutex(2, [1, 3]);
    m.requestAt(5);
    m.onRequest(1, 5);
    lockMessage(m, 1, 6);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(false);
  });

  it('rule 5 (ties by lower id): enters ahead of a peer with a higher id that requested at the same timestamp', () => {
    const m = mk();
    m.requestAt(5);
    m.onRequest(2, 5);
    lockMessage(m, 2, 6);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 5: a later-timestamped peer request does not stop it entering', () => {
    const m = mk();
    m.requestAt(5);
    m.onRequest(3, 8);
    lockMessage(m, 2, 6);
    lockMessage(m, 3, 8);
    expect(m.canEnter(V)).toBe(true);
  });

  it('rule 3: release removes its own request and leaves the others', () => {
    const m = mk();
    m.onRequest(3, 9);
    m.requestAt(5);
    m.release();
    expect(m.request).toBeNull();
    expect(m.entries()).toEqual([{ ts: 9, node: 3 }]);
    expect(m.canEnter(V)).toBe(false);
  });

  it('rule 4: onRelease removes the sender\'s request and nobody else\'s', () => {
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

  it('rule 4: onRelease from a peer with no request changes nothing', () => {
    const m = mk();
    m.onRequest(3, 4);
    m.onRelease(2);
    expect(m.entries()).toEqual([{ ts: 4, node: 3 }]);
  });

  it('rule 2: a repeated request from the same peer replaces the old one', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.onRequest(2, 12);
    expect(m.entries()).toEqual([{ ts: 12, node: 2 }]);
    m.requestAt(5);
    lockMessage(m, 2, 13);
    lockMessage(m, 3, 6);
    // The old entry at ts 3 no longer blocks it.
    expect(m.canEnter(V)).toBe(true);
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
    lockMessage(m, 2, 7);
    lockMessage(m, 3, 7);
    expect(m.canEnter(V)).toBe(true);
    m.forget(2);
    expect(m.canEnter(V)).toBe(false);
    expect(m.latestFrom(2)).toBeUndefined();
    lockMessage(m, 2, 5);
    expect(m.canEnter(V)).toBe(false);
    lockMessage(m, 2, 6);
    expect(m.canEnter(V)).toBe(true);
  });

  it('forget(peer) drops the view of the peer\'s last lock message too: a later timestamp of any other type does not stand in for it', () => {
    const m = mk();
    m.requestAt(5);
    lockMessage(m, 2, 7);
    lockMessage(m, 3, 7);
    m.forget(2);
    m.observe(2, 9); // say an empty BLOCKS on the new connection: no view in it
    expect(m.canEnter(V)).toBe(false);
    expect(m.inOtherView(V)).toEqual([2]);
    m.observeView(2, V);
    expect(m.canEnter(V)).toBe(true);
  });

  it('forget(peer) leaves other peers\' state alone', () => {
    const m = mk();
    m.onRequest(3, 2);
    lockMessage(m, 3, 9);
    m.forget(2);
    expect(m.entries()).toEqual([{ ts: 2, node: 3 }]);
    m.onRelease(3);
    m.requestAt(5);
    lockMessage(m, 2, 6);
    expect(m.canEnter(V)).toBe(true);
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

  it('rules 3 and 1: can request again after releasing', () => {
    const m = mk();
    m.requestAt(1);
    m.release();
    m.requestAt(9);
    expect(m.request).toEqual({ ts: 9, node: 1 });
    expect(m.entries()).toEqual([{ ts: 9, node: 1 }]);
  });

  it('rules 1 and 5: a lone client (no peers) enters as soon as it requests', () => {
    const m = new LamportMutex(1, []);
    m.requestAt(1);
    expect(m.canEnter(V)).toBe(true);
  });
});

describe('rule 5 with crashes: the later message must come from the current membership view', () => {
  it('a later timestamp from every peer is not enough while a peer\'s last lock message was sent in another view', () => {
    const m = mk();
    m.requestAt(5);
    lockMessage(m, 2, 6, OLD);
    lockMessage(m, 3, 6, V);
    expect(m.canEnter(V)).toBe(false);
    expect(m.inOtherView(V)).toEqual([2]);
    // The same messages admit it in the view they were sent in: only the view differs.
    expect(m.canEnter(OLD)).toBe(false);
    lockMessage(m, 2, 7, V);
    expect(m.canEnter(V)).toBe(true);
    expect(m.inOtherView(V)).toEqual([]);
  });

  it('a peer that has sent no lock message at all has no view: it holds entering back even with a later timestamp', () => {
    const m = mk();
    m.requestAt(5);
    m.observe(2, 6);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(false);
    expect(m.inOtherView(V)).toEqual([2]);
  });

  it('the LAST lock message decides (FIFO: it is the sender\'s current view), not any earlier one', () => {
    const m = mk();
    m.requestAt(5);
    lockMessage(m, 2, 6, V);
    lockMessage(m, 3, 6, V);
    expect(m.canEnter(V)).toBe(true);
    m.observeView(2, OLD);
    expect(m.canEnter(V)).toBe(false);
  });

  it('a view mismatch does not replace the other conditions: the queue order still rules', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.requestAt(5);
    lockMessage(m, 2, 6);
    lockMessage(m, 3, 6);
    expect(m.canEnter(V)).toBe(false);
  });
});

describe('what entering waits for (the parts of rule 5, for status and timeouts)', () => {
  it('ahead() lists the entries before its own request, and nothing without a request', () => {
    const m = mk();
    m.onRequest(2, 3);
    m.onRequest(3, 9);
    expect(m.ahead()).toEqual([]);
    m.requestAt(5);
    expect(m.ahead()).toEqual([{ ts: 3, node: 2 }]);
  });

  it('withoutLaterMessage() lists the peers with nothing timestamped later than its request', () => {
    const m = mk();
    expect(m.withoutLaterMessage()).toEqual([]);
    m.requestAt(5);
    expect(m.withoutLaterMessage()).toEqual([2, 3]);
    m.observe(2, 5);
    expect(m.withoutLaterMessage()).toEqual([2, 3]);
    m.observe(2, 6);
    expect(m.withoutLaterMessage()).toEqual([3]);
  });

  it('latestFrom() is the highest timestamp from a peer on the current connection', () => {
    const m = mk();
    expect(m.latestFrom(3)).toBeUndefined();
    m.observe(3, 4);
    m.observe(3, 2);
    expect(m.latestFrom(3)).toBe(4);
  });
});
