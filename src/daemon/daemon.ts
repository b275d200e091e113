/**
 * One client process: the pure core wired to the network, the durable chain, timers and logs,
 * offered as a typed API (`LedgerApi`) in-process and over the control socket.
 * Every input goes through `feed`, which steps the core and carries out its effects in order
 * (persist before send), synchronously: no await can slip between a block and its RELEASE.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Command, CommandResult, Effect, GlobalSnapshot, Input, TxState } from '../core/api.js';
import { describeEvent, describeMessage } from '../core/describe.js';
import { MAX_VIEW } from '../core/limits.js';
import { Node, assertNever } from '../core/node.js';
import type { TraceEvent } from '../core/trace-events.js';
import type { Block, Cents, NodeId } from '../core/types.js';
import { Mesh } from '../net/mesh.js';
import {
  type BalancesView,
  type ChainView,
  DEFAULT_CHAIN_LAST,
  type Identity,
  type LedgerApi,
  type LinkChange,
  type LinksView,
  type LiveItem,
  type LiveSource,
  type Notice,
  type PeersView,
  type SnapshotAnswer,
  type SnapshotListing,
  type StatusView,
  type TransferAnswer,
  type TransferOrder,
} from './api.js';
import { ChainStore, type Repair } from './chain-store.js';
import { BlockNotices } from './block-notices.js';
import { SnapshotArchive } from './snapshot-archive.js';
import { type ClusterConfig, configGenesis, findClient, nodeIds } from './config.js';
import { ControlServer, assertNotRunning } from './control/server.js';
import { DaemonError, DaemonErrorKind, StorageError } from './errors.js';
import { describeCause } from '../base/errors.js';
import { listenFailure } from './listen.js';
import type { SnapshotRecord } from './snapshot-record.js';
import { type TraceBatch, TraceWriter } from './trace-writer.js';
import { newTransferKey } from './transfer-key.js';
import { DiskTxIndex, TX_INDEX_DIR } from './tx-index.js';

export interface DaemonOptions {
  readonly config: ClusterConfig;
  readonly id: NodeId;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly delay?: { readonly minMs: number; readonly maxMs: number };
  /** Overrides the config's transfer timeout. */
  readonly transferTimeoutMs?: number;
  /** Start a snapshot every this many ms (0: never). */
  readonly snapshotEveryMs?: number;
  /** Listen on this host instead of the config's (e.g. 0.0.0.0 in a container). */
  readonly listenHost?: string;
  readonly fsync?: boolean;
  /** The cluster secret (config or environment); null for none. */
  readonly secret: string | null;
  /** Append the protocol trace to `<data-dir>/trace.bin` (default true). */
  readonly trace?: boolean;
}

export type DaemonEvents = {
  /** Something worth showing a person, arriving asynchronously. */
  notice: [notice: Notice];
  /** The client cannot go on (see `feed`); the process should exit. */
  fatal: [error: Error];
  /** The protocol trace of each step, for whoever watches it live (emitted only while someone listens). */
  trace: [events: readonly TraceEvent[], batch: TraceBatch];
  /** A global snapshot this client initiated was saved (emitted only while someone listens). */
  snapshotSaved: [record: SnapshotRecord];
};

/** A command handed to the core, waiting for its result. */
interface Waiting {
  readonly answer: (result: CommandResult) => void;
  readonly reject: (e: Error) => void;
}

const TICK_MS = 100;

const shutDown = (why: string): DaemonError => new DaemonError(DaemonErrorKind.ShutDown, why);

/** The core answered a command with a result of another kind: a bug, said as one. */
const mismatch = (asked: Command['type'], r: CommandResult): Error => new Error(`daemon: a ${asked} was answered with a ${r.type} result`);

export class Daemon extends EventEmitter<DaemonEvents> implements LedgerApi, LiveSource {
  readonly id: NodeId;
  private readonly nodes: readonly NodeId[];
  private readonly node: Node;
  private readonly mesh: Mesh;
  private readonly store: ChainStore;
  private readonly txIndex: DiskTxIndex;
  private readonly snapshotArchive: SnapshotArchive;
  private readonly control: ControlServer;
  private readonly trace: TraceWriter;
  private readonly waiting = new Map<string, Waiting>();
  private tickTimer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  /** A step is being carried out; `queued` holds the inputs that came meanwhile. */
  private stepping = false;
  private queued: Input[] = [];
  private closed = false;
  private readonly log: Logger;
  private readonly debug: boolean;
  /** What loading the chain file had to cut off its end, if anything (the caller tells the user). */
  readonly repaired: Repair | null;
  private readonly blockNotices = new BlockNotices((notice) => void (this.closed || this.emit('notice', notice)), () => this.node.chainHead().height);
  /** The blocks of the persist effects carried out and not yet written (see writeChain). */
  private persisting: Block[] = [];
  private persistSync = false;

  /** Refuses a data dir another client runs with before opening anything in it, then constructs. */
  static async open(options: DaemonOptions): Promise<Daemon> {
    await assertNotRunning(options.dataDir);
    return new Daemon(options);
  }

  constructor(private readonly options: DaemonOptions) {
    super();
    const { config, id, dataDir, logger } = options;
    this.id = id;
    this.log = logger;
    this.debug = logger.isLevelEnabled('debug');
    const self = findClient(config, id);
    if (!self) throw new Error(`daemon: client ${id} is not in the config`);
    const nodes = nodeIds(config);
    this.nodes = nodes;
    const genesis = configGenesis(config);
    // Names this run: peers tell a restarted client from one that merely reconnected.
    const incarnation = randomInt(0, MAX_VIEW);

    const opened = ChainStore.open(dataDir, genesis, { fsync: options.fsync ?? true });
    this.store = opened.store;
    this.snapshotArchive = new SnapshotArchive(dataDir, options.fsync ?? true, id, logger);
    this.repaired = opened.repaired;
    if (opened.repaired) logger.error({ repaired: opened.repaired }, `chain file repaired: ${opened.repaired.reason}; cut ${opened.repaired.droppedBytes} bytes`);
    const indexDir = path.join(dataDir, TX_INDEX_DIR);
    let indexed: ReturnType<typeof DiskTxIndex.open>;
    try {
      indexed = DiskTxIndex.open(indexDir, { genesis, height: opened.head.height, read: (from, to) => this.store.read(from, to) }, (line) => logger.warn(line));
    } catch (e) {
      this.store.close();
      throw new StorageError(indexDir, `cannot open the transfer key index: ${describeCause(e)}`, { cause: e });
    }
    this.txIndex = indexed.index;
    if (indexed.rebuilt !== null) logger.info(`transfer key index built from the chain (#${opened.head.height}): ${indexed.rebuilt}`);
    this.node = new Node({
      id,
      nodes,
      genesis,
      restored: { head: opened.head, balances: opened.balances, clock: opened.lastTs },
      transferTimeoutMs: options.transferTimeoutMs ?? config.transferTimeoutMs,
      snapshotTimeoutMs: config.snapshotTimeoutMs,
      firstSnapshotSeq: this.snapshotArchive.firstSeq(),
      chain: { readBlocks: (from, to) => this.store.read(from, to) },
      txIndex: this.txIndex,
      maxMessageBytes: config.maxFrameBytes,
      incarnation,
    });
    this.trace = new TraceWriter(dataDir, id, incarnation.toString(16), nodes.filter((n) => n !== id), opened.head.height, options.trace ?? true, (line) => {
      logger.warn(line);
      this.emit('notice', { type: 'fileProblem', line });
    });

    this.mesh = new Mesh({
      self: id,
      cluster: config.cluster,
      genesis: genesis.hash,
      peers: config.clients.filter((c) => c.id !== id).map((c) => ({ id: c.id, host: c.host, port: c.port })),
      listen: { host: options.listenHost ?? self.host, port: self.port },
      nodes: new Set(nodes),
      maxFrameBytes: config.maxFrameBytes,
      logger,
      describe: describeMessage,
      height: () => this.node.chainHead().height,
      incarnation,
      secret: options.secret,
      ...(options.delay ? { delay: options.delay } : {}),
    });
    this.mesh.on('peerUp', (peer, height, incarnation, channels) => {
      this.emit('notice', { type: 'peerUp', peer });
      // The trace names the session's channels before the step that sends on them.
      this.watchTrace(this.trace.peerUp(peer, channels));
      this.feed({ kind: 'peerUp', peer, height, incarnation });
    });
    this.mesh.on('peerDown', (peer) => {
      this.emit('notice', { type: 'peerDown', peer });
      this.feed({ kind: 'peerDown', peer });
    });
    this.mesh.on('message', (from, message) => this.feed({ kind: 'receive', from, message }));
    // A refusal or a wrong secret leaves transfers waiting: the person at the terminal hears why.
    this.mesh.on('problem', (line) => this.emit('notice', { type: 'peerProblem', line }));
    this.control = new ControlServer(dataDir, this, logger, this);
  }

  async start(): Promise<{ repaired: Repair | null }> {
    this.watchTrace(this.trace.start(this.node.lamportTime()));
    await this.control.start();
    try {
      await this.mesh.start();
    } catch (e) {
      const self = findClient(this.options.config, this.id)!;
      throw listenFailure(e, this.id, `${self.host}:${self.port}`);
    }
    this.tickTimer = setInterval(() => this.feed({ kind: 'tick', now: performance.now() }), TICK_MS);
    this.feed({ kind: 'tick', now: performance.now() });
    const every = this.options.snapshotEveryMs ?? 0;
    if (every > 0) {
      this.snapshotTimer = setInterval(() => {
        this.snapshot().then(
          (answer) => this.emit('notice', { type: 'periodicSnapshot', answer }),
          () => {
            // shutting down: nobody is left to tell
          },
        );
      }, every);
    }
    const addr = this.mesh.address();
    this.log.info({ listen: addr, height: this.store.height }, `client${this.id} started`);
    return { repaired: this.repaired };
  }

  /** `host:port` the peer listener is bound to. */
  address(): string {
    const a = this.mesh.address();
    return `${a.host}:${a.port}`;
  }

  // ---- the API -------------------------------------------------------------------------------

  identity(): Identity {
    return { self: this.id, nodes: this.nodes };
  }

  transfer(to: NodeId, amount: Cents, key?: string): Promise<TransferAnswer> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const command: Command = key === undefined ? { type: 'transfer', to, amount, key: newTransferKey(), madeHere: true } : { type: 'transfer', to, amount, key };
      this.command(command, {
        answer: (r) => (r.type === 'transfer' ? resolve({ ...r, ms: Math.round((performance.now() - started) * 100) / 100 }) : reject(mismatch('transfer', r))),
        reject,
      });
    });
  }

  transfers(orders: readonly TransferOrder[]): Promise<TransferAnswer[]> {
    const started = performance.now();
    const answers = new Array<TransferAnswer>(orders.length);
    // One promise for them all, not one each: a driver sends thousands a second this way.
    return new Promise((resolve, reject) => {
      let open = orders.length;
      let failed = false;
      const fail = (e: Error): void => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      for (let i = 0; i < orders.length && !failed; i++) {
        const { to, amount, key } = orders[i]!;
        const command: Command = key === undefined ? { type: 'transfer', to, amount, key: newTransferKey(), madeHere: true } : { type: 'transfer', to, amount, key };
        this.command(command, {
          answer: (r) => {
            if (r.type !== 'transfer') return fail(mismatch('transfer', r));
            answers[i] = { ...r, ms: Math.round((performance.now() - started) * 100) / 100 };
            if (--open === 0 && !failed) resolve(answers);
          },
          reject: fail,
        });
      }
    });
  }

  tx(key: string): TxState {
    return this.node.transferState(key);
  }

  withdraw(key: string): Promise<TxState> {
    return new Promise((resolve, reject) => {
      this.command({ type: 'withdraw', key }, {
        answer: (r) => (r.type === 'withdraw' ? resolve(r.state) : reject(mismatch('withdraw', r))),
        reject,
      });
    });
  }

  /** Withdraws every transfer still queued (a client that stops): WITHDRAWN, not silence. The keys, oldest first. */
  withdrawPending(): string[] {
    const keys = this.node.pendingKeys();
    for (const key of keys) this.feed({ kind: 'command', id: randomUUID(), command: { type: 'withdraw', key } });
    return keys;
  }

  snapshot(): Promise<SnapshotAnswer> {
    return new Promise((resolve, reject) => {
      this.command({ type: 'snapshot' }, {
        answer: (r) => (r.type === 'snapshot' ? resolve(this.snapshotArchive.answer(r)) : reject(mismatch('snapshot', r))),
        reject,
      });
    });
  }

  balances(): BalancesView {
    const head = this.node.chainHead();
    const balances: Record<string, Cents> = {};
    for (const [id, cents] of this.node.balanceTable()) balances[String(id)] = cents;
    return { balances, height: head.height, head: head.hash, total: this.node.total };
  }

  chain(last: number = DEFAULT_CHAIN_LAST): ChainView {
    return { height: this.store.height, head: this.store.headHash, blocks: this.store.tail(last) };
  }

  peers(): PeersView {
    return { peers: this.mesh.status(), tls: this.options.secret !== null };
  }

  status(): StatusView {
    return { node: this.node.status(), listen: this.address(), dataDir: this.options.dataDir, delay: this.options.delay ?? null, tls: this.options.secret !== null };
  }

  snapshots(): SnapshotListing {
    return this.snapshotArchive.list();
  }

  /** The ids of the saved snapshots, without reading them (for completing a typed id). */
  snapshotIds(): string[] {
    return this.snapshotArchive.ids();
  }

  savedSnapshot(id: string): SnapshotRecord | null {
    return this.snapshotArchive.saved(id);
  }

  links(): LinksView {
    return { self: this.id, links: this.mesh.links() };
  }

  link(peer: NodeId, change: LinkChange): LinksView {
    if (peer === this.id || !this.nodes.includes(peer)) {
      throw new DaemonError(DaemonErrorKind.BadArgument, `link: client${peer} is not a peer of client${this.id} (its peers: ${this.nodes.filter((n) => n !== this.id).map((n) => `client${n}`).join(', ')})`);
    }
    this.mesh.setLink(peer, change);
    return this.links();
  }

  watch(listener: (item: LiveItem) => void): () => void {
    const onTrace = (events: readonly TraceEvent[], batch: TraceBatch): void => listener({ type: 'trace', events, lines: () => batch.lines() });
    const onSnapshot = (record: SnapshotRecord): void => listener({ type: 'snapshot', record });
    this.on('trace', onTrace);
    this.on('snapshotSaved', onSnapshot);
    return () => {
      this.off('trace', onTrace);
      this.off('snapshotSaved', onSnapshot);
    };
  }

  // ---- the core and its effects --------------------------------------------------------------

  /** Hands a transfer or snapshot to the core; `w` hears its result. */
  private command(command: Command, w: Waiting): void {
    if (this.closed) {
      w.reject(shutDown('the client is shutting down'));
      return;
    }
    // A key made here is random and unique: it names the command too (one string less per transfer in flight).
    const id = command.type === 'transfer' && command.madeHere === true ? command.key : randomUUID();
    if (command.type === 'snapshot') this.snapshotArchive.starting(this.node.nextSnapshotSeq());
    this.waiting.set(id, w);
    this.feed({ kind: 'command', id, command });
  }

  /**
   * Steps the core and carries out its effects, in order, before returning; an input that comes
   * during a step (from a channel the step's own flush closed) waits for it: steps never nest.
   * If carrying effects out fails (the chain file cannot be written, say), this client stops: its
   * peers would wait forever for a RELEASE that cannot be sent; a disconnection they handle.
   */
  private feed(input: Input): void {
    this.queued.push(input);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.queued.shift(); next !== undefined && !this.closed; next = this.queued.shift()) this.step(next);
    } catch (e) {
      this.closed = true;
      const error = e instanceof Error ? e : new Error(String(e));
      this.log.fatal({ err: error }, `stopping: ${error.message}`);
      this.emit('fatal', error);
    } finally {
      this.stepping = false;
      this.queued = [];
    }
  }

  private step(input: Input): void {
    if (this.debug && input.kind === 'receive') {
      this.log.debug({ from: input.from, clock: this.node.lamportTime() }, `${input.from}->${this.id} ${describeMessage(input.message)}`);
    }
    const clockBefore = this.node.lamportTime();
    const effects = this.node.step(input);
    for (const e of effects) this.carryOut(e);
    this.writeChain();
    // The step's messages leave now, before the trace of it is even noted; the next in line first.
    this.mesh.flush(this.node.nextInLine());
    // Watched live, the step is traced now; otherwise it is only noted, and written a moment later.
    if (this.listenerCount('trace') > 0) this.watchTrace(this.trace.step(input, effects, clockBefore));
    else if (this.trace.writing) this.trace.note(input, effects, clockBefore);
  }

  private watchTrace(batch: TraceBatch): void {
    if (batch.events.length > 0 && this.listenerCount('trace') > 0) this.emit('trace', batch.events, batch);
  }

  /**
   * Writes the blocks of the persist effects carried out so far, in one write (and one fdatasync
   * if any of them asked for it): called before any effect that a peer or a caller sees (a send,
   * a reply, a saved snapshot), so that persist still comes before send. A log line between two
   * persists does not split them.
   */
  private writeChain(): void {
    const blocks = this.persisting;
    if (blocks.length === 0) return;
    this.persisting = [];
    const sync = this.persistSync;
    this.persistSync = false;
    this.store.appendAll(blocks, { sync });
  }

  private carryOut(e: Effect): void {
    if (e.kind === 'persist') {
      this.persisting.push(e.block);
      this.persistSync ||= e.sync;
      return;
    }
    if (e.kind !== 'log') this.writeChain();
    switch (e.kind) {
      case 'send':
        if (this.debug) this.log.debug({ to: e.to, clock: this.node.lamportTime() }, `${this.id}->${e.to} ${describeMessage(e.message)}`);
        this.mesh.send(e.to, e.message);
        return;
      case 'reply': {
        const w = this.waiting.get(e.commandId);
        this.waiting.delete(e.commandId);
        w?.answer(e.result);
        return;
      }
      case 'snapshotComplete':
        this.saveSnapshot(e.snapshot);
        return;
      case 'log': {
        const ev = e.event;
        // Describing costs more than the step itself on the hot path: only when someone will read it.
        if (this.log.isLevelEnabled(e.level)) this.log[e.level]({ event: ev.type, clock: this.node.lamportTime() }, describeEvent(ev));
        const shown = ev.type === 'waitingForPeers' || (ev.type === 'blockApplied' && ev.from !== null) || ev.type === 'blockRejected' || ev.type === 'protocolError' || ev.type === 'snapshotAbandoned' || ev.type === 'catchingUp';
        if (!shown) return;
        if (ev.type === 'waitingForPeers') this.emit('notice', { type: 'waitingForPeers', peers: ev.peers });
        else if (ev.type === 'blockApplied' && ev.from !== null) this.blockNotices.offer({ type: 'blockFromPeer', block: ev.block, from: ev.from });
        else this.emit('notice', { type: 'event', event: ev });
        return;
      }
      default:
        assertNever(e);
    }
  }

  private saveSnapshot(s: GlobalSnapshot): void {
    // The command's reply follows in the same step; it picks the record up by id.
    const record = this.snapshotArchive.completes(s);
    if (this.listenerCount('snapshotSaved') > 0) this.emit('snapshotSaved', record);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.withdrawPending().length > 0) {
      // The control server writes the answers a turn of the event loop later: let WITHDRAWN go out first.
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.blockNotices.stop();
    for (const w of this.waiting.values()) w.reject(shutDown('the client shut down before an answer came'));
    this.waiting.clear();
    await this.control.close();
    await this.mesh.close();
    await this.trace.close();
    await this.snapshotArchive.close();
    await this.txIndex.close();
    this.store.close();
    this.log.info(`client${this.id} stopped`);
  }
}
