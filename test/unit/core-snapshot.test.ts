import { describe, expect, it } from 'vitest';
import type { CommandResult, Effect, GlobalSnapshot } from '../../src/core/api.js';
import { balancesToRecord, genesisBalances, sealBlock } from '../../src/core/ledger.js';
import { Node } from '../../src/core/node.js';
import { SnapshotAssembler, SnapshotRecorder, isApplicationMessage, verifySnapshot } from '../../src/core/snapshot.js';
import type { Block, ChannelState, Message, NodeId, RecordedState } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('snap');
const TOTAL = 3000;
const SNAPSHOT_TIMEOUT = 4_000;

/**
 * A hand-driven network of core nodes: every send lands on its channel's FIFO queue, and nothing is
 * delivered until the test says so. Persisted blocks are kept per node so serveBlocks can be honoured.
 */
class Cluster {
  readonly nodes = new Map<NodeId, Node>();
  private readonly queues = new Map<string, Message[]>();
  readonly chains = new Map<NodeId, Block[]>();
  /** Every effect each node produced, in order. */
  readonly log: { node: NodeId; effect: Effect }[] = [];

  constructor(readonly ids: readonly NodeId[] = [1, 2, 3]) {
    for (const id of ids) {
      this.nodes.set(id, new Node({ id, nodes: ids, genesis, transferTimeoutMs: 60_000, snapshotTimeoutMs: SNAPSHOT_TIMEOUT }));
      this.chains.set(id, []);
    }
  }

  node(id: NodeId): Node {
    return this.nodes.get(id)!;
  }

  queue(from: NodeId, to: NodeId): Message[] {
    const key = `${from}->${to}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = []));
    return q;
  }

  step(id: NodeId, input: Parameters<Node['step']>[0]): Effect[] {
    const effects = this.node(id).step(input);
    for (const effect of effects) {
      this.log.push({ node: id, effect });
      if (effect.kind === 'send') this.queue(id, effect.to).push(effect.message);
      else if (effect.kind === 'persist') this.chains.get(id)!.push(effect.block);
      else if (effect.kind === 'serveBlocks') {
        const blocks = this.chains.get(id)!.filter((b) => b.height >= effect.fromHeight && b.height <= effect.toHeight);
        this.queue(id, effect.to).push({ type: 'BLOCKS', ts: effect.ts, blocks });
      }
    }
    return effects;
  }

  /** Delivers the head of channel from->to. */
  deliver(from: NodeId, to: NodeId): Effect[] {
    const m = this.queue(from, to).shift();
    if (!m) throw new Error(`nothing in flight on ${from}->${to}`);
    return this.step(to, { kind: 'receive', from, message: m });
  }

  /** Drops the head of channel from->to (a message that is never delivered). */
  drop(from: NodeId, to: NodeId): Message {
    const m = this.queue(from, to).shift();
    if (!m) throw new Error(`nothing in flight on ${from}->${to}`);
    return m;
  }

  channels(): [NodeId, NodeId][] {
    return this.ids.flatMap((from) => this.ids.filter((to) => to !== from).map((to): [NodeId, NodeId] => [from, to]));
  }

  /**
   * Delivers until every channel allowed by `allow` is empty; channel choice is driven by `seed`
   * (0: round-robin), FIFO within each channel.
   */
  settle(allow: (from: NodeId, to: NodeId) => boolean = () => true, seed = 0): void {
    let rng = seed;
    for (let guard = 0; guard < 100_000; guard++) {
      const ready = this.channels().filter(([f, t]) => allow(f, t) && this.queue(f, t).length > 0);
      if (ready.length === 0) return;
      let pick = 0;
      if (seed !== 0) {
        rng = (rng * 1103515245 + 12345) & 0x7fffffff;
        pick = rng % ready.length;
      }
      const [f, t] = ready[pick]!;
      this.deliver(f, t);
    }
    throw new Error('the cluster did not settle');
  }

  /** peerUp on `a` for `b`, with the height `b` would announce in its handshake. */
  up(a: NodeId, b: NodeId): Effect[] {
    return this.step(a, { kind: 'peerUp', peer: b, height: this.node(b).chainHead().height });
  }

  connectAll(): void {
    for (const a of this.ids) for (const b of this.ids) if (a !== b) this.up(a, b);
    this.settle();
  }

  /** The connection between a and b breaks: whatever was in flight either way is lost. Returns [a's, b's] effects. */
  disconnect(a: NodeId, b: NodeId): [Effect[], Effect[]] {
    this.queue(a, b).length = 0;
    this.queue(b, a).length = 0;
    return [this.step(a, { kind: 'peerDown', peer: b }), this.step(b, { kind: 'peerDown', peer: a })];
  }

  /** A new connection between a and b: both handshakes done, heights exchanged. */
  reconnect(a: NodeId, b: NodeId): void {
    this.up(a, b);
    this.up(b, a);
  }

  /** Messages of `type` node `id` sent, from log entry `since` on. */
  sent(id: NodeId, type: Message['type'], since = 0): Extract<Effect, { kind: 'send' }>[] {
    return this.log.slice(since).flatMap((l) => (l.node === id && l.effect.kind === 'send' && l.effect.message.type === type ? [l.effect] : []));
  }

  completed(id: NodeId): GlobalSnapshot[] {
    return this.log.flatMap((l) => (l.node === id && l.effect.kind === 'snapshotComplete' ? [l.effect.snapshot] : []));
  }

  result(commandId: string): CommandResult | undefined {
    for (const l of this.log) if (l.effect.kind === 'reply' && l.effect.commandId === commandId) return l.effect.result;
    return undefined;
  }

  markersSent(): number {
    return this.log.filter((l) => l.effect.kind === 'send' && l.effect.message.type === 'MARKER').length;
  }
}

const snapshotCmd = (c: Cluster, id: NodeId, commandId: string): Effect[] => c.step(id, { kind: 'command', id: commandId, command: { type: 'snapshot' } });
const transferCmd = (c: Cluster, id: NodeId, commandId: string, to: NodeId, amount: number): Effect[] =>
  c.step(id, { kind: 'command', id: commandId, command: { type: 'transfer', to, amount } });
const channel = (s: GlobalSnapshot, from: NodeId, to: NodeId): ChannelState => {
  const c = s.channels.find((x) => x.from === from && x.to === to);
  if (!c) throw new Error(`no channel ${from}->${to} in the snapshot`);
  return c;
};
const stateOf = (s: GlobalSnapshot, id: NodeId): RecordedState => {
  const st = s.nodes.find((x) => x.node === id);
  if (!st) throw new Error(`no state for ${id}`);
  return st;
};

/** Drives client `id` through a lock round whose RELEASE (with the block) is left in flight. */
function commitLeavingReleaseInFlight(c: Cluster, id: NodeId, to: NodeId, amount: number): Block {
  transferCmd(c, id, `t${id}`, to, amount);
  for (const p of c.ids) if (p !== id) c.deliver(id, p); // REQUESTs
  let block: Block | undefined;
  for (const p of c.ids) {
    if (p === id) continue;
    const es = c.deliver(p, id); // REPLYs
    for (const e of es) if (e.kind === 'persist') block = e.block;
  }
  if (!block) throw new Error('expected the round to commit a block');
  return block;
}

describe('Chandy-Lamport snapshots over the Node', () => {
  it('initiation records the local state and sends a MARKER with the snapshot id to every peer', () => {
    const c = new Cluster();
    c.connectAll();
    const before = c.node(1).lamportTime();
    const es = snapshotCmd(c, 1, 's');
    const markers = es.filter((e): e is Extract<Effect, { kind: 'send' }> => e.kind === 'send');
    expect(markers.map((m) => m.to).sort()).toEqual([2, 3]);
    for (const m of markers) expect(m.message).toMatchObject({ type: 'MARKER', snapshot: { initiator: 1, seq: 1 } });
    expect(markers[0]!.message.ts).toBe(markers[1]!.message.ts);
    expect(es).toContainEqual({ kind: 'log', level: 'info', event: { type: 'snapshotStarted', id: { initiator: 1, seq: 1 }, from: null } });
    expect(c.node(1).status().snapshotsInProgress).toBeGreaterThan(0);

    c.settle();
    const [snap] = c.completed(1);
    expect(snap).toBeDefined();
    const own = stateOf(snap!, 1);
    expect(own).toMatchObject({ node: 1, height: 0, head: genesis.hash, balances: { '1': 1000, '2': 1000, '3': 1000 }, pendingBlocks: [], queue: [] });
    // Recorded at initiation: before the marker send event.
    expect(own.clock).toBe(before);
    expect(own.clock).toBeLessThan(markers[0]!.message.ts);
    expect(c.node(1).status().snapshotsInProgress).toBe(0);
  });

  it('a node\'s first marker records its state, sends markers on, and starts recording the other incoming channels', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    // Client 3 starts a lock round; its REQUEST to client 2 is sent before client 3 sees any marker.
    transferCmd(c, 3, 't3', 1, 100);
    const requestTs = c.queue(3, 2)[0]!.ts;
    const es = c.deliver(1, 2); // client 2's first marker
    const fwd = es.filter((e): e is Extract<Effect, { kind: 'send' }> => e.kind === 'send' && e.message.type === 'MARKER');
    expect(fwd.map((m) => m.to).sort()).toEqual([1, 3]);
    for (const m of fwd) expect(m.message).toMatchObject({ snapshot: { initiator: 1, seq: 1 } });
    const recordedClock = c.node(2).lamportTime() - 1; // the forward was one send event after recording
    c.deliver(3, 2); // the REQUEST, on a channel client 2 is now recording
    c.settle();

    const [snap] = c.completed(1);
    expect(snap).toBeDefined();
    expect(snap!.verification).toMatchObject({ ok: true, problems: [] });
    expect(stateOf(snap!, 2)).toMatchObject({ height: 0, clock: recordedClock, queue: [] });
    expect(channel(snap!, 1, 2).messages).toEqual([]); // the first marker's own channel is recorded empty
    expect(channel(snap!, 3, 2).messages).toEqual([{ type: 'REQUEST', ts: requestTs }]);
    expect(c.result('t3')).toMatchObject({ status: 'SUCCESS' });
  });

  it('a RELEASE carrying a block that arrives on a recorded channel before that channel\'s marker appears in the channel state', () => {
    const c = new Cluster();
    c.connectAll();
    const block = commitLeavingReleaseInFlight(c, 3, 1, 250);
    // Client 3 is at #1; its RELEASE+block is in flight to 1 and 2.
    snapshotCmd(c, 1, 's');
    c.deliver(1, 3); // 3 records (at #1) and queues its markers behind the RELEASEs
    c.deliver(1, 2); // 2 records (at #0) and starts recording 3->2
    c.settle();

    const [snap] = c.completed(1);
    expect(snap).toBeDefined();
    expect(stateOf(snap!, 3)).toMatchObject({ height: 1, head: block.hash });
    expect(stateOf(snap!, 2)).toMatchObject({ height: 0, balances: { '1': 1000, '2': 1000, '3': 1000 } });
    expect(stateOf(snap!, 1)).toMatchObject({ height: 0 });
    for (const to of [1, 2]) {
      const msgs = channel(snap!, 3, to).messages;
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).toMatchObject({ type: 'RELEASE', block });
    }
    expect(channel(snap!, 1, 3).messages).toEqual([]);
    expect(snap!.verification).toEqual({ ok: true, total: TOTAL, problems: [], head: { height: 1, hash: block.hash } });
    // And the replicas really did converge on that head afterwards.
    for (const id of c.ids) expect(c.node(id).chainHead()).toEqual({ height: 1, hash: block.hash });
  });

  it('the initiator emits snapshotComplete and a reply with verification ok and markers = N(N-1)', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 2, 'snap-cmd');
    c.settle();
    const done = c.completed(2);
    expect(done).toHaveLength(1);
    const snap = done[0]!;
    expect(snap.id).toEqual({ initiator: 2, seq: 1 });
    expect(snap.initiator).toBe(2);
    expect(snap.markers).toBe(3 * 2);
    expect(c.markersSent()).toBe(3 * 2);
    expect(snap.nodes.map((n) => n.node)).toEqual([1, 2, 3]);
    expect(snap.channels.map((ch) => `${ch.from}->${ch.to}`)).toEqual(['1->2', '1->3', '2->1', '2->3', '3->1', '3->2']);
    expect(snap.verification).toEqual({ ok: true, total: TOTAL, problems: [], head: { height: 0, hash: genesis.hash } });
    expect(c.result('snap-cmd')).toEqual({ type: 'snapshot', ok: true, snapshot: snap });
    // Only the initiator assembles.
    expect(c.completed(1)).toEqual([]);
    expect(c.completed(3)).toEqual([]);
    for (const id of c.ids) expect(c.node(id).status().snapshotsInProgress).toBe(0);
  });

  it('the markers cost is N(N-1) in a 4-client cluster too', () => {
    const c = new Cluster([1, 2, 3, 4]);
    c.connectAll();
    snapshotCmd(c, 4, 's');
    c.settle();
    expect(c.completed(4)[0]?.markers).toBe(12);
    expect(c.markersSent()).toBe(12);
  });

  it('two concurrent snapshots from different initiators both complete and verify', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 'a');
    snapshotCmd(c, 2, 'b');
    c.settle();
    const a = c.completed(1);
    const b = c.completed(2);
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]!.id).toEqual({ initiator: 1, seq: 1 });
    expect(b[0]!.id).toEqual({ initiator: 2, seq: 1 });
    expect(a[0]!.verification.ok).toBe(true);
    expect(b[0]!.verification.ok).toBe(true);
    expect(c.markersSent()).toBe(2 * 6);
  });

  it('successive snapshots from one initiator get increasing sequence numbers', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 3, 'a');
    c.settle();
    snapshotCmd(c, 3, 'b');
    c.settle();
    expect(c.completed(3).map((s) => s.id)).toEqual([
      { initiator: 3, seq: 1 },
      { initiator: 3, seq: 2 },
    ]);
  });

  it.each([1, 7, 42, 99, 1234, 5555, 31337, 65521])('concurrent snapshots taken amid transfers from every client all verify (delivery order seed %i)', (seed) => {
    const c = new Cluster();
    c.connectAll();
    transferCmd(c, 1, 'x1', 2, 300);
    transferCmd(c, 2, 'x2', 3, 700);
    snapshotCmd(c, 3, 's3');
    transferCmd(c, 3, 'x3', 1, 1000);
    c.settle(() => true, seed);
    snapshotCmd(c, 1, 's1');
    transferCmd(c, 1, 'x4', 3, 900);
    snapshotCmd(c, 2, 's2');
    c.settle(() => true, seed + 1);
    const all = [...c.completed(1), ...c.completed(2), ...c.completed(3)];
    expect(all).toHaveLength(3);
    for (const s of all) expect(s.verification.problems).toEqual([]);
    for (const id of ['x1', 'x2', 'x3']) expect(c.result(id)).toMatchObject({ status: 'SUCCESS' });
    const heads = c.ids.map((id) => c.node(id).chainHead());
    expect(new Set(heads.map((h) => h.hash)).size).toBe(1);
  });

  it('a snapshot with one client never answering times out at the initiator, naming that client', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    const silent = (f: NodeId, t: NodeId): boolean => f !== 3 && t !== 3;
    c.settle(silent);
    expect(c.completed(1)).toEqual([]);
    expect(c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT - 1 }).filter((e) => e.kind === 'reply')).toEqual([]);
    const es = c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT });
    const r = c.result('s');
    expect(r).toMatchObject({ type: 'snapshot', ok: false, id: { initiator: 1, seq: 1 } });
    if (r && r.type === 'snapshot' && !r.ok) {
      expect(r.missing).toContain(3);
      expect(r.error).toContain('client3');
    }
    expect(es.some((e) => e.kind === 'log' && e.event.type === 'snapshotAbandoned')).toBe(true);
    expect(c.node(1).status().snapshotsInProgress).toBe(0);
  });

  it('a snapshot whose only missing piece is one client\'s REPORT names exactly that client', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    for (let i = 0; i < 100; i++) {
      const q = c.queue(3, 1);
      if (q[0]?.type === 'REPORT') c.drop(3, 1);
      const ready = c.channels().filter(([f, t]) => c.queue(f, t).length > 0 && !(f === 3 && t === 1 && c.queue(3, 1)[0]?.type === 'REPORT'));
      if (ready.length === 0) break;
      c.deliver(...ready[0]!);
    }
    expect(c.completed(1)).toEqual([]);
    c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT });
    const r = c.result('s');
    expect(r).toMatchObject({ type: 'snapshot', ok: false, missing: [3] });
    if (r && r.type === 'snapshot' && !r.ok) expect(r.error).toMatch(/no report from client3$/);
  });

  it('a peerDown while the channel from that peer is still being recorded abandons this client\'s part: no REPORT, even when that peer\'s marker arrives later', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.deliver(1, 2); // client 2 records and starts recording 3->2; client 3 has seen no marker yet
    expect(c.node(2).status().snapshotsInProgress).toBe(1);
    const [at2, at3] = c.disconnect(2, 3);
    expect(at2).toContainEqual({ kind: 'log', level: 'warn', event: { type: 'snapshotAbandoned', id: { initiator: 1, seq: 1 }, missing: [3] } });
    expect(at2.filter((e) => e.kind === 'send')).toEqual([]);
    expect(at3.some((e) => e.kind === 'log' && e.event.type === 'snapshotAbandoned')).toBe(false);
    expect(c.node(2).status().snapshotsInProgress).toBe(0);

    const mark = c.log.length;
    c.reconnect(2, 3);
    // Client 3 now records on client 1's marker and sends its own marker to client 2 on the new connection.
    c.settle();
    expect(c.sent(3, 'MARKER', mark).map((m) => m.to).sort()).toEqual([1, 2]);
    // Client 2 took that marker as one for a finished snapshot: no restart, no REPORT.
    expect(c.sent(2, 'MARKER', mark)).toEqual([]);
    expect(c.sent(2, 'REPORT')).toEqual([]);
    expect(c.node(2).status().snapshotsInProgress).toBe(0);
    expect(c.completed(1)).toEqual([]);
    c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT });
    const r = c.result('s');
    expect(r).toMatchObject({ type: 'snapshot', ok: false });
    // Client 2 dropped out; client 3 still waits for the marker client 2 sent on the lost connection.
    if (r && r.type === 'snapshot' && !r.ok) expect(r.missing).toEqual([2, 3]);
  });

  it('a peerDown after that peer\'s marker arrived does not abandon the snapshot: it completes and verifies', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.deliver(1, 2); // client 2 records; channel 1->2 is recorded empty (its marker came first)
    c.deliver(2, 1); // the initiator gets client 2's marker: channel 2->1 is complete
    const [at1, at2] = c.disconnect(1, 2);
    for (const es of [at1, at2]) expect(es.some((e) => e.kind === 'log' && e.event.type === 'snapshotAbandoned')).toBe(false);
    expect(c.node(1).status().snapshotsInProgress).toBe(2); // its recorder (waiting on 3->1) and its assembler
    expect(c.node(2).status().snapshotsInProgress).toBe(1); // waiting on 3->2
    c.reconnect(1, 2);
    c.settle();
    expect(c.sent(2, 'REPORT').map((r) => r.to)).toEqual([1]);
    const [snap] = c.completed(1);
    expect(snap).toBeDefined();
    expect(snap!.verification).toMatchObject({ ok: true, problems: [] });
    expect(c.log.some((l) => l.effect.kind === 'log' && l.effect.event.type === 'snapshotAbandoned')).toBe(false);
    for (const id of c.ids) expect(c.node(id).status().snapshotsInProgress).toBe(0);
  });

  it('a late marker for a finished snapshot does not start it again', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.settle();
    const es = c.step(2, { kind: 'receive', from: 3, message: { type: 'MARKER', ts: 100, snapshot: { initiator: 1, seq: 1 } } });
    expect(es.filter((e) => e.kind === 'send')).toEqual([]);
    expect(c.node(2).status().snapshotsInProgress).toBe(0);
  });
});

describe('SnapshotRecorder', () => {
  const state: RecordedState = {
    node: 2, clock: 5, height: 0, head: genesis.hash, balances: { '1': 1000, '2': 1000, '3': 1000 }, pendingBlocks: [], queue: [],
  };
  const id = { initiator: 1, seq: 1 };

  it('records the first marker\'s channel empty and the others until their markers', () => {
    const r = new SnapshotRecorder(id, state, [1, 3], 1, 0);
    expect(r.done).toBe(false);
    r.onMessage(1, { type: 'REPLY', ts: 6 }); // channel 1->2 is closed: not recorded
    r.onMessage(3, { type: 'REQUEST', ts: 7 });
    r.onMessage(3, { type: 'MARKER', ts: 8, snapshot: { initiator: 3, seq: 4 } }); // another snapshot's marker: not application traffic
    r.onMarker(3);
    r.onMessage(3, { type: 'REPLY', ts: 9 }); // after the marker: not recorded
    expect(r.done).toBe(true);
    expect(r.local()).toEqual({ state, channels: [{ from: 1, messages: [] }, { from: 3, messages: [{ type: 'REQUEST', ts: 7 }] }] });
  });

  it('at the initiator records every incoming channel', () => {
    const r = new SnapshotRecorder(id, state, [2, 3], null, 0);
    r.onMarker(2);
    expect(r.done).toBe(false);
    expect(() => r.local()).toThrow();
    r.onMarker(3);
    expect(r.done).toBe(true);
  });

  it('treats markers and reports as snapshot traffic, everything else as application messages', () => {
    expect(isApplicationMessage({ type: 'MARKER', ts: 1, snapshot: id })).toBe(false);
    expect(isApplicationMessage({ type: 'REQUEST', ts: 1 })).toBe(true);
    expect(isApplicationMessage({ type: 'RELEASE', ts: 1, block: null })).toBe(true);
    expect(isApplicationMessage({ type: 'BLOCKS', ts: 1, blocks: [] })).toBe(true);
  });

  it('the assembler lists who has not reported and completes with every report', () => {
    const a = new SnapshotAssembler(id, [1, 2, 3], 0, 'cmd');
    expect(a.missing()).toEqual([1, 2, 3]);
    a.add(2, { state, channels: [] });
    expect(a.missing()).toEqual([1, 3]);
    expect(a.complete).toBe(false);
  });
});

describe('verifySnapshot', () => {
  const g = balancesToRecord(genesisBalances(genesis));
  const at0 = (node: NodeId, balances: Record<string, number> = g): RecordedState => ({
    node, clock: 1, height: 0, head: genesis.hash, balances, pendingBlocks: [], queue: [],
  });
  const b1 = sealBlock({ height: 1, prevHash: genesis.hash, ts: 5, creator: 1, txs: [{ id: 'a', from: 1, to: 2, amount: 400 }] });
  const after1 = { '1': 600, '2': 1400, '3': 1000 };
  const at1 = (node: NodeId): RecordedState => ({ ...at0(node, after1), height: 1, head: b1.hash });

  it('accepts consistent replicas at one head', () => {
    expect(verifySnapshot([at0(1), at0(2), at0(3)], [], TOTAL)).toEqual({ ok: true, total: TOTAL, problems: [], head: { height: 0, hash: genesis.hash } });
  });

  it('accepts replicas behind the head when the missing block is in flight to them', () => {
    const channels: ChannelState[] = [
      { from: 1, to: 2, messages: [{ type: 'RELEASE', ts: 5, block: b1 }] },
      { from: 1, to: 3, messages: [{ type: 'REPLY', ts: 4 }, { type: 'RELEASE', ts: 5, block: b1 }] },
    ];
    expect(verifySnapshot([at1(1), at0(2), at0(3)], channels, TOTAL)).toMatchObject({ ok: true, head: { height: 1, hash: b1.hash } });
  });

  it('accepts a replica whose missing block is buffered in its own pending blocks', () => {
    const b2 = sealBlock({ height: 2, prevHash: b1.hash, ts: 7, creator: 2, txs: [{ id: 'b', from: 2, to: 3, amount: 1 }] });
    const two = { ...at0(1, { '1': 600, '2': 1399, '3': 1001 }), height: 2, head: b2.hash };
    const behind: RecordedState = { ...at0(3), pendingBlocks: [b2] };
    const channels: ChannelState[] = [{ from: 1, to: 3, messages: [{ type: 'BLOCKS', ts: 9, blocks: [b1] }] }];
    expect(verifySnapshot([{ ...two, node: 1 }, { ...two, node: 2 }, behind], channels, TOTAL)).toMatchObject({ ok: true, head: { height: 2 } });
  });

  it('flags a balance table that does not sum to the total', () => {
    const v = verifySnapshot([at0(1), at0(2, { '1': 1000, '2': 1000, '3': 999 }), at0(3)], [], TOTAL);
    expect(v.ok).toBe(false);
    expect(v.head).toBeNull();
    expect(v.problems.some((p) => p.includes('client2') && p.includes('$29.99') && p.includes('$30.00'))).toBe(true);
  });

  it('flags a negative balance even when the table sums to the total', () => {
    const v = verifySnapshot([at0(1), at0(2), at0(3, { '1': -100, '2': 1100, '3': 2000 })], [], TOTAL);
    expect(v.ok).toBe(false);
    expect(v.problems.some((p) => p.includes('client3') && p.includes('client1') && p.includes('-$1.00'))).toBe(true);
  });

  it('flags replicas that disagree on the head with nothing in flight to reconcile them', () => {
    const v = verifySnapshot([at1(1), at0(2), at0(3)], [], TOTAL);
    expect(v.ok).toBe(false);
    expect(v.head).toBeNull();
    expect(v.problems.some((p) => /disagree/.test(p))).toBe(true);
  });

  it('flags replicas at the same head that disagree on a balance', () => {
    const v = verifySnapshot([at0(1), at0(2, { '1': 900, '2': 1100, '3': 1000 }), at0(3)], [], TOTAL);
    expect(v.ok).toBe(false);
    expect(v.problems.some((p) => /disagree/.test(p) && p.includes('client1'))).toBe(true);
  });

  it('flags replicas on different forks at the same height', () => {
    const fork = sealBlock({ height: 1, prevHash: genesis.hash, ts: 5, creator: 2, txs: [{ id: 'f', from: 2, to: 1, amount: 400 }] });
    const other: RecordedState = { ...at0(2, { '1': 1400, '2': 600, '3': 1000 }), height: 1, head: fork.hash };
    const v = verifySnapshot([at1(1), other, at1(3)], [], TOTAL);
    expect(v.ok).toBe(false);
  });

  it('flags an in-flight block that does not chain on its receiver', () => {
    const bad = sealBlock({ height: 1, prevHash: 'e'.repeat(64), ts: 5, creator: 1, txs: [{ id: 'a', from: 1, to: 2, amount: 400 }] });
    const v = verifySnapshot([at1(1), at0(2), at1(3)], [{ from: 1, to: 2, messages: [{ type: 'RELEASE', ts: 5, block: bad }] }], TOTAL);
    expect(v.ok).toBe(false);
  });
});
