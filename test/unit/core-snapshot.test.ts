import { describe, expect, it } from 'vitest';
import type { CommandResult, Effect, GlobalSnapshot } from '../../src/core/api.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { SnapshotAssembler, SnapshotRecorder } from '../../src/core/snapshot.js';
import { EMPTY_DIGEST, foldDigest } from '../../src/core/digest.js';
import { type Block, type ChannelRecord, type ChannelState, type Message, type NodeId, type RecordedState, isApplicationMessage } from '../../src/core/types.js';
import { MAX_RECORDED_MESSAGES, formatBytes } from '../../src/core/limits.js';
import { validateMessage } from '../../src/core/messages.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('snap');
const TOTAL = 3000;
const SNAPSHOT_TIMEOUT = 4_000;

/**
 * A hand-driven network of core nodes: every send lands on its channel's FIFO queue, and nothing is
 * delivered until the test says so. Persisted blocks are kept per node: each node's chain reader.
 */
class Cluster {
  readonly nodes = new Map<NodeId, Node>();
  private readonly queues = new Map<string, Message[]>();
  readonly chains = new Map<NodeId, Block[]>();
  /** Every effect each node produced, in order. */
  readonly log: { node: NodeId; effect: Effect }[] = [];

  constructor(readonly ids: readonly NodeId[] = [1, 2, 3], over: (id: NodeId) => Partial<NodeConfig> = () => ({})) {
    for (const id of ids) {
      this.chains.set(id, []);
      const chain: NodeConfig['chain'] = { readBlocks: (from, to) => this.chains.get(id)!.filter((b) => b.height >= from && b.height <= to) };
      this.nodes.set(id, new Node({ id, nodes: ids, genesis, transferTimeoutMs: 60_000, snapshotTimeoutMs: SNAPSHOT_TIMEOUT, chain, ...over(id) }));
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
    return this.step(a, { kind: 'peerUp', peer: b, height: this.node(b).chainHead().height, incarnation: 0 });
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
  c.step(id, { kind: 'command', id: commandId, command: { type: 'transfer', to, amount, key: commandId } });
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

/*
 * The marker rules (Chandy and Lamport, "Distributed Snapshots", 1985, section 3):
 *  Marker-Sending Rule for a process p: for each channel c incident on, and directed away from p,
 *    p sends one marker along c after p records its state and before p sends further messages along c.
 *  Marker-Receiving Rule for a process q, on receiving a marker along a channel c:
 *    if q has not recorded its state then q records its state and records the state of c as the
 *    empty sequence; else q records the state of c as the sequence of messages received along c
 *    after q's state was recorded and before q received the marker along c.
 */
describe('Chandy-Lamport snapshots over the Node', () => {
  it('Marker-Sending Rule: initiation records the local state, then sends a MARKER with the snapshot id to every peer', () => {
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

  it('Marker-Receiving Rule, first marker: a node records its state and the marker\'s channel as empty, sends markers on, and starts recording the other incoming channels', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    // Client 3 starts a lock round; its REQUEST to client 2 is sent before client 3 sees any marker.
    transferCmd(c, 3, 't3', 1, 100);
    const request = c.queue(3, 2)[0]!;
    expect(request).toMatchObject({ type: 'REQUEST', height: 0, view: c.node(3).membershipView() });
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
    expect(channel(snap!, 3, 2).messages).toEqual([request]);
    expect(c.result('t3')).toMatchObject({ status: 'SUCCESS' });
  });

  it('Marker-Receiving Rule, later marker: a RELEASE carrying a block that arrives on a recorded channel before that channel\'s marker is the channel\'s state', () => {
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
    expect(snap!.verification).toMatchObject({ ok: true, total: TOTAL, problems: [], head: { height: 1, hash: block.hash }, behind: [] });
    expect(snap!.verification.checks.map((ch) => [ch.name, ch.ok])).toEqual([
      ['channels', true], ['sent before the cut', true], ['clocks and queues', true], ['money', true], ['one history', true],
    ]);
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
    expect(snap.verification).toMatchObject({ ok: true, total: TOTAL, problems: [], head: { height: 0, hash: genesis.hash }, behind: [] });
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

  it('a snapshot with one client never answering times out at the initiator, saying for each missing client why', () => {
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
      expect(r.missing).toEqual([1, 2, 3]);
      expect(r.error).toBe(
        'snapshot 1.1 timed out after 4 s: no report from client1 (this client) still waited for a marker from client3; client2 (connected, but no report came); client3 (connected, but no report came)',
      );
    }
    expect(es).toContainEqual({ kind: 'log', level: 'warn', event: { type: 'snapshotAbandoned', id: { initiator: 1, seq: 1 }, missing: [1, 2, 3] } });
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
    if (r && r.type === 'snapshot' && !r.ok) expect(r.error).toBe('snapshot 1.1 timed out after 4 s: no report from client3 (connected, but no report came)');
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
    expect(c.node(1).status().snapshotsInProgress).toBe(1); // one snapshot, recorded (waiting on 3->1) and assembled here
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

describe('snapshots that cannot complete fail, and say why', () => {
  const failure = (c: Cluster, commandId: string): { error: string; missing: readonly NodeId[] } => {
    const r = c.result(commandId);
    if (!r || r.type !== 'snapshot' || r.ok) throw new Error(`expected a failed snapshot, got ${JSON.stringify(r)?.slice(0, 200)}`);
    return { error: r.error, missing: r.missing };
  };

  it('starting a snapshot while a peer is down fails at once, naming it: no marker is sent and the id is used up', () => {
    const c = new Cluster();
    c.connectAll();
    c.disconnect(1, 3);
    const es = snapshotCmd(c, 1, 's');
    expect(es.filter((e) => e.kind === 'send')).toEqual([]);
    expect(failure(c, 's')).toEqual({
      missing: [3],
      error: 'snapshot 1.1 not started: client3 is not connected, and a snapshot needs a marker on every channel',
    });
    expect(c.node(1).status().snapshotsInProgress).toBe(0);
    expect(c.node(1).nextSnapshotSeq()).toBe(2);
    c.disconnect(1, 2);
    snapshotCmd(c, 1, 't');
    expect(failure(c, 't').error).toBe('snapshot 1.2 not started: client2, client3 are not connected, and a snapshot needs a marker on every channel');
  });

  it('a client whose REPORT would exceed maxMessageBytes sends a failed REPORT (local: null, with the reason), and the initiator fails the snapshot with it', () => {
    const c = new Cluster([1, 2, 3], (id) => (id === 2 ? { maxMessageBytes: 300 } : {}));
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.settle();
    const reports = c.sent(2, 'REPORT');
    expect(reports).toHaveLength(1);
    const sent = reports[0]!.message;
    if (sent.type !== 'REPORT') throw new Error('not a REPORT');
    expect(sent.local).toBeNull();
    expect(sent.error).toMatch(/^client2's part of the snapshot would take up to \d+(\.\d)? (bytes|KiB), above the frame limit of 300 bytes \(maxFrameBytes\)$/);
    // The failed REPORT is itself a well-formed message that the guard lets through.
    expect(validateMessage(JSON.parse(JSON.stringify(sent)), new Set([1, 2, 3]))).toEqual({ ok: true, value: sent });
    expect(c.log).toContainEqual({ node: 2, effect: { kind: 'log', level: 'warn', event: { type: 'snapshotAbandoned', id: { initiator: 1, seq: 1 }, missing: [2] } } });
    expect(failure(c, 's')).toEqual({ missing: [2], error: `snapshot 1.1 failed: ${sent.error}` });
    expect(c.completed(1)).toEqual([]);
    expect(c.node(1).status().snapshotsInProgress).toBe(0);
    // The size it names is the bound of the report it could not send, above the limit.
    const bytes = /up to (.*), above/.exec(sent.error!)![1]!;
    expect(bytes).not.toBe(formatBytes(300));
  });

  it(`a client that recorded more than MAX_RECORDED_MESSAGES (${MAX_RECORDED_MESSAGES}) messages on one channel sends a failed REPORT naming the channel`, () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.deliver(1, 2); // client 2 records; channel 3->2 is being recorded
    const v = c.node(3).membershipView();
    for (let ts = 1; ts <= MAX_RECORDED_MESSAGES + 1; ts++) c.node(2).step({ kind: 'receive', from: 3, message: { type: 'REPLY', ts, height: 0, view: v } });
    c.settle();
    const sent = c.sent(2, 'REPORT')[0]?.message;
    expect(sent).toMatchObject({ type: 'REPORT', local: null, error: `client2 recorded ${MAX_RECORDED_MESSAGES + 1} messages on the channel from client3, above the limit of ${MAX_RECORDED_MESSAGES}` });
    expect(failure(c, 's')).toEqual({ missing: [2], error: `snapshot 1.1 failed: client2 recorded ${MAX_RECORDED_MESSAGES + 1} messages on the channel from client3, above the limit of ${MAX_RECORDED_MESSAGES}` });
  });

  it('a timeout says "not connected" of a client whose session with the initiator ended before its report came', () => {
    const c = new Cluster();
    c.connectAll();
    snapshotCmd(c, 1, 's');
    c.deliver(1, 3); // client 3 records on client 1's marker; it waits for client 2's
    c.deliver(3, 1); // the initiator's channel 3->1 is complete
    c.deliver(1, 2); // client 2 records
    c.deliver(2, 1); // the initiator's channel 2->1 is complete: its own part is done
    c.settle((f, t) => !(f === 2 && t === 3)); // client 2's REPORT arrives; client 3 still waits
    expect(c.sent(2, 'REPORT')).toHaveLength(1);
    c.disconnect(1, 3);
    c.settle(); // client 3 gets its last marker, but its REPORT has no session to go on
    c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT });
    expect(failure(c, 's')).toEqual({ missing: [3], error: 'snapshot 1.1 timed out after 4 s: no report from client3 (not connected)' });
  });
});

/** The counts of a recorded state's channel records, without their digests. */
const counts = (records: readonly ChannelRecord[]): { peer: NodeId; sent: number; received: number }[] => records.map(({ peer, sent, received }) => ({ peer, sent, received }));

describe('recorded states count and digest each channel\'s messages (ChannelRecord)', () => {
  it('protocol messages sent to and received from each peer in the current session, markers and reports excluded', () => {
    const c = new Cluster();
    c.connectAll();
    transferCmd(c, 1, 't', 2, 100);
    c.settle(); // 1 -> 2, 3: REQUEST, RELEASE; 2, 3 -> 1: REPLY
    snapshotCmd(c, 3, 's1');
    c.settle();
    const [snap] = c.completed(3);
    expect(snap).toBeDefined();
    expect(counts(stateOf(snap!, 1).channels)).toEqual([{ peer: 2, sent: 2, received: 1 }, { peer: 3, sent: 2, received: 1 }]);
    expect(counts(stateOf(snap!, 2).channels)).toEqual([{ peer: 1, sent: 1, received: 2 }, { peer: 3, sent: 0, received: 0 }]);
    expect(counts(stateOf(snap!, 3).channels)).toEqual([{ peer: 1, sent: 1, received: 2 }, { peer: 2, sent: 0, received: 0 }]);
    expect(snap!.verification.checks.find((ch) => ch.name === 'channels')).toMatchObject({ ok: true, detail: 'counts and digests agree on every channel (0 in flight)' });
  });

  it('each digest is the fold of the messages sent or received on that session, and the last timestamp received is recorded', () => {
    const c = new Cluster();
    c.connectAll();
    transferCmd(c, 1, 't', 2, 100);
    c.settle();
    const sentTo = (from: NodeId, to: NodeId): Message[] =>
      c.log.flatMap((l) => (l.node === from && l.effect.kind === 'send' && l.effect.to === to && isApplicationMessage(l.effect.message) ? [l.effect.message] : []));
    snapshotCmd(c, 3, 's1');
    c.settle();
    const [snap] = c.completed(3);
    for (const n of snap!.nodes) {
      for (const r of n.channels) {
        expect(r.sentDigest).toBe(foldDigest(EMPTY_DIGEST, sentTo(n.node, r.peer)));
        const received = sentTo(r.peer, n.node);
        expect(r.receivedDigest).toBe(foldDigest(EMPTY_DIGEST, received));
        expect(r.lastReceivedTs).toBe(received[received.length - 1]?.ts ?? 0);
      }
    }
    expect(stateOf(snap!, 2).channels[0]).toMatchObject({ peer: 1, lastReceivedTs: c.sent(1, 'RELEASE').filter((e) => e.to === 2)[0]!.message.ts });
  });

  it('the counters start again from zero in a new session (peerDown, peerUp), on both ends', () => {
    const c = new Cluster();
    c.connectAll();
    transferCmd(c, 1, 't', 2, 100);
    c.settle();
    c.disconnect(1, 2);
    c.reconnect(1, 2);
    c.settle();
    snapshotCmd(c, 3, 's');
    c.settle();
    const [snap] = c.completed(3);
    expect(counts(stateOf(snap!, 1).channels)).toEqual([{ peer: 2, sent: 0, received: 0 }, { peer: 3, sent: 2, received: 1 }]);
    expect(counts(stateOf(snap!, 2).channels)).toEqual([{ peer: 1, sent: 0, received: 0 }, { peer: 3, sent: 0, received: 0 }]);
    expect(stateOf(snap!, 1).channels[0]).toMatchObject({ sentDigest: EMPTY_DIGEST, receivedDigest: EMPTY_DIGEST, lastReceivedTs: 0 });
    expect(snap!.verification.ok).toBe(true);
  });

  it('a client that records while a peer is down records zero for that channel: the ended session\'s counts are gone', () => {
    const c = new Cluster();
    c.connectAll();
    transferCmd(c, 2, 't', 3, 100);
    c.settle(); // 2 -> 3: REQUEST, RELEASE; 3 -> 2: REPLY
    c.disconnect(2, 3);
    snapshotCmd(c, 1, 's');
    c.deliver(1, 2); // client 2 records with client 3 down; its marker to client 3 cannot be sent
    c.reconnect(2, 3);
    c.settle();
    const report = c.sent(2, 'REPORT')[0]?.message;
    if (report?.type !== 'REPORT' || report.local === null) throw new Error('expected client 2 to report');
    expect(counts(report.local.state.channels)).toEqual([{ peer: 1, sent: 2, received: 1 }, { peer: 3, sent: 0, received: 0 }]);
    // Client 3 never gets client 2's marker: the snapshot cannot complete, and the timeout says who.
    c.step(1, { kind: 'tick', now: SNAPSHOT_TIMEOUT });
    expect(c.result('s')).toMatchObject({ ok: false, missing: [3], error: 'snapshot 1.1 timed out after 4 s: no report from client3 (connected, but no report came)' });
  });

  it('counts the messages a session starts with: the re-sent REQUEST and the pushed BLOCKS', () => {
    const c = new Cluster();
    c.connectAll();
    commitLeavingReleaseInFlight(c, 3, 1, 250); // client 3 at #1, its RELEASEs in flight
    c.disconnect(2, 3); // client 2 never gets #1
    transferCmd(c, 2, 'u', 1, 5); // client 2 waits for client 3 to come back
    c.reconnect(2, 3); // 2 -> 3: REQUEST; 3 -> 2: BLOCKS [#1]
    expect(c.queue(2, 3).map((m) => m.type)).toEqual(['REQUEST']);
    expect(c.queue(3, 2).map((m) => m.type)).toEqual(['BLOCKS']);
    snapshotCmd(c, 3, 's'); // recorded before any of it arrived
    c.settle();
    const [snap] = c.completed(3);
    expect(stateOf(snap!, 3).channels.find((ch) => ch.peer === 2)).toMatchObject({ peer: 2, sent: 1, received: 0 });
    expect(channel(snap!, 3, 2).messages.map((m) => m.type)).toEqual(['BLOCKS']);
    expect(snap!.verification).toMatchObject({ ok: true, problems: [] });
    expect(c.result('u')).toMatchObject({ status: 'SUCCESS', block: 2 });
  });
});

describe('SnapshotRecorder', () => {
  const state: RecordedState = {
    node: 2, clock: 5, height: 0, head: genesis.hash, balances: { '1': 1000, '2': 1000, '3': 1000 }, pendingBlocks: [], queue: [],
    channels: [
      { peer: 1, sent: 0, received: 0, sentDigest: EMPTY_DIGEST, receivedDigest: EMPTY_DIGEST, lastReceivedTs: 0 },
      { peer: 3, sent: 0, received: 1, sentDigest: EMPTY_DIGEST, receivedDigest: '0123456789abcdef', lastReceivedTs: 4 },
    ],
  };
  const id = { initiator: 1, seq: 1 };
  const V = 12;

  it('records the first marker\'s channel empty and the others until their markers', () => {
    const r = new SnapshotRecorder(id, state, [1, 3], 1, 0);
    expect(r.done).toBe(false);
    r.onMessage(1, { type: 'REPLY', ts: 6, height: 0, view: V }); // channel 1->2 is closed: not recorded
    r.onMessage(3, { type: 'REQUEST', ts: 7, height: 0, view: V });
    r.onMessage(3, { type: 'MARKER', ts: 8, snapshot: { initiator: 3, seq: 4 } }); // another snapshot's marker: not application traffic
    r.onMessage(3, { type: 'FETCH', ts: 8, from: 1 });
    expect(r.recording()).toEqual([3]);
    r.onMarker(3);
    r.onMessage(3, { type: 'REPLY', ts: 9, height: 0, view: V }); // after the marker: not recorded
    expect(r.done).toBe(true);
    expect(r.recording()).toEqual([]);
    expect(r.local()).toEqual({ state, channels: [{ from: 1, messages: [] }, { from: 3, messages: [{ type: 'REQUEST', ts: 7, height: 0, view: V }, { type: 'FETCH', ts: 8, from: 1 }] }] });
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
    expect(isApplicationMessage({ type: 'REPORT', ts: 1, snapshot: id, local: null, error: 'x' })).toBe(false);
    expect(isApplicationMessage({ type: 'REQUEST', ts: 1, height: 0, view: V })).toBe(true);
    expect(isApplicationMessage({ type: 'REPLY', ts: 1, height: 0, view: V })).toBe(true);
    expect(isApplicationMessage({ type: 'RELEASE', ts: 1, height: 0, view: V, block: null })).toBe(true);
    expect(isApplicationMessage({ type: 'BLOCKS', ts: 1, blocks: [], last: true })).toBe(true);
    expect(isApplicationMessage({ type: 'FETCH', ts: 1, from: 1 })).toBe(true);
  });

  it('the assembler lists who has not reported and completes with every report', () => {
    const a = new SnapshotAssembler(id, [1, 2, 3], 0, 'cmd');
    expect(a.missing()).toEqual([1, 2, 3]);
    a.add(2, { state, channels: [] });
    expect(a.missing()).toEqual([1, 3]);
    expect(a.complete).toBe(false);
    a.add(1, { state: { ...state, node: 1 }, channels: [] });
    a.add(3, { state: { ...state, node: 3 }, channels: [] });
    expect(a.missing()).toEqual([]);
    expect(a.complete).toBe(true);
  });
});
