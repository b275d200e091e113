/**
 * One client's protocol state machine: `step(input)` returns the effects to carry out, in order.
 * It composes the Lamport clock, the mutex, the ledger and the snapshot recorders; it does no I/O,
 * reads no clock and draws no random numbers, so a seeded simulator can run many of them.
 */
import type { Command, CommandResult, CoreEvent, Effect, GlobalSnapshot, Input, LogLevel, NodeStatus } from './api.js';
import { LamportClock } from './clock.js';
import {
  type Balances,
  type Head,
  MAX_TXS_PER_BLOCK,
  applyBlock,
  applyTx,
  balancesToRecord,
  checkBlock,
  checkTx,
  genesisBalances,
  sealBlock,
  totalOf,
} from './ledger.js';
import { LamportMutex } from './mutex.js';
import { SnapshotAssembler, SnapshotRecorder } from './snapshot.js';
import { type Block, type Cents, type Message, type NodeId, type RecordedState, type SnapshotId, type Tx, snapshotKey } from './types.js';

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

export class Node {
  readonly id: NodeId;
  readonly nodes: readonly NodeId[];
  readonly peers: readonly NodeId[];
  protected readonly clock: LamportClock;
  protected readonly mutex: LamportMutex;
  protected balances: Balances;
  protected head: Head;
  readonly total: Cents;
  /** Blocks above head+1 that arrived out of height order, by height. */
  protected readonly pending = new Map<number, Block>();
  /**
   * Chain heights peers announced in the handshake of their current connection. No block is
   * created below the highest: that peer holds blocks this client lacks and is sending them.
   */
  protected readonly claims = new Map<NodeId, number>();
  protected readonly transfers: PendingTransfer[] = [];
  protected round: Round | null = null;
  protected readonly up = new Set<NodeId>();
  protected now = 0;
  protected readonly recorders = new Map<string, SnapshotRecorder>();
  protected readonly assemblers = new Map<string, SnapshotAssembler>();
  protected readonly finished = new Set<string>();
  protected snapshotSeq: number;
  protected readonly maxBatch: number;
  private out: Effect[] = [];

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
  }

  /** The single entry point: one input in, the effects to carry out (in order) out. */
  step(input: Input): Effect[] {
    this.out = [];
    switch (input.kind) {
      case 'command':
        this.onCommand(input.id, input.command);
        break;
      case 'receive':
        this.onReceive(input.from, input.message);
        break;
      case 'peerUp':
        this.onPeerUp(input.peer, input.height);
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
    const out = this.out;
    this.out = [];
    return out;
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

  status(): NodeStatus {
    return {
      id: this.id,
      clock: this.clock.now,
      height: this.head.height,
      head: this.head.hash,
      queue: [...this.mutex.entries()],
      requesting: this.mutex.request,
      pendingTransfers: this.transfers.length,
      peersUp: [...this.up].sort((a, b) => a - b),
      snapshotsInProgress: this.recorders.size + this.assemblers.size,
      pendingBlocks: this.pending.size,
    };
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
    const base = { type: 'transfer', ok: false, status: 'FAILED', reason: 'invalid', from: this.id, to, amount } as const;
    let error: string | null = null;
    if (!this.nodes.includes(to)) error = `unknown recipient client${to}`;
    else if (to === this.id) error = `client${this.id} cannot transfer to itself`;
    else if (!Number.isSafeInteger(amount) || amount <= 0) error = `amount must be a positive number of cents, got ${amount}`;
    if (error !== null) {
      this.reply(commandId, { ...base, error });
      return;
    }
    this.transfers.push({ commandId, to, amount, deadline: this.now + this.config.transferTimeoutMs, announcedWaiting: false });
    this.maybeRequest();
  }

  protected onReceive(from: NodeId, message: Message): void {
    this.clock.receive(message.ts);
    this.mutex.observe(from, message.ts);
    for (const r of this.recorders.values()) r.onMessage(from, message);

    switch (message.type) {
      case 'REQUEST':
        this.mutex.onRequest(from, message.ts);
        this.send(from, { type: 'REPLY', ts: this.clock.tick() });
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
        this.onReport(from, message.snapshot, message);
        return;
      case 'BLOCKS':
        this.receiveBlocks(from, message.blocks);
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
  private onPeerUp(peer: NodeId, height: number): void {
    if (this.up.has(peer)) return;
    this.up.add(peer);
    // Nothing was sent to it while it was down (see `send`), so this is the session's first word.
    const own = this.mutex.request;
    if (own) {
      this.send(peer, { type: 'REQUEST', ts: own.ts });
      if (this.round) this.round.requests += 1;
    }
    this.claims.set(peer, height);
    if (height > this.head.height) this.log('info', { type: 'catchingUp', peer, from: this.head.height + 1, to: height });
    if (this.head.height > height) {
      this.out.push({ kind: 'serveBlocks', to: peer, fromHeight: height + 1, toHeight: this.head.height, ts: this.clock.tick() });
    }
    this.maybeRequest();
  }

  private onPeerDown(peer: NodeId): void {
    if (!this.up.delete(peer)) return;
    this.mutex.forget(peer);
    this.claims.delete(peer);
    // A channel still being recorded may have lost messages with the connection: the snapshot
    // cannot be trusted, so this client drops out of it (the initiator times out naming it).
    for (const [key, r] of this.recorders) {
      if (!r.isRecording(peer)) continue;
      this.recorders.delete(key);
      this.rememberFinished(key);
      this.log('warn', { type: 'snapshotAbandoned', id: r.id, missing: [peer] });
      // The initiator knows now that its own snapshot cannot complete.
      const a = this.assemblers.get(key);
      if (!a) continue;
      this.assemblers.delete(key);
      this.reply(a.commandId, {
        type: 'snapshot', ok: false, id: a.id, missing: a.missing(),
        error: `snapshot ${key} abandoned: the connection to client${peer} was lost while its channel was being recorded`,
      });
    }
  }

  private onTick(now: number): void {
    this.now = now;
    const expired = this.transfers.filter((t) => t.deadline <= now);
    if (expired.length > 0) {
      const down = this.peers.filter((p) => !this.up.has(p));
      const why = down.length > 0 ? `waiting for ${names(down)} to connect` : 'waiting for the lock';
      for (const t of expired) {
        this.transfers.splice(this.transfers.indexOf(t), 1);
        this.reply(t.commandId, {
          type: 'transfer', ok: false, status: 'FAILED', reason: 'timeout', from: this.id, to: t.to, amount: t.amount,
          error: `timed out after ${seconds(this.config.transferTimeoutMs)} ${why}; nothing was transferred`,
        });
      }
      if (this.transfers.length === 0 && this.mutex.request && !this.canEnter()) this.withdraw('every waiting transfer timed out');
    }

    for (const [key, r] of this.recorders) {
      if (now - r.startedAt < this.config.snapshotTimeoutMs) continue;
      this.recorders.delete(key);
      // A marker arriving later must not start it all over again.
      this.rememberFinished(key);
    }
    for (const [key, a] of this.assemblers) {
      if (now - a.startedAt < this.config.snapshotTimeoutMs) continue;
      this.assemblers.delete(key);
      const missing = a.missing();
      this.log('warn', { type: 'snapshotAbandoned', id: a.id, missing });
      // Everyone waits for the markers of a client that is gone, so name it apart.
      const down = this.peers.filter((p) => !this.up.has(p));
      this.reply(a.commandId, {
        type: 'snapshot', ok: false, id: a.id, missing,
        error: `snapshot ${key} timed out after ${seconds(this.config.snapshotTimeoutMs)}: no report from ${names(missing)}${down.length > 0 ? ` (not connected: ${names(down)})` : ''}`,
      });
    }
  }

  // ---- mutual exclusion and the critical section ----

  /** Requests the lock for the queued transfers, but only from a complete set of peers. */
  private maybeRequest(): void {
    if (this.transfers.length === 0 || this.mutex.request) return;
    const down = this.peers.filter((p) => !this.up.has(p));
    if (down.length > 0) {
      for (const t of this.transfers) {
        if (t.announcedWaiting) continue;
        t.announcedWaiting = true;
        this.log('info', { type: 'waitingForPeers', commandId: t.commandId, peers: down });
      }
      return;
    }
    const ts = this.clock.tick();
    this.mutex.requestAt(ts);
    this.round = { ts, requests: this.peers.length };
    this.broadcast({ type: 'REQUEST', ts });
    this.log('debug', { type: 'requested', ts, transfers: this.transfers.length });
  }

  /** Rule 5 of the mutex, plus: never build on a chain known to be behind. */
  protected canEnter(): boolean {
    if (!this.mutex.canEnter() || this.pending.size > 0) return false;
    for (const h of this.claims.values()) if (h > this.head.height) return false;
    return true;
  }

  /**
   * The critical section, in one synchronous step: validate the batch against the balances,
   * build and append the block, persist it, release with the block piggybacked.
   */
  private tryEnter(): void {
    if (!this.mutex.request || !this.canEnter()) return;
    const ts = this.clock.tick();
    const batch = this.transfers.splice(0, this.maxBatch);
    this.log('debug', { type: 'entered', ts, transfers: batch.length, height: this.head.height });

    const scratch: Balances = new Map(this.balances);
    const txs: Tx[] = [];
    const committed: PendingTransfer[] = [];
    for (const t of batch) {
      const tx: Tx = { id: t.commandId, from: this.id, to: t.to, amount: t.amount };
      const check = this.checkTransfer(scratch, tx);
      if (!check.ok) {
        this.reply(t.commandId, {
          type: 'transfer', ok: false, status: 'FAILED', reason: check.reason, error: check.error,
          from: this.id, to: t.to, amount: t.amount, ...(check.balance !== undefined ? { balance: check.balance } : {}),
        });
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
    this.broadcast({ type: 'RELEASE', ts, block });
    const round = this.round;
    this.round = null;
    const msgs = round ? 2 * round.requests + this.peers.length : 0;
    for (const t of committed) {
      this.reply(t.commandId, {
        type: 'transfer', ok: true, status: 'SUCCESS', txId: t.commandId, block: block!.height,
        from: this.id, to: t.to, amount: t.amount, clock: ts, msgs, batch: committed.length,
      });
    }
    // Transfers beyond one block's worth go in the next round.
    this.maybeRequest();
  }

  /** Overridable only so that tests can build deliberately broken protocols. */
  protected checkTransfer(balances: Balances, tx: Tx): ReturnType<typeof checkTx> {
    return checkTx(balances, this.id, tx);
  }

  private withdraw(reason: string): void {
    const own = this.mutex.request;
    if (!own) return;
    this.mutex.release();
    this.round = null;
    this.broadcast({ type: 'RELEASE', ts: this.clock.tick(), block: null });
    this.log('info', { type: 'withdrawn', ts: own.ts, reason });
  }

  // ---- the ledger ----

  private receiveBlocks(from: NodeId, blocks: readonly Block[]): void {
    for (const b of blocks) {
      if (b.height <= this.head.height) {
        if (b.height === this.head.height && b.hash !== this.head.hash) {
          this.log('error', { type: 'blockRejected', from, height: b.height, reason: `conflicts with own block #${b.height}` });
        }
        continue;
      }
      const seen = this.pending.get(b.height);
      if (seen && seen.hash !== b.hash) {
        this.log('error', { type: 'blockRejected', from, height: b.height, reason: 'conflicts with another block received for that height' });
        continue;
      }
      this.pending.set(b.height, b);
    }
    for (let next = this.pending.get(this.head.height + 1); next; next = this.pending.get(this.head.height + 1)) {
      this.pending.delete(next.height);
      const check = checkBlock(this.head, this.balances, next);
      if (!check.ok) {
        this.log('error', { type: 'blockRejected', from, height: next.height, reason: check.error });
        break;
      }
      this.append(next, from);
    }
  }

  private append(block: Block, from: NodeId | null): void {
    applyBlock(this.balances, block);
    this.head = { height: block.height, hash: block.hash };
    this.out.push({ kind: 'persist', block });
    this.log(from === null ? 'info' : 'debug', { type: 'blockApplied', block, from });
  }

  // ---- snapshots ----

  private startSnapshot(commandId: string): void {
    const id: SnapshotId = { initiator: this.id, seq: this.snapshotSeq++ };
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
    this.log(markerFrom === null ? 'info' : 'debug', { type: 'snapshotStarted', id, from: markerFrom });
    const recorder = this.createRecorder(id, this.recordState(), markerFrom);
    this.recorders.set(snapshotKey(id), recorder);
    this.broadcast({ type: 'MARKER', ts: this.clock.tick(), snapshot: id });
    if (recorder.done) this.finish(recorder);
  }

  /** Overridable only so that tests can build deliberately broken protocols. */
  protected createRecorder(id: SnapshotId, state: RecordedState, markerFrom: NodeId | null): SnapshotRecorder {
    return new SnapshotRecorder(id, state, this.peers, markerFrom, this.now);
  }

  private recordState(): RecordedState {
    return {
      node: this.id,
      clock: this.clock.now,
      height: this.head.height,
      head: this.head.hash,
      balances: balancesToRecord(this.balances),
      pendingBlocks: [...this.pending.values()].sort((a, b) => a.height - b.height),
      queue: [...this.mutex.entries()],
    };
  }

  private finish(recorder: SnapshotRecorder): void {
    const key = snapshotKey(recorder.id);
    this.recorders.delete(key);
    this.rememberFinished(key);
    this.log('debug', { type: 'snapshotRecorded', id: recorder.id });
    const local = recorder.local();
    if (recorder.id.initiator === this.id) this.collect(this.id, recorder.id, local);
    else this.send(recorder.id.initiator, { type: 'REPORT', ts: this.clock.tick(), snapshot: recorder.id, local });
  }

  private rememberFinished(key: string): void {
    this.finished.add(key);
    if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.values().next().value!);
  }

  private onReport(from: NodeId, id: SnapshotId, report: Extract<Message, { type: 'REPORT' }>): void {
    if (id.initiator !== this.id || report.local.state.node !== from) {
      this.log('warn', { type: 'protocolError', from, error: `unexpected snapshot report ${snapshotKey(id)}` });
      return;
    }
    this.collect(from, id, report.local);
  }

  private collect(from: NodeId, id: SnapshotId, local: Extract<Message, { type: 'REPORT' }>['local']): void {
    const key = snapshotKey(id);
    const assembler = this.assemblers.get(key);
    if (!assembler) return; // timed out already
    assembler.add(from, local);
    if (!assembler.complete) return;
    this.assemblers.delete(key);
    const snapshot: GlobalSnapshot = assembler.assemble(this.total);
    this.out.push({ kind: 'snapshotComplete', snapshot });
    this.reply(assembler.commandId, { type: 'snapshot', ok: true, snapshot });
  }

  // ---- effects ----

  /**
   * Only to a peer whose session this client has seen come up: on a new connection the first
   * things a peer hears are what `onPeerUp` sends (the re-sent REQUEST, then missing blocks).
   * What would go to a peer that is down is lost anyway and re-derived when it is back.
   */
  private send(to: NodeId, message: Message): void {
    if (this.inSession(to)) this.out.push({ kind: 'send', to, message });
  }

  /** Overridable only so that tests can build deliberately broken protocols. */
  protected inSession(peer: NodeId): boolean {
    return this.up.has(peer);
  }

  /** One send event: every connected peer gets the same message with the same timestamp. */
  private broadcast(message: Message): void {
    for (const p of this.peers) this.send(p, message);
  }

  private reply(commandId: string, result: CommandResult): void {
    this.out.push({ kind: 'reply', commandId, result });
  }

  private log(level: LogLevel, event: CoreEvent): void {
    this.out.push({ kind: 'log', level, event });
  }
}

export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}

const seconds = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

const names = (ids: readonly NodeId[]): string => ids.map((i) => `client${i}`).join(', ');
