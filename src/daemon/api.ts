/**
 * What a client process offers whoever drives it, as typed values: the REPL calls it in-process,
 * everything else through the control socket, which carries exactly these calls and results.
 * No command lines and no text here; parsing and rendering are the caller's.
 */
import type { CommandResult, CoreEvent, NodeStatus, TxState } from '../core/api.js';
import type { TraceEvent } from '../core/trace-events.js';
import type { Block, Cents, NodeId } from '../core/types.js';
import type { SnapshotRecord, SnapshotSummary } from './snapshot-record.js';

/** Blocks `chain()` returns when not told how many. */
export const DEFAULT_CHAIN_LAST = 10;

/** Who answers, and the cluster it is in. */
export interface Identity {
  readonly self: NodeId;
  /** Every client id of the cluster, self included. */
  readonly nodes: readonly NodeId[];
}

export type TransferResult = Extract<CommandResult, { type: 'transfer' }>;

/** A transfer's result, and the time from accepting it to the result in ms (2 decimals). */
export type TransferAnswer = TransferResult & { readonly ms: number };

/** One transfer of many (`transfers`): as `transfer` takes it. */
export interface TransferOrder {
  readonly to: NodeId;
  readonly amount: Cents;
  readonly key?: string;
}

export type SnapshotAnswer =
  | { readonly ok: true; readonly record: SnapshotRecord }
  | {
      readonly ok: false;
      /** `<initiator>.<seq>` */
      readonly id: string;
      readonly error: string;
      /** Clients whose report never arrived. */
      readonly missing: readonly NodeId[];
    };

/** This replica's balance table. */
export interface BalancesView {
  /** Cents by client id. */
  readonly balances: Readonly<Record<string, Cents>>;
  readonly height: number;
  readonly head: string;
  /** What the table must sum to: the genesis total. */
  readonly total: Cents;
}

export interface ChainView {
  readonly height: number;
  readonly head: string;
  /** The last blocks, oldest first. */
  readonly blocks: readonly Block[];
}

export type OutgoingChannel = 'up' | 'connecting' | 'down';
export type IncomingChannel = 'up' | 'down';

export interface PeerView {
  readonly id: NodeId;
  readonly outgoing: OutgoingChannel;
  readonly incoming: IncomingChannel;
  /** Wall-clock ms when either channel last changed state. */
  readonly since: number;
  /** Messages handed to the channel for this peer. */
  readonly sent: number;
  readonly received: number;
  /** The last problem seen with this peer: a refusal, a connect error, bad input. */
  readonly lastError?: string;
}

export interface PeersView {
  readonly peers: readonly PeerView[];
  /** Whether the channels are TLS (the cluster has a secret) or plain TCP. */
  readonly tls: boolean;
}

/** `--delay`: each outgoing message is held a random time in [minMs, maxMs] before it is written. */
export interface MessageDelay {
  readonly minMs: number;
  readonly maxMs: number;
}

export interface StatusView {
  readonly node: NodeStatus;
  /** `host:port` of the peer listener. */
  readonly listen: string;
  readonly dataDir: string;
  /** The `--delay` this client runs with; null when it writes messages at once. */
  readonly delay: MessageDelay | null;
  /** Whether the channels are TLS (the cluster has a secret) or plain TCP. */
  readonly tls: boolean;
}

export interface SnapshotListing {
  readonly snapshots: readonly SnapshotSummary[];
}

/**
 * This client's link to one peer (its outgoing channel): held (messages wait, in order, none
 * lost, until released) or delayed (each message waits a random time in the range).
 */
export interface LinkView {
  readonly peer: NodeId;
  readonly held: boolean;
  /** The delay on this link now (`--delay` until `link delay` changes it); null for none. */
  readonly delay: MessageDelay | null;
  /** Messages sent and not yet written, because the link is held or delayed. */
  readonly waiting: number;
  /** The session with the peer is up. */
  readonly up: boolean;
}

export interface LinksView {
  readonly self: NodeId;
  readonly links: readonly LinkView[];
}

/** Hold or release a link, or set its delay (null: none). */
export type LinkChange = { readonly held: boolean } | { readonly delay: MessageDelay | null };

/** A value now, or once the answer arrives: the daemon answers reads at once, a remote caller later. */
export type Awaitable<T> = T | Promise<T>;

export interface LedgerApi {
  identity(): Awaitable<Identity>;
  /**
   * Moves `amount` from this client to `to`; resolves once it is committed, has failed or was
   * withdrawn. `key` names the transfer for good (the client makes one when absent): it commits
   * at most once, and the same key again gets the first outcome (see `TransferResult`).
   */
  transfer(to: NodeId, amount: Cents, key?: string): Promise<TransferAnswer>;
  /**
   * Many transfers, each as `transfer` makes it (one key and one outcome each, queued in this
   * order); resolves with every answer, in the same order, once the last is settled.
   */
  transfers(orders: readonly TransferOrder[]): Promise<TransferAnswer[]>;
  /** What became of the transfer with this key, as far as this client knows. */
  tx(key: string): Awaitable<TxState>;
  /**
   * Gives up the transfer with this key unless it has committed: a transfer still queued is
   * withdrawn (nothing moves; its caller gets WITHDRAWN). Resolves to what became of it.
   */
  withdraw(key: string): Awaitable<TxState>;
  /** Takes a global snapshot from this client; resolves once it is complete, failed or abandoned. */
  snapshot(): Promise<SnapshotAnswer>;
  balances(): Awaitable<BalancesView>;
  /** The last `last` blocks (DEFAULT_CHAIN_LAST when absent). */
  chain(last?: number): Awaitable<ChainView>;
  peers(): Awaitable<PeersView>;
  status(): Awaitable<StatusView>;
  /** The snapshots saved in the data dir, by id. */
  snapshots(): Awaitable<SnapshotListing>;
  /** One saved snapshot; null when it is missing or its file is not one this program wrote. */
  savedSnapshot(id: string): Awaitable<SnapshotRecord | null>;
  /** This client's link to each peer. */
  links(): Awaitable<LinksView>;
  /** Holds, releases or delays this client's link to `peer` (its messages to it); answers with every link. */
  link(peer: NodeId, change: LinkChange): Awaitable<LinksView>;
}

/** What happens in a client, as it happens, for whoever watches it live. */
export type LiveItem =
  /** The protocol trace of one step; `lines` is each event as JSON, made once for every reader. */
  | { readonly type: 'trace'; readonly events: readonly TraceEvent[]; readonly lines: () => readonly string[] }
  /** A global snapshot this client initiated was assembled and saved. */
  | { readonly type: 'snapshot'; readonly record: SnapshotRecord };

export interface LiveSource {
  /**
   * Calls `listener` with each item from now on, synchronously, until the returned function is
   * called. The client makes trace events for it even with the trace file off.
   */
  watch(listener: (item: LiveItem) => void): () => void;
}

/** Things worth telling a person that happen without being asked for. */
export type Notice =
  | { readonly type: 'peerUp'; readonly peer: NodeId }
  | { readonly type: 'peerDown'; readonly peer: NodeId }
  /** Why a peer cannot be reached or was refused (a wrong secret, another cluster), in the network's words. */
  | { readonly type: 'peerProblem'; readonly line: string }
  /** A file beside the chain (the trace) cannot be written; the client goes on without it. */
  | { readonly type: 'fileProblem'; readonly line: string }
  | { readonly type: 'waitingForPeers'; readonly peers: readonly NodeId[] }
  | { readonly type: 'blockFromPeer'; readonly block: Block; readonly from: NodeId }
  /** More blocks came from peers in the last second than were worth a notice each. */
  | { readonly type: 'blocksFromPeers'; readonly count: number; readonly height: number }
  /** Another core event worth showing: a rejected block, a protocol error, an abandoned snapshot, a catch-up. */
  | { readonly type: 'event'; readonly event: CoreEvent }
  | { readonly type: 'periodicSnapshot'; readonly answer: SnapshotAnswer };
