/**
 * Realistic traces for three clients, written by a small scripted execution that keeps Lamport's
 * rules (a send ticks the clock once per broadcast, a receive takes max(clock, ts) + 1), FIFO
 * channels, Lamport's mutual exclusion rounds and a Chandy-Lamport snapshot recorded with the
 * core's own recorder and assembler, so the saved snapshot is what a client would have saved.
 *
 * The script: client1 transfers; client2 and client3 request at once and client2 goes first;
 * client1 starts snapshot 1.1 while client2's RELEASEs are on their way to client1 and client3
 * (both cross the cut); client3 enters during the snapshot; then client3 crashes with client1's
 * REQUEST unreceived (lost), restarts (a new run), and client1's last RELEASE to it is still in
 * flight when the trace ends. Wall clocks are skewed per client, as on real machines.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snapshotRecord } from '../../src/daemon/snapshot-record.js';
import { describeMessage } from '../../src/core/describe.js';
import { EMPTY_DIGEST, foldDigest } from '../../src/core/digest.js';
import { applyBlock, balancesToRecord, genesisBalances, sealBlock } from '../../src/core/ledger.js';
import { SnapshotAssembler, SnapshotRecorder } from '../../src/core/snapshot.js';
import { TRACE_VERSION, type TraceEvent } from '../../src/core/trace-events.js';
import { type Block, type Message, type NodeId, type QueueEntry, type SnapshotId, isApplicationMessage } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

/** TraceEvent minus the fields every event has: what a step of the script emits. */
type EventBody = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'v' | 'node' | 'run' | 'i' | 'wall'> : never) : never;

interface Channel {
  readonly name: string;
  seq: number;
  readonly queue: { seq: number; message: Message }[];
}

interface ClientState {
  readonly id: NodeId;
  run: string;
  i: number;
  clock: number;
  up: boolean;
  head: Block;
  balances: Map<NodeId, number>;
  queue: QueueEntry[];
  recorders: Map<string, SnapshotRecorder>;
  /** Per snapshot, messages recorded so far on each incoming channel (for channelStop). */
  recorded: Map<string, Map<NodeId, number>>;
  reported: Set<string>;
  assembler: SnapshotAssembler | null;
  /** Protocol messages (markers and reports aside) sent to and received from each peer this session. */
  sent: Map<NodeId, Message[]>;
  received: Map<NodeId, Message[]>;
  /** The blocks applied, from #1 on: the chain a snapshot's verdict compares heads with. */
  chain: Block[];
}

export interface ChanSeq {
  readonly chan: string;
  readonly seq: number;
}

export interface TraceFixture {
  readonly root: string;
  /** The clients' data dirs, client1 first. */
  readonly dirs: readonly string[];
  readonly events: readonly TraceEvent[];
  readonly snapshotId: string;
  readonly snapshotFile: string;
  readonly expected: {
    readonly lost: readonly ChanSeq[];
    readonly inFlight: readonly ChanSeq[];
    /** Application messages sent or received: every one but the lost and in-flight ones is matched. */
    readonly messages: number;
    readonly restarts: number;
  };
  readonly cleanup: () => void;
}

const NODES: readonly NodeId[] = [1, 2, 3];
const WALL_START = Date.UTC(2026, 0, 5, 9, 0, 0);
/** Each machine's clock is off by this much: wall time must never decide causal order. */
const SKEW: Readonly<Record<NodeId, number>> = { 1: 0, 2: 450, 3: -380 };

const key = (s: SnapshotId): string => `${s.initiator}.${s.seq}`;

export class ScriptedCluster {
  readonly events: TraceEvent[] = [];
  private readonly clients = new Map<NodeId, ClientState>();
  private readonly channels = new Map<string, Channel>();
  private sessions = 0;
  private step = 0;
  readonly saved = new Map<string, unknown>();

  constructor() {
    const genesis = threeClientGenesis('trace-fixture');
    for (const id of NODES) {
      this.clients.set(id, { id, run: `r${id}a`, i: 0, clock: 0, up: false, head: genesis, balances: genesisBalances(genesis), queue: [], recorders: new Map(), recorded: new Map(), reported: new Set(), assembler: null, sent: new Map(), received: new Map(), chain: [] });
    }
  }

  private client(id: NodeId): ClientState {
    const c = this.clients.get(id);
    if (!c) throw new Error(`no client ${id}`);
    return c;
  }

  private emit(id: NodeId, body: EventBody): void {
    const c = this.client(id);
    this.step++;
    this.events.push({ v: TRACE_VERSION, node: id, run: c.run, i: c.i++, wall: WALL_START + this.step * 9 + (SKEW[id] ?? 0), ...body } as TraceEvent);
  }

  private channel(from: NodeId, to: NodeId): Channel {
    const ch = this.channels.get(`${from}>${to}`);
    if (!ch) throw new Error(`no channel ${from}>${to}`);
    return ch;
  }

  start(id: NodeId, run?: string): void {
    const c = this.client(id);
    if (run !== undefined) {
      c.run = run;
      c.i = 0;
    }
    c.up = true;
    c.queue = [];
    this.emit(id, { kind: 'start', nodes: [...NODES], clock: c.clock, height: c.head.height });
  }

  connect(a: NodeId, b: NodeId): void {
    this.sessions++;
    const ab = `${a}>${b}.${this.sessions}`;
    const ba = `${b}>${a}.${this.sessions}`;
    this.channels.set(`${a}>${b}`, { name: ab, seq: 0, queue: [] });
    this.channels.set(`${b}>${a}`, { name: ba, seq: 0, queue: [] });
    for (const [x, y] of [[a, b], [b, a]] as const) {
      this.client(x).sent.set(y, []);
      this.client(x).received.set(y, []);
    }
    this.emit(a, { kind: 'peerUp', peer: b, out: ab, in: ba });
    this.emit(b, { kind: 'peerUp', peer: a, out: ba, in: ab });
  }

  /** One send event per receiver, all with the one tick of the broadcast. */
  broadcast(from: NodeId, to: readonly NodeId[], make: (ts: number) => Message): Message {
    const c = this.client(from);
    c.clock++;
    const message = make(c.clock);
    for (const t of to) {
      const ch = this.channel(from, t);
      ch.seq++;
      ch.queue.push({ seq: ch.seq, message });
      if (isApplicationMessage(message)) c.sent.get(t)?.push(message);
      const snapshot = message.type === 'MARKER' || message.type === 'REPORT' ? { snapshot: key(message.snapshot) } : {};
      this.emit(from, { kind: 'send', to: t, chan: ch.name, seq: ch.seq, type: message.type, ts: message.ts, desc: describeMessage(message), clock: c.clock, ...snapshot });
    }
    return message;
  }

  send(from: NodeId, to: NodeId, make: (ts: number) => Message): Message {
    return this.broadcast(from, [to], make);
  }

  /** Delivers the oldest message on from -> to, and everything the receiver does in response to the protocol's snapshot traffic. */
  deliver(from: NodeId, to: NodeId): Message {
    const ch = this.channel(from, to);
    const head = ch.queue.shift();
    if (!head) throw new Error(`nothing on ${from}>${to}`);
    const c = this.client(to);
    const clockBefore = c.clock;
    c.clock = Math.max(c.clock, head.message.ts) + 1;
    const m = head.message;
    if (isApplicationMessage(m)) c.received.get(from)?.push(m);
    const snapshot = m.type === 'MARKER' || m.type === 'REPORT' ? { snapshot: key(m.snapshot) } : {};
    this.emit(to, { kind: 'receive', from, chan: ch.name, seq: head.seq, type: m.type, ts: m.ts, desc: describeMessage(m), clockBefore, clock: c.clock, ...snapshot });
    for (const [k, r] of c.recorders) {
      if (m.type !== 'MARKER' && m.type !== 'REPORT' && r.isRecording(from)) {
        const counts = c.recorded.get(k)!;
        counts.set(from, (counts.get(from) ?? 0) + 1);
      }
      r.onMessage(from, m);
    }
    switch (m.type) {
      case 'REQUEST':
        c.queue.push({ ts: m.ts, node: from });
        break;
      case 'RELEASE':
        c.queue = c.queue.filter((q) => q.node !== from);
        if (m.block) this.apply(to, m.block, from);
        break;
      case 'MARKER':
        this.onMarker(to, from, m.snapshot);
        break;
      case 'REPORT':
        if (m.local) c.assembler?.add(from, m.local);
        this.maybeSave(to);
        break;
      case 'REPLY':
      case 'BLOCKS':
        break;
    }
    return m;
  }

  private apply(id: NodeId, block: Block, from: NodeId | null): void {
    const c = this.client(id);
    applyBlock(c.balances, block);
    c.head = block;
    c.chain.push(block);
    this.emit(id, { kind: 'commit', height: block.height, hash: block.hash, creator: block.creator, txs: block.txs.length, from });
  }

  request(id: NodeId): number {
    const m = this.broadcast(id, this.peersUp(id), (ts) => ({ type: 'REQUEST', ts, height: this.client(id).head.height, view: 0 }));
    this.client(id).queue.push({ ts: m.ts, node: id });
    return m.ts;
  }

  reply(from: NodeId, to: NodeId): void {
    this.send(from, to, (ts) => ({ type: 'REPLY', ts, height: this.client(from).head.height, view: 0 }));
  }

  /** The critical section of a transfer: enter, commit one block, leave, RELEASE to every peer up. */
  transfer(id: NodeId, requestTs: number, to: NodeId, cents: number): Block {
    const c = this.client(id);
    this.emit(id, { kind: 'enter', ts: requestTs, height: c.head.height, transfers: 1 });
    const block = sealBlock({ height: c.head.height + 1, prevHash: c.head.hash, ts: requestTs, creator: id, txs: [{ id: `tx-${id}-${c.head.height + 1}`, from: id, to, amount: cents }] });
    this.apply(id, block, null);
    this.emit(id, { kind: 'leave', ts: requestTs, block: block.height });
    c.queue = c.queue.filter((q) => q.node !== id);
    this.broadcast(id, this.peersUp(id), (ts) => ({ type: 'RELEASE', ts, height: block.height, view: 0, block }));
    return block;
  }

  private peersUp(id: NodeId): NodeId[] {
    return NODES.filter((p) => p !== id && this.client(p).up && this.channels.has(`${id}>${p}`));
  }

  private recordState(id: NodeId, snapshot: SnapshotId, markerFrom: NodeId | null): void {
    const c = this.client(id);
    const channels = NODES.filter((p) => p !== id).map((peer) => {
      const sent = c.sent.get(peer) ?? [];
      const received = c.received.get(peer) ?? [];
      return {
        peer, sent: sent.length, received: received.length, sentDigest: foldDigest(EMPTY_DIGEST, sent), receivedDigest: foldDigest(EMPTY_DIGEST, received),
        lastReceivedTs: received[received.length - 1]?.ts ?? 0,
      };
    });
    const state = { node: id, clock: c.clock, height: c.head.height, head: c.head.hash, balances: balancesToRecord(c.balances), pendingBlocks: [], queue: [...c.queue], channels };
    c.recorders.set(key(snapshot), new SnapshotRecorder(snapshot, state, NODES.filter((p) => p !== id), markerFrom, 0));
    c.recorded.set(key(snapshot), new Map());
    this.emit(id, { kind: 'record', snapshot: key(snapshot), clock: c.clock, height: c.head.height });
    for (const p of NODES) if (p !== id && p !== markerFrom) this.emit(id, { kind: 'channelStart', snapshot: key(snapshot), from: p });
    this.broadcast(id, this.peersUp(id), (ts) => ({ type: 'MARKER', ts, snapshot }));
  }

  startSnapshot(id: NodeId, seq: number): SnapshotId {
    const snapshot = { initiator: id, seq };
    this.client(id).assembler = new SnapshotAssembler(snapshot, NODES, 0, 'fixture');
    this.recordState(id, snapshot, null);
    return snapshot;
  }

  private onMarker(id: NodeId, from: NodeId, snapshot: SnapshotId): void {
    const c = this.client(id);
    const r = c.recorders.get(key(snapshot));
    if (!r) {
      this.recordState(id, snapshot, from);
    } else if (r.isRecording(from)) {
      r.onMarker(from);
      this.emit(id, { kind: 'channelStop', snapshot: key(snapshot), from, messages: c.recorded.get(key(snapshot))?.get(from) ?? 0 });
    }
    this.maybeReport(id, snapshot);
  }

  private maybeReport(id: NodeId, snapshot: SnapshotId): void {
    const c = this.client(id);
    const r = c.recorders.get(key(snapshot));
    if (!r || !r.done) return;
    if (snapshot.initiator === id) {
      c.assembler?.add(id, r.local());
      this.maybeSave(id);
    } else if (!c.reported.has(key(snapshot))) {
      c.reported.add(key(snapshot));
      this.send(id, snapshot.initiator, (ts) => ({ type: 'REPORT', ts, snapshot, local: r.local() }));
    }
  }

  private maybeSave(id: NodeId): void {
    const a = this.client(id).assembler;
    if (!a || !a.complete) return;
    const total = [...genesisBalances(threeClientGenesis('trace-fixture')).values()].reduce((x, y) => x + y, 0);
    const c = this.client(id);
    const chain = { head: { height: c.head.height, hash: c.head.hash }, balances: c.balances, readBlocks: (from: number, to: number) => c.chain.slice(from - 1, to) };
    const record = snapshotRecord(a.assemble(total, chain), 12.5, new Date(WALL_START + this.step * 9));
    this.saved.set(record.id, record);
    this.client(id).assembler = null;
  }

  /** The process dies: its peers see the connection drop; whatever was on its channels is gone. */
  crash(id: NodeId): void {
    const c = this.client(id);
    c.up = false;
    c.recorders.clear();
    for (const p of NODES) {
      if (p === id) continue;
      this.channels.delete(`${id}>${p}`);
      this.channels.delete(`${p}>${id}`);
      if (this.client(p).up) {
        this.emit(p, { kind: 'peerDown', peer: id });
        this.client(p).queue = this.client(p).queue.filter((q) => q.node !== id);
      }
    }
  }

  /** Messages sent on from -> to and not delivered yet. */
  pending(from: NodeId, to: NodeId): ChanSeq[] {
    const ch = this.channels.get(`${from}>${to}`);
    return ch ? ch.queue.map((q) => ({ chan: ch.name, seq: q.seq })) : [];
  }
}

/** The script described at the top of this file. */
export function scriptedTrace(): { cluster: ScriptedCluster; lost: ChanSeq[]; inFlight: ChanSeq[] } {
  const s = new ScriptedCluster();
  for (const id of NODES) s.start(id);
  s.connect(1, 2);
  s.connect(1, 3);
  s.connect(2, 3);

  // client1 pays client2 $2.50.
  const t1 = s.request(1);
  s.deliver(1, 2);
  s.deliver(1, 3);
  s.reply(2, 1);
  s.reply(3, 1);
  s.deliver(2, 1);
  s.deliver(3, 1);
  s.transfer(1, t1, 2, 250);
  s.deliver(1, 2);
  s.deliver(1, 3);

  // client2 and client3 request at once; client2's request is earlier.
  const t2 = s.request(2);
  const t3 = s.request(3);
  s.deliver(2, 1);
  s.deliver(2, 3);
  s.deliver(3, 1);
  s.deliver(3, 2);
  s.reply(1, 2);
  s.reply(1, 3);
  s.reply(3, 2);
  s.reply(2, 3);
  s.deliver(1, 2);
  s.deliver(1, 3);
  s.deliver(3, 2); // REPLY from client3 (after its REQUEST on that channel)
  s.deliver(2, 3);
  if (t2 > t3) throw new Error('fixture script: client2 must request first');
  s.transfer(2, t2, 3, 100); // RELEASEs to client1 and client3 now on their way

  // Snapshot 1.1 while both RELEASEs are in flight.
  s.startSnapshot(1, 1);
  s.deliver(2, 1); // RELEASE from client2: recorded on channel 2 -> 1
  s.deliver(1, 3); // MARKER: client3 records (still at #1)
  s.deliver(2, 3); // RELEASE from client2: recorded on channel 2 -> 3
  s.transfer(3, t3, 1, 50); // client3's turn, after it recorded
  s.deliver(1, 2); // MARKER: client2 records
  s.deliver(3, 1); // MARKER from client3: channel 3 -> 1 empty
  s.deliver(3, 1); // RELEASE from client3
  s.deliver(2, 1); // MARKER from client2: channel 2 -> 1 done; client1 done
  s.deliver(3, 2); // MARKER from client3: client2 done, REPORT to client1
  s.deliver(3, 2); // RELEASE from client3
  s.deliver(2, 3); // MARKER from client2: client3 done, REPORT to client1
  s.deliver(2, 1); // REPORT from client2
  s.deliver(3, 1); // REPORT from client3: snapshot assembled and saved

  // client1 requests again; client3 crashes before its REQUEST arrives.
  s.request(1);
  const lost = s.pending(1, 3);
  s.deliver(1, 2);
  s.reply(2, 1);
  s.deliver(2, 1);
  s.crash(3);
  s.start(3, 'r3b');
  s.connect(1, 3);
  s.connect(2, 3);
  const t4 = s.request(1); // the retry, to both again
  s.deliver(1, 2);
  s.deliver(1, 3);
  s.reply(2, 1);
  s.reply(3, 1);
  s.deliver(2, 1);
  s.deliver(3, 1);
  s.transfer(1, t4, 3, 125);
  s.deliver(1, 2);
  const inFlight = s.pending(1, 3);
  return { cluster: s, lost, inFlight };
}

/** Writes the scripted trace to temporary data dirs; client1's trace is rotated once. */
export function writeTraceFixture(): TraceFixture {
  const { cluster, lost, inFlight } = scriptedTrace();
  const root = mkdtempSync(path.join(os.tmpdir(), 'll-trace-'));
  const dirs = NODES.map((id) => path.join(root, `client-${id}`));
  for (const [k, id] of NODES.entries()) {
    const dir = dirs[k]!;
    mkdirSync(dir, { recursive: true });
    const lines = cluster.events.filter((e) => e.node === id).map((e) => JSON.stringify(e));
    if (id === 1) {
      const cut = Math.floor(lines.length / 2);
      writeFileSync(path.join(dir, 'trace.jsonl.1'), `${lines.slice(0, cut).join('\n')}\n`);
      writeFileSync(path.join(dir, 'trace.jsonl'), `${lines.slice(cut).join('\n')}\n`);
    } else {
      writeFileSync(path.join(dir, 'trace.jsonl'), `${lines.join('\n')}\n`);
    }
  }
  const snapshotId = '1.1';
  const saved = cluster.saved.get(snapshotId);
  if (saved === undefined) throw new Error('fixture script: snapshot 1.1 was not assembled');
  mkdirSync(path.join(dirs[0]!, 'snapshots'), { recursive: true });
  const snapshotFile = path.join(dirs[0]!, 'snapshots', `${snapshotId}.json`);
  writeFileSync(snapshotFile, `${JSON.stringify(saved, null, 2)}\n`);
  const sends = cluster.events.filter((e) => e.kind === 'send').length;
  return {
    root,
    dirs,
    events: cluster.events,
    snapshotId,
    snapshotFile,
    expected: { lost, inFlight, messages: sends, restarts: 1 },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
