/**
 * A snapshot's verdict as the page shows it, built in one place for the live stream (the record
 * a client sends as it saves it) and for a replay (the record read back from its file).
 */
import type { VerificationCheck } from '../core/api.js';
import { describeMessage } from '../core/describe.js';
import type { Message, NodeId } from '../core/types.js';
import type { SnapshotItem } from './items.js';

/** Messages of one channel state the page is sent (the count is always whole). */
export const MESSAGES_PER_CHANNEL = 20;

/** What the page's item is made of: a saved snapshot record, or as much of one as a file holds. */
export interface SnapshotForPage {
  readonly id: string;
  readonly initiator: NodeId;
  readonly verified: boolean;
  readonly verdict: string;
  readonly channels: readonly { readonly from: NodeId; readonly to: NodeId; readonly messages: readonly Message[] }[];
  /** The verdict's checks (none in a file saved before snapshots kept them). */
  readonly checks: readonly Pick<VerificationCheck, 'name' | 'ok' | 'detail' | 'problems'>[];
  readonly markers: number;
  readonly elapsedMs: number;
}

export function snapshotItem(s: SnapshotForPage): SnapshotItem {
  return {
    t: 'snapshot',
    id: s.id,
    initiator: s.initiator,
    verified: s.verified,
    verdict: s.verdict,
    // A failed check shows its problems, a passed one what it found.
    checks: s.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.ok ? c.detail : c.problems.join('; ') })),
    channels: s.channels.map((c) => ({ from: c.from, to: c.to, count: c.messages.length, messages: c.messages.slice(0, MESSAGES_PER_CHANNEL).map(describeMessage) })),
    markers: s.markers,
    elapsedMs: s.elapsedMs,
  };
}
