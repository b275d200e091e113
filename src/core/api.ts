/**
 * The contract between the pure core and everything that does I/O.
 * The daemon (and the simulator) feed `Input`s to `Node.step` one at a time and carry out the
 * returned `Effect`s in order: persist before send, so a block is on disk before a peer sees it.
 */
import type { Block, Cents, ChannelState, Message, NodeId, QueueEntry, RecordedState, SnapshotId } from './types.js';

export type Command =
  | { readonly type: 'transfer'; readonly to: NodeId; readonly amount: Cents }
  | { readonly type: 'snapshot' };

export type Input =
  | { readonly kind: 'command'; readonly id: string; readonly command: Command }
  | { readonly kind: 'receive'; readonly from: NodeId; readonly message: Message }
  /**
   * Both directed channels with `peer` are connected and handshaken; `height` is the peer's chain
   * height from its handshake, so catch-up needs no round trip.
   */
  | { readonly kind: 'peerUp'; readonly peer: NodeId; readonly height: number }
  /** Either channel with `peer` was lost; messages on it may have been lost too. */
  | { readonly kind: 'peerDown'; readonly peer: NodeId }
  /** Time passes (milliseconds, from any fixed origin). Drives timeouts only. */
  | { readonly kind: 'tick'; readonly now: number };

export interface Verification {
  readonly ok: boolean;
  /** Sum of the genesis balances: what every recorded table must add up to. */
  readonly total: Cents;
  /** Human-readable violations; empty when ok. */
  readonly problems: readonly string[];
  /** Where every replica ends up once the recorded in-flight blocks are delivered. */
  readonly head: { readonly height: number; readonly hash: string } | null;
}

export interface GlobalSnapshot {
  readonly id: SnapshotId;
  readonly initiator: NodeId;
  readonly nodes: readonly RecordedState[];
  readonly channels: readonly ChannelState[];
  /** Markers sent for this snapshot across the cluster: N(N-1). */
  readonly markers: number;
  readonly verification: Verification;
}

export type TransferFailure = 'insufficient' | 'timeout' | 'invalid';

export type CommandResult =
  | {
      readonly type: 'transfer';
      readonly ok: true;
      readonly status: 'SUCCESS';
      readonly txId: string;
      readonly block: number;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      /** Lamport clock when the block was created. */
      readonly clock: number;
      /** Messages of the lock round that committed it: 3(N-1). */
      readonly msgs: number;
      /** Transfers committed in the same block. */
      readonly batch: number;
    }
  | {
      readonly type: 'transfer';
      readonly ok: false;
      readonly status: 'FAILED';
      readonly reason: TransferFailure;
      readonly error: string;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      /** The sender's balance when it failed for lack of money. */
      readonly balance?: Cents;
    }
  | { readonly type: 'snapshot'; readonly ok: true; readonly snapshot: GlobalSnapshot }
  | {
      readonly type: 'snapshot';
      readonly ok: false;
      readonly id: SnapshotId;
      readonly error: string;
      /** Clients whose report never arrived. */
      readonly missing: readonly NodeId[];
    };

/** Things that happened, for logs, traces and the REPL's asynchronous lines. */
export type CoreEvent =
  | { readonly type: 'waitingForPeers'; readonly commandId: string; readonly peers: readonly NodeId[] }
  | { readonly type: 'requested'; readonly ts: number; readonly transfers: number }
  /** The critical section, building on block `height`. */
  | { readonly type: 'entered'; readonly ts: number; readonly transfers: number; readonly height: number }
  | { readonly type: 'withdrawn'; readonly ts: number; readonly reason: string }
  | { readonly type: 'blockApplied'; readonly block: Block; readonly from: NodeId | null }
  | { readonly type: 'blockRejected'; readonly from: NodeId; readonly height: number; readonly reason: string }
  | { readonly type: 'catchingUp'; readonly peer: NodeId; readonly from: number; readonly to: number }
  | { readonly type: 'snapshotStarted'; readonly id: SnapshotId; readonly from: NodeId | null }
  | { readonly type: 'snapshotRecorded'; readonly id: SnapshotId }
  | { readonly type: 'snapshotAbandoned'; readonly id: SnapshotId; readonly missing: readonly NodeId[] }
  | { readonly type: 'protocolError'; readonly from: NodeId; readonly error: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  | { readonly kind: 'send'; readonly to: NodeId; readonly message: Message }
  /** Append to the durable chain, synchronously, before any later `send` is carried out. */
  | { readonly kind: 'persist'; readonly block: Block }
  /**
   * Read blocks [fromHeight, toHeight] from the durable chain and send them to `to` as BLOCKS
   * messages stamped `ts`, in this position of the effect order (the core does not hold the chain).
   */
  | { readonly kind: 'serveBlocks'; readonly to: NodeId; readonly fromHeight: number; readonly toHeight: number; readonly ts: number }
  | { readonly kind: 'reply'; readonly commandId: string; readonly result: CommandResult }
  /** Every completed global snapshot at its initiator, whether or not a command asked for it. */
  | { readonly kind: 'snapshotComplete'; readonly snapshot: GlobalSnapshot }
  | { readonly kind: 'log'; readonly level: LogLevel; readonly event: CoreEvent };

export interface NodeStatus {
  readonly id: NodeId;
  readonly clock: number;
  readonly height: number;
  readonly head: string;
  readonly queue: readonly QueueEntry[];
  /** Own outstanding lock request, if any. */
  readonly requesting: QueueEntry | null;
  readonly pendingTransfers: number;
  readonly peersUp: readonly NodeId[];
  readonly snapshotsInProgress: number;
  readonly pendingBlocks: number;
}
