/**
 * Lamport's logical clock: tick on every local or send event, max(local, remote) + 1 on receive.
 * The implementation rules of the paper ("Time, Clocks, and the Ordering of Events in a
 * Distributed System", 1978):
 *  IR1. Each process Pi increments Ci between any two successive events.
 *  IR2. (a) If event a is the sending of a message m by process Pi, then the message m contains a
 *       timestamp Tm = Ci(a). (b) Upon receiving a message m, process Pj sets Cj greater than or
 *       equal to its present value and greater than Tm.
 * They give the Clock Condition: for any events a, b: if a -> b then C(a) < C(b).
 */
export class LamportClock {
  constructor(private value = 0) {}

  get now(): number {
    return this.value;
  }

  /** A local event or a send (a broadcast done in one step is one send event). */
  tick(): number {
    this.value += 1;
    return this.value;
  }

  /** A receive: the clock moves past both its own value and the message's timestamp. */
  receive(ts: number): number {
    this.value = Math.max(this.value, ts) + 1;
    return this.value;
  }
}
