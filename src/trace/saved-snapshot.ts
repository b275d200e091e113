/**
 * The snapshot a client saved as `<data-dir>/snapshots/<id>.json` (the initiator saves it), read
 * only as far as the viewer needs: who recorded what, and each channel's recorded messages.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { VERIFICATION_CHECKS, type VerificationCheckName } from '../core/api.js';
import type { Message, NodeId } from '../core/types.js';
import { describeCause } from '../base/errors.js';
import { SNAPSHOT_DIR } from '../daemon/snapshot-files.js';

export interface SavedNode {
  readonly node: NodeId;
  readonly clock: number;
  readonly height: number;
  readonly head: string;
  readonly balances: Readonly<Record<string, number>>;
}

export interface SavedChannel {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: readonly Message[];
}

/** One check of the saved verdict (`verification.checks` in the file). */
export interface SavedCheck {
  readonly name: VerificationCheckName;
  readonly ok: boolean;
  readonly detail: string;
  readonly problems: readonly string[];
}

export interface SavedSnapshot {
  readonly id: string;
  readonly initiator: NodeId;
  readonly verified: boolean;
  readonly verdict: string;
  readonly nodes: readonly SavedNode[];
  readonly channels: readonly SavedChannel[];
  /** The verdict's checks, the markers sent and the time taken: absent from files of earlier versions, or not as expected. */
  readonly checks?: readonly SavedCheck[];
  readonly markers?: number;
  readonly elapsedMs?: number;
}

export type SavedSnapshotLookup =
  | { readonly status: 'found'; readonly file: string; readonly snapshot: SavedSnapshot }
  | { readonly status: 'missing'; readonly searched: readonly string[] }
  | { readonly status: 'invalid'; readonly file: string; readonly reason: string };

type Fields = Readonly<Record<string, unknown>>;
const isObject = (x: unknown): x is Fields => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const isSnapshotIdObject = (x: unknown): boolean => isObject(x) && isInt(x.initiator) && isInt(x.seq);
const isBlockLike = (x: unknown): boolean => isObject(x) && isInt(x.height) && typeof x.hash === 'string' && isInt(x.creator) && Array.isArray(x.txs);

/** Enough of a Message for describeMessage() to render it without throwing. */
export function isMessage(x: unknown): x is Message {
  if (!isObject(x) || !isInt(x.ts)) return false;
  switch (x.type) {
    case 'REQUEST':
    case 'REPLY':
      return true;
    case 'RELEASE':
      return x.block === null || isBlockLike(x.block);
    case 'MARKER':
      return isSnapshotIdObject(x.snapshot);
    case 'REPORT': {
      const local = x.local;
      return isSnapshotIdObject(x.snapshot) && isObject(local) && isObject(local.state) && isInt(local.state.node) && isInt(local.state.height) &&
        Array.isArray(local.channels) && local.channels.every((c) => isObject(c) && Array.isArray(c.messages));
    }
    case 'BLOCKS':
      return Array.isArray(x.blocks) && x.blocks.every(isBlockLike);
    default:
      return false;
  }
}

const isCheck = (c: unknown): boolean =>
  isObject(c) && (VERIFICATION_CHECKS as readonly unknown[]).includes(c.name) && typeof c.ok === 'boolean' && typeof c.detail === 'string' && Array.isArray(c.problems) && c.problems.every((p) => typeof p === 'string');

function checkSnapshot(x: unknown): { ok: true; snapshot: SavedSnapshot } | { ok: false; reason: string } {
  if (!isObject(x)) return { ok: false, reason: 'not a JSON object' };
  if (typeof x.id !== 'string' || !isInt(x.initiator) || typeof x.verified !== 'boolean' || typeof x.verdict !== 'string') {
    return { ok: false, reason: 'id, initiator, verified or verdict missing' };
  }
  if (!Array.isArray(x.nodes) || !x.nodes.every((n) => isObject(n) && isInt(n.node) && isInt(n.clock) && isInt(n.height) && typeof n.head === 'string' && isObject(n.balances))) {
    return { ok: false, reason: 'nodes: expected a list of recorded states' };
  }
  if (!Array.isArray(x.channels)) return { ok: false, reason: 'channels: expected a list' };
  for (const [k, c] of x.channels.entries()) {
    if (!isObject(c) || !isInt(c.from) || !isInt(c.to) || !Array.isArray(c.messages)) return { ok: false, reason: `channels[${k}]: expected { from, to, messages }` };
    const bad = c.messages.findIndex((m) => !isMessage(m));
    if (bad >= 0) return { ok: false, reason: `channels[${k}].messages[${bad}]: not a protocol message` };
  }
  // Checked field by field above; what a viewer can do without is kept only when well formed.
  const v = x.verification;
  const checks = isObject(v) && Array.isArray(v.checks) && v.checks.every(isCheck) ? (v.checks as SavedCheck[]) : undefined;
  const extra = {
    ...(checks !== undefined ? { checks } : {}),
    ...(isInt(x.markers) ? { markers: x.markers } : {}),
    ...(typeof x.elapsedMs === 'number' && Number.isFinite(x.elapsedMs) ? { elapsedMs: x.elapsedMs } : {}),
  };
  const { id, initiator, verified, verdict, nodes, channels } = x as unknown as SavedSnapshot;
  return { ok: true, snapshot: { id, initiator, verified, verdict, nodes, channels, ...extra } };
}

/**
 * Looks for `snapshots/<id>.json` in each data dir (only the initiator's has it). A file that
 * exists but cannot be used is reported, not thrown: the trace can still be drawn without it.
 */
export function findSavedSnapshot(dataDirs: readonly string[], id: string): SavedSnapshotLookup {
  const searched: string[] = [];
  for (const dir of dataDirs) {
    const file = path.join(dir, SNAPSHOT_DIR, `${id}.json`);
    searched.push(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return { status: 'invalid', file, reason: `cannot read: ${describeCause(e)}` };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { status: 'invalid', file, reason: `not JSON: ${describeCause(e)}` };
    }
    const checked = checkSnapshot(value);
    if (!checked.ok) return { status: 'invalid', file, reason: checked.reason };
    if (checked.snapshot.id !== id) return { status: 'invalid', file, reason: `holds snapshot ${checked.snapshot.id}, not ${id}` };
    return { status: 'found', file, snapshot: checked.snapshot };
  }
  return { status: 'missing', searched };
}
