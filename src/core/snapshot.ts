/**
 * Chandy-Lamport snapshots: one recorder per snapshot id on every client, one assembler at the
 * initiator, and the verification printed with every global snapshot.
 */
import type { GlobalSnapshot, Verification } from './api.js';
import { type Balances, applyBlock, balancesFromRecord, checkBlock, short } from './ledger.js';
import { formatCents } from './money.js';
import type { Block, ChannelState, LocalSnapshot, Message, NodeId, RecordedState, SnapshotId } from './types.js';

/** Markers and reports are the snapshot's own traffic, not part of any channel's state. */
export const isApplicationMessage = (m: Message): boolean => m.type !== 'MARKER' && m.type !== 'REPORT';

export class SnapshotRecorder {
  /** Incoming channels still being recorded, with what arrived on each since recording began. */
  protected readonly open = new Map<NodeId, Message[]>();
  protected readonly closed = new Map<NodeId, Message[]>();

  /**
   * Records `state` now and starts recording every incoming channel except the one the first
   * marker came on (`markerFrom`, null at the initiator), which is recorded empty.
   */
  constructor(
    readonly id: SnapshotId,
    readonly state: RecordedState,
    peers: readonly NodeId[],
    markerFrom: NodeId | null,
    readonly startedAt: number,
  ) {
    for (const p of peers) {
      if (p === markerFrom) this.closed.set(p, []);
      else this.open.set(p, []);
    }
  }

  /** A message that arrived on channel from -> self while this snapshot is running. */
  onMessage(from: NodeId, message: Message): void {
    if (isApplicationMessage(message)) this.open.get(from)?.push(message);
  }

  /** A later marker on channel from -> self: that channel's state is complete. */
  onMarker(from: NodeId): void {
    const recorded = this.open.get(from);
    if (!recorded) return;
    this.open.delete(from);
    this.closed.set(from, recorded);
  }

  isRecording(from: NodeId): boolean {
    return this.open.has(from);
  }

  get done(): boolean {
    return this.open.size === 0;
  }

  local(): LocalSnapshot {
    if (!this.done) throw new Error(`snapshot ${this.id.initiator}.${this.id.seq}: local() before every channel closed`);
    return { state: this.state, channels: [...this.closed.entries()].map(([from, messages]) => ({ from, messages })) };
  }
}

export class SnapshotAssembler {
  private readonly reports = new Map<NodeId, LocalSnapshot>();

  constructor(
    readonly id: SnapshotId,
    private readonly nodes: readonly NodeId[],
    readonly startedAt: number,
    readonly commandId: string,
  ) {}

  add(from: NodeId, local: LocalSnapshot): void {
    this.reports.set(from, local);
  }

  get complete(): boolean {
    return this.nodes.every((n) => this.reports.has(n));
  }

  missing(): NodeId[] {
    return this.nodes.filter((n) => !this.reports.has(n));
  }

  assemble(total: number): GlobalSnapshot {
    const nodes = this.nodes.map((n) => this.reports.get(n)!.state);
    const channels: ChannelState[] = [];
    for (const to of this.nodes) {
      for (const c of this.reports.get(to)!.channels) channels.push({ from: c.from, to, messages: c.messages });
    }
    channels.sort((a, b) => a.from - b.from || a.to - b.to);
    return {
      id: this.id,
      initiator: this.id.initiator,
      nodes,
      channels,
      markers: this.nodes.length * (this.nodes.length - 1),
      verification: verifySnapshot(nodes, channels, total),
    };
  }
}

function blocksIn(message: Message): readonly Block[] {
  if (message.type === 'RELEASE') return message.block ? [message.block] : [];
  if (message.type === 'BLOCKS') return message.blocks;
  return [];
}

/**
 * (1) Every recorded balance table sums to `total` and has no negative balance.
 * (2) Delivering each channel's recorded blocks (and each replica's buffered ones) to the
 *     recorded replica brings every replica to the same head with the same balances.
 */
export function verifySnapshot(nodes: readonly RecordedState[], channels: readonly ChannelState[], total: number): Verification {
  const problems: string[] = [];
  for (const s of nodes) {
    const values = Object.values(s.balances);
    const sum = values.reduce((a, b) => a + b, 0);
    if (sum !== total) problems.push(`client${s.node}'s balances sum to ${formatCents(sum)}, not ${formatCents(total)}`);
    for (const [who, amount] of Object.entries(s.balances)) {
      if (amount < 0) problems.push(`client${s.node} records client${who} at ${formatCents(amount)}`);
    }
  }

  const heads: { node: NodeId; height: number; hash: string; balances: Balances }[] = [];
  for (const s of nodes) {
    const incoming = new Map<number, Block>();
    const offer = (b: Block): void => {
      const seen = incoming.get(b.height);
      if (seen && seen.hash !== b.hash) problems.push(`two different blocks #${b.height} are on their way to client${s.node}`);
      else incoming.set(b.height, b);
    };
    for (const b of s.pendingBlocks) offer(b);
    for (const c of channels) if (c.to === s.node) for (const m of c.messages) for (const b of blocksIn(m)) offer(b);

    const balances = balancesFromRecord(s.balances);
    let head = { height: s.height, hash: s.head };
    for (let next = incoming.get(head.height + 1); next; next = incoming.get(head.height + 1)) {
      const check = checkBlock(head, balances, next);
      if (!check.ok) {
        problems.push(`replaying in-flight blocks at client${s.node}: ${check.error}`);
        break;
      }
      applyBlock(balances, next);
      head = { height: next.height, hash: next.hash };
    }
    const stale = incoming.get(s.height);
    if (stale && stale.hash !== s.head) problems.push(`client${s.node}'s block #${s.height} differs from one in flight to it`);
    heads.push({ node: s.node, ...head, balances });
  }

  const first = heads[0];
  if (first) {
    for (const h of heads.slice(1)) {
      if (h.height !== first.height || h.hash !== first.hash) {
        problems.push(`replicas disagree after delivering in-flight blocks: client${first.node} at #${first.height} ${short(first.hash)}, client${h.node} at #${h.height} ${short(h.hash)}`);
      } else {
        for (const [who, amount] of first.balances) {
          if (h.balances.get(who) !== amount) problems.push(`client${first.node} and client${h.node} disagree on client${who}'s balance at the same head`);
        }
      }
    }
  }
  return { ok: problems.length === 0, total, problems, head: first && problems.length === 0 ? { height: first.height, hash: first.hash } : null };
}
