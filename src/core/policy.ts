/**
 * The decisions a test may replace to build a deliberately broken protocol: the simulator's
 * mutants prove with them that its checkers can fail, not only pass. `NodeConfig.policy` takes
 * any subset; the rest are decided honestly (`withHonestDefaults`), by the rules of the modules
 * that own them. The daemon never sets one.
 */
import type { Effect, Input } from './api.js';
import { type Head, type TxCheck, checkTx } from './ledger.js';
import { type Member, viewIdOf } from './membership.js';
import type { LamportMutex } from './mutex.js';
import { SnapshotRecorder } from './snapshot.js';
import type { FindKey } from './transfer-keys.js';
import type { Cents, NodeId, RecordedState, SnapshotId, Tx } from './types.js';

/** What the entry decision looks at. */
export interface EntryContext {
  readonly mutex: Pick<LamportMutex, 'request' | 'entries' | 'canEnter' | 'withoutLaterMessage'>;
  /** The current membership view id, which rule 5 asks of the peers' lock messages. */
  readonly view: number;
  /** The freshness decision (the `fresh` hook). */
  readonly fresh: () => boolean;
}

/** What the freshness decision looks at: this client's chain against what peers told of theirs. */
export interface ChainView {
  readonly head: Head;
  /** The highest chain height each peer in session has told of. */
  readonly heard: ReadonlyMap<NodeId, number>;
  /** How many blocks are buffered above the head (they arrived out of height order). */
  readonly pendingBlocks: number;
}

/** A snapshot recorder to make: the arguments of `new SnapshotRecorder`. */
export interface RecorderSpec {
  readonly id: SnapshotId;
  readonly state: RecordedState;
  readonly peers: readonly NodeId[];
  /** The channel of the first marker (recorded empty), null at the initiator. */
  readonly markerFrom: NodeId | null;
  readonly startedAt: number;
}

export interface NodePolicy {
  /** Whether a step takes `input` at all; a policy may also watch the inputs here. Honest: every one. */
  readonly admit: (input: Input) => boolean;
  /** The effects a step hands back. Honest: all of them, as produced. */
  readonly emit: (effects: Effect[]) => Effect[];
  /** Whether the client may enter the critical section now. Honest: rule 5 in the current view, and fresh. */
  readonly mayEnter: (context: EntryContext) => boolean;
  /** Whether the chain is fresh enough to build on. Honest: it holds every block a peer in session told of (replication.ts). */
  readonly fresh: (chain: ChainView) => boolean;
  /** Whether the critical section may commit `tx`. Honest: `checkTx`. */
  readonly checkTransfer: (balances: ReadonlyMap<NodeId, Cents>, creator: NodeId, tx: Tx) => TxCheck;
  /** Where the chain holds a transfer key, given the honest `lookup` (transfer-keys.ts). Honest: its answer. */
  readonly findKey: FindKey;
  /** The recorder of one snapshot on this client. Honest: a `SnapshotRecorder`. */
  readonly createRecorder: (spec: RecorderSpec) => SnapshotRecorder;
  /** Whether a message may go to `peer`, whose session is `up` or not. Honest: only when up. */
  readonly inSession: (peer: NodeId, up: boolean) => boolean;
  /** The id of the membership view made of `members`. Honest: `viewIdOf` (every member at its incarnation). */
  readonly viewId: (members: readonly Member[]) => number;
}

/** Rule 5 of the mutex, plus: never build on a chain shorter than one a peer holds. */
const ruleFiveAndFresh = ({ mutex, view, fresh }: EntryContext): boolean => mutex.canEnter(view) && fresh();

/**
 * Whether this client holds every block a peer of the current sessions has told it of. The
 * heights lock messages carry are what makes this safe: a client whose connections never
 * dropped still hears, before it may enter, that a peer got a block it never received.
 */
export function holdsEveryBlockHeard({ head, heard }: ChainView): boolean {
  // Buffered blocks count through `heard`: their heights came from a peer still in session.
  for (const h of heard.values()) if (h > head.height) return false;
  return true;
}

/** The decisions `policy` replaces, and the honest ones for the rest. */
export function withHonestDefaults(policy: Partial<NodePolicy> = {}): NodePolicy {
  return {
    admit: policy.admit ?? (() => true),
    emit: policy.emit ?? ((effects) => effects),
    mayEnter: policy.mayEnter ?? ruleFiveAndFresh,
    fresh: policy.fresh ?? holdsEveryBlockHeard,
    checkTransfer: policy.checkTransfer ?? checkTx,
    findKey: policy.findKey ?? ((key, lookup) => lookup(key)),
    createRecorder: policy.createRecorder ?? ((r) => new SnapshotRecorder(r.id, r.state, r.peers, r.markerFrom, r.startedAt)),
    inSession: policy.inSession ?? ((_peer, up) => up),
    viewId: policy.viewId ?? viewIdOf,
  };
}
