/**
 * Which events a diagram shows. Every option narrows the set, so several together keep the events
 * that each of them keeps:
 *  - around ID: the causal-order positions from `margin` before the snapshot's first record to
 *    `margin` after its last channelStop (or last record, if no channel was recorded);
 *  - last N: the last N events of the causal order;
 *  - from/to: events whose Lamport clock (after the event) is in [from, to]. Lamport time rather
 *    than wall time: it is consistent with causality and needs no synchronised clocks.
 */
import { TraceError, TraceErrorKind } from './errors.js';
import type { MergedTrace, TimelineEvent } from './merge.js';

export const DEFAULT_MARGIN = 10;

export interface WindowSpec {
  readonly around?: string;
  /** Events kept on each side with `around`. */
  readonly margin?: number;
  readonly last?: number;
  readonly from?: number;
  readonly to?: number;
}

export interface TraceWindow {
  /** The kept events, in causal order. */
  readonly events: readonly TimelineEvent[];
  readonly has: (e: TimelineEvent | null) => boolean;
  /** Every event is kept. */
  readonly whole: boolean;
  /** What was kept, in words, e.g. "events 120-180 of 400 (around snapshot 1.2)". */
  readonly label: string;
}

export function applyWindow(merged: MergedTrace, spec: WindowSpec): TraceWindow {
  const total = merged.ordered.length;
  let lo = 0;
  let hi = total - 1;
  const why: string[] = [];
  if (spec.around !== undefined) {
    const id = spec.around;
    const margin = spec.margin ?? DEFAULT_MARGIN;
    const records = merged.ordered.filter((e) => e.event.kind === 'record' && e.event.snapshot === id);
    if (records.length === 0) {
      throw new TraceError(TraceErrorKind.UnknownSnapshot, `--around ${id}: no client recorded snapshot ${id} in this trace (snapshots in it: ${merged.snapshots.join(', ') || 'none'})`);
    }
    const stops = merged.ordered.filter((e) => e.event.kind === 'channelStop' && e.event.snapshot === id);
    const first = records[0]!.order;
    const lastMark = Math.max(...[...records, ...stops].map((e) => e.order));
    lo = Math.max(lo, first - margin);
    hi = Math.min(hi, lastMark + margin);
    why.push(`around snapshot ${id}`);
  }
  if (spec.last !== undefined) {
    lo = Math.max(lo, total - spec.last);
    why.push(`the last ${spec.last}`);
  }
  const byClock = spec.from !== undefined || spec.to !== undefined;
  const from = spec.from ?? -Infinity;
  const to = spec.to ?? Infinity;
  if (byClock) {
    if (from > to) throw new TraceError(TraceErrorKind.BadOption, `--from ${from} is after --to ${to}`);
    why.push(`Lamport clock ${spec.from ?? ''}..${spec.to ?? ''}`);
  }
  const events = merged.ordered.filter((e) => e.order >= lo && e.order <= hi && (!byClock || (e.clock >= from && e.clock <= to)));
  if (events.length === 0) throw new TraceError(TraceErrorKind.BadOption, `the window (${why.join(', ')}) keeps none of the ${total} events`);
  const kept = new Set(events);
  const whole = events.length === total;
  const label = whole ? `all ${total} events` : `${events.length} of ${total} events (${why.join(', ')})`;
  return { events, has: (e) => e !== null && kept.has(e), whole, label };
}
