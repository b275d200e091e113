/**
 * Replication of the chain on one client: the head and the balances, blocks that arrived out of
 * height order, the heights peers told of, catching up (FETCH) and serving (BLOCKS), and the
 * persist effects of what is applied. The critical section appends this client's own blocks.
 */
import type { ChainReader } from './api.js';
import type { LamportClock } from './clock.js';
import { type Balances, type Head, applyBlock, checkBlock, checkBlockAlone, checkSealedBlock, genesisBalances } from './ledger.js';
import { BLOCKS_OVERHEAD_BYTES, CATCH_UP_WINDOW_BYTES, MAX_HELD_BLOCKS, MAX_HELD_BLOCK_BYTES, encodedBytesBound } from './limits.js';
import type { Membership } from './membership.js';
import type { Outbox } from './outbox.js';
import type { ChainView, NodePolicy } from './policy.js';
import type { TransferKeys } from './transfer-keys.js';
import { type Block, type Cents, type Message, type NodeId, assertNever } from './types.js';
import { conflictsWithBuffered, conflictsWithHead, heldBlocksFull, notTheSendersBlock, tooFarAboveHead } from './wording.js';

/**
 * How long a client may know of a block it lacks before it fetches it unasked. Blocks normally
 * arrive on their own (a RELEASE on another channel), so this only matters after a loss.
 */
export const CATCH_UP_PATIENCE_MS = 2_000;
/** A FETCH whose answer has not started arriving by then is given up and may go to another peer. */
export const FETCH_TIMEOUT_MS = 5_000;
/**
 * How long the sessions must stay as they are after one ended (or formed again) before this client
 * asks every peer in session for blocks above its head (see `recheckAfterSessionChange`).
 */
export const RECHECK_AFTER_SESSION_CHANGE_MS = 1_000;

/** Blocks read from the chain at a time while serving a peer. */
const SERVE_READ_BLOCKS = 64;

export interface ReplicationConfig {
  readonly genesis: Block;
  /** The durable chain, read when a peer needs blocks this client has. */
  readonly chain: ChainReader;
  /** The head and balances loaded from durable storage (absent: genesis). */
  readonly restored: { readonly head: Head; readonly balances: Balances } | undefined;
  /** The largest message a frame carries: a serve cuts its BLOCKS to it. */
  readonly maxMessageBytes: number;
  readonly fresh: NodePolicy['fresh'];
  /** Where each transfer key is committed: a block whose key is already committed does not extend the chain. */
  readonly keys: TransferKeys;
}

export class Replication implements ChainView {
  private readonly balanceTable: Balances;
  private current: Head;
  /**
   * Blocks above head+1 that arrived out of height order, by height, with the peer that sent them.
   * They are only as good as that peer's session: when it ends they go (a peer that really holds
   * them sends them again; one that crashed may have lost their history for good). Bounded by
   * MAX_HELD_BLOCKS and MAX_HELD_BLOCK_BYTES (`heldBytes` sums the encoding bounds).
   */
  private readonly pending = new Map<number, { readonly block: Block; from: NodeId; readonly bytes: number }>();
  private heldBytes = 0;
  /**
   * The highest chain height each peer has told of in its current session: the height carried by
   * its lock messages and of any block it sent. No block is created below the highest of these:
   * that peer holds blocks this client lacks, and they are fetched before it enters.
   */
  private readonly heardHeights = new Map<NodeId, number>();
  /** The FETCH awaiting its answer, if any: at most one at a time. */
  private fetching: { readonly peer: NodeId; since: number } | null = null;
  /** The last FETCH sent: the same one again waits for patience (its answer brought nothing). */
  private lastFetch: { readonly peer: NodeId; readonly from: number } | null = null;
  /** Since when this client has known of a height above its head (null: it is not behind). */
  private behindSince: number | null = null;
  /**
   * Blocks appended during the current step: their persist effects are carried out after the
   * step, so the chain reader does not hold them yet (see `readBlocks`).
   */
  private readonly unpersisted: Block[] = [];
  /** The time of the last tick: sessions change between ticks. */
  private now = 0;
  /** Peers that have had a session with this process run. */
  private readonly met = new Set<NodeId>();
  /** When the sessions last changed, while a recheck is due (null: none is). */
  private sessionsChangedAt: number | null = null;

  constructor(
    private readonly config: ReplicationConfig,
    /** Every other client, in id order. */
    private readonly peers: readonly NodeId[],
    private readonly clock: LamportClock,
    private readonly membership: Membership,
    private readonly out: Outbox,
  ) {
    this.balanceTable = config.restored ? new Map(config.restored.balances) : genesisBalances(config.genesis);
    this.current = config.restored ? config.restored.head : { height: 0, hash: config.genesis.hash };
  }

  // ---- what the chain holds ----

  get head(): Head {
    return this.current;
  }

  get balances(): ReadonlyMap<NodeId, Cents> {
    return this.balanceTable;
  }

  get heard(): ReadonlyMap<NodeId, number> {
    return this.heardHeights;
  }

  get pendingBlocks(): number {
    return this.pending.size;
  }

  /** The buffered blocks, in height order (a recorded state holds them). */
  bufferedBlocks(): Block[] {
    return [...this.pending.values()].map((p) => p.block).sort((a, b) => a.height - b.height);
  }

  /** A step begins: every persist effect of the steps before it has been carried out. */
  beginStep(): void {
    this.unpersisted.length = 0;
  }

  /** This client's blocks `from..to` (1 <= from <= to <= head), those appended in this very step too. */
  readBlocks(from: number, to: number): Block[] {
    const firstUnpersisted = this.unpersisted[0]?.height ?? this.current.height + 1;
    const stored = from < firstUnpersisted ? [...this.config.chain.readBlocks(from, Math.min(to, firstUnpersisted - 1))] : [];
    for (let h = Math.max(from, firstUnpersisted); h <= to; h++) stored.push(this.unpersisted[h - firstUnpersisted]!);
    return stored;
  }

  /** This client's block at `height` (genesis at 0), or null above its head. */
  blockAt(height: number): Block | null {
    if (height > this.current.height) return null;
    if (height === 0) return this.config.genesis;
    return this.readBlocks(height, height)[0] ?? null;
  }

  /** The freshness decision (a policy may replace it; honest: `holdsEveryBlockHeard` in policy.ts). */
  fresh(): boolean {
    return this.config.fresh(this);
  }

  /** The height `peer` told of in its session (0 if it told of none). */
  heightOf(peer: NodeId): number {
    return this.heardHeights.get(peer) ?? 0;
  }

  /** The peer that told of the highest chain height this session, and that height. */
  highestHeard(): [NodeId | null, number] {
    let best: NodeId | null = null;
    let height = this.current.height;
    for (const p of this.peers) {
      if (!this.membership.isUp(p)) continue;
      const h = this.heightOf(p);
      if (h > height) {
        best = p;
        height = h;
      }
    }
    return [best, height];
  }

  // ---- inputs ----

  /** What a message tells of its sender's chain: the height it carries, or the blocks in it. */
  hear(from: NodeId, message: Message): void {
    let height = -1;
    switch (message.type) {
      case 'REQUEST':
      case 'REPLY':
        height = message.height;
        break;
      case 'RELEASE':
        height = Math.max(message.height, message.block?.height ?? -1);
        break;
      case 'BLOCKS':
        for (const b of message.blocks) height = Math.max(height, b.height);
        break;
      case 'MARKER':
      case 'REPORT':
      case 'FETCH':
        return;
      default:
        assertNever(message);
    }
    if (height > (this.heardHeights.get(from) ?? -1)) this.heardHeights.set(from, height);
  }

  /**
   * A session with `peer` began. Its handshake height is a hint: blocks it lacks go first, ahead
   * of any marker. Its own messages will carry its height, which is what entering depends on.
   */
  peerUp(peer: NodeId, height: number): void {
    if (this.met.has(peer)) this.sessionsChangedAt = this.now;
    this.met.add(peer);
    if (this.current.height > height) this.serve(peer, height + 1);
  }

  /** The session with `peer` ended: what it told of and the blocks it sent go with it. */
  peerDown(peer: NodeId): void {
    this.sessionsChangedAt = this.now;
    this.heardHeights.delete(peer);
    for (const [height, p] of this.pending) if (p.from === peer) this.unhold(height);
    if (this.fetching?.peer === peer) this.fetching = null;
  }

  onBlocks(from: NodeId, message: Extract<Message, { type: 'BLOCKS' }>, now: number): void {
    const before = this.current.height;
    this.receiveBlocks(from, message.blocks);
    if (this.fetching?.peer === from) this.fetching.since = now;
    if (!message.last) return;
    if (this.fetching?.peer === from) this.fetching = null;
    // A serve ends at a byte budget, not at the server's head: go on while it brings blocks.
    if (this.current.height > before && !this.fresh()) this.catchUp(now);
  }

  /** Gives up a FETCH that went unanswered, and fetches unasked once patience runs out. */
  tick(now: number): void {
    this.now = now;
    if (this.sessionsChangedAt !== null && now - this.sessionsChangedAt >= RECHECK_AFTER_SESSION_CHANGE_MS) this.recheckAfterSessionChange();
    if (this.fetching && now - this.fetching.since >= FETCH_TIMEOUT_MS) this.fetching = null;
    if (this.fresh()) this.behindSince = null;
    else {
      this.behindSince ??= now;
      if (now - this.behindSince >= CATCH_UP_PATIENCE_MS) {
        this.catchUp(now, true);
        this.behindSince = now;
      }
    }
  }

  /**
   * Blocks from `from`: applied at once when next in height, with whatever held blocks follow;
   * held when above (once checked as far as they can be alone, and within the limits); ignored
   * at or below the head. A RELEASE names its sender as `creator`: it carries its own block.
   */
  receiveBlocks(from: NodeId, blocks: readonly Block[], creator?: NodeId): void {
    const refused: { heights: number[]; reason: string } = { heights: [], reason: '' };
    for (const b of blocks) {
      if (creator !== undefined && b.creator !== creator) {
        this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: notTheSendersBlock(b.creator) });
        continue;
      }
      if (b.height <= this.current.height) {
        if (b.height === this.current.height && b.hash !== this.current.hash) {
          this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: conflictsWithHead(b.height) });
        }
        continue;
      }
      if (b.height === this.current.height + 1) {
        this.applyFrom(from, b);
        continue;
      }
      const seen = this.pending.get(b.height);
      if (seen) {
        if (seen.block.hash !== b.hash) this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: conflictsWithBuffered });
        else seen.from = from;
        continue;
      }
      const alone = checkBlockAlone(b);
      if (!alone.ok) {
        this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: alone.error });
        continue;
      }
      const bytes = encodedBytesBound(b);
      const reason = b.height > this.current.height + MAX_HELD_BLOCKS ? tooFarAboveHead(this.current.height) : this.heldBytes + bytes > MAX_HELD_BLOCK_BYTES ? heldBlocksFull(this.pending.size, this.heldBytes) : null;
      if (reason !== null) {
        refused.heights.push(b.height);
        refused.reason ||= reason;
        continue;
      }
      this.pending.set(b.height, { block: b, from, bytes });
      this.heldBytes += bytes;
    }
    const due = this.pending.get(this.current.height + 1);
    if (due) this.applyFrom(from, due.block);
    if (refused.heights.length > 0) {
      const { heights, reason } = refused;
      this.out.log('warn', { type: 'blocksRefused', from, count: heights.length, lowest: Math.min(...heights), highest: Math.max(...heights), reason });
    }
  }

  /** Applies `block` (next in height) and then every held block that follows it, while they chain. */
  private applyFrom(from: NodeId, block: Block): void {
    for (let next: Block | undefined = block; next; next = this.pending.get(this.current.height + 1)?.block) {
      if (this.pending.get(next.height)?.block === next) this.unhold(next.height);
      const check = checkBlock(this.current, this.balanceTable, next);
      const conflict = check.ok ? this.config.keys.conflictIn(next) : null;
      if (!check.ok || conflict !== null) {
        this.out.log('error', { type: 'blockRejected', from, height: next.height, reason: check.ok ? conflict! : check.error });
        return;
      }
      this.append(next, from);
    }
  }

  private unhold(height: number): void {
    const held = this.pending.get(height);
    if (!held) return;
    this.pending.delete(height);
    this.heldBytes -= held.bytes;
  }

  /**
   * This client's own block, just sealed in the critical section, checked as every replica will
   * check it (the chain's rules and the key index) before it is appended: a block the peers would
   * reject must never be persisted and sent, so a failure is a broken invariant of the critical
   * section, not something to log and go on with.
   */
  appendOwn(block: Block): void {
    const check = checkSealedBlock(this.current, this.balanceTable, block);
    const conflict = check.ok ? this.config.keys.conflictIn(block) : null;
    if (!check.ok || conflict !== null) throw new Error(`node: the block #${block.height} it built breaks the chain's rules: ${check.ok ? conflict! : check.error}`);
    this.append(block, null);
  }

  /**
   * A block of its own is synced before anything that depends on it leaves (its RELEASE, the
   * replies): acknowledged is durable. A block from a peer is not: its creator synced it, and a
   * client that loses it in a crash fetches it again before it may enter.
   */
  private append(block: Block, from: NodeId | null): void {
    this.unpersisted.push(block);
    applyBlock(this.balanceTable, block);
    this.current = { height: block.height, hash: block.hash };
    this.config.keys.appended(block);
    this.out.persist(block, from === null);
    this.out.log(from === null ? 'info' : 'debug', { type: 'blockApplied', block, from });
  }

  // ---- catching up and serving ----

  /**
   * Asks the peer with the highest chain for the blocks from this client's head on. Asking the
   * same peer for the same blocks again (its answer brought none: a block it sent was rejected,
   * say) waits for a tick's patience, so that two clients never ping-pong FETCH and BLOCKS.
   */
  catchUp(now: number, patient = false): void {
    const [peer, height] = this.highestHeard();
    if (peer !== null) this.fetchFrom(peer, height, now, patient);
  }

  /**
   * Asks `peer`, which holds the chain up to `height`, for the blocks from this client's head on
   * (see `catchUp`); a snapshot waiting for its chain to reach a reported head asks the reporter.
   */
  fetchFrom(peer: NodeId, height: number, now: number, patient = false): void {
    if (this.fetching || !this.membership.isUp(peer)) return;
    const from = this.current.height + 1;
    if (!patient && this.lastFetch?.peer === peer && this.lastFetch.from === from) return;
    this.lastFetch = { peer, from };
    this.fetching = { peer, since: now };
    this.out.send(peer, { type: 'FETCH', ts: this.clock.tick(), from });
    this.out.log('info', { type: 'catchingUp', peer, from, to: height });
  }

  /**
   * Asks `holder`, which holds the chain up to `height`, for the blocks this client lacks (a
   * snapshot waiting for its chain to reach a reported head asks the reporter, see `fetchFrom`).
   * With `holder` down, asks the peer that told of the highest chain in its session instead, at
   * once: it holds blocks this client lacks, and the snapshot need not wait out the catch-up
   * patience, or its timeout, for a peer that will not answer.
   */
  fetchFromHolder(holder: NodeId, height: number, now: number): void {
    if (this.membership.isUp(holder)) {
      this.fetchFrom(holder, height, now);
      return;
    }
    const [peer, heard] = this.highestHeard();
    if (peer !== null) this.fetchFrom(peer, heard, now);
  }

  /**
   * Within a session nothing is lost (the channels are FIFO and reliable), so a block can miss
   * this client only with a session that ended: its creator's RELEASE went down with it, say,
   * and the creator's machine lost the block, which now lives only on the peers the RELEASE
   * reached. While the cluster is idle no lock message would tell of their height. So once the
   * sessions have stayed as they are for a while after a change, this client asks every peer in
   * session for the blocks above its head, as one send event; a peer with none answers with an
   * empty BLOCKS. A session formed again counts as a change too: a RELEASE held up on another
   * channel may have landed after the first ask. It costs two messages per peer per change, and
   * nothing while sessions hold.
   */
  private recheckAfterSessionChange(): void {
    this.sessionsChangedAt = null;
    const peers = this.peers.filter((p) => this.membership.isUp(p) && this.fetching?.peer !== p);
    if (peers.length === 0) return;
    const from = this.current.height + 1;
    const fetch: Message = { type: 'FETCH', ts: this.clock.tick(), from };
    for (const p of peers) this.out.send(p, fetch);
    this.out.log('debug', { type: 'rechecking', peers, from });
  }

  /**
   * Sends `to` the blocks from height `from` on, as one send event: BLOCKS messages that each fit
   * a frame, about CATCH_UP_WINDOW_BYTES in all (the peer fetches the rest once these are in),
   * the last one marked. A peer asking beyond this client's head gets one empty, last BLOCKS.
   */
  serve(to: NodeId, from: number): void {
    const ts = this.clock.tick();
    const budget = this.config.maxMessageBytes - BLOCKS_OVERHEAD_BYTES;
    let window = CATCH_UP_WINDOW_BYTES;
    let batch: Block[] = [];
    let bytes = 0;
    for (let h = from; h <= this.current.height && window > 0; ) {
      const blocks = this.config.chain.readBlocks(h, Math.min(this.current.height, h + SERVE_READ_BLOCKS - 1));
      for (const b of blocks) {
        if (window <= 0) break;
        const size = encodedBytesBound(b);
        if (batch.length > 0 && bytes + size > budget) {
          this.out.send(to, { type: 'BLOCKS', ts, blocks: batch, last: false });
          batch = [];
          bytes = 0;
        }
        batch.push(b);
        bytes += size;
        window -= size;
        h = b.height + 1;
      }
      if (blocks.length === 0) throw new Error(`node: the chain reader returned no block at #${h} below head #${this.current.height}`);
    }
    this.out.send(to, { type: 'BLOCKS', ts, blocks: batch, last: true });
    const last = batch[batch.length - 1];
    if (last) this.out.log('debug', { type: 'served', peer: to, from, to: last.height });
  }
}
