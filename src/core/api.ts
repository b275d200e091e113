/**
 * The contract between the pure core and everything that does I/O.
 * The daemon (and the simulator) feed `Input`s to `Node.step` one at a time and carry out the
 * returned `Effect`s in order: persist before send, so a block is on disk before a peer sees it.
 */
import type { Block, Cents, ChannelState, Message, NodeId, QueueEntry, RecordedState, SnapshotId } from './types.js';

export type Command =
  /**
   * `key` names the transfer for good: it commits at most once in the chain's life (see
   * transfers.ts). `madeHere`: this client made the key for this command (random, new), so it
   * need not be looked up at arrival; the critical section looks it up as any other.
   */
  | { readonly type: 'transfer'; readonly to: NodeId; readonly amount: Cents; readonly key: string; readonly madeHere?: boolean }
  /** Gives up the transfer `key` if it has not committed: it leaves the queue, and nothing moves. */
  | { readonly type: 'withdraw'; readonly key: string }
  | { readonly type: 'snapshot' };

export type Input =
  | { readonly kind: 'command'; readonly id: string; readonly command: Command }
  | { readonly kind: 'receive'; readonly from: NodeId; readonly message: Message }
  /**
   * Both directed channels with `peer` are connected and handshaken; `height` is the peer's chain
   * height from its handshake, so catch-up needs no round trip; `incarnation` names the peer's
   * process run (a restarted peer has a new one).
   */
  | { readonly kind: 'peerUp'; readonly peer: NodeId; readonly height: number; readonly incarnation: number }
  /** Either channel with `peer` was lost; messages on it may have been lost too. */
  | { readonly kind: 'peerDown'; readonly peer: NodeId }
  /** Time passes (milliseconds, from any fixed origin). Drives timeouts only. */
  | { readonly kind: 'tick'; readonly now: number };

/** The checks a snapshot's verdict makes, in the order it reports them. */
export const VERIFICATION_CHECKS = ['channels', 'sent before the cut', 'clocks and queues', 'money', 'one history'] as const;
export type VerificationCheckName = (typeof VERIFICATION_CHECKS)[number];

export interface VerificationCheck {
  readonly name: VerificationCheckName;
  readonly ok: boolean;
  /** What held, in a few words, or the violations found. */
  readonly detail: string;
  readonly problems: readonly string[];
}

export interface Verification {
  readonly ok: boolean;
  /** Sum of the genesis balances: what every recorded table must add up to. */
  readonly total: Cents;
  /** Each check made, whether or not it passed. */
  readonly checks: readonly VerificationCheck[];
  /** Human-readable violations of every check; empty when ok. */
  readonly problems: readonly string[];
  /** The highest head any replica reaches once the recorded in-flight blocks are delivered. */
  readonly head: { readonly height: number; readonly hash: string } | null;
  /** Replicas still below that head once the in-flight blocks are delivered (they catch up later). */
  readonly behind: readonly { readonly node: NodeId; readonly height: number }[];
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

/** Why a transfer failed; `conflict`: its key already names another transfer. */
export type TransferFailure = 'insufficient' | 'timeout' | 'invalid' | 'conflict';

/** The transfer a key already names: committed in `block`, or still pending here (`block` null). */
export interface KeyHolder {
  readonly block: number | null;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly amount: Cents;
}

/**
 * What became of the transfer with one key, as far as this client knows: committed in its chain,
 * pending in its queue, withdrawn or failed lately (a bounded memory), or unknown.
 */
export type TxState =
  | {
      readonly state: 'committed';
      readonly txId: string;
      readonly block: number;
      readonly hash: string;
      /** Lamport clock when the block was created. */
      readonly clock: number;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
    }
  | {
      readonly state: 'pending';
      readonly txId: string;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      /** Whether this client's lock request is out (the transfer goes into the round's block). */
      readonly requested: boolean;
      /** What the transfer waits for. */
      readonly wait: LockWait;
    }
  | { readonly state: 'withdrawn'; readonly txId: string; readonly from: NodeId; readonly to: NodeId; readonly amount: Cents }
  | {
      readonly state: 'failed';
      readonly txId: string;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      readonly reason: TransferFailure;
      readonly error: string;
    }
  | { readonly state: 'unknown'; readonly txId: string };

export type CommandResult =
  | {
      readonly type: 'transfer';
      readonly ok: true;
      readonly status: 'SUCCESS';
      readonly txId: string;
      /** The key was already committed, with this content: this is its first outcome, and nothing moved now. */
      readonly repeat: boolean;
      readonly block: number;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      /** Lamport clock when the block was created. */
      readonly clock: number;
      /** Messages of the lock round that committed it: 3(N-1); 0 for a repeat (no round of its own). */
      readonly msgs: number;
      /** Transfers committed in the same block. */
      readonly batch: number;
    }
  | {
      readonly type: 'transfer';
      readonly ok: false;
      readonly status: 'FAILED';
      readonly txId: string;
      readonly reason: TransferFailure;
      readonly error: string;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
      /** The sender's balance when it failed for lack of money. */
      readonly balance?: Cents;
      /** For a conflict: the transfer the key already names. */
      readonly first?: KeyHolder;
    }
  /** Given up before it committed (`withdraw`): nothing moved. */
  | {
      readonly type: 'transfer';
      readonly ok: false;
      readonly status: 'WITHDRAWN';
      readonly txId: string;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly amount: Cents;
    }
  /** What became of the transfer a `withdraw` named. */
  | { readonly type: 'withdraw'; readonly state: TxState }
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
  | { readonly type: 'waitingForPeers'; readonly key: string; readonly peers: readonly NodeId[] }
  | { readonly type: 'requested'; readonly ts: number; readonly transfers: number }
  /** The critical section, building on block `height`. */
  | { readonly type: 'entered'; readonly ts: number; readonly transfers: number; readonly height: number }
  /** Left the critical section, having committed block `block` (null: every transfer failed). */
  | { readonly type: 'left'; readonly ts: number; readonly block: number | null }
  | { readonly type: 'withdrawn'; readonly ts: number; readonly reason: string }
  /** The transfer `key` left the queue uncommitted at its caller's asking. */
  | { readonly type: 'transferWithdrawn'; readonly key: string }
  | { readonly type: 'blockApplied'; readonly block: Block; readonly from: NodeId | null }
  | { readonly type: 'blockRejected'; readonly from: NodeId; readonly height: number; readonly reason: string }
  /** Blocks above the head not held (see MAX_HELD_BLOCKS): `count` of them, from `lowest` to `highest`. */
  | { readonly type: 'blocksRefused'; readonly from: NodeId; readonly count: number; readonly lowest: number; readonly highest: number; readonly reason: string }
  /** Asked `peer` for the blocks from `from` on: it told of a chain up to `to`. */
  | { readonly type: 'catchingUp'; readonly peer: NodeId; readonly from: number; readonly to: number }
  /** Asked `peers` for any blocks from `from` on, a while after a session ended or formed again. */
  | { readonly type: 'rechecking'; readonly peers: readonly NodeId[]; readonly from: number }
  /** Sent `peer` the blocks `from..to` it lacks (on its reconnection, or at its asking). */
  | { readonly type: 'served'; readonly peer: NodeId; readonly from: number; readonly to: number }
  | { readonly type: 'snapshotStarted'; readonly id: SnapshotId; readonly from: NodeId | null }
  | { readonly type: 'snapshotRecorded'; readonly id: SnapshotId }
  | { readonly type: 'snapshotAbandoned'; readonly id: SnapshotId; readonly missing: readonly NodeId[] }
  | { readonly type: 'protocolError'; readonly from: NodeId; readonly error: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  | { readonly kind: 'send'; readonly to: NodeId; readonly message: Message }
  /**
   * Append to the durable chain before any later effect is carried out. With `sync`, the write
   * must also be on stable storage (fdatasync) by then: this client created the block, and the
   * RELEASE and the replies that follow tell the world it exists.
   */
  | { readonly kind: 'persist'; readonly block: Block; readonly sync: boolean }
  | { readonly kind: 'reply'; readonly commandId: string; readonly result: CommandResult }
  /** Every completed global snapshot at its initiator, whether or not a command asked for it. */
  | { readonly kind: 'snapshotComplete'; readonly snapshot: GlobalSnapshot }
  | { readonly kind: 'log'; readonly level: LogLevel; readonly event: CoreEvent };

/**
 * Read access to the durable chain (the core keeps only its head): blocks `from..to`, both
 * inclusive, all at or below the head the core knows. Synchronous, like etcd's raft Storage: the
 * daemon reads its chain file, the simulator an array.
 */
export interface ChainReader {
  readBlocks(from: number, to: number): readonly Block[];
}

/**
 * Where each transfer key of the chain is, for the rule that a key commits at most once. Like
 * `ChainReader`, synchronous and injected: the daemon keeps a bounded index on disk beside the
 * chain file (src/daemon/tx-index.ts), tests and the simulator a map. The core adds each block as
 * it appends it (so that a lookup later in the same step sees it), and reads the block a height
 * names to confirm a match: an index may answer by fingerprint, and a wrong candidate costs one
 * read, never a wrong answer. Given to the core already holding every block of the chain it starts
 * from, genesis included.
 */
export interface TxIndex {
  /** Heights of blocks that may hold a transfer with this key: all that do, and perhaps others. */
  find(key: string): readonly number[];
  /** Indexes the keys of `block`, the chain's new head. */
  add(block: Block): void;
}

/** Why the lock is not held yet: what `status` shows and a transfer timeout says. */
export type LockWait =
  | { readonly kind: 'peersDown'; readonly peers: readonly NodeId[] }
  | { readonly kind: 'queuedBehind'; readonly entries: readonly QueueEntry[] }
  | { readonly kind: 'noLaterMessage'; readonly peers: readonly NodeId[] }
  /** Peers whose last lock message predates the current membership (a peer restarted meanwhile). */
  | { readonly kind: 'oldView'; readonly peers: readonly NodeId[] }
  | { readonly kind: 'catchingUp'; readonly height: number; readonly peer: NodeId }
  | { readonly kind: 'notRequested' };

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
  /** The latest timestamp received from each connected peer in its current session. */
  readonly latest: readonly { readonly peer: NodeId; readonly ts: number }[];
  /** The highest chain height each connected peer has told of in its current session. */
  readonly heard: readonly { readonly peer: NodeId; readonly height: number }[];
  /** While a request is out: what entering still waits for; while transfers wait without one: the peers to connect. */
  readonly waitingFor: LockWait | null;
  /** The membership view id this client's lock messages carry. */
  readonly view: number;
}
