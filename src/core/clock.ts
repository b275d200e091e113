/** Lamport's logical clock: tick on every local or send event, max(local, remote) + 1 on receive. */
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
