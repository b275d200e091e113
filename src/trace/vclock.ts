/**
 * Vector clocks over a set of client timelines: one entry per client, counting that client's
 * events. A happened before b exactly when VC(a) < VC(b), which is what the diagram's layout and
 * the ShiViz export both rest on.
 */
export type VectorClock = readonly number[];

export interface ClockedEvent {
  /** Index of the event's client in the vector. */
  readonly lane: number;
}

/**
 * The vector clock of each event. `ordered` must be a linear extension of happened-before: each
 * client's events in timeline order, and every send before the receive `sendOf` pairs it with.
 */
export function computeVectorClocks<E extends ClockedEvent>(ordered: readonly E[], lanes: number, sendOf: (e: E) => E | null): Map<E, number[]> {
  const clocks = new Map<E, number[]>();
  const last: number[][] = Array.from({ length: lanes }, () => new Array<number>(lanes).fill(0));
  for (const e of ordered) {
    const vc = [...(last[e.lane] ?? [])];
    const send = sendOf(e);
    if (send !== null) {
      const sent = clocks.get(send);
      if (sent === undefined) throw new Error('computeVectorClocks: a receive comes before its send in the given order');
      for (let k = 0; k < lanes; k++) vc[k] = Math.max(vc[k] ?? 0, sent[k] ?? 0);
    }
    vc[e.lane] = (vc[e.lane] ?? 0) + 1;
    clocks.set(e, vc);
    last[e.lane] = vc;
  }
  return clocks;
}

/** a < b: no entry larger and at least one smaller. */
export function vcBefore(a: VectorClock, b: VectorClock): boolean {
  let smaller = false;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] ?? 0;
    const y = b[k] ?? 0;
    if (x > y) return false;
    if (x < y) smaller = true;
  }
  return smaller;
}

export const vcConcurrent = (a: VectorClock, b: VectorClock): boolean => !vcBefore(a, b) && !vcBefore(b, a);
