/** Client ids are small positive integers, 1..N, fixed by the cluster config. */
export type NodeId = number;

/** Money is always an exact integer number of cents; never a float. */
export type Cents = number;

export interface Tx {
  /** Unique across the cluster; chosen by the client that issued the transfer. */
  readonly id: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly amount: Cents;
}

export interface Block {
  readonly height: number;
  readonly prevHash: string;
  /** Lamport timestamp of the critical section that created the block. */
  readonly ts: number;
  readonly creator: NodeId;
  readonly txs: readonly Tx[];
  /** SHA-256 (hex) of the canonical encoding of every field above. */
  readonly hash: string;
}

/** Snapshot ids are (initiator, per-initiator sequence number). */
export interface SnapshotId {
  readonly initiator: NodeId;
  readonly seq: number;
}

export const snapshotKey = (id: SnapshotId): string => `${id.initiator}.${id.seq}`;

export interface QueueEntry {
  readonly ts: number;
  readonly node: NodeId;
}

/** What one client records of itself when a snapshot reaches it. */
export interface RecordedState {
  readonly node: NodeId;
  readonly clock: number;
  readonly height: number;
  readonly head: string;
  /** Balance table as this replica sees it, indexed by node id (as string keys for JSON). */
  readonly balances: Readonly<Record<string, Cents>>;
  /** Blocks received above the head that could not be applied yet (out of height order). */
  readonly pendingBlocks: readonly Block[];
  readonly queue: readonly QueueEntry[];
}

/** One client's contribution to a global snapshot: its state and its incoming channels. */
export interface LocalSnapshot {
  readonly state: RecordedState;
  /** Incoming channel from `from` to this node: the messages that arrived while it was recorded. */
  readonly channels: readonly { readonly from: NodeId; readonly messages: readonly Message[] }[];
}

export interface ChannelState {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: readonly Message[];
}

/** The wire message union. Every message carries the sender's Lamport clock. */
export type Message =
  | { readonly type: 'REQUEST'; readonly ts: number }
  | { readonly type: 'REPLY'; readonly ts: number }
  /** Ends a lock round; carries the block it committed, or null when nothing was committed. */
  | { readonly type: 'RELEASE'; readonly ts: number; readonly block: Block | null }
  | { readonly type: 'MARKER'; readonly ts: number; readonly snapshot: SnapshotId }
  | { readonly type: 'REPORT'; readonly ts: number; readonly snapshot: SnapshotId; readonly local: LocalSnapshot }
  /** Catch-up after a (re)connection: consecutive blocks the receiver lacks, sent first thing. */
  | { readonly type: 'BLOCKS'; readonly ts: number; readonly blocks: readonly Block[] };
