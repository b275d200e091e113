/**
 * The seeded simulator: N pure core nodes over a virtual network with per-channel FIFO and random
 * per-message delays, driven by a random workload. Checkers run outside the nodes, after every
 * step, against what the simulator itself saw (the VOPR shape: one seed reproduces a run).
 */
import type { CommandResult, Effect, GlobalSnapshot, Input } from '../../src/core/api.js';
import { describeEffect, describeInput, describeMessage } from '../../src/core/describe.js';
import { makeGenesis } from '../../src/core/ledger.js';
import { MAX_BLOCKS_PER_MESSAGE } from '../../src/core/messages.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { type Block, type Message, type NodeId, snapshotKey } from '../../src/core/types.js';
import { checkSnapshotAgainstHistory } from './checkers.js';
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
}

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
    makeNode: (c) => new Node(c),
    trace: null,
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
  | { readonly kind: 'input'; readonly node: NodeId; readonly input: Input };

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
  readonly maxInFlightRecorded: number;
}

export class Simulation {
  readonly rng: Rng;
  readonly nodes = new Map<NodeId, Node>();
  /** What each node persisted, in order: its durable chain. */
  readonly stores = new Map<NodeId, Block[]>();
  private readonly queue = new EventQueue();
  private seq = 0;
  private now = 0;
  private steps = 0;
  private readonly lastOnChannel = new Map<string, number>();
  private readonly channelLog = new Map<string, Envelope[]>();
  /** The one history every chain must be a prefix of: hash by height. */
  readonly history: string[] = [];
  private readonly genesis: Block;
  private readonly total: number;
  private readonly results = new Map<string, CommandResult>();
  private readonly issued = new Map<string, 'transfer' | 'snapshot'>();
  /** Step at which each node recorded its state for each snapshot. */
  private readonly recordedAt = new Map<string, number>();
  private entries: { node: NodeId; releasedTo: Set<NodeId> }[] = [];
  private messages = 0;
  private lockMessages = 0;
  private rounds = 0;
  private snapshotsVerified = 0;
  private maxInFlightRecorded = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Rng(options.seed);
    const ids = Array.from({ length: options.n }, (_, i) => i + 1);
    const initial = new Map(ids.map((id) => [id, this.rng.int(0, 20) * 100] as const));
    this.genesis = makeGenesis(initial, `sim-${options.seed}`);
    this.total = [...initial.values()].reduce((a, b) => a + b, 0);
    this.history.push(this.genesis.hash);
    for (const id of ids) {
      this.nodes.set(
        id,
        options.makeNode({ id, nodes: ids, genesis: this.genesis, transferTimeoutMs: 1e12, snapshotTimeoutMs: 1e12, maxBatch: options.maxBatch ?? 1000 }),
      );
      this.stores.set(id, []);
    }
  }

  private schedule(time: number, event: Event): void {
    this.queue.push({ time, seq: this.seq++, event });
  }

  private planWorkload(): void {
    const ids = [...this.nodes.keys()];
    for (const a of ids) for (const b of ids) if (a !== b) this.schedule(0, { kind: 'input', node: a, input: { kind: 'peerUp', peer: b } });
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
        const id = `t${from}-${k++}`;
        this.issued.set(id, 'transfer');
        this.schedule(time, { kind: 'input', node: from, input: { kind: 'command', id, command: { type: 'transfer', to, amount } } });
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
  }

  run(): SimResult {
    this.planWorkload();
    for (let s = this.queue.pop(); s; s = this.queue.pop()) {
      this.now = s.time;
      this.steps++;
      if (this.steps > 2_000_000) throw new CheckFailure('liveness', 'more than 2,000,000 steps: the run does not settle');
      const event = s.event;
      if (event.kind === 'deliver') {
        event.env.deliveredAt = this.steps;
        this.stepNode(event.env.to, { kind: 'receive', from: event.env.from, message: event.env.message }, event.env);
      } else {
        this.stepNode(event.node, event.input, null);
      }
    }
    this.checkQuiescence();
    const results = [...this.results.values()];
    return {
      seed: this.options.seed,
      n: this.options.n,
      steps: this.steps,
      messages: this.messages,
      committed: results.filter((r) => r.type === 'transfer' && r.ok).length,
      failed: results.filter((r) => r.type === 'transfer' && !r.ok).length,
      blocks: this.history.length - 1,
      rounds: this.rounds,
      snapshotsVerified: this.snapshotsVerified,
      maxInFlightRecorded: this.maxInFlightRecorded,
    };
  }

  private stepNode(id: NodeId, input: Input, env: Envelope | null): void {
    const node = this.nodes.get(id)!;
    this.options.trace?.(`[${this.steps} @${this.now}ms] ${describeInput(id, input)}`);
    const effects = node.step(input);
    if (env && env.message.type === 'RELEASE' && env.entry !== null) this.entries[env.entry]?.releasedTo.add(id);

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
  }

  private carryOut(id: NodeId, e: Effect, entry: number | null): number | null {
    switch (e.kind) {
      case 'send':
        this.sendMessage(id, e.to, e.message, e.message.type === 'RELEASE' ? entry : null);
        return entry;
      case 'persist': {
        const store = this.stores.get(id)!;
        if (e.block.height !== store.length + 1) throw new CheckFailure('chain', `client${id} persisted #${e.block.height} after #${store.length}`);
        const known = this.history[e.block.height];
        if (known === undefined) this.history.push(e.block.hash);
        else if (known !== e.block.hash) throw new CheckFailure('one history', `client${id}'s block #${e.block.height} ${e.block.hash.slice(0, 8)} differs from ${known.slice(0, 8)}`);
        store.push(e.block);
        return entry;
      }
      case 'serveBlocks': {
        const blocks = this.stores.get(id)!.slice(e.fromHeight - 1, e.toHeight);
        for (let i = 0; i < blocks.length; i += MAX_BLOCKS_PER_MESSAGE) {
          this.sendMessage(id, e.to, { type: 'BLOCKS', ts: e.ts, blocks: blocks.slice(i, i + MAX_BLOCKS_PER_MESSAGE) }, null);
        }
        return entry;
      }
      case 'reply': {
        if (this.results.has(e.commandId)) throw new CheckFailure('one result per command', `${e.commandId} answered twice`);
        if (!this.issued.has(e.commandId)) throw new CheckFailure('one result per command', `${e.commandId} was never issued`);
        this.results.set(e.commandId, e.result);
        if (e.result.type === 'transfer' && e.result.ok && e.result.msgs !== 3 * (this.options.n - 1)) {
          throw new CheckFailure('3(N-1) messages per lock round', `${e.commandId} reports ${e.result.msgs} messages with N=${this.options.n}`);
        }
        return entry;
      }
      case 'snapshotComplete':
        this.checkSnapshot(e.snapshot);
        return entry;
      case 'log':
        if (e.event.type === 'entered') return this.checkMutualExclusion(id);
        if (e.event.type === 'requested') this.rounds++;
        if (e.event.type === 'snapshotStarted') this.recordedAt.set(`${id}/${snapshotKey(e.event.id)}`, this.steps);
        if (e.event.type === 'blockRejected' || e.event.type === 'protocolError') {
          throw new CheckFailure('no protocol errors', `client${id}: ${JSON.stringify(e.event)}`);
        }
        return entry;
    }
  }

  private sendMessage(from: NodeId, to: NodeId, message: Message, entry: number | null): void {
    this.messages++;
    if (message.type === 'REQUEST' || message.type === 'REPLY' || message.type === 'RELEASE') this.lockMessages++;
    const key = `${from}->${to}`;
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

  /**
   * Mutual exclusion with an atomic critical section: each entry must come after the previous
   * holder's RELEASE reached the entrant (had the section lasted, they would otherwise overlap).
   */
  private checkMutualExclusion(id: NodeId): number {
    const prev = this.entries[this.entries.length - 1];
    if (prev && prev.node !== id && !prev.releasedTo.has(id)) {
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
    if (!s.verification.ok) throw new CheckFailure('every snapshot verifies', `${snapshotKey(s.id)}: ${s.verification.problems.join('; ')}`);
    const key = snapshotKey(s.id);
    const inFlight = checkSnapshotAgainstHistory(s, {
      total: this.total,
      history: this.history,
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
      if (r.type === 'snapshot' && !r.ok) throw new CheckFailure('every snapshot completes', `${id}: ${r.error}`);
    }
    const heights = [...this.stores.values()].map((s) => s.length);
    if (new Set(heights).size !== 1 || heights[0] !== this.history.length - 1) {
      throw new CheckFailure('all chains converge', `heights ${heights.join(', ')}, history ${this.history.length - 1}`);
    }
    for (const [id, node] of this.nodes) {
      if (node.chainHead().hash !== this.history[this.history.length - 1]) throw new CheckFailure('all chains converge', `client${id}'s head differs`);
      const st = node.status();
      if (st.queue.length > 0 || st.pendingTransfers > 0 || st.pendingBlocks > 0 || st.snapshotsInProgress > 0) {
        throw new CheckFailure('quiescence', `client${id} still has ${JSON.stringify(st)}`);
      }
    }
    if (this.lockMessages !== 3 * (this.options.n - 1) * this.rounds) {
      throw new CheckFailure('3(N-1) messages per lock round', `${this.lockMessages} lock messages for ${this.rounds} rounds with N=${this.options.n}`);
    }
  }
}

export function runSeed(seed: number, overrides: Partial<SimOptions> = {}): SimResult {
  return new Simulation(defaultOptions(seed, overrides)).run();
}

export const replayCommand = (seed: number): string => `SIM_SEED=${seed} npx vitest run test/sim`;

export { describeMessage };
