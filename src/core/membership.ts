/**
 * Membership: which peers are in session with this client and at which process incarnation, the
 * view id that names that membership, and the protocol messages counted and digested on each
 * session (what a recorded state says of its channels).
 */
import { createHash } from 'node:crypto';
import { ChannelDigest } from './digest.js';
import { type ChannelRecord, type Message, type NodeId, isApplicationMessage } from './types.js';

/** The protocol messages (markers and reports aside) sent to and received from one peer this session. */
class SessionTally {
  sent = 0;
  received = 0;
  /** The timestamp of the last message received (0 before the first). */
  lastReceivedTs = 0;
  readonly sentDigest = new ChannelDigest();
  readonly receivedDigest = new ChannelDigest();

  record(peer: NodeId): ChannelRecord {
    return { peer, sent: this.sent, received: this.received, sentDigest: this.sentDigest.value, receivedDigest: this.receivedDigest.value, lastReceivedTs: this.lastReceivedTs };
  }
}

const NO_SESSION = new SessionTally();

/** One member of a view: a client and its process run. */
export interface Member {
  readonly node: NodeId;
  readonly incarnation: number;
}

/**
 * The membership view id: a digest of who is in session, at which process incarnation, the
 * client itself included. Two clients in session with the same runs of everyone compute the same
 * id; a peer that restarted changes it even if nobody saw it leave.
 */
export function viewIdOf(members: readonly Member[]): number {
  const names = members.map((m) => `${m.node}:${m.incarnation}`).sort();
  return Number.parseInt(createHash('sha256').update(names.join(',')).digest('hex').slice(0, 12), 16);
}

export class Membership {
  private readonly up = new Set<NodeId>();
  /** The process incarnation of each peer in session, from its handshake. */
  private readonly incarnations = new Map<NodeId, number>();
  /** The membership view: who is in session, at which incarnation (see `computeView`). */
  private currentView: number;
  /** What was sent to and received from each peer this session. */
  private readonly tallies = new Map<NodeId, SessionTally>();

  constructor(
    private readonly self: NodeId,
    /** This process run among this client's runs. */
    private readonly incarnation: number,
    /** Every other client, in id order. */
    private readonly peers: readonly NodeId[],
    /** How a view is named (`viewIdOf`; a test may replace it, see policy.ts). */
    private readonly viewId: (members: readonly Member[]) => number = viewIdOf,
  ) {
    this.currentView = this.computeView();
  }

  /** The current membership view id: lock messages carry it, and rule 5 asks for it. */
  get view(): number {
    return this.currentView;
  }

  isUp(peer: NodeId): boolean {
    return this.up.has(peer);
  }

  /** The peers in session, in id order. */
  connected(): NodeId[] {
    return [...this.up].sort((a, b) => a - b);
  }

  /** The peers not in session, in id order. */
  down(): NodeId[] {
    return this.peers.filter((p) => !this.up.has(p));
  }

  /** A session with `peer` begins; false if one already runs (a repeated peerUp). */
  open(peer: NodeId, incarnation: number): boolean {
    if (this.up.has(peer)) return false;
    this.up.add(peer);
    this.incarnations.set(peer, incarnation);
    this.currentView = this.computeView();
    // A session starts from nothing: what was in flight on the last one is gone.
    this.tallies.set(peer, new SessionTally());
    return true;
  }

  /** The session with `peer` ended; false if none ran. */
  close(peer: NodeId): boolean {
    if (!this.up.delete(peer)) return false;
    this.incarnations.delete(peer);
    this.currentView = this.computeView();
    this.tallies.delete(peer);
    return true;
  }

  countSent(to: NodeId, message: Message): void {
    if (!isApplicationMessage(message)) return;
    const t = this.tally(to);
    t.sent++;
    t.sentDigest.add(message);
  }

  countReceived(from: NodeId, message: Message): void {
    if (!isApplicationMessage(message)) return;
    const t = this.tally(from);
    t.received++;
    t.receivedDigest.add(message);
    t.lastReceivedTs = message.ts;
  }

  /** Every channel's counts and digests, for a recorded state (empty where no session runs). */
  channels(): ChannelRecord[] {
    return this.peers.map((peer) => (this.tallies.get(peer) ?? NO_SESSION).record(peer));
  }

  private tally(peer: NodeId): SessionTally {
    let t = this.tallies.get(peer);
    if (!t) this.tallies.set(peer, (t = new SessionTally()));
    return t;
  }

  /** The current members, this client included, named by `viewId`. */
  private computeView(): number {
    const members: Member[] = [{ node: this.self, incarnation: this.incarnation }];
    for (const p of this.peers) if (this.up.has(p)) members.push({ node: p, incarnation: this.incarnations.get(p) ?? 0 });
    return this.viewId(members);
  }
}
