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

/**
 * What a client had sent to and received from one peer on the current session when it recorded
 * its state: how many protocol messages (markers and reports aside) and a running digest of each
 * sequence (digest.ts). A session starts from nothing: what was in flight when an earlier one
 * dropped is gone, and the counts and digests say so.
 */
export interface ChannelRecord {
  readonly peer: NodeId;
  readonly sent: number;
  readonly received: number;
  readonly sentDigest: string;
  readonly receivedDigest: string;
  /** The timestamp of the last message received from `peer` this session (0 before the first). */
  readonly lastReceivedTs: number;
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
  /** Per peer, messages sent and received on the current sessions (see ChannelRecord). */
  readonly channels: readonly ChannelRecord[];
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

/**
 * The wire message union. Every message carries the sender's Lamport clock. The lock messages
 * also carry the sender's chain height and membership view (see `Node`), so that nobody enters
 * the critical section on a chain shorter than one a peer already holds.
 */
export type Message =
  | { readonly type: 'REQUEST'; readonly ts: number; readonly height: number; readonly view: number }
  | { readonly type: 'REPLY'; readonly ts: number; readonly height: number; readonly view: number }
  /** Ends a lock round; carries the block it committed, or null when nothing was committed. */
  | { readonly type: 'RELEASE'; readonly ts: number; readonly height: number; readonly view: number; readonly block: Block | null }
  | { readonly type: 'MARKER'; readonly ts: number; readonly snapshot: SnapshotId }
  /**
   * A client's part of a snapshot, to the initiator. `local` is null when the part could not be
   * sent (too large for a frame); `error` then says why, and the snapshot fails with it.
   */
  | { readonly type: 'REPORT'; readonly ts: number; readonly snapshot: SnapshotId; readonly local: LocalSnapshot | null; readonly error?: string }
  /** Asks for consecutive blocks from height `from` (a client that is behind). */
  | { readonly type: 'FETCH'; readonly ts: number; readonly from: number }
  /**
   * Consecutive blocks the receiver lacks: first thing on a new connection, or the answer to a
   * FETCH. `last` marks the final message of one such serve.
   */
  | { readonly type: 'BLOCKS'; readonly ts: number; readonly blocks: readonly Block[]; readonly last: boolean };

export type MessageType = Message['type'];

/** Markers and reports are the snapshot's own traffic, not part of any channel's state. */
export const isApplicationMessage = (m: Message): boolean => m.type !== 'MARKER' && m.type !== 'REPORT';

/** The default of an exhaustive switch: reached only when a case was forgotten (a programmer error). */
export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
