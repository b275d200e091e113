/**
 * Chandy-Lamport snapshots: one recorder per snapshot id on every client, one assembler at the
 * initiator, and the verification printed with every global snapshot.
 */
import type { GlobalSnapshot } from './api.js';
import { type ChainAtHead, heightToReach, verifySnapshot } from './verify.js';
import { type ChannelState, type LocalSnapshot, type Message, type NodeId, type RecordedState, type SnapshotId, isApplicationMessage } from './types.js';

export class SnapshotRecorder {
  /** Incoming channels still being recorded, with what arrived on each since recording began. */
  private readonly open = new Map<NodeId, Message[]>();
  private readonly closed = new Map<NodeId, Message[]>();

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

  /** The peers whose channel is still being recorded (their marker has not arrived). */
  recording(): NodeId[] {
    return [...this.open.keys()];
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

  /**
   * The height the initiator's chain must reach to compare every block the reports name (see
   * verify.ts), and the client that recorded the highest head: it holds the blocks up to it.
   */
  heightToReach(): { height: number; holder: NodeId } {
    const reports = [...this.reports.values()];
    const height = heightToReach(reports.map((r) => r.state), reports.flatMap((r) => r.channels));
    const holder = reports.reduce((a, r) => (r.state.height > a.state.height ? r : a), reports[0]!).state.node;
    return { height, holder };
  }

  /** The global snapshot and its verdict, against the initiator's chain as it is now. */
  assemble(total: number, chain: ChainAtHead): GlobalSnapshot {
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
      verification: verifySnapshot(nodes, channels, total, this.id.initiator, chain),
    };
  }
}

