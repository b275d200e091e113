/**
 * One client process: the pure core wired to the network, the durable chain, timers and logs.
 * Every input goes through `feed`, which steps the core and carries out its effects in order
 * (persist before send), synchronously: no await can slip between a block and its RELEASE.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Command, CommandResult, Effect, GlobalSnapshot, Input } from '../core/api.js';
import { describeEvent, describeMessage } from '../core/describe.js';
import { MAX_VIEW } from '../core/limits.js';
import { formatCents } from '../core/money.js';
import { Node, assertNever } from '../core/node.js';
import { snapshotKey } from '../core/types.js';
import type { NodeId } from '../core/types.js';
import { COMMANDS, DEFAULT_CHAIN_LAST, type ReplCommand, parseCommandLine } from '../cli/parse.js';
import {
  type SnapshotRecord,
  clientName,
  renderBalances,
  renderChain,
  renderPeers,
  renderSnapshot,
  renderStatus,
  renderTransfer,
  snapshotRecord,
} from '../cli/render.js';
import { Mesh } from '../net/mesh.js';
import { ChainStore, type Repair } from './chain-store.js';
import { type ClusterConfig, configGenesis, findClient, nodeIds } from './config.js';
import { ControlServer } from './control.js';

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
}

/** The answer to one command line: text for a person, a value for --json. */
export interface Outcome {
  readonly ok: boolean;
  readonly text: string;
  readonly json: unknown;
}

export type DaemonEvents = {
  /** A line worth showing a person at the terminal, arriving asynchronously. */
  notice: [line: string];
  /** The client cannot go on (see `feed`); the process should exit. */
  fatal: [error: Error];
};

const TICK_MS = 100;
const BLOCK_NOTICES_PER_SECOND = 5;

export class Daemon extends EventEmitter<DaemonEvents> {
  readonly id: NodeId;
  readonly node: Node;
  readonly mesh: Mesh;
  readonly store: ChainStore;
  private readonly control: ControlServer;
  private readonly waiting = new Map<string, { resolve: (r: CommandResult) => void; fail: (error: string) => CommandResult }>();
  private readonly snapshotStarts = new Map<string, number>();
  private tickTimer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly log: Logger;
  private readonly debug: boolean;
  /** What loading the chain file had to cut off its end, if anything (the caller tells the user). */
  readonly repaired: Repair | null;
  private blockNotices: { shown: number; suppressed: number; timer: NodeJS.Timeout | null } = { shown: 0, suppressed: 0, timer: null };
  private readonly completedSnapshots = new Map<string, SnapshotRecord>();

  constructor(private readonly options: DaemonOptions) {
    super();
    const { config, id, dataDir, logger } = options;
    this.id = id;
    this.log = logger;
    this.debug = logger.isLevelEnabled('debug');
    const self = findClient(config, id);
    if (!self) throw new Error(`daemon: client ${id} is not in the config`);
    const nodes = nodeIds(config);
    const genesis = configGenesis(config);
    // Names this run: peers tell a restarted client from one that merely reconnected.
    const incarnation = randomInt(0, MAX_VIEW);

    const opened = ChainStore.open(dataDir, genesis, { fsync: options.fsync ?? true });
    this.store = opened.store;
    this.repaired = opened.repaired;
    if (opened.repaired) logger.error({ repaired: opened.repaired }, `chain file repaired: ${opened.repaired.reason}; cut ${opened.repaired.droppedBytes} bytes`);
    this.node = new Node({
      id,
      nodes,
      genesis,
      restored: { head: opened.head, balances: opened.balances, clock: opened.lastTs },
      transferTimeoutMs: options.transferTimeoutMs ?? config.transferTimeoutMs,
      snapshotTimeoutMs: config.snapshotTimeoutMs,
      firstSnapshotSeq: this.store.nextSnapshotSeq(id),
      chain: { readBlocks: (from, to) => this.store.read(from, to) },
      maxMessageBytes: config.maxFrameBytes,
      incarnation,
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
    this.mesh.on('peerUp', (peer, height, incarnation) => {
      this.emit('notice', `${clientName(peer)} connected`);
      this.feed({ kind: 'peerUp', peer, height, incarnation });
    });
    this.mesh.on('peerDown', (peer) => {
      this.emit('notice', `${clientName(peer)} disconnected`);
      this.feed({ kind: 'peerDown', peer });
    });
    this.mesh.on('message', (from, message) => this.feed({ kind: 'receive', from, message }));
    // A refusal or a wrong secret leaves transfers waiting: the person at the terminal hears why.
    this.mesh.on('problem', (line) => this.emit('notice', line));
    this.control = new ControlServer(dataDir, (line) => this.executeLine(line), logger);
  }

  async start(): Promise<{ repaired: Repair | null }> {
    await this.control.start();
    await this.mesh.start();
    this.tickTimer = setInterval(() => this.feed({ kind: 'tick', now: performance.now() }), TICK_MS);
    this.feed({ kind: 'tick', now: performance.now() });
    const every = this.options.snapshotEveryMs ?? 0;
    if (every > 0) {
      this.snapshotTimer = setInterval(() => {
        void this.execute({ type: 'snapshot' }).then((o) => {
          const j = o.json as { id?: string; verdict?: string; error?: string };
          this.emit('notice', o.ok ? `periodic snapshot ${j.id}: ${j.verdict}` : `periodic snapshot failed: ${j.verdict ?? j.error}`);
        });
      }, every);
    }
    const addr = this.mesh.address();
    this.log.info({ listen: addr, height: this.store.height }, `client${this.id} started`);
    return { repaired: this.repaired };
  }

  address(): string {
    const a = this.mesh.address();
    return `${a.host}:${a.port}`;
  }

  /**
   * Steps the core and carries out its effects, in order, before returning. If carrying them out
   * fails (the chain file cannot be written, say), this client stops: the core has moved on and
   * its peers would wait forever for a RELEASE that cannot be sent. Stopping shows them a
   * disconnection, which they handle.
   */
  feed(input: Input): void {
    if (this.closed) return;
    try {
      this.step(input);
    } catch (e) {
      this.closed = true;
      const error = e instanceof Error ? e : new Error(String(e));
      this.log.fatal({ err: error }, `stopping: ${error.message}`);
      this.emit('fatal', error);
    }
  }

  private step(input: Input): void {
    if (this.debug && input.kind === 'receive') {
      this.log.debug({ from: input.from, clock: this.node.lamportTime() }, `${input.from}->${this.id} ${describeMessage(input.message)}`);
    }
    const effects = this.node.step(input);
    for (const e of effects) this.carryOut(e);
  }

  private carryOut(e: Effect): void {
    switch (e.kind) {
      case 'send':
        if (this.debug) this.log.debug({ to: e.to, clock: this.node.lamportTime() }, `${this.id}->${e.to} ${describeMessage(e.message)}`);
        this.mesh.send(e.to, e.message);
        return;
      case 'persist':
        this.store.append(e.block, { sync: e.sync });
        return;
      case 'reply': {
        const w = this.waiting.get(e.commandId);
        this.waiting.delete(e.commandId);
        w?.resolve(e.result);
        return;
      }
      case 'snapshotComplete':
        this.saveSnapshot(e.snapshot);
        return;
      case 'log': {
        const ev = e.event;
        const shown = ev.type === 'waitingForPeers' || (ev.type === 'blockApplied' && ev.from !== null) || ev.type === 'blockRejected' || ev.type === 'protocolError' || ev.type === 'snapshotAbandoned' || ev.type === 'catchingUp';
        // Rendering costs more than the step itself on the hot path: only when someone will read it.
        if (!shown && !this.log.isLevelEnabled(e.level)) return;
        const line = describeEvent(ev);
        this.log[e.level]({ event: ev.type, clock: this.node.lamportTime() }, line);
        if (!shown) return;
        if (ev.type === 'waitingForPeers') this.emit('notice', `waiting for ${ev.peers.map(clientName).join(', ')} to connect before requesting the lock`);
        else if (ev.type === 'blockApplied' && ev.from !== null) {
          const b = ev.block;
          const what = b.txs.length === 1 ? `${clientName(b.txs[0]!.from)} -> ${clientName(b.txs[0]!.to)} ${formatCents(b.txs[0]!.amount)}` : `${b.txs.length} transfers by ${clientName(b.creator)}`;
          this.noticeBlock(`block #${b.height} from ${clientName(ev.from)}: ${what}`);
        } else {
          this.emit('notice', line);
        }
        return;
      }
      default:
        assertNever(e);
    }
  }

  /**
   * Under load a line per block would flood the terminal: at most a few a second are shown, the
   * rest summed up once a second.
   */
  private noticeBlock(line: string): void {
    if (this.blockNotices.shown < BLOCK_NOTICES_PER_SECOND) {
      this.blockNotices.shown++;
      this.emit('notice', line);
    } else {
      this.blockNotices.suppressed++;
    }
    this.blockNotices.timer ??= setTimeout(() => {
      const { suppressed } = this.blockNotices;
      this.blockNotices = { shown: 0, suppressed: 0, timer: null };
      if (suppressed > 0 && !this.closed) this.emit('notice', `... and ${suppressed} more blocks from peers (chain now at #${this.node.chainHead().height})`);
    }, 1000);
  }

  private saveSnapshot(s: GlobalSnapshot): SnapshotRecord {
    const key = snapshotKey(s.id);
    const started = this.snapshotStarts.get(key);
    this.snapshotStarts.delete(key);
    const record = snapshotRecord(s, started === undefined ? 0 : performance.now() - started, new Date());
    try {
      this.store.saveSnapshot(record.id, record);
    } catch (err) {
      this.log.error({ err }, `could not save snapshot ${record.id}`);
    }
    this.log[record.verified ? 'info' : 'error']({ snapshot: record.id, verified: record.verified }, `snapshot ${record.id}: ${record.verdict}`);
    // The command's reply follows in the same step; it picks the record up by id.
    this.completedSnapshots.set(record.id, record);
    return record;
  }

  /** A saved snapshot, or null if it is missing or not one this program wrote (files can be edited). */
  private readSnapshot(id: string): SnapshotRecord | null {
    let rec: unknown;
    try {
      rec = this.store.loadSnapshot(id);
    } catch {
      return null;
    }
    const r = rec as Partial<SnapshotRecord> | null;
    const ok = r !== null && typeof r === 'object' && typeof r.id === 'string' && typeof r.verdict === 'string' && typeof r.takenAt === 'string' &&
      typeof r.verified === 'boolean' && Array.isArray(r.nodes) && Array.isArray(r.channels) && typeof r.markers === 'number';
    return ok ? (r as SnapshotRecord) : null;
  }

  /** Hands a transfer or snapshot to the core; resolves with its result. */
  submit(command: Command): Promise<CommandResult> {
    const id = randomUUID();
    const fail = (error: string): CommandResult =>
      command.type === 'transfer'
        ? { type: 'transfer', ok: false, status: 'FAILED', reason: 'timeout', error, from: this.id, to: command.to, amount: command.amount }
        : { type: 'snapshot', ok: false, id: { initiator: this.id, seq: 0 }, error, missing: [] };
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(fail('the client is shutting down'));
        return;
      }
      this.waiting.set(id, { resolve, fail });
      if (command.type === 'snapshot') {
        const seq = this.node.nextSnapshotSeq();
        this.store.reserveSnapshotSeq(seq);
        this.snapshotStarts.set(`${this.id}.${seq}`, performance.now());
      }
      this.feed({ kind: 'command', id, command });
    });
  }

  /** A parsed command line, answered as text and JSON. */
  async execute(command: ReplCommand): Promise<Outcome> {
    switch (command.type) {
      case 'empty':
        return { ok: true, text: '', json: {} };
      case 'transfer': {
        const started = performance.now();
        const r = await this.submit({ type: 'transfer', to: command.to, amount: command.amount });
        if (r.type !== 'transfer') throw new Error('daemon: transfer answered with a snapshot result');
        const elapsedMs = performance.now() - started;
        return {
          ok: r.ok,
          // Rendered only if read: a script asking for JSON at thousands a second never does.
          get text() {
            return renderTransfer(r, elapsedMs);
          },
          json: { ...r, ms: Math.round(elapsedMs * 100) / 100 },
        };
      }
      case 'balance': {
        const balances = this.node.balanceTable();
        const head = this.node.chainHead();
        if (command.target === 'all') {
          return {
            ok: true,
            text: renderBalances(balances, head.height, head.hash, this.node.total),
            json: { balances: Object.fromEntries([...balances].map(([k, v]) => [String(k), v])), height: head.height, head: head.hash },
          };
        }
        const who = command.target === 'self' ? this.id : command.target;
        const v = balances.get(who) ?? 0;
        return {
          ok: true,
          text: `${clientName(who)}: ${formatCents(v)}  (this replica at block #${head.height})`,
          json: { client: who, balance: v, height: head.height },
        };
      }
      case 'snapshot': {
        const r = await this.submit({ type: 'snapshot' });
        if (r.type !== 'snapshot') throw new Error('daemon: snapshot answered with a transfer result');
        if (!r.ok) this.snapshotStarts.delete(snapshotKey(r.id));
        if (!r.ok) return { ok: false, text: `FAILED  ${r.error}`, json: { ok: false, id: snapshotKey(r.id), error: r.error, missing: r.missing } };
        const key = snapshotKey(r.snapshot.id);
        const record = this.completedSnapshots.get(key) ?? snapshotRecord(r.snapshot, 0, new Date());
        this.completedSnapshots.delete(key);
        return { ok: record.verified, text: renderSnapshot(record), json: { ok: record.verified, ...record } };
      }
      case 'snapshots': {
        const list = this.store.listSnapshots();
        const rows = list.map((s) => {
          const rec = this.readSnapshot(s.id);
          return rec
            ? { id: s.id, takenAt: rec.takenAt, verified: rec.verified, verdict: rec.verdict }
            : { id: s.id, takenAt: new Date(s.mtimeMs).toISOString(), verified: false, verdict: '(unreadable file)' };
        });
        const text = rows.length === 0 ? 'no snapshots saved yet (type snapshot to take one)' : rows.map((r) => `${r.id.padEnd(8)} ${r.takenAt}  ${r.verdict}`).join('\n');
        return { ok: true, text, json: { snapshots: rows } };
      }
      case 'snapshotShow': {
        const rec = this.readSnapshot(command.id);
        if (!rec) return { ok: false, text: `no saved snapshot ${command.id}, or its file is unreadable (type snapshots to list them)`, json: { ok: false, error: `no saved snapshot ${command.id}, or its file is unreadable` } };
        return { ok: true, text: renderSnapshot(rec), json: rec };
      }
      case 'chain': {
        const height = this.store.height;
        const blocks = this.store.tail(command.last ?? DEFAULT_CHAIN_LAST);
        return { ok: true, text: renderChain(blocks, height), json: { height, head: this.store.headHash, blocks } };
      }
      case 'peers': {
        const peers = this.mesh.status();
        return { ok: true, text: renderPeers(this.id, peers, Date.now()), json: { peers } };
      }
      case 'status': {
        const s = this.node.status();
        return { ok: true, text: renderStatus(s, { dataDir: this.options.dataDir, listen: this.address() }), json: s };
      }
      case 'help': {
        const specs = command.topic ? COMMANDS.filter((c) => c.name === command.topic) : COMMANDS;
        const text = specs
          .map((c) => (command.topic ? `${c.usage}\n  ${c.description}${c.aliases.length ? `\n  aliases: ${c.aliases.join(', ')}` : ''}\n  e.g. ${c.examples.join(' | ')}` : `  ${c.usage.padEnd(28)} ${c.description}`))
          .join('\n');
        return { ok: true, text, json: { commands: specs } };
      }
      case 'exit':
        return { ok: true, text: 'bye', json: { ok: true } };
    }
  }

  /** Parses and executes one command line (the control socket's entry point). */
  async executeLine(line: string): Promise<Outcome> {
    const parsed = parseCommandLine(line, { self: this.id, nodes: nodeIds(this.options.config) });
    if (!parsed.ok) return { ok: false, text: `error: ${parsed.error}`, json: { ok: false, error: parsed.error } };
    if (parsed.command.type === 'exit') return { ok: false, text: 'exit is for the REPL; stop a client with Ctrl-C or SIGTERM', json: { ok: false, error: 'exit is not available over the control socket' } };
    return this.execute(parsed.command);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    if (this.blockNotices.timer) clearTimeout(this.blockNotices.timer);
    for (const w of this.waiting.values()) w.resolve(w.fail('the client shut down before an answer came'));
    this.waiting.clear();
    await this.control.close();
    await this.mesh.close();
    this.store.close();
    this.log.info(`client${this.id} stopped`);
  }
}
