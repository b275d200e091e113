/**
 * One client's protocol state machine: `step(input)` returns the effects to carry out, in order.
 * It runs the lock itself (Lamport's mutex, the request for the queued transfers, the critical
 * section) and routes everything else to the part that owns it: membership.ts (sessions and the
 * view), replication.ts (the chain), snapshot-coordinator.ts (Chandy-Lamport), transfers.ts (the
 * transfer queue). It does no I/O, reads no clock and draws no random numbers, so a seeded
 * simulator can run many of them.
 */
import type { ChainReader, Command, Effect, Input, LockWait, NodeStatus, TxIndex, TxState } from './api.js';
import { LamportClock } from './clock.js';
import { type Balances, type Head, applyTx, balancesToRecord, genesisBalances, sealBlock, totalOf } from './ledger.js';
import { DEFAULT_MAX_FRAME_BYTES, MAX_TXS_PER_BLOCK } from './limits.js';
import { Membership } from './membership.js';
import { LamportMutex } from './mutex.js';
import { Outbox } from './outbox.js';
import { type NodePolicy, withHonestDefaults } from './policy.js';
import { Replication } from './replication.js';
import { SnapshotCoordinator } from './snapshot-coordinator.js';
import { MemoryTxIndex, TransferKeys } from './transfer-keys.js';
import { type PendingTransfer, TransferQueue } from './transfers.js';
import { type Block, type Cents, type Message, type NodeId, type RecordedState, type Tx, assertNever } from './types.js';

export { CATCH_UP_PATIENCE_MS, FETCH_TIMEOUT_MS } from './replication.js';
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
  /**
   * Where each transfer key of the chain is committed, holding every block up to the restored
   * head (genesis included). Absent: a map filled from `chain` now, which grows with the chain
   * (for tests; the daemon gives its bounded index).
   */
  readonly txIndex?: TxIndex;
  /** The largest message a frame carries (`maxFrameBytes`): BLOCKS are cut to it, a larger REPORT fails its snapshot. */
  readonly maxMessageBytes?: number;
  /** Decisions replaced by a test to build a deliberately broken protocol (see policy.ts); never set otherwise. */
  readonly policy?: Partial<NodePolicy>;
}

/**
 * The current lock round. Each REQUEST sent is answered by exactly one REPLY, though rule 5 may
 * let this client enter before every REPLY has arrived, so the round's cost is counted as sent.
 */
interface Round {
  readonly ts: number;
  requests: number;
}

export class Node {
  readonly id: NodeId;
  readonly nodes: readonly NodeId[];
  readonly peers: readonly NodeId[];
  readonly total: Cents;
  private readonly policy: NodePolicy;
  private readonly clock: LamportClock;
  private readonly mutex: LamportMutex;
  private readonly membership: Membership;
  private readonly out: Outbox;
  private readonly replication: Replication;
  private readonly snapshots: SnapshotCoordinator;
  private readonly transfers: TransferQueue;
  private round: Round | null = null;
  private now = 0;

  constructor(readonly config: NodeConfig) {
    this.id = config.id;
    this.nodes = [...config.nodes].sort((a, b) => a - b);
    if (!this.nodes.includes(this.id)) throw new Error(`node: client${this.id} is not among the configured clients`);
    this.peers = this.nodes.filter((n) => n !== this.id);
    this.total = totalOf(genesisBalances(config.genesis));
    this.policy = withHonestDefaults(config.policy);
    const maxMessageBytes = config.maxMessageBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const headHeight = config.restored?.head.height ?? 0;
    const index = config.txIndex ?? MemoryTxIndex.of([config.genesis, ...(headHeight > 0 ? config.chain.readBlocks(1, headHeight) : [])]);
    const keys = new TransferKeys(index, (height) => this.replication.blockAt(height), this.policy.findKey);
    this.clock = new LamportClock(config.restored?.clock ?? 0);
    this.mutex = new LamportMutex(this.id, this.peers);
    this.membership = new Membership(this.id, config.incarnation ?? 0, this.peers, this.policy.viewId);
    this.out = new Outbox(this.peers, this.membership, this.policy.inSession);
    this.replication = new Replication(
      { genesis: config.genesis, chain: config.chain, restored: config.restored, maxMessageBytes, fresh: this.policy.fresh, keys },
      this.peers, this.clock, this.membership, this.out,
    );
    this.snapshots = new SnapshotCoordinator(
      {
        self: this.id, nodes: this.nodes, peers: this.peers, total: this.total,
        firstSeq: config.firstSnapshotSeq ?? 1, timeoutMs: config.snapshotTimeoutMs, maxMessageBytes,
        createRecorder: this.policy.createRecorder,
        recordState: () => this.recordState(),
        chain: this.replication,
        fetchFrom: (peer, height, now) => this.replication.fetchFromHolder(peer, height, now),
      },
      this.clock, this.membership, this.out,
    );
    const maxBatch = Math.min(config.maxBatch ?? MAX_TXS_PER_BLOCK, MAX_TXS_PER_BLOCK);
    this.transfers = new TransferQueue(this.id, this.nodes, config.transferTimeoutMs, maxBatch, this.out, keys);
  }

  /** The single entry point: one input in, the effects to carry out (in order) out. */
  step(input: Input): Effect[] {
    if (!this.policy.admit(input)) return [];
    this.replication.beginStep();
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
    this.snapshots.afterStep(this.now);
    // Rule 5 holds but the chain is behind a peer's: the missing blocks are fetched, not awaited.
    if (this.mutex.request && this.mutex.canEnter(this.membership.view) && !this.replication.fresh()) this.replication.catchUp(this.now);
    return this.policy.emit(this.out.take());
  }

  // ---- reads (no step needed: they change nothing) ----

  balanceTable(): ReadonlyMap<NodeId, Cents> {
    return this.replication.balances;
  }

  chainHead(): Head {
    return this.replication.head;
  }

  /** The sequence number the next snapshot started here will get. */
  nextSnapshotSeq(): number {
    return this.snapshots.nextSeq;
  }

  lamportTime(): number {
    return this.clock.now;
  }

  /** The current membership view id (see membership.ts): lock messages carry it. */
  membershipView(): number {
    return this.membership.view;
  }

  status(): NodeStatus {
    const head = this.replication.head;
    return {
      id: this.id,
      clock: this.clock.now,
      height: head.height,
      head: head.hash,
      queue: [...this.mutex.entries()],
      requesting: this.mutex.request,
      pendingTransfers: this.transfers.length,
      peersUp: this.membership.connected(),
      snapshotsInProgress: this.snapshots.inProgress,
      pendingBlocks: this.replication.pendingBlocks,
      latest: this.peers.flatMap((peer) => {
        const ts = this.mutex.latestFrom(peer);
        return ts === undefined ? [] : [{ peer, ts }];
      }),
      heard: this.peers.flatMap((peer) => (this.membership.isUp(peer) ? [{ peer, height: this.replication.heightOf(peer) }] : [])),
      waitingFor: this.mutex.request || this.transfers.length > 0 ? this.transferWait() : null,
      view: this.membership.view,
    };
  }

  /** What became of the transfer with this key, as far as this client knows. */
  transferState(key: string): TxState {
    return this.transfers.state(key, () => ({ requested: this.mutex.request !== null, wait: this.transferWait() }));
  }

  /** The keys of the transfers in this client's queue, oldest first. */
  pendingKeys(): string[] {
    return this.transfers.pendingKeys();
  }

  /** What a queued transfer waits for: the lock, or, without a request out, the peers to connect (see `maybeRequest`). */
  private transferWait(): LockWait {
    return this.mutex.request ? this.lockWait() : { kind: 'peersDown', peers: this.membership.down() };
  }

  /** The peer whose request heads this client's lock queue: the next to enter, as far as it knows. */
  nextInLine(): NodeId | null {
    const first = this.mutex.entries()[0];
    return first === undefined || first.node === this.id ? null : first.node;
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
    const [peer, height] = this.replication.highestHeard();
    return { kind: 'catchingUp', height: Math.max(height, this.replication.head.height + 1), peer: peer ?? this.peers[0]! };
  }

  // ---- inputs ----

  private onCommand(commandId: string, command: Command): void {
    switch (command.type) {
      case 'transfer':
        if (this.transfers.add(commandId, command.key, command.to, command.amount, this.now, command.madeHere === true)) this.maybeRequest();
        return;
      case 'withdraw':
        // The critical section is one step: a transfer is either still queued here, or done.
        if (this.transfers.withdraw(command.key)) this.withdrawRequestIfIdle('every waiting transfer was withdrawn');
        this.out.reply(commandId, { type: 'withdraw', state: this.transferState(command.key) });
        return;
      case 'snapshot':
        this.snapshots.start(commandId, this.now);
        return;
      default:
        assertNever(command);
    }
  }

  private onReceive(from: NodeId, message: Message): void {
    this.clock.receive(message.ts);
    this.mutex.observe(from, message.ts);
    if (message.type === 'REQUEST' || message.type === 'REPLY' || message.type === 'RELEASE') this.mutex.observeView(from, message.view);
    this.membership.countReceived(from, message);
    this.replication.hear(from, message);
    this.snapshots.onMessage(from, message);

    switch (message.type) {
      case 'REQUEST':
        this.mutex.onRequest(from, message.ts);
        this.out.send(from, { type: 'REPLY', ts: this.clock.tick(), height: this.replication.head.height, view: this.membership.view });
        return;
      case 'REPLY':
        return;
      case 'RELEASE':
        this.mutex.onRelease(from);
        if (message.block) this.replication.receiveBlocks(from, [message.block], from);
        return;
      case 'MARKER':
        this.snapshots.onMarker(from, message.snapshot, this.now);
        return;
      case 'REPORT':
        this.snapshots.onReport(from, message, this.now);
        return;
      case 'FETCH':
        this.replication.serve(from, message.from);
        return;
      case 'BLOCKS':
        this.replication.onBlocks(from, message, this.now);
        return;
      default:
        assertNever(message);
    }
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
      this.out.send(peer, { type: 'REQUEST', ts: own.ts, height: this.replication.head.height, view: this.membership.view });
      if (this.round) this.round.requests += 1;
    }
    this.replication.peerUp(peer, height);
    this.confirmView(peer);
    this.maybeRequest();
  }

  private onPeerDown(peer: NodeId): void {
    if (!this.membership.close(peer)) return;
    this.mutex.forget(peer);
    this.replication.peerDown(peer);
    this.snapshots.peerDown(peer);
  }

  private onTick(now: number): void {
    this.now = now;
    if (this.transfers.expire(now, () => this.transferWait()) > 0) this.withdrawRequestIfIdle('every waiting transfer timed out');
    this.replication.tick(now);
    this.snapshots.tick(now);
  }

  // ---- mutual exclusion and the critical section ----

  /** Requests the lock for the queued transfers, but only from a complete set of peers. */
  private maybeRequest(): void {
    if (this.transfers.length === 0 || this.mutex.request) return;
    const down = this.membership.down();
    if (down.length > 0) {
      this.transfers.announceWaiting(down);
      return;
    }
    const ts = this.clock.tick();
    this.mutex.requestAt(ts);
    this.round = { ts, requests: this.peers.length };
    this.out.broadcast({ type: 'REQUEST', ts, height: this.replication.head.height, view: this.membership.view });
    this.out.log('debug', { type: 'requested', ts, transfers: this.transfers.length });
  }

  /**
   * The view changed: every other peer waiting for the lock needs a lock message from this view
   * before it may enter (see mutex.ts), so each gets a fresh REPLY with this client's height.
   */
  private confirmView(newcomer: NodeId): void {
    const waiting = this.mutex.entries().filter((e) => e.node !== this.id && e.node !== newcomer && this.membership.isUp(e.node));
    if (waiting.length === 0) return;
    const reply: Message = { type: 'REPLY', ts: this.clock.tick(), height: this.replication.head.height, view: this.membership.view };
    for (const e of waiting) this.out.send(e.node, reply);
  }

  private mayEnter(): boolean {
    return this.policy.mayEnter({ mutex: this.mutex, view: this.membership.view, fresh: () => this.replication.fresh() });
  }

  /**
   * The critical section, in one synchronous step: validate the batch against the balances,
   * build and append the block, persist it, release with the block piggybacked.
   */
  private tryEnter(): void {
    if (!this.mutex.request || !this.mayEnter()) return;
    const ts = this.clock.tick();
    const head = this.replication.head;
    const batch = this.transfers.take();
    this.out.log('debug', { type: 'entered', ts, transfers: batch.length, height: head.height });

    const scratch: Balances = new Map(this.replication.balances);
    const txs: Tx[] = [];
    const committed: PendingTransfer[] = [];
    for (const t of batch) {
      // The rule that matters: this client holds every block by now (freshness), so a key the
      // chain holds is found here, whoever committed it. A key made here too: once shown, a caller may have used it elsewhere.
      if (this.transfers.answerIfCommitted(t)) continue;
      const tx: Tx = { id: t.key, from: this.id, to: t.to, amount: t.amount };
      const check = this.policy.checkTransfer(scratch, this.id, tx);
      if (!check.ok) {
        this.transfers.fail(t, check.reason, check.error, check.balance);
        continue;
      }
      applyTx(scratch, tx);
      txs.push(tx);
      committed.push(t);
    }

    let block: Block | null = null;
    if (txs.length > 0) {
      block = sealBlock({ height: head.height + 1, prevHash: head.hash, ts, creator: this.id, txs });
      this.replication.appendOwn(block);
    }
    this.mutex.release();
    this.out.broadcast({ type: 'RELEASE', ts, height: this.replication.head.height, view: this.membership.view, block });
    this.out.log('debug', { type: 'left', ts, block: block?.height ?? null });
    const round = this.round;
    this.round = null;
    const msgs = round ? 2 * round.requests + this.peers.length : 0;
    for (const t of committed) this.transfers.succeed(t, { block: block!.height, clock: ts, msgs, batch: committed.length });
    // Transfers beyond one block's worth go in the next round.
    this.maybeRequest();
  }

  /** Withdraws the lock request when nothing is left to commit and entering is not possible now. */
  private withdrawRequestIfIdle(reason: string): void {
    if (this.transfers.length === 0 && this.mutex.request && !this.mayEnter()) this.withdrawRequest(reason);
  }

  private withdrawRequest(reason: string): void {
    const own = this.mutex.request;
    if (!own) return;
    this.mutex.release();
    this.round = null;
    this.out.broadcast({ type: 'RELEASE', ts: this.clock.tick(), height: this.replication.head.height, view: this.membership.view, block: null });
    this.out.log('info', { type: 'withdrawn', ts: own.ts, reason });
  }

  /** What this client records of itself when a snapshot reaches it. */
  private recordState(): RecordedState {
    const head = this.replication.head;
    return {
      node: this.id,
      clock: this.clock.now,
      height: head.height,
      head: head.hash,
      balances: balancesToRecord(this.replication.balances),
      pendingBlocks: this.replication.bufferedBlocks(),
      queue: [...this.mutex.entries()],
      channels: this.membership.channels(),
    };
  }
}
