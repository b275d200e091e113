/**
 * Snapshot checks made from outside the nodes: against the simulator's own record of what every
 * channel carried and when each client recorded, not against anything the nodes computed.
 */
import type { GlobalSnapshot } from '../../src/core/api.js';
import { describeMessage } from '../../src/core/describe.js';
import type { Block, Message, NodeId } from '../../src/core/types.js';

/** `deliveredAt` of a message lost with its connection. */
export const LOST = -2;

interface Sent {
  readonly message: Message;
  readonly sentAt: number;
  readonly deliveredAt: number;
}

export interface HistoryView {
  readonly total: number;
  /** Every block hash persisted at a height, as the simulator saw them. */
  readonly persisted: (height: number) => ReadonlySet<string> | undefined;
  /** Every replica must reach one head once the in-flight blocks are delivered (else: one chain). */
  readonly strictConvergence: boolean;
  /** The step at which `node` recorded its state for this snapshot. */
  readonly recordedAt: (node: NodeId) => number | undefined;
  readonly channelLog: (from: NodeId, to: NodeId) => readonly Sent[];
}

export class SnapshotCheckFailure extends Error {}

const isApplication = (m: Message): boolean => m.type !== 'MARKER' && m.type !== 'REPORT';

/** Throws on the first violation; returns how many in-flight messages the snapshot holds. */
export function checkSnapshotAgainstHistory(s: GlobalSnapshot, view: HistoryView): number {
  const fail = (what: string): never => {
    throw new SnapshotCheckFailure(`snapshot ${s.id.initiator}.${s.id.seq}: ${what}`);
  };
  const ids = s.nodes.map((n) => n.node);
  for (const n of s.nodes) {
    if (n.height > 0 && !view.persisted(n.height)?.has(n.head)) fail(`client${n.node} recorded head #${n.height} that no client ever persisted`);
    let sum = 0;
    for (const [who, v] of Object.entries(n.balances)) {
      if (v < 0) fail(`client${n.node} recorded client${who} at ${v}`);
      sum += v;
    }
    if (sum !== view.total) fail(`client${n.node}'s recorded balances sum to ${sum}, not ${view.total}`);
  }

  // Each channel's state is exactly what its sender sent before recording and its receiver
  // received after recording: the definition of a consistent cut's channel state.
  let inFlight = 0;
  for (const from of ids) {
    for (const to of ids) {
      if (from === to) continue;
      const sentBefore = view.recordedAt(from);
      const receivedAfter = view.recordedAt(to);
      if (sentBefore === undefined || receivedAfter === undefined) fail(`client${sentBefore === undefined ? from : to} never recorded`);
      const expected = view
        .channelLog(from, to)
        .filter((e) => isApplication(e.message) && e.deliveredAt !== LOST && e.sentAt < sentBefore! && (e.deliveredAt === -1 || e.deliveredAt > receivedAfter!))
        .map((e) => describeMessage(e.message));
      const channel = s.channels.find((c) => c.from === from && c.to === to);
      const recorded = (channel?.messages ?? []).map(describeMessage);
      if (expected.join('\n') !== recorded.join('\n')) {
        fail(`channel ${from}->${to} recorded [${recorded.join(' | ')}] but [${expected.join(' | ')}] was in flight`);
      }
      inFlight += recorded.length;
    }
  }

  // Deliver the recorded in-flight blocks: every replica must reach one head with one balance table.
  let reached: { height: number; hash: string; balances: string } | null = null;
  const heads = new Map<number, string>();
  for (const n of s.nodes) {
    const blocks = new Map<number, Block>();
    for (const b of n.pendingBlocks) blocks.set(b.height, b);
    for (const c of s.channels) {
      if (c.to !== n.node) continue;
      for (const m of c.messages) {
        if (m.type === 'RELEASE' && m.block) blocks.set(m.block.height, m.block);
        if (m.type === 'BLOCKS') for (const b of m.blocks) blocks.set(b.height, b);
      }
    }
    const balances = new Map(Object.entries(n.balances).map(([k, v]) => [Number(k), v]));
    let height = n.height;
    let hash = n.head;
    for (let b = blocks.get(height + 1); b && b.prevHash === hash; b = blocks.get(height + 1)) {
      for (const tx of b.txs) {
        balances.set(tx.from, balances.get(tx.from)! - tx.amount);
        balances.set(tx.to, balances.get(tx.to)! + tx.amount);
      }
      height = b.height;
      hash = b.hash;
    }
    const table = JSON.stringify([...balances.entries()].sort(([a], [b]) => a - b));
    if ([...balances.values()].some((v) => v < 0)) fail(`client${n.node} goes negative when its in-flight blocks are delivered`);
    if (!view.strictConvergence) {
      // Lagging is allowed: a replica that lost blocks fetches them later. Forks are not.
      const other = heads.get(height);
      if (other !== undefined && other !== `${hash}|${table}`) fail(`after delivering in-flight blocks two replicas differ at #${height}`);
      heads.set(height, `${hash}|${table}`);
      continue;
    }
    if (!reached) reached = { height, hash, balances: table };
    else if (reached.height !== height || reached.hash !== hash || reached.balances !== table) {
      fail(`after delivering in-flight blocks client${n.node} is at #${height}, another replica at #${reached.height}`);
    }
  }
  return inFlight;
}
