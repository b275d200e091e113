/**
 * Where each kept event goes: a row per client, and a column that only grows along happened-
 * before. An event's column is one past the larger of its predecessor's on the same client and
 * its matched send's (when kept), so concurrent events share columns and the diagram stays
 * narrow, while every arrow and every timeline still points forwards.
 */
import type { NodeId } from '../core/types.js';
import type { MergedTrace, TimelineEvent } from './merge.js';
import type { TraceWindow } from './window.js';

export interface Layout {
  readonly columns: number;
  readonly column: ReadonlyMap<TimelineEvent, number>;
  readonly row: ReadonlyMap<NodeId, number>;
}

export function layoutWindow(merged: MergedTrace, window: TraceWindow): Layout {
  const column = new Map<TimelineEvent, number>();
  const lastOnRow = new Map<NodeId, number>();
  let columns = 0;
  // The window's events are in causal order, so a send is placed before its receive.
  for (const e of window.events) {
    let c = (lastOnRow.get(e.node) ?? -1) + 1;
    const link = merged.messageOf.get(e.id);
    if (link !== undefined && link.receive === e && link.send !== null) {
      const sent = column.get(link.send);
      if (sent !== undefined) c = Math.max(c, sent + 1);
    }
    column.set(e, c);
    lastOnRow.set(e.node, c);
    columns = Math.max(columns, c + 1);
  }
  const row = new Map<NodeId, number>(merged.nodes.map((n, k) => [n, k]));
  return { columns, column, row };
}
