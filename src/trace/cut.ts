/**
 * A snapshot's cut through the execution: it passes through each client's `record` event. The
 * messages that cross it forwards (sent before the sender recorded, received after the receiver
 * recorded, or never) are what Chandy-Lamport records as the channel states; the saved snapshot
 * file says what was recorded, so the two can be compared.
 */
import { describeMessage } from '../core/describe.js';
import type { NodeId } from '../core/types.js';
import { TraceError, TraceErrorKind } from './errors.js';
import type { MergedTrace, MessageLink, TimelineEvent } from './merge.js';
import type { SavedSnapshotLookup } from './saved-snapshot.js';

export interface CutPoint {
  readonly node: NodeId;
  /** null: this client never recorded for the snapshot (in this trace). */
  readonly record: TimelineEvent | null;
}

export interface ChannelComparison {
  readonly from: NodeId;
  readonly to: NodeId;
  /** Descriptions of the messages crossing the cut on this channel, in sending order. */
  readonly crossing: readonly string[];
  /** What the saved snapshot recorded on it, or null without a usable saved snapshot. */
  readonly saved: readonly string[] | null;
  /** The receiver's channelStop count for it, or null when the trace has none. */
  readonly stopCount: number | null;
  readonly agrees: boolean | null;
}

export type Agreement =
  | { readonly kind: 'agrees'; readonly file: string }
  | { readonly kind: 'disagrees'; readonly file: string; readonly channels: readonly string[] }
  | { readonly kind: 'noSavedSnapshot'; readonly detail: string };

export interface SnapshotCut {
  readonly id: string;
  readonly points: readonly CutPoint[];
  /** Application messages crossing the cut forwards: the snapshot's channel states. */
  readonly crossing: readonly MessageLink[];
  /** Application messages crossing it backwards; a consistent cut has none. */
  readonly backwards: readonly MessageLink[];
  readonly channels: readonly ChannelComparison[];
  readonly agreement: Agreement;
  /** Every client recorded and every crossing message's receiver too. */
  readonly complete: boolean;
}

/** Markers and reports are the snapshot's own traffic, never part of a channel's state. */
export const isApplicationLink = (m: MessageLink): boolean => m.type !== 'MARKER' && m.type !== 'REPORT';

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, k) => x === b[k]);

export function computeCut(merged: MergedTrace, id: string, saved: SavedSnapshotLookup): SnapshotCut {
  const records = new Map<NodeId, TimelineEvent>();
  for (const e of merged.ordered) {
    if (e.event.kind === 'record' && e.event.snapshot === id && !records.has(e.node)) records.set(e.node, e);
  }
  if (records.size === 0) {
    const known = merged.snapshots.length > 0 ? `snapshots in it: ${merged.snapshots.join(', ')}` : 'it has no snapshots';
    throw new TraceError(TraceErrorKind.UnknownSnapshot, `snapshot ${id}: no client recorded it in this trace (${known})`);
  }
  const tracedNodes = merged.nodes.filter((n) => !merged.untracedNodes.includes(n));
  const points = tracedNodes.map((node) => ({ node, record: records.get(node) ?? null }));

  const crossing: MessageLink[] = [];
  const backwards: MessageLink[] = [];
  let complete = points.every((p) => p.record !== null);
  for (const m of merged.messages) {
    // A message lost with its connection was never in flight on the channel a snapshot records:
    // a channel's state is what its current connection carries.
    if (!isApplicationLink(m) || m.send === null || m.status === 'lost') continue;
    const sentAt = records.get(m.from);
    const recordedAt = records.get(m.to);
    if (sentAt === undefined) continue;
    const sentBefore = m.send.pos < sentAt.pos;
    if (recordedAt === undefined) {
      if (sentBefore && m.receive === null) complete = false;
      continue;
    }
    const receivedAfter = m.receive === null || m.receive.pos > recordedAt.pos;
    if (sentBefore && receivedAfter) crossing.push(m);
    else if (!sentBefore && !receivedAfter) backwards.push(m);
  }

  const stops = new Map<string, number>();
  for (const e of merged.ordered) {
    if (e.event.kind === 'channelStop' && e.event.snapshot === id) stops.set(`${e.event.from}>${e.node}`, e.event.messages);
  }
  const savedChannels = new Map<string, string[]>();
  if (saved.status === 'found') {
    for (const c of saved.snapshot.channels) savedChannels.set(`${c.from}>${c.to}`, c.messages.map(describeMessage));
  }
  const pairs = new Map<string, { from: NodeId; to: NodeId }>();
  for (const a of tracedNodes) for (const b of tracedNodes) if (a !== b) pairs.set(`${a}>${b}`, { from: a, to: b });
  if (saved.status === 'found') for (const c of saved.snapshot.channels) pairs.set(`${c.from}>${c.to}`, { from: c.from, to: c.to });
  const channels: ChannelComparison[] = [...pairs.entries()]
    .sort(([, x], [, y]) => x.from - y.from || x.to - y.to)
    .map(([key, { from, to }]) => {
      const onIt = crossing.filter((m) => m.from === from && m.to === to).map((m) => m.desc);
      const savedHere = saved.status === 'found' ? (savedChannels.get(key) ?? []) : null;
      return { from, to, crossing: onIt, saved: savedHere, stopCount: stops.get(key) ?? null, agrees: savedHere === null ? null : sameList(onIt, savedHere) };
    });

  let agreement: Agreement;
  switch (saved.status) {
    case 'found': {
      const bad = channels.filter((c) => c.agrees === false).map((c) => `${c.from}->${c.to}`);
      agreement = bad.length === 0 ? { kind: 'agrees', file: saved.file } : { kind: 'disagrees', file: saved.file, channels: bad };
      break;
    }
    case 'missing':
      agreement = { kind: 'noSavedSnapshot', detail: `no saved snapshot file (looked for ${saved.searched.join(', ')})` };
      break;
    case 'invalid':
      agreement = { kind: 'noSavedSnapshot', detail: `${saved.file} cannot be used: ${saved.reason}` };
      break;
  }
  return { id, points, crossing, backwards, channels, agreement, complete };
}

/** One line about the cut, for the CLI summary and the page. */
export function describeCut(cut: SnapshotCut): string {
  const n = cut.crossing.length;
  const parts = [`snapshot ${cut.id}: ${n} message${n === 1 ? '' : 's'} in flight across the cut`];
  const missing = cut.points.filter((p) => p.record === null).map((p) => `client${p.node}`);
  if (missing.length > 0) parts.push(`not recorded by ${missing.join(', ')}`);
  if (cut.backwards.length > 0) parts.push(`INCONSISTENT: ${cut.backwards.length} message(s) cross it backwards`);
  switch (cut.agreement.kind) {
    case 'agrees':
      parts.push(`the saved snapshot ${cut.agreement.file} records the same channel states`);
      break;
    case 'disagrees':
      parts.push(`the saved snapshot ${cut.agreement.file} records different channel states on ${cut.agreement.channels.join(', ')}`);
      break;
    case 'noSavedSnapshot':
      parts.push(cut.agreement.detail);
      break;
  }
  return parts.join('; ');
}
