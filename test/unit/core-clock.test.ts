import { describe, expect, it } from 'vitest';
import { LamportClock } from '../../src/core/clock.js';

describe('LamportClock', () => {
  it('starts at zero unless given a restored value', () => {
    expect(new LamportClock().now).toBe(0);
    expect(new LamportClock(41).now).toBe(41);
  });

  it('ticks by exactly one on a local or send event and returns the new value', () => {
    const c = new LamportClock();
    expect(c.tick()).toBe(1);
    expect(c.tick()).toBe(2);
    expect(c.now).toBe(2);
  });

  it('moves to remote+1 on receiving a timestamp ahead of it', () => {
    const c = new LamportClock(3);
    expect(c.receive(10)).toBe(11);
    expect(c.now).toBe(11);
  });

  it('moves to local+1 on receiving a timestamp behind it', () => {
    const c = new LamportClock(10);
    expect(c.receive(2)).toBe(11);
    expect(c.now).toBe(11);
  });

  it('moves to local+1 on receiving a timestamp equal to it', () => {
    const c = new LamportClock(7);
    expect(c.receive(7)).toBe(8);
  });

  it('never goes backwards over any mix of ticks and receives', () => {
    const c = new LamportClock();
    let last = c.now;
    for (const ts of [5, 1, 0, 9, 9, 3, 100, 2]) {
      const v = ts % 2 === 0 ? c.receive(ts) : c.tick();
      expect(v).toBeGreaterThan(last);
      last = v;
    }
  });

  it('a receive always lands strictly after the message timestamp (happened-before)', () => {
    const c = new LamportClock(0);
    for (const ts of [0, 4, 4, 17, 3]) expect(c.receive(ts)).toBeGreaterThan(ts);
  });
});
