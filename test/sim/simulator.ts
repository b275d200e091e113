/**
 * The seeded simulator: N pure core nodes over a virtual network with per-channel FIFO and random
 * per-message delays, driven by a random workload. Checkers run outside the nodes, after every
 * step, against what the simulator itself saw (the VOPR shape: one seed reproduces a run).
 */
import type { CommandResult, Effect, GlobalSnapshot, Input } from '../../src/core/api.js';
import { describeEffect, describeInput, describeMessage } from '../../src/core/describe.js';
import { applyBlock, genesisBalances, makeGenesis } from '../../src/core/ledger.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { type Block, type Message, type NodeId, snapshotKey } from '../../src/core/types.js';
import type { TraceEvent } from '../../src/core/trace-events.js';
import { EventSink, TeeSink, type TraceSink, Tracer } from '../../src/core/tracer.js';
import { LOST, SnapshotCheckFailure, checkSnapshotAgainstHistory } from './checkers.js';
import { type KeyFigures, KeyRetries } from './keys.js';
import { Rng } from './rng.js';

export interface SimOptions {
  readonly seed: number;
  readonly n: number;
  /** Transfer commands issued over the run (bursts from one client count each transfer). */
  readonly transfers: number;
  /** Snapshot commands issued over the run (some at the same instant from different clients). */
  readonly snapshots: number;
  /** Virtual milliseconds over which the workload is spread. */
  readonly horizonMs: number;
  readonly maxDelayMs: number;
  /** Per-channel FIFO; false builds a deliberately broken network. */
  readonly fifo: boolean;
  readonly makeNode: (config: NodeConfig) => Node;
  readonly trace: ((line: string) => void) | null;
  readonly maxBatch?: number;
  /**
   * Inject connection drops (messages in flight lost), process crashes (a client restarts from
   * everything it wrote) and machine crashes (it restarts from what was synced, plus whatever
   * the OS happened to write back; the last record may be torn).
   */
  readonly faults: boolean;
  /** Clients sync the blocks they create before releasing them (the default `--fsync`); off, `--no-fsync`. */
  readonly fsync: boolean;
  /** Machine crashes planned per run with faults (default 0-2). */
  readonly machineCrashes?: readonly [number, number];
  /**
   * Time passes (ticks every 100 ms) and snapshots time out after 3 s even without faults: a
   * snapshot waiting for a head its initiator never reaches then ends, as in a real client.
   */
  readonly ticks?: boolean;
  /**
   * Machine crashes aimed at the moment the membership view rule exists for, per run with faults
   * (default 0-2): each is armed at a random time and fires at the first RELEASE with a block
   * that has reached some peers but not all (see `aimAtRelease`).
   */
  readonly aimedCrashes?: readonly [number, number];
  /**
   * Instead of failing the run on a snapshot the verdict or the wire checker rejects, hand both
   * judgements here (to compare the built-in verdict with the wire checker over many cuts).
   */
  readonly auditSnapshot?: (verdictOk: boolean, wireProblem: string | null) => void;
  /** Every trace event of every client, as a real client would append it to its trace file. */
  readonly onTrace?: (e: TraceEvent) => void;
  /** A second sink for each client run's trace (made once per run), fed the same events as onTrace. */
  readonly traceAlso?: (tracer: Tracer) => TraceSink;
  /** Every snapshot assembled, whether or not it verified. */
  readonly onSnapshot?: (s: GlobalSnapshot) => void;
}

/** How long an idle cluster may take to bring every replica in session to one head (virtual ms). */
export const IDLE_CONVERGENCE_MS = 2_000;

/** Seed -> cluster size, so that the seed alone reproduces a run. */
export const SIZES = [2, 3, 5, 8] as const;
export const sizeForSeed = (seed: number): number => SIZES[seed % SIZES.length]!;

export function defaultOptions(seed: number, overrides: Partial<SimOptions> = {}): SimOptions {
  const rng = new Rng(seed ^ 0x5eed);
  return {
    seed,
    n: sizeForSeed(seed),
    transfers: rng.int(20, 120),
    snapshots: rng.int(1, 6),
    horizonMs: 2_000,
    maxDelayMs: rng.pick([1, 10, 50, 200]),
    fifo: true,
    faults: false,
    makeNode: (c) => new Node(c),
    trace: null,
    fsync: rng.chance(0.5),
    ...overrides,
  };
}

export class CheckFailure extends Error {
  constructor(
    readonly rule: string,
    detail: string,
  ) {
    super(`${rule}: ${detail}`);
  }
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: Message;
  readonly sentAt: number;
  deliveredAt: number;
  /** The lock entry whose RELEASE this is, for the mutual-exclusion checker. */
  readonly entry: number | null;
}

type Event =
  | { readonly kind: 'deliver'; readonly env: Envelope }
  | { readonly kind: 'input'; readonly node: NodeId; readonly input: Input }
  /** The connection between a and b drops; what is in flight either way is lost. */
  | { readonly kind: 'disconnect'; readonly a: NodeId; readonly b: NodeId; readonly downForMs: number }
  | { readonly kind: 'reconnect'; readonly a: NodeId; readonly b: NodeId }
  /**
   * The client's process dies: its memory and everything it had in flight are gone. A machine
   * crash also loses what it wrote since its last sync (the OS may have written back some of it).
   */
  | { readonly kind: 'crash'; readonly node: NodeId; readonly downForMs: number; readonly machine: boolean }
  | { readonly kind: 'restart'; readonly node: NodeId }
  /** The second end of a new connection sees the session come up (the first already has). */
  | { readonly kind: 'secondUp'; readonly node: NodeId; readonly peer: NodeId };


interface Scheduled {
  readonly time: number;
  readonly seq: number;
  readonly event: Event;
}

/** A binary min-heap on (time, seq): equal times keep their scheduling order. */
class EventQueue {
  private heap: Scheduled[] = [];
  get size(): number {
    return this.heap.length;
  }
  push(s: Scheduled): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Scheduled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
const before = (a: Scheduled, b: Scheduled): boolean => a.time < b.time || (a.time === b.time && a.seq < b.seq);

export interface SimResult {
  readonly seed: number;
  readonly n: number;
  readonly steps: number;
  readonly messages: number;
  readonly committed: number;
  readonly failed: number;
  readonly blocks: number;
  readonly rounds: number;
  readonly snapshotsVerified: number;
  readonly snapshotsFailed: number;
  readonly maxInFlightRecorded: number;
  readonly disconnects: number;
  readonly crashes: number;
  readonly machineCrashes: number;
  /** Blocks lost from a crashed machine's chain file (unsynced, or a torn last record). */
  readonly blocksLost: number;
  readonly lostMessages: number;
  readonly lostCommands: number;
  /** Transfer keys retried, and the answers that said repeat, conflict and withdrawn. */
  readonly keys: KeyFigures;
  /** Machine crashes that hit a creator right after its RELEASE reached only some peers. */
  readonly aimedCrashes: number;
  /** The longest an idle cluster took to bring every pair of replicas in session to one head (ms, by ticks). */
  readonly slowestIdleConvergenceMs: number;
}

export class Simulation {
  readonly rng: Rng;
  readonly nodes = new Map<NodeId, Node>();
  /** What each node persisted, in order: its chain file. */
  readonly stores = new Map<NodeId, Block[]>();
  /** How much of each chain file is on stable storage (survives a machine crash). */
  private readonly synced = new Map<NodeId, number>();
  private readonly queue = new EventQueue();
  private seq = 0;
  private now = 0;
  private steps = 0;
  private readonly lastOnChannel = new Map<string, number>();
  private readonly channelLog = new Map<string, Envelope[]>();
  /**
   * Every block hash ever persisted, by height. Live chains never disagree at a height (checked at
   * every persist); a block lost everywhere (a machine crash with --no-fsync) may be replaced.
   */
  readonly persistedEver = new Map<number, Set<string>>();
  private readonly genesis: Block;
  private readonly total: number;
  private readonly results = new Map<string, CommandResult>();
  private readonly issued = new Map<string, 'transfer' | 'withdraw' | 'snapshot'>();
  /** Callers that retry transfer keys, and the key rules checked against every chain. */
  private readonly keys: KeyRetries;
  /** Step at which each node recorded its state for each snapshot. */
  private readonly recordedAt = new Map<string, number>();
  private entries: { node: NodeId; releasedTo: Set<NodeId> }[] = [];
  private messages = 0;
  private lockMessages = 0;
  private rounds = 0;
  private snapshotsVerified = 0;
  private maxInFlightRecorded = 0;
  /** Pairs "a-b" (a < b) whose connection is down, and clients whose process is down. */
  private readonly downLinks = new Set<string>();
  private readonly dead = new Set<NodeId>();
  private readonly ids: NodeId[];
  private readonly config: (id: NodeId) => NodeConfig;
  private disconnects = 0;
  private crashes = 0;
  private machineCrashes = 0;
  private blocksLost = 0;
  /** Transfers answered SUCCESS, by id: with synced blocks every one must end in every chain. */
  private readonly acknowledged = new Set<string>();
  private lost = 0;
  private lostCommands = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Rng(options.seed);
    this.aimRng = new Rng(options.seed ^ 0xa1fed);
    const ids = Array.from({ length: options.n }, (_, i) => i + 1);
    this.ids = ids;
    const initial = new Map(ids.map((id) => [id, this.rng.int(0, 20) * 100] as const));
    this.genesis = makeGenesis(initial, `sim-${options.seed}`);
    this.total = [...initial.values()].reduce((a, b) => a + b, 0);
    // Transfers never time out (every connection comes back); snapshots can, once faults may
    // lose their markers.
    this.config = (id) => ({
      id, nodes: ids, genesis: this.genesis, transferTimeoutMs: 1e12, snapshotTimeoutMs: options.faults || options.ticks ? 3_000 : 1e12, maxBatch: options.maxBatch ?? 1000,
      // Reads the store as it is now: a machine crash replaces it.
      chain: { readBlocks: (from: number, to: number) => this.stores.get(id)!.slice(from - 1, to) },
    });
    this.keys = new KeyRetries(
      new Rng(options.seed ^ 0x6b657973),
      ids,
      (time, node, id, command) => {
        this.issued.set(id, command.type);
        this.schedule(time, { kind: 'input', node, input: { kind: 'command', id, command } });
      },
      (rule, detail) => {
        throw new CheckFailure(rule, detail);
      },
    );
    for (const id of ids) {
      this.nodes.set(id, options.makeNode(this.config(id)));
      this.stores.set(id, []);
      this.synced.set(id, 0);
    }
  }

  private schedule(time: number, event: Event): void {
    this.queue.push({ time, seq: this.seq++, event });
  }

  private planWorkload(): void {
    const ids = [...this.nodes.keys()];
    for (const a of ids) for (const b of ids) if (a !== b) this.schedule(0, { kind: 'input', node: a, input: { kind: 'peerUp', peer: b, height: 0, incarnation: 0 } });
    let left = this.options.transfers;
    let k = 0;
    while (left > 0) {
      const time = this.rng.int(1, this.options.horizonMs);
      const from = this.rng.pick(ids);
      const burst = this.rng.chance(0.2) ? Math.min(left, this.rng.int(2, 6)) : 1;
      for (let i = 0; i < burst; i++) {
        const to = this.rng.pick(ids.filter((x) => x !== from));
        // Mostly affordable amounts, some far beyond any balance.
        const amount = this.rng.chance(0.15) ? this.rng.int(2_000, 50_000) : this.rng.int(1, 600);
        this.keys.transfer(time, from, to, amount, `t${from}-${k++}`);
      }
      left -= burst;
    }
    let snaps = this.options.snapshots;
    while (snaps > 0) {
      const time = this.rng.int(1, this.options.horizonMs);
      const together = Math.min(snaps, this.rng.chance(0.3) ? this.rng.int(2, ids.length) : 1);
      const initiators = [...ids].sort(() => this.rng.float() - 0.5).slice(0, together);
      for (const from of initiators) {
        const id = `s${from}-${k++}`;
        this.issued.set(id, 'snapshot');
        this.schedule(time, { kind: 'input', node: from, input: { kind: 'command', id, command: { type: 'snapshot' } } });
      }
      snaps -= together;
    }
    if (!this.options.faults) {
      if (this.options.ticks) this.planTicks();
      return;
    }
    const horizon = this.options.horizonMs;
    for (let i = this.rng.int(1, 3); i > 0; i--) {
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids.filter((x) => x !== a));
      this.schedule(this.rng.int(50, horizon), { kind: 'disconnect', a, b, downForMs: this.rng.int(20, 600) });
    }
    for (let i = this.rng.int(0, 2); i > 0; i--) {
      this.schedule(this.rng.int(50, horizon), { kind: 'crash', node: this.rng.pick(ids), downForMs: this.rng.int(20, 600), machine: false });
    }
    const [fewest, most] = this.options.machineCrashes ?? [0, 2];
    for (let i = this.rng.int(fewest, most); i > 0; i--) {
      this.schedule(this.rng.int(50, horizon), { kind: 'crash', node: this.rng.pick(ids), downForMs: this.rng.int(20, 600), machine: true });
    }
    this.planAimedCrashes(horizon);
    this.planTicks();
  }

  /** Time passes for timeouts, well past the last restart. */
  private planTicks(): void {
    const ids = [...this.nodes.keys()];
    for (let t = 100; t <= this.options.horizonMs + 8_000; t += 100) for (const id of ids) this.schedule(t, { kind: 'input', node: id, input: { kind: 'tick', now: t } });
  }

  private linkKey(a: NodeId, b: NodeId): string {
    return a < b ? `${a}-${b}` : `${b}-${a}`;
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return !this.dead.has(a) && !this.dead.has(b) && !this.downLinks.has(this.linkKey(a, b));
  }

  /** Loses what is in flight between a and b (both ways) and tells the living ends. */
  private cut(a: NodeId, b: NodeId): void {
    if (!this.connected(a, b)) return;
    for (const [x, y] of [[a, b], [b, a]] as const) {
      for (const env of this.channelLog.get(`${x}->${y}`) ?? []) {
        if (env.deliveredAt === -1) {
          env.deliveredAt = LOST;
          this.lost++;
        }
      }
    }
    this.downLinks.add(this.linkKey(a, b));
    for (const [x, y] of [[a, b], [b, a]] as const) if (!this.dead.has(x)) this.stepNode(x, { kind: 'peerDown', peer: y }, null);
  }

  /**
   * Brings the connection up when both ends live; each learns the other's height, as in the
   * handshake. As with real sockets one end sees the session first and may send at once; the
   * mesh holds what arrives until the other end's own peerUp (see `deliver`).
   */
  private join(a: NodeId, b: NodeId): void {
    if (this.dead.has(a) || this.dead.has(b) || this.downLinks.has(this.linkKey(a, b))) return;
    this.linkSessions.set(this.linkKey(a, b), ++this.sessionCount);
    const [first, second] = this.rng.chance(0.5) ? [a, b] : [b, a];
    this.stepNode(first, { kind: 'peerUp', peer: second, height: this.stores.get(second)!.length, incarnation: this.incarnation(second) }, null);
    this.schedule(this.now + this.rng.int(0, this.options.maxDelayMs * 2), { kind: 'secondUp', node: second, peer: first });
  }

  /** The mesh delivers only within a session: what arrives before the receiver's peerUp waits. */
  private deliver(env: Envelope): void {
    const key = `${env.to}<-${env.from}`;
    if (!this.sessions.has(key)) {
      const held = this.held.get(key) ?? [];
      held.push(env);
      this.held.set(key, held);
      return;
    }
    this.stepNode(env.to, { kind: 'receive', from: env.from, message: env.message }, env);
  }

  /** Session bookkeeping around a peerUp/peerDown step, as the mesh does it. */
  private sessionChanged(id: NodeId, input: Input): void {
    if (input.kind === 'peerDown') {
      this.sessions.delete(`${id}<-${input.peer}`);
      return;
    }
    if (input.kind !== 'peerUp') return;
    const key = `${id}<-${input.peer}`;
    this.sessions.add(key);
    const held = this.held.get(key) ?? [];
    this.held.delete(key);
    for (const env of held) if (env.deliveredAt !== LOST) this.deliver(env);
  }

  /** "receiver<-sender" pairs whose session the receiver has seen come up. */
  private readonly sessions = new Set<string>();
  private readonly held = new Map<string, Envelope[]>();

  private onFault(e: Exclude<Event, { kind: 'deliver' } | { kind: 'input' }>): void {
    this.options.trace?.(`[${this.steps} @${this.now}ms] fault: ${JSON.stringify(e)}`);
    switch (e.kind) {
      case 'disconnect':
        if (!this.connected(e.a, e.b)) return;
        this.disconnects++;
        this.cut(e.a, e.b);
        this.schedule(this.now + e.downForMs, { kind: 'reconnect', a: e.a, b: e.b });
        return;
      case 'reconnect':
        this.downLinks.delete(this.linkKey(e.a, e.b));
        this.join(e.a, e.b);
        return;
      case 'secondUp':
        // The connection may have dropped again, or an end died, meanwhile.
        if (!this.connected(e.node, e.peer) || this.sessions.has(`${e.node}<-${e.peer}`)) return;
        this.stepNode(e.node, { kind: 'peerUp', peer: e.peer, height: this.stores.get(e.peer)!.length, incarnation: this.incarnation(e.peer) }, null);
        return;
      case 'crash': {
        if (this.dead.has(e.node)) return;
        this.crashes++;
        if (e.machine) this.loseUnsynced(e.node);
        const cut = this.ids.filter((p) => p !== e.node && this.connected(e.node, p));
        for (const p of cut) this.cut(e.node, p);
        // Dead is what keeps these connections down now; the restart rejoins them.
        for (const p of cut) this.downLinks.delete(this.linkKey(e.node, p));
        this.dead.add(e.node);
        this.seqBeforeCrash.set(e.node, this.nodes.get(e.node)!.nextSnapshotSeq());
        // Whatever the dead process was asked and had not answered dies with it.
        for (const [id, node] of this.typed) {
          if (node === e.node && !this.results.has(id) && this.issued.delete(id)) {
            this.lostCommands++;
            this.keys.lost(id, this.now + e.downForMs);
          }
        }
        this.schedule(this.now + e.downForMs, { kind: 'restart', node: e.node });
        return;
      }
      case 'restart': {
        const store = this.stores.get(e.node)!;
        const balances = genesisBalances(this.genesis);
        for (const b of store) applyBlock(balances, b);
        const last = store[store.length - 1];
        const head = last ? { height: last.height, hash: last.hash } : { height: 0, hash: this.genesis.hash };
        this.restarts.set(e.node, this.incarnation(e.node) + 1);
        this.tracers.delete(e.node);
        this.nodes.set(e.node, this.options.makeNode({
          ...this.config(e.node),
          incarnation: this.incarnation(e.node),
          restored: { head, balances, clock: store.reduce((m, b) => Math.max(m, b.ts), 0) },
          firstSnapshotSeq: this.seqBeforeCrash.get(e.node) ?? 1,
        }));
        this.dead.delete(e.node);
        this.stepNode(e.node, { kind: 'tick', now: this.now }, null);
        for (const p of this.ids) if (p !== e.node) this.join(e.node, p);
        return;
      }
    }
  }

  /**
   * A machine crash: the chain file keeps its synced part and whatever the OS wrote back of the
   * rest; the last record written back may be torn, and the restart cuts it off.
   */
  private loseUnsynced(id: NodeId): void {
    this.machineCrashes++;
    const store = this.stores.get(id)!;
    const synced = this.synced.get(id)!;
    let keep = synced + this.rng.int(0, store.length - synced);
    if (keep > synced && this.rng.chance(0.3)) keep--; // torn, then cut on restart
    this.blocksLost += store.length - keep;
    store.length = keep;
    this.keys.truncated(id, store);
    this.synced.set(id, keep);
  }

  private readonly seqBeforeCrash = new Map<NodeId, number>();
  /** Each client's process run: a restart is a new incarnation. */
  private readonly restarts = new Map<NodeId, number>();
  private incarnation(id: NodeId): number {
    return this.restarts.get(id) ?? 0;
  }

  /** Each client's tracer, for its current run; and the session number of each link, both ends alike. */
  private readonly tracers = new Map<NodeId, Tracer>();
  private readonly linkSessions = new Map<string, number>();
  private sessionCount = 0;

  private tracerOf(id: NodeId): Tracer | null {
    if (!this.options.onTrace) return null;
    let t = this.tracers.get(id);
    if (!t) {
      const node = this.nodes.get(id)!;
      t = new Tracer(id, `${id}.${this.incarnation(id)}`, this.ids.filter((p) => p !== id), node.chainHead().height);
      this.tracers.set(id, t);
      const also = this.options.traceAlso?.(t);
      if (also) this.alsoSinks.set(t, also);
      const clock = node.lamportTime();
      this.traced(t, (sink) => t!.startInto(sink, clock, this.now));
    }
    return t;
  }

  private readonly alsoSinks = new Map<Tracer, TraceSink>();

  /** Runs one tracer call into onTrace's objects (and traceAlso's sink). */
  private traced(t: Tracer, call: (sink: TraceSink) => void): void {
    const objects = new EventSink(t);
    const also = this.alsoSinks.get(t);
    call(also ? new TeeSink(objects, also) : objects);
    for (const e of objects.events) this.options.onTrace!(e);
  }
  /** Commands a client has been given, by client: those unanswered die with it. */
  private readonly typed = new Map<string, NodeId>();

  run(): SimResult {
    this.planWorkload();
    for (let s = this.queue.pop(); s; s = this.queue.pop()) {
      this.now = s.time;
      if (this.steps > 2_000_000) throw new CheckFailure('liveness', 'more than 2,000,000 steps: the run does not settle');
      const event = s.event;
      if (event.kind === 'deliver') {
        if (event.env.deliveredAt === LOST) continue;
        this.deliver(event.env);
      } else if (event.kind === 'input') {
        if (this.dead.has(event.node)) {
          // Nobody types into a dead process: its caller tries again later.
          if (event.input.kind === 'command' && this.issued.delete(event.input.id)) {
            this.lostCommands++;
            this.keys.lost(event.input.id, this.now);
          }
          continue;
        }
        if (event.input.kind === 'command') this.typed.set(event.input.id, event.node);
        this.stepNode(event.node, event.input, null);
        if (event.input.kind === 'tick') this.checkIdleConvergence();
      } else {
        this.onFault(event);
      }
      this.fireAimedCrash();
    }
    this.checkQuiescence();
    const results = [...this.results.values()];
    return {
      seed: this.options.seed,
      n: this.options.n,
      steps: this.steps,
      messages: this.messages,
      committed: results.filter((r) => r.type === 'transfer' && r.ok && !r.repeat).length,
      failed: results.filter((r) => r.type === 'transfer' && !r.ok).length,
      blocks: Math.max(...[...this.stores.values()].map((st) => st.length)),
      rounds: this.rounds,
      snapshotsVerified: this.snapshotsVerified,
      snapshotsFailed: results.filter((r) => r.type === 'snapshot' && !r.ok).length,
      maxInFlightRecorded: this.maxInFlightRecorded,
      disconnects: this.disconnects,
      crashes: this.crashes,
      machineCrashes: this.machineCrashes,
      blocksLost: this.blocksLost,
      lostMessages: this.lost,
      lostCommands: this.lostCommands,
      keys: this.keys.counts,
      aimedCrashes: this.aimedFired,
      slowestIdleConvergenceMs: this.slowestIdleConvergence,
    };
  }

  private stepNode(id: NodeId, input: Input, env: Envelope | null): void {
    // Every step its own number: "sent before", "recorded at" and "delivered after" compare them.
    this.steps++;
    if (env) env.deliveredAt = this.steps;
    const node = this.nodes.get(id)!;
    this.options.trace?.(`[${this.steps} @${this.now}ms] ${describeInput(id, input)}`);
    const tracer = this.tracerOf(id);
    const clockBefore = node.lamportTime();
    if (tracer && input.kind === 'peerUp') {
      const session = this.linkSessions.get(this.linkKey(id, input.peer)) ?? 0;
      this.traced(tracer, (sink) => tracer.peerUpInto(sink, input.peer, { out: `${id}>${input.peer}/${session}`, in: `${input.peer}>${id}/${session}` }, this.now));
    }
    if (input.kind === 'command' || input.kind === 'peerUp' || input.kind === 'peerDown') this.lastActivity = this.now;
    let effects: Effect[];
    try {
      effects = node.step(input);
    } catch (e) {
      // The core throws only on a broken invariant (its own block fails the chain's rules, say).
      throw new CheckFailure('no broken invariant', `client${id}: ${(e as Error).message}`);
    }
    if (tracer) this.traced(tracer, (sink) => tracer.stepInto(sink, input, effects, clockBefore, this.now));
    if (env && env.message.type === 'RELEASE' && env.entry !== null) this.entries[env.entry]?.releasedTo.add(id);
    if (env) this.aimAtRelease(env);

    // Clock condition: a received message's timestamp is below the receiver's clock.
    if (input.kind === 'receive' && !(node.lamportTime() > input.message.ts)) {
      throw new CheckFailure('clock condition', `client${id} clock ${node.lamportTime()} after receiving ${describeMessage(input.message)}`);
    }
    let entry: number | null = null;
    for (const e of effects) {
      this.options.trace?.(`    ${describeEffect(id, e)}`);
      entry = this.carryOut(id, e, entry);
    }
    this.checkBalances(id);
    // After the step's own effects: held messages then arrive behind what it sent.
    this.sessionChanged(id, input);
  }

  private carryOut(id: NodeId, e: Effect, entry: number | null): number | null {
    switch (e.kind) {
      case 'send':
        this.sendMessage(id, e.to, e.message, e.message.type === 'RELEASE' ? entry : null);
        return entry;
      case 'persist': {
        const store = this.stores.get(id)!;
        if (e.block.height !== store.length + 1) throw new CheckFailure('chain', `client${id} persisted #${e.block.height} after #${store.length}`);
        // No two live chains hold different blocks at one height: that is a fork.
        for (const [other, theirs] of this.stores) {
          const b = theirs[e.block.height - 1];
          if (other !== id && b !== undefined && b.hash !== e.block.hash) {
            throw new CheckFailure('one history', `client${id}'s block #${e.block.height} ${e.block.hash.slice(0, 8)} differs from client${other}'s ${b.hash.slice(0, 8)}`);
          }
        }
        let seen = this.persistedEver.get(e.block.height);
        if (!seen) this.persistedEver.set(e.block.height, (seen = new Set()));
        seen.add(e.block.hash);
        store.push(e.block);
        this.keys.persisted(id, e.block);
        // An fdatasync makes everything written so far durable, not only this block.
        if (e.sync && this.options.fsync) this.synced.set(id, store.length);
        return entry;
      }
      case 'reply': {
        if (this.results.has(e.commandId)) throw new CheckFailure('one result per command', `${e.commandId} answered twice`);
        if (!this.issued.has(e.commandId)) throw new CheckFailure('one result per command', `${e.commandId} was never issued`);
        this.results.set(e.commandId, e.result);
        this.keys.answered(id, e.commandId, e.result, this.stores.get(id)!);
        if (e.result.type === 'transfer' && e.result.ok) this.acknowledged.add(e.result.txId);
        // A request re-sent after a reconnection costs more; the figure is exact without faults. (A repeat had no round.)
        if (!this.options.faults && e.result.type === 'transfer' && e.result.ok && !e.result.repeat && e.result.msgs !== 3 * (this.options.n - 1)) {
          throw new CheckFailure('3(N-1) messages per lock round', `${e.commandId} reports ${e.result.msgs} messages with N=${this.options.n}`);
        }
        return entry;
      }
      case 'snapshotComplete':
        this.options.onSnapshot?.(e.snapshot);
        this.checkSnapshot(e.snapshot);
        return entry;
      case 'log':
        if (e.event.type === 'entered') return this.checkMutualExclusion(id, e.event.height);
        if (e.event.type === 'requested') this.rounds++;
        if (e.event.type === 'snapshotStarted') this.recordedAt.set(`${id}/${snapshotKey(e.event.id)}`, this.steps);
        // An honest run never refuses blocks either: its out-of-order blocks are few (see MAX_HELD_BLOCKS).
        if (e.event.type === 'blockRejected' || e.event.type === 'protocolError' || e.event.type === 'blocksRefused') {
          throw new CheckFailure('no protocol errors', `client${id}: ${JSON.stringify(e.event)}`);
        }
        return entry;
    }
  }

  private sendMessage(from: NodeId, to: NodeId, message: Message, entry: number | null): void {
    this.messages++;
    if (message.type === 'REQUEST' || message.type === 'REPLY' || message.type === 'RELEASE') {
      this.lockMessages++;
      this.lastActivity = this.now;
    }
    const key = `${from}->${to}`;
    if (!this.connected(from, to)) {
      this.lost++; // the mesh drops what is sent to a peer that is not up
      return;
    }
    const delay = this.rng.int(0, this.options.maxDelayMs);
    // FIFO: never before the previous message on this channel (ties keep scheduling order).
    const time = this.options.fifo ? Math.max(this.now + delay, this.lastOnChannel.get(key) ?? 0) : this.now + delay;
    this.lastOnChannel.set(key, time);
    const env: Envelope = { from, to, message, sentAt: this.steps, deliveredAt: -1, entry };
    let log = this.channelLog.get(key);
    if (!log) this.channelLog.set(key, (log = []));
    log.push(env);
    this.schedule(time, { kind: 'deliver', env });
  }

  // ---- an idle cluster converges ----

  /** The last lock message sent, command given or session change: the run is idle after it. */
  private lastActivity = 0;
  /** The idle period whose convergence is measured, and the slowest measured so far. */
  private idleMeasured = -1;
  private slowestIdleConvergence = 0;

  /**
   * Once nothing has happened for IDLE_CONVERGENCE_MS (no lock message, command or session
   * change), every two live replicas in session with each other hold the same head: a replica
   * that is behind catches up without waiting for the next lock round.
   */
  private checkIdleConvergence(): void {
    const idle = this.now - this.lastActivity;
    const apart: string[] = [];
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a >= b || !this.sessions.has(`${a}<-${b}`) || !this.sessions.has(`${b}<-${a}`)) continue;
        const [ha, hb] = [this.nodes.get(a)!.chainHead(), this.nodes.get(b)!.chainHead()];
        if (ha.hash !== hb.hash) apart.push(`client${a} at #${ha.height}, client${b} at #${hb.height}`);
      }
    }
    if (apart.length === 0) {
      if (this.idleMeasured !== this.lastActivity) {
        this.idleMeasured = this.lastActivity;
        this.slowestIdleConvergence = Math.max(this.slowestIdleConvergence, idle);
      }
      return;
    }
    if (idle >= IDLE_CONVERGENCE_MS) {
      throw new CheckFailure('idle replicas converge', `${apart.join('; ')}, in session, ${idle} ms after the last lock message or session change`);
    }
  }

  // ---- machine crashes aimed at a RELEASE that reached only some peers ----

  /**
   * Its own random stream, so that arming them leaves every other draw of a seed as it was.
   * Arm times, in order; and the creator to crash once the current event is done.
   */
  private readonly aimRng: Rng;
  private readonly armedAt: number[] = [];
  private aimNow: NodeId | null = null;
  private aimedFired = 0;

  private planAimedCrashes(horizon: number): void {
    const [fewest, most] = this.options.aimedCrashes ?? [0, 2];
    for (let i = this.aimRng.int(fewest, most); i > 0; i--) this.armedAt.push(this.aimRng.int(50, horizon));
    this.armedAt.sort((a, b) => a - b);
  }

  /**
   * The case the membership view rule exists for: a creator's RELEASE has just reached one peer
   * while its copies to others are still in flight. Its machine dies now, before they arrive:
   * without fsync it may come back without the block, and the peers that did not get it must
   * neither build on a stale head nor stay behind.
   */
  private aimAtRelease(env: Envelope): void {
    const block = env.message.type === 'RELEASE' ? env.message.block : null;
    if (block === null || this.aimNow !== null || this.armedAt.length === 0 || this.armedAt[0]! > this.now) return;
    const creator = env.from;
    if (this.dead.has(creator)) return;
    const missing = this.ids.filter((p) => p !== creator && p !== env.to && (this.channelLog.get(`${creator}->${p}`) ?? []).some(
      (e) => e.deliveredAt === -1 && e.message.type === 'RELEASE' && e.message.block?.hash === block.hash,
    ));
    if (missing.length === 0) return;
    this.armedAt.shift();
    this.aimNow = creator;
  }

  private fireAimedCrash(): void {
    const node = this.aimNow;
    if (node === null) return;
    this.aimNow = null;
    this.aimedFired++;
    this.onFault({ kind: 'crash', node, downForMs: this.aimRng.int(20, 600), machine: true });
  }

  /**
   * Mutual exclusion with an atomic critical section: each entry must come after the previous
   * holder's RELEASE reached the entrant (had the section lasted, they would otherwise overlap).
   */
  private checkMutualExclusion(id: NodeId, height: number): number {
    const prev = this.entries[this.entries.length - 1];
    // Whatever else, the entrant builds on the newest block there is (every client is up).
    const newest = Math.max(...[...this.stores.values()].map((st) => st.length));
    if (height !== newest) {
      throw new CheckFailure('at most one client in the critical section', `client${id} entered at height ${height} while block #${newest} exists`);
    }
    // Without faults, more precisely: after the previous holder's RELEASE reached it. (With faults
    // a RELEASE may be lost and its block fetched instead.)
    if (!this.options.faults && prev && prev.node !== id && !prev.releasedTo.has(id)) {
      throw new CheckFailure('at most one client in the critical section', `client${id} entered before client${prev.node}'s release reached it`);
    }
    this.entries.push({ node: id, releasedTo: new Set() });
    return this.entries.length - 1;
  }

  private checkBalances(id: NodeId): void {
    let sum = 0;
    for (const [who, v] of this.nodes.get(id)!.balanceTable()) {
      if (v < 0) throw new CheckFailure('no negative balance', `client${id} holds client${who} at ${v}`);
      sum += v;
    }
    if (sum !== this.total) throw new CheckFailure('money is conserved', `client${id}'s balances sum to ${sum}, not ${this.total}`);
  }

  private checkSnapshot(s: GlobalSnapshot): void {
    const audit = this.options.auditSnapshot;
    if (audit) {
      let wireProblem: string | null = null;
      try {
        this.checkAgainstWire(s);
      } catch (e) {
        if (!(e instanceof SnapshotCheckFailure)) throw e;
        wireProblem = e.message;
      }
      audit(s.verification.ok, wireProblem);
      return;
    }
    if (!s.verification.ok) throw new CheckFailure('every snapshot verifies', `${snapshotKey(s.id)}: ${s.verification.problems.join('; ')}`);
    this.checkAgainstWire(s);
  }

  private checkAgainstWire(s: GlobalSnapshot): void {
    const key = snapshotKey(s.id);
    const inFlight = checkSnapshotAgainstHistory(s, {
      total: this.total,
      persisted: (height) => this.persistedEver.get(height),
      // Without machine crashes no block is ever lost from a chain, and the in-flight blocks
      // bring every replica to one head; after one, a replica may still be fetching.
      strictConvergence: this.machineCrashes === 0,
      recordedAt: (node) => this.recordedAt.get(`${node}/${key}`),
      channelLog: (from, to) => this.channelLog.get(`${from}->${to}`) ?? [],
    });
    this.maxInFlightRecorded = Math.max(this.maxInFlightRecorded, inFlight);
    this.snapshotsVerified++;
  }

  private checkQuiescence(): void {
    for (const [id, kind] of this.issued) {
      const r = this.results.get(id);
      if (!r) throw new CheckFailure(`every ${kind} gets a result`, `${id} never answered`);
      // With faults a snapshot may time out (a marker lost with a connection); without, never.
      if (!this.options.faults && r.type === 'snapshot' && !r.ok) throw new CheckFailure('every snapshot completes', `${id}: ${r.error}`);
    }
    const chains = [...this.stores.entries()];
    const [, first] = chains[0]!;
    for (const [id, chain] of chains) {
      if (chain.length !== first.length || chain[chain.length - 1]?.hash !== first[first.length - 1]?.hash) {
        throw new CheckFailure('all chains converge', `heights ${chains.map(([n, c]) => `client${n} #${c.length}`).join(', ')}; client${id} differs`);
      }
    }
    const head = first[first.length - 1]?.hash ?? this.genesis.hash;
    // Acknowledged means durable: every SUCCESS is in the chain exactly once (unless a machine
    // lost unsynced blocks, which is what --no-fsync risks).
    if (this.options.fsync || this.machineCrashes === 0) {
      const count = new Map<string, number>();
      for (const b of first) for (const tx of b.txs) count.set(tx.id, (count.get(tx.id) ?? 0) + 1);
      for (const tx of this.acknowledged) {
        if (count.get(tx) !== 1) throw new CheckFailure('acknowledged transfers are durable', `${tx} answered SUCCESS but is in the final chain ${count.get(tx) ?? 0} times`);
      }
    }
    for (const [id, node] of this.nodes) {
      if (node.chainHead().hash !== head) throw new CheckFailure('all chains converge', `client${id}'s head differs`);
      const st = node.status();
      if (st.queue.length > 0 || st.pendingTransfers > 0 || st.pendingBlocks > 0 || st.snapshotsInProgress > 0) {
        throw new CheckFailure('quiescence', `client${id} still has ${JSON.stringify(st)}`);
      }
    }
    if (!this.options.faults && this.lockMessages !== 3 * (this.options.n - 1) * this.rounds) {
      throw new CheckFailure('3(N-1) messages per lock round', `${this.lockMessages} lock messages for ${this.rounds} rounds with N=${this.options.n}`);
    }
  }
}

export function runSeed(seed: number, overrides: Partial<SimOptions> = {}): SimResult {
  return new Simulation(defaultOptions(seed, overrides)).run();
}

export const replayCommand = (seed: number, label = 'sim'): string =>
  `SIM_SEED=${seed} npx vitest run ${label === 'faults' ? 'test/sim/sim-faults.test.ts' : 'test/sim/sim-a.test.ts'}`;

export { describeMessage };
