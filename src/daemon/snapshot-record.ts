/**
 * The saved form of a global snapshot: the JSON record the initiator writes to
 * `<data-dir>/snapshots/<id>.json` and answers with. Its `verdict` is one line, so that a
 * listing or a viewer of saved files needs nothing but the record.
 */
import type { GlobalSnapshot } from '../core/api.js';
import { short } from '../core/ledger.js';
import { formatCents } from '../core/money.js';
import { type NodeId, snapshotKey } from '../core/types.js';

export interface SnapshotRecord {
  /** `<initiator>.<seq>` */
  readonly id: string;
  readonly initiator: NodeId;
  readonly verified: boolean;
  readonly verdict: string;
  /** ISO 8601, when the snapshot completed. */
  readonly takenAt: string;
  /** From the start at the initiator to the last report in (0 if the start was not seen). */
  readonly elapsedMs: number;
  readonly markers: number;
  readonly nodes: GlobalSnapshot['nodes'];
  readonly channels: GlobalSnapshot['channels'];
  readonly verification: GlobalSnapshot['verification'];
}

/** One saved snapshot in a listing; a file this program cannot read is listed as unreadable, not skipped. */
export interface SnapshotSummary {
  readonly id: string;
  readonly takenAt: string;
  readonly verified: boolean;
  readonly verdict: string;
}

export const UNREADABLE_VERDICT = '(unreadable file)';

/** The verdict in one line: what held, or every violation. */
export function verdict(s: GlobalSnapshot): string {
  const v = s.verification;
  if (!v.ok) return `NOT VERIFIED: ${v.problems.join('; ')}`;
  const behind = v.behind.length > 0 ? `; ${v.behind.map((b) => `client${b.node} at #${b.height}`).join(', ')} still catching up` : '';
  return `verified: ${v.checks.length} checks passed, ${formatCents(v.total)} conserved${v.head ? `, replicas at #${v.head.height} ${short(v.head.hash)}` : ''}${behind}`;
}

export function snapshotRecord(s: GlobalSnapshot, elapsedMs: number, takenAt: Date): SnapshotRecord {
  return {
    id: snapshotKey(s.id),
    initiator: s.initiator,
    verified: s.verification.ok,
    verdict: verdict(s),
    takenAt: takenAt.toISOString(),
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    markers: s.markers,
    nodes: s.nodes,
    channels: s.channels,
    verification: s.verification,
  };
}

/** Whether a value read from a file is a record this program wrote (files can be edited). */
export function isSnapshotRecord(value: unknown): value is SnapshotRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Record<keyof SnapshotRecord, unknown>>;
  return (
    typeof r.id === 'string' &&
    typeof r.verdict === 'string' &&
    typeof r.takenAt === 'string' &&
    typeof r.verified === 'boolean' &&
    Array.isArray(r.nodes) &&
    Array.isArray(r.channels) &&
    typeof r.markers === 'number'
  );
}

export function summaryOf(r: SnapshotRecord): SnapshotSummary {
  return { id: r.id, takenAt: r.takenAt, verified: r.verified, verdict: r.verdict };
}
