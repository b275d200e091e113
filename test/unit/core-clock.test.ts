/**
 * The clock alone, rule by rule: the implementation rules of Lamport's 1978 paper, quoted at the top
 * of src/core/clock.ts:
 *  IR1. Each process Pi increments Ci between any two successive events.
 *  IR2. (a) If event a is the sending of a message m by process Pi, then the message m contains a
 *       timestamp Tm = Ci(a). (b) Upon receiving a message m, process Pj sets Cj greater than or
 *       equal to its present value and greater than Tm.
 * and the Clock Condition they give: for any events a, b: if a -> b then C(a) < C(b).
 */
import { describe, expect, it } from 'vitest';
import { LamportClock } from '../../src/core/clock.js';

describe('LamportClock', () => {
  it('starts at zero unless given a restored value', () => {
    expect(new LamportClock().now).toBe(0);
    expect(new LamportClock(41).now).toBe(41);
  });

  it('IR1: ticks by exactly one on a local or send event and returns the new value', () => {
    const c = new LamportClock();
    expect(c.tick()).toBe(1);
    expect(c.tick()).toBe(2);
    expect(c.now).toBe(2);
  });

  it('IR2(b): moves to remote+1 on receiving a timestamp ahead of it', () => {
    const c = new LamportClock(3);
    expect(c.receive(10)).toBe(11);
    expect(c.now).toBe(11);
  });

  it('IR2(b): moves to local+1 on receiving a timestamp behind it', () => {
    const c = new LamportClock(10);
    expect(c.receive(2)).toBe(11);
    expect(c.now).toBe(11);
  });

  it('IR2(b): moves to local+1 on receiving a timestamp equal to it', () => {
    const c = new LamportClock(7);
    expect(c.receive(7)).toBe(8);
  });

  it('IR1 and IR2(b): never goes backwards over any mix of ticks and receives', () => {
    const c = new LamportClock();
    let last = c.now;
    for (const ts of [5, 1, 0, 9, 9, 3, 100, 2]) {
      const v = ts % 2 === 0 ? c.receive(ts) : c.tick();
      expect(v).toBeGreaterThan(last);
      last = v;
    }
  });

  it('the Clock Condition (if a -> b then C(a) < C(b)): a receive always lands strictly after the message timestamp', () => {
    const c = new LamportClock(0);
    for (const ts of [0, 4, 4, 17, 3]) expect(c.receive(ts)).toBeGreaterThan(ts);
  });
});
