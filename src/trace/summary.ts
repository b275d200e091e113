/**
 * The counts a user sees first, on the command line and at the top of the page.
 */
import type { MergedTrace, MessageStatus } from './merge.js';

export interface TraceCounts {
  readonly clients: number;
  readonly events: number;
  readonly restarts: number;
  readonly byStatus: Readonly<Record<MessageStatus, number>>;
  readonly snapshots: readonly string[];
}

export function countTrace(merged: MergedTrace): TraceCounts {
  const byStatus: Record<MessageStatus, number> = { delivered: 0, inFlight: 0, lost: 0, untraced: 0, sendMissing: 0 };
  for (const m of merged.messages) byStatus[m.status]++;
  return {
    clients: merged.nodes.length - merged.untracedNodes.length,
    events: merged.ordered.length,
    restarts: merged.ordered.filter((e) => e.restart).length,
    byStatus,
    snapshots: merged.snapshots,
  };
}

const n = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

/** "3 clients, 96 events (1 restart), 27 messages matched, 1 in flight, 1 lost, snapshots found: 1.1". */
export function summaryLine(c: TraceCounts): string {
  const parts = [n(c.clients, 'client'), `${n(c.events, 'event')}${c.restarts > 0 ? ` (${n(c.restarts, 'restart')})` : ''}`];
  parts.push(`${n(c.byStatus.delivered, 'message')} matched`, `${c.byStatus.inFlight} in flight`, `${c.byStatus.lost} lost`);
  if (c.byStatus.untraced > 0) parts.push(`${c.byStatus.untraced} to untraced receivers`);
  if (c.byStatus.sendMissing > 0) parts.push(`${c.byStatus.sendMissing} received with no traced send`);
  parts.push(c.snapshots.length === 0 ? 'no snapshots' : `snapshots found: ${c.snapshots.join(', ')}`);
  return parts.join(', ');
}
