/**
 * One client's protocol state machine: `step(input)` returns the effects to carry out, in order.
 * It composes the Lamport clock, the mutex, the ledger and the snapshot recorders; it does no I/O,
 * reads no clock and draws no random numbers, so a seeded simulator can run many of them.
 */
import type { ChainReader, Command, CommandResult, Effect, GlobalSnapshot, Input, LockWait, NodeStatus, TransferFailure } from './api.js';
import { LamportClock } from './clock.js';
import { type Balances, type Head, applyBlock, applyTx, balancesToRecord, checkBlock, checkTx, genesisBalances, sealBlock, totalOf } from './ledger.js';
import { BLOCKS_OVERHEAD_BYTES, CATCH_UP_WINDOW_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_RECORDED_MESSAGES, MAX_TXS_PER_BLOCK, TX_ID_PATTERN, encodedBytesBound } from './limits.js';
import { Membership } from './membership.js';
import { LamportMutex } from './mutex.js';
import { Outbox } from './outbox.js';
import type { ChainView, EntryContext, NodePolicy } from './policy.js';
import { SnapshotAssembler, SnapshotRecorder } from './snapshot.js';
import { type Block, type Cents, type Message, type NodeId, type RecordedState, type SnapshotId, type Tx, type LocalSnapshot, assertNever, snapshotKey } from './types.js';
import {
  type MissingReport,
  conflictsWithBuffered,
  conflictsWithHead,
  notAnAmount,
  reportTooLarge,
  snapshotConnectionLost,
  snapshotFailedAt,
  snapshotNotStarted,
  snapshotTimedOut,
  tooManyRecorded,
  transferTimedOut,
  transferToSelf,
  unexpectedReport,
  unknownRecipient,
} from './wording.js';

export { assertNever } from './types.js';
export { describeLockWait } from './wording.js';

export interface NodeConfig {
  readonly id: NodeId;
  /** Every client id in the cluster, this one included. */
  readonly nodes: readonly NodeId[];
  readonly genesis: Block;
  /** State loaded from durable storage at start; absent for a new client. */
  readonly restored?: { readonly head: Head; readonly balances: Balances; readonly clock: number };
  /** A transfer not committed this long after it was issued fails with a timeout. */
  readonly transferTimeoutMs: number;
  /** A snapshot not assembled this long after it started fails, naming who did not report. */
  readonly snapshotTimeoutMs: number;
  /** At most this many transfers per block (one lock round). */
  readonly maxBatch?: number;
  /** Sequence number of this client's first snapshot (ids stay unique across restarts). */
  readonly firstSnapshotSeq?: number;
  /** Names this process run among this client's runs (the daemon draws it at start); default 0. */
  readonly incarnation?: number;
  /** The durable chain, read when a peer needs blocks this client has. */
  readonly chain: ChainReader;
  /** The largest message a frame carries (`maxFrameBytes`): BLOCKS are cut to it, a larger REPORT fails its snapshot. */
  readonly maxMessageBytes?: number;
  /** Decisions replaced by a test to build a deliberately broken protocol (see policy.ts); never set otherwise. */
  readonly policy?: Partial<NodePolicy>;
}

interface PendingTransfer {
  readonly commandId: string;
  readonly to: NodeId;
  readonly amount: Cents;
  readonly deadline: number;
  announcedWaiting: boolean;
}

/**
 * The current lock round. Each REQUEST sent is answered by exactly one REPLY, though rule 5 may
 * let this client enter before every REPLY has arrived, so the round's cost is counted as sent.
 */
interface Round {
  readonly ts: number;
  requests: number;
}

/** Snapshot ids remembered as finished so a stray marker cannot restart them. */
const FINISHED_MEMORY = 1024;

/**
 * How long a client may know of a block it lacks before it fetches it unasked. Blocks normally
 * arrive on their own (a RELEASE on another channel), so this only matters after a loss.
 */
export const CATCH_UP_PATIENCE_MS = 2_000;
/** A FETCH whose answer has not started arriving by then is given up and may go to another peer. */
export const FETCH_TIMEOUT_MS = 5_000;

/** Blocks read from the chain at a time while serving a peer. */
const SERVE_READ_BLOCKS = 64;

export class Node {
  readonly id: NodeId;
  readonly nodes: readonly NodeId[];
  readonly peers: readonly NodeId[];
  private readonly clock: LamportClock;
  private readonly mutex: LamportMutex;
  private balances: Balances;
  private head: Head;
  readonly total: Cents;
  /**
   * Blocks above head+1 that arrived out of height order, by height, with the peer that sent them.
   * They are only as good as that peer's session: when it ends they go (a peer that really holds
   * them sends them again; one that crashed may have lost their history for good).
   */
  private readonly pending = new Map<number, { readonly block: Block; readonly from: NodeId }>();
  /**
   * The highest chain height each peer has told of in its current session: the height carried by
   * its lock messages and of any block it sent. No block is created below the highest of these:
   * that peer holds blocks this client lacks, and they are fetched before it enters.
   */
  private readonly heard = new Map<NodeId, number>();
  /** The FETCH awaiting its answer, if any: at most one at a time. */
  private fetching: { readonly peer: NodeId; since: number } | null = null;
  /** The last FETCH sent: the same one again waits for patience (its answer brought nothing). */
  private lastFetch: { readonly peer: NodeId; readonly from: number } | null = null;
  /** Since when this client has known of a height above its head (null: it is not behind). */
  private behindSince: number | null = null;
  private readonly transfers: PendingTransfer[] = [];
  private round: Round | null = null;
  private now = 0;
  private readonly recorders = new Map<string, SnapshotRecorder>();
  private readonly assemblers = new Map<string, SnapshotAssembler>();
  private readonly finished = new Set<string>();
  private snapshotSeq: number;
  private readonly maxBatch: number;
  private readonly maxMessageBytes: number;
  private readonly policy: NodePolicy;
  private readonly membership: Membership;
  private readonly out: Outbox;

  constructor(readonly config: NodeConfig) {
    this.id = config.id;
    this.nodes = [...config.nodes].sort((a, b) => a - b);
    if (!this.nodes.includes(this.id)) throw new Error(`node: client${this.id} is not among the configured clients`);
    this.peers = this.nodes.filter((n) => n !== this.id);
    const initial = genesisBalances(config.genesis);
    this.total = totalOf(initial);
    this.balances = config.restored ? new Map(config.restored.balances) : initial;
    this.head = config.restored ? config.restored.head : { height: 0, hash: config.genesis.hash };
    this.clock = new LamportClock(config.restored?.clock ?? 0);
    this.mutex = new LamportMutex(this.id, this.peers);
    this.snapshotSeq = config.firstSnapshotSeq ?? 1;
    this.maxBatch = Math.min(config.maxBatch ?? MAX_TXS_PER_BLOCK, MAX_TXS_PER_BLOCK);
    this.maxMessageBytes = config.maxMessageBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const p = config.policy ?? {};
    this.policy = {
      admit: p.admit ?? (() => true),
      emit: p.emit ?? ((effects) => effects),
      mayEnter: p.mayEnter ?? ruleFiveAndFresh,
      fresh: p.fresh ?? holdsEveryBlockHeard,
      checkTransfer: p.checkTransfer ?? checkTx,
      createRecorder: p.createRecorder ?? ((r) => new SnapshotRecorder(r.id, r.state, r.peers, r.markerFrom, r.startedAt)),
      inSession: p.inSession ?? ((_peer, up) => up),
    };
    this.membership = new Membership(this.id, config.incarnation ?? 0, this.peers);
    this.out = new Outbox(this.peers, this.membership, this.policy.inSession);
  }

  /** The single entry point: one input in, the effects to carry out (in order) out. */
  step(input: Input): Effect[] {
    if (!this.policy.admit(input)) return [];
    switch (input.kind) {
      case 'command':
        this.onCommand(input.id, input.command);
        break;
      case 'receive':
        this.onReceive(input.from, input.message);
        break;
      case 'peerUp':
        this.onPeerUp(input.peer, input.height, input.incarnation);
        break;
      case 'peerDown':
        this.onPeerDown(input.peer);
        break;
      case 'tick':
        this.onTick(input.now);
        break;
      default:
        return assertNever(input);
    }
    this.tryEnter();
    // Rule 5 holds but the chain is behind a peer's: the missing blocks are fetched, not awaited.
    if (this.mutex.request && this.mutex.canEnter(this.membership.view) && !this.fresh()) this.catchUp();
    return this.policy.emit(this.out.take());
  }

  // ---- reads (no step needed: they change nothing) ----

  balanceTable(): ReadonlyMap<NodeId, Cents> {
    return this.balances;
  }

  chainHead(): Head {
    return this.head;
  }

  /** The sequence number the next snapshot started here will get. */
  nextSnapshotSeq(): number {
    return this.snapshotSeq;
  }

  lamportTime(): number {
    return this.clock.now;
  }

  /** The current membership view id (see membership.ts): lock messages carry it. */
  membershipView(): number {
    return this.membership.view;
  }

  status(): NodeStatus {
    return {
      id: this.id,
      clock: this.clock.now,
      height: this.head.height,
      head: this.head.hash,
      queue: [...this.mutex.entries()],
      requesting: this.mutex.request,
      pendingTransfers: this.transfers.length,
      peersUp: this.membership.connected(),
      snapshotsInProgress: this.recorders.size + this.assemblers.size,
      pendingBlocks: this.pending.size,
      latest: this.peers.flatMap((peer) => {
        const ts = this.mutex.latestFrom(peer);
        return ts === undefined ? [] : [{ peer, ts }];
      }),
      heard: this.peers.flatMap((peer) => (this.membership.isUp(peer) ? [{ peer, height: this.heardFrom(peer) }] : [])),
      waitingFor: this.mutex.request ? this.lockWait() : null,
      view: this.membership.view,
    };
  }

  /** What entering the critical section still waits for (see `LockWait`). */
  lockWait(): LockWait {
    const own = this.mutex.request;
    if (!own) return { kind: 'notRequested' };
    const down = this.membership.down();
    if (down.length > 0) return { kind: 'peersDown', peers: down };
    const ahead = this.mutex.ahead();
    if (ahead.length > 0) return { kind: 'queuedBehind', entries: ahead };
    const silent = this.mutex.withoutLaterMessage();
    if (silent.length > 0) return { kind: 'noLaterMessage', peers: silent };
    const stale = this.mutex.inOtherView(this.membership.view);
    if (stale.length > 0) return { kind: 'oldView', peers: stale };
    const [peer, height] = this.highestHeard();
    return { kind: 'catchingUp', height: Math.max(height, this.head.height + 1), peer: peer ?? this.peers[0]! };
  }

  // ---- inputs ----

  private onCommand(commandId: string, command: Command): void {
    switch (command.type) {
      case 'transfer':
        this.onTransfer(commandId, command.to, command.amount);
        return;
      case 'snapshot':
        this.startSnapshot(commandId);
        return;
      default:
        assertNever(command);
    }
  }

  private onTransfer(commandId: string, to: NodeId, amount: Cents): void {
    // The command id becomes the transfer's id in the block: every peer's guard checks its form.
    if (!TX_ID_PATTERN.test(commandId)) throw new Error(`node: command id ${JSON.stringify(commandId.slice(0, 80))} cannot be a transfer id (1-64 printable ASCII characters)`);
    const base = { type: 'transfer', ok: false, status: 'FAILED', reason: 'invalid', from: this.id, to, amount } as const;
    let error: string | null = null;
    if (!this.nodes.includes(to)) error = unknownRecipient(to);
    else if (to === this.id) error = transferToSelf(this.id);
    else if (!Number.isSafeInteger(amount) || amount <= 0) error = notAnAmount(amount);
    if (error !== null) {
      this.out.reply(commandId, { ...base, error });
      return;
    }
    this.transfers.push({ commandId, to, amount, deadline: this.now + this.config.transferTimeoutMs, announcedWaiting: false });
    this.maybeRequest();
  }

  private onReceive(from: NodeId, message: Message): void {
    this.clock.receive(message.ts);
    this.mutex.observe(from, message.ts);
    if (message.type === 'REQUEST' || message.type === 'REPLY' || message.type === 'RELEASE') this.mutex.observeView(from, message.view);
    this.membership.countReceived(from, message);
    this.hear(from, message);
    for (const r of this.recorders.values()) r.onMessage(from, message);

    switch (message.type) {
      case 'REQUEST':
        this.mutex.onRequest(from, message.ts);
        this.out.send(from, { type: 'REPLY', ts: this.clock.tick(), height: this.head.height, view: this.membership.view });
        return;
      case 'REPLY':
        return;
      case 'RELEASE':
        this.mutex.onRelease(from);
        if (message.block) this.receiveBlocks(from, [message.block]);
        return;
      case 'MARKER':
        this.onMarker(from, message.snapshot);
        return;
      case 'REPORT':
        this.onReport(from, message);
        return;
      case 'FETCH':
        this.serve(from, message.from);
        return;
      case 'BLOCKS': {
        const before = this.head.height;
        this.receiveBlocks(from, message.blocks);
        if (this.fetching?.peer === from) this.fetching.since = this.now;
        if (!message.last) return;
        if (this.fetching?.peer === from) this.fetching = null;
        // A serve ends at a byte budget, not at the server's head: go on while it brings blocks.
        if (this.head.height > before && !this.fresh()) this.catchUp();
        return;
      }
      default:
        assertNever(message);
    }
  }

  /** What a message tells of its sender's chain: the height it carries, or the blocks in it. */
  private hear(from: NodeId, message: Message): void {
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
    if (height > (this.heard.get(from) ?? -1)) this.heard.set(from, height);
  }

  /**
   * A (re)connection. First on the new connection goes this client's outstanding REQUEST (the
   * peer counts only messages after it toward entering), then the blocks the peer lacks, so that
   * they precede any marker: what the old connection lost is then in the peer's channel state.
   */
  private onPeerUp(peer: NodeId, height: number, incarnation: number): void {
    if (!this.membership.open(peer, incarnation)) return;
    // Nothing was sent to it while it was down (see `Outbox.send`), so this is the session's first word.
    const own = this.mutex.request;
    if (own) {
      this.out.send(peer, { type: 'REQUEST', ts: own.ts, height: this.head.height, view: this.membership.view });
      if (this.round) this.round.requests += 1;
    }
    // The peer's handshake height is a hint: blocks it lacks go first, ahead of any marker. Its
    // own messages will carry its height, which is what entering depends on.
    if (this.head.height > height) this.serve(peer, height + 1);
    this.confirmView(peer);
    this.maybeRequest();
  }

  /**
   * The view changed: every other peer waiting for the lock needs a lock message from this view
   * before it may enter (see mutex.ts), so each gets a fresh REPLY with this client's height.
   */
  private confirmView(newcomer: NodeId): void {
    const waiting = this.mutex.entries().filter((e) => e.node !== this.id && e.node !== newcomer && this.membership.isUp(e.node));
    if (waiting.length === 0) return;
    const reply: Message = { type: 'REPLY', ts: this.clock.tick(), height: this.head.height, view: this.membership.view };
    for (const e of waiting) this.out.send(e.node, reply);
  }

  private onPeerDown(peer: NodeId): void {
    if (!this.membership.close(peer)) return;
    this.mutex.forget(peer);
    this.heard.delete(peer);
    for (const [height, p] of this.pending) if (p.from === peer) this.pending.delete(height);
    if (this.fetching?.peer === peer) this.fetching = null;
    // A channel still being recorded may have lost messages with the connection: the snapshot
    // cannot be trusted, so this client drops out of it (the initiator times out naming it).
    for (const [key, r] of this.recorders) {
      if (!r.isRecording(peer)) continue;
      this.recorders.delete(key);
      this.rememberFinished(key);
      this.out.log('warn', { type: 'snapshotAbandoned', id: r.id, missing: [peer] });
      // The initiator knows now that its own snapshot cannot complete.
      const a = this.assemblers.get(key);
      if (!a) continue;
      this.assemblers.delete(key);
      this.out.reply(a.commandId, {
        type: 'snapshot', ok: false, id: a.id, missing: a.missing(),
        error: snapshotConnectionLost(a.id, peer),
      });
    }
  }

  private onTick(now: number): void {
    this.now = now;
    const expired = this.transfers.filter((t) => t.deadline <= now);
    if (expired.length > 0) {
      const wait: LockWait = this.mutex.request ? this.lockWait() : { kind: 'peersDown', peers: this.membership.down() };
      for (const t of expired) {
        this.transfers.splice(this.transfers.indexOf(t), 1);
        this.out.reply(t.commandId, this.failed(t, 'timeout', transferTimedOut(this.config.transferTimeoutMs, wait)));
      }
      if (this.transfers.length === 0 && this.mutex.request && !this.mayEnter()) this.withdraw('every waiting transfer timed out');
    }

    if (this.fetching && now - this.fetching.since >= FETCH_TIMEOUT_MS) this.fetching = null;
    if (this.fresh()) this.behindSince = null;
    else {
      this.behindSince ??= now;
      if (now - this.behindSince >= CATCH_UP_PATIENCE_MS) {
        this.catchUp(true);
        this.behindSince = now;
      }
    }

    for (const [key, a] of this.assemblers) {
      if (now - a.startedAt < this.config.snapshotTimeoutMs) continue;
      this.assemblers.delete(key);
      const missing = a.missing();
      this.out.log('warn', { type: 'snapshotAbandoned', id: a.id, missing });
      this.out.reply(a.commandId, {
        type: 'snapshot', ok: false, id: a.id, missing,
        error: snapshotTimedOut(a.id, this.config.snapshotTimeoutMs, this.whyMissing(key, missing)),
      });
    }
    for (const [key, r] of this.recorders) {
      if (now - r.startedAt < this.config.snapshotTimeoutMs) continue;
      this.recorders.delete(key);
      // A marker arriving later must not start it all over again.
      this.rememberFinished(key);
    }
  }

  /** Each client whose report did not come, and why as far as this client can tell. */
  private whyMissing(key: string, missing: readonly NodeId[]): MissingReport[] {
    return missing.map((node): MissingReport => {
      if (node === this.id) return { kind: 'own', node, waitingFor: this.recorders.get(key)?.recording() ?? [] };
      return { kind: 'peer', node, connected: this.membership.isUp(node) };
    });
  }

  // ---- mutual exclusion and the critical section ----

  /** Requests the lock for the queued transfers, but only from a complete set of peers. */
  private maybeRequest(): void {
    if (this.transfers.length === 0 || this.mutex.request) return;
    const down = this.membership.down();
    if (down.length > 0) {
      for (const t of this.transfers) {
        if (t.announcedWaiting) continue;
        t.announcedWaiting = true;
        this.out.log('info', { type: 'waitingForPeers', commandId: t.commandId, peers: down });
      }
      return;
    }
    const ts = this.clock.tick();
    this.mutex.requestAt(ts);
    this.round = { ts, requests: this.peers.length };
    this.out.broadcast({ type: 'REQUEST', ts, height: this.head.height, view: this.membership.view });
    this.out.log('debug', { type: 'requested', ts, transfers: this.transfers.length });
  }

  private mayEnter(): boolean {
    return this.policy.mayEnter({ mutex: this.mutex, view: this.membership.view, fresh: () => this.fresh() });
  }

  private fresh(): boolean {
    return this.policy.fresh({ head: this.head, heard: this.heard, pendingBlocks: this.pending.size });
  }

  /** The peer that told of the highest chain height this session, and that height. */
  private highestHeard(): [NodeId | null, number] {
    let best: NodeId | null = null;
    let height = this.head.height;
    for (const p of this.peers) {
      if (!this.membership.isUp(p)) continue;
      const h = this.heardFrom(p);
      if (h > height) {
        best = p;
        height = h;
      }
    }
    return [best, height];
  }

  private heardFrom(peer: NodeId): number {
    return this.heard.get(peer) ?? 0;
  }

  /**
   * Asks the peer with the highest chain for the blocks from this client's head on. Asking the
   * same peer for the same blocks again (its answer brought none: a block it sent was rejected,
   * say) waits for a tick's patience, so that two clients never ping-pong FETCH and BLOCKS.
   */
  private catchUp(patient = false): void {
    if (this.fetching) return;
    const [peer, height] = this.highestHeard();
    if (peer === null) return;
    const from = this.head.height + 1;
    if (!patient && this.lastFetch?.peer === peer && this.lastFetch.from === from) return;
    this.lastFetch = { peer, from };
    this.fetching = { peer, since: this.now };
    this.out.send(peer, { type: 'FETCH', ts: this.clock.tick(), from });
    this.out.log('info', { type: 'catchingUp', peer, from: this.head.height + 1, to: height });
  }

  /**
   * Sends `to` the blocks from height `from` on, as one send event: BLOCKS messages that each fit
   * a frame, about CATCH_UP_WINDOW_BYTES in all (the peer fetches the rest once these are in),
   * the last one marked. A peer asking beyond this client's head gets one empty, last BLOCKS.
   */
  private serve(to: NodeId, from: number): void {
    const ts = this.clock.tick();
    const budget = this.maxMessageBytes - BLOCKS_OVERHEAD_BYTES;
    let window = CATCH_UP_WINDOW_BYTES;
    let batch: Block[] = [];
    let bytes = 0;
    for (let h = from; h <= this.head.height && window > 0; ) {
      const blocks = this.config.chain.readBlocks(h, Math.min(this.head.height, h + SERVE_READ_BLOCKS - 1));
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
      if (blocks.length === 0) throw new Error(`node: the chain reader returned no block at #${h} below head #${this.head.height}`);
    }
    this.out.send(to, { type: 'BLOCKS', ts, blocks: batch, last: true });
    const last = batch[batch.length - 1];
    if (last) this.out.log('debug', { type: 'served', peer: to, from, to: last.height });
  }

  /**
   * The critical section, in one synchronous step: validate the batch against the balances,
   * build and append the block, persist it, release with the block piggybacked.
   */
  private tryEnter(): void {
    if (!this.mutex.request || !this.mayEnter()) return;
    const ts = this.clock.tick();
    const batch = this.transfers.splice(0, this.maxBatch);
    this.out.log('debug', { type: 'entered', ts, transfers: batch.length, height: this.head.height });

    const scratch: Balances = new Map(this.balances);
    const txs: Tx[] = [];
    const committed: PendingTransfer[] = [];
    for (const t of batch) {
      const tx: Tx = { id: t.commandId, from: this.id, to: t.to, amount: t.amount };
      const check = this.policy.checkTransfer(scratch, this.id, tx);
      if (!check.ok) {
        this.out.reply(t.commandId, this.failed(t, check.reason, check.error, check.balance));
        continue;
      }
      applyTx(scratch, tx);
      txs.push(tx);
      committed.push(t);
    }

    let block: Block | null = null;
    if (txs.length > 0) {
      block = sealBlock({ height: this.head.height + 1, prevHash: this.head.hash, ts, creator: this.id, txs });
      this.append(block, null);
    }
    this.mutex.release();
    this.out.broadcast({ type: 'RELEASE', ts, height: this.head.height, view: this.membership.view, block });
    this.out.log('debug', { type: 'left', ts, block: block?.height ?? null });
    const round = this.round;
    this.round = null;
    const msgs = round ? 2 * round.requests + this.peers.length : 0;
    for (const t of committed) {
      this.out.reply(t.commandId, {
        type: 'transfer', ok: true, status: 'SUCCESS', txId: t.commandId, block: block!.height,
        from: this.id, to: t.to, amount: t.amount, clock: ts, msgs, batch: committed.length,
      });
    }
    // Transfers beyond one block's worth go in the next round.
    this.maybeRequest();
  }

  /** The one shape of a failed transfer's result. */
  private failed(t: PendingTransfer, reason: TransferFailure, error: string, balance?: Cents): CommandResult {
    return { type: 'transfer', ok: false, status: 'FAILED', reason, error, from: this.id, to: t.to, amount: t.amount, ...(balance !== undefined ? { balance } : {}) };
  }

  private withdraw(reason: string): void {
    const own = this.mutex.request;
    if (!own) return;
    this.mutex.release();
    this.round = null;
    this.out.broadcast({ type: 'RELEASE', ts: this.clock.tick(), height: this.head.height, view: this.membership.view, block: null });
    this.out.log('info', { type: 'withdrawn', ts: own.ts, reason });
  }

  // ---- the ledger ----

  private receiveBlocks(from: NodeId, blocks: readonly Block[]): void {
    for (const b of blocks) {
      if (b.height <= this.head.height) {
        if (b.height === this.head.height && b.hash !== this.head.hash) {
          this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: conflictsWithHead(b.height) });
        }
        continue;
      }
      const seen = this.pending.get(b.height);
      if (seen && seen.block.hash !== b.hash) {
        this.out.log('error', { type: 'blockRejected', from, height: b.height, reason: conflictsWithBuffered });
        continue;
      }
      this.pending.set(b.height, { block: b, from });
    }
    for (let next = this.pending.get(this.head.height + 1)?.block; next; next = this.pending.get(this.head.height + 1)?.block) {
      this.pending.delete(next.height);
      const check = checkBlock(this.head, this.balances, next);
      if (!check.ok) {
        this.out.log('error', { type: 'blockRejected', from, height: next.height, reason: check.error });
        break;
      }
      this.append(next, from);
    }
  }

  /**
   * A block of its own is synced before anything that depends on it leaves (its RELEASE, the
   * replies): acknowledged is durable. A block from a peer is not: its creator synced it, and a
   * client that loses it in a crash fetches it again before it may enter.
   */
  private append(block: Block, from: NodeId | null): void {
    applyBlock(this.balances, block);
    this.head = { height: block.height, hash: block.hash };
    this.out.persist(block, from === null);
    this.out.log(from === null ? 'info' : 'debug', { type: 'blockApplied', block, from });
  }

  // ---- snapshots ----

  private startSnapshot(commandId: string): void {
    const id: SnapshotId = { initiator: this.id, seq: this.snapshotSeq++ };
    // A marker must cross every channel: with a peer down the snapshot could only time out.
    const down = this.membership.down();
    if (down.length > 0) {
      this.out.reply(commandId, {
        type: 'snapshot', ok: false, id, missing: down,
        error: snapshotNotStarted(id, down),
      });
      return;
    }
    this.assemblers.set(snapshotKey(id), new SnapshotAssembler(id, this.nodes, this.now, commandId));
    this.record(id, null);
  }

  private onMarker(from: NodeId, id: SnapshotId): void {
    const key = snapshotKey(id);
    const recorder = this.recorders.get(key);
    if (recorder) {
      recorder.onMarker(from);
      if (recorder.done) this.finish(recorder);
    } else if (!this.finished.has(key)) {
      this.record(id, from);
    }
  }

  /** First marker (or initiation): record local state, then a marker on every outgoing channel. */
  private record(id: SnapshotId, markerFrom: NodeId | null): void {
    this.out.log(markerFrom === null ? 'info' : 'debug', { type: 'snapshotStarted', id, from: markerFrom });
    const recorder = this.policy.createRecorder({ id, state: this.recordState(), peers: this.peers, markerFrom, startedAt: this.now });
    this.recorders.set(snapshotKey(id), recorder);
    this.out.broadcast({ type: 'MARKER', ts: this.clock.tick(), snapshot: id });
    if (recorder.done) this.finish(recorder);
  }

  private recordState(): RecordedState {
    return {
      node: this.id,
      clock: this.clock.now,
      height: this.head.height,
      head: this.head.hash,
      balances: balancesToRecord(this.balances),
      pendingBlocks: [...this.pending.values()].map((p) => p.block).sort((a, b) => a.height - b.height),
      queue: [...this.mutex.entries()],
      channels: this.membership.channels(),
    };
  }

  private finish(recorder: SnapshotRecorder): void {
    const key = snapshotKey(recorder.id);
    this.recorders.delete(key);
    this.rememberFinished(key);
    this.out.log('debug', { type: 'snapshotRecorded', id: recorder.id });
    const local = recorder.local();
    if (recorder.id.initiator === this.id) {
      this.collect(this.id, recorder.id, local);
      return;
    }
    const report: Message = { type: 'REPORT', ts: this.clock.tick(), snapshot: recorder.id, local };
    const tooLong = local.channels.find((c) => c.messages.length > MAX_RECORDED_MESSAGES);
    const bytes = tooLong ? 0 : encodedBytesBound(report);
    if (tooLong || bytes > this.maxMessageBytes) {
      // Too large for a frame: say so in a small report rather than end the session over it.
      const error = tooLong ? tooManyRecorded(this.id, tooLong.from, tooLong.messages.length) : reportTooLarge(this.id, bytes, this.maxMessageBytes);
      this.out.log('warn', { type: 'snapshotAbandoned', id: recorder.id, missing: [this.id] });
      this.out.send(recorder.id.initiator, { type: 'REPORT', ts: report.ts, snapshot: recorder.id, local: null, error });
      return;
    }
    this.out.send(recorder.id.initiator, report);
  }

  private rememberFinished(key: string): void {
    this.finished.add(key);
    if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.values().next().value!);
  }

  private onReport(from: NodeId, report: Extract<Message, { type: 'REPORT' }>): void {
    const key = snapshotKey(report.snapshot);
    if (report.snapshot.initiator !== this.id || (report.local !== null && report.local.state.node !== from)) {
      this.out.log('warn', { type: 'protocolError', from, error: unexpectedReport(report.snapshot) });
      return;
    }
    if (report.local !== null) {
      this.collect(from, report.snapshot, report.local);
      return;
    }
    const assembler = this.assemblers.get(key);
    if (!assembler) return; // timed out already
    this.assemblers.delete(key);
    this.out.log('warn', { type: 'snapshotAbandoned', id: report.snapshot, missing: [from] });
    this.out.reply(assembler.commandId, { type: 'snapshot', ok: false, id: report.snapshot, missing: [from], error: snapshotFailedAt(report.snapshot, report.error) });
  }

  private collect(from: NodeId, id: SnapshotId, local: LocalSnapshot): void {
    const key = snapshotKey(id);
    const assembler = this.assemblers.get(key);
    if (!assembler) return; // timed out already
    assembler.add(from, local);
    if (!assembler.complete) return;
    this.assemblers.delete(key);
    const snapshot: GlobalSnapshot = assembler.assemble(this.total, (height) => this.blockAt(height));
    this.out.snapshotComplete(snapshot);
    this.out.reply(assembler.commandId, { type: 'snapshot', ok: true, snapshot });
  }

  /** This client's own block at `height`, or null above its head. */
  private blockAt(height: number): Block | null {
    if (height > this.head.height) return null;
    if (height === 0) return this.config.genesis;
    return this.config.chain.readBlocks(height, height)[0] ?? null;
  }
}

/** Rule 5 of the mutex, plus: never build on a chain shorter than one a peer holds. */
const ruleFiveAndFresh = ({ mutex, view, fresh }: EntryContext): boolean => mutex.canEnter(view) && fresh();

/**
 * Whether this client holds every block a peer of the current sessions has told it of. The
 * heights lock messages carry are what makes this safe: a client whose connections never
 * dropped still hears, before it may enter, that a peer got a block it never received.
 */
function holdsEveryBlockHeard({ head, heard }: ChainView): boolean {
  // Buffered blocks count through `heard`: their heights came from a peer still in session.
  for (const h of heard.values()) if (h > head.height) return false;
  return true;
}
