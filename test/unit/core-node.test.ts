import { describe, expect, it } from 'vitest';
import type { CommandResult, CoreEvent, Effect } from '../../src/core/api.js';
import { sealBlock } from '../../src/core/ledger.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import type { Block, Message, Tx } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

// ---- a 3-client cluster, everyone starting with $10.00 ----

const genesis = threeClientGenesis('unit');
const N = 3;
const TIMEOUT = 5_000;

const config = (id: number, over: Partial<NodeConfig> = {}): NodeConfig => ({
  id,
  nodes: [1, 2, 3],
  genesis,
  transferTimeoutMs: TIMEOUT,
  snapshotTimeoutMs: TIMEOUT,
  ...over,
});

/** Client `id` with every peer connected, each announcing `height` in its handshake (default: its own). */
function connected(id = 1, over: Partial<NodeConfig> = {}, height?: number): Node {
  const n = new Node(config(id, over));
  for (const p of n.peers) n.step({ kind: 'peerUp', peer: p, height: height ?? n.chainHead().height });
  return n;
}

/** Exposes the handshake heights the node holds, for the one rule step() cannot show. */
class ClaimsVisible extends Node {
  claimed(): Record<number, number> {
    return Object.fromEntries(this.claims);
  }
}

/** A peer (re)connecting whose handshake announced `height`. */
const up = (n: Node, peer: number, height = 0): Effect[] => n.step({ kind: 'peerUp', peer, height });

const transfer = (n: Node, commandId: string, to: number, amount: number): Effect[] =>
  n.step({ kind: 'command', id: commandId, command: { type: 'transfer', to, amount } });
const receive = (n: Node, from: number, message: Message): Effect[] => n.step({ kind: 'receive', from, message });

type SendEffect = Extract<Effect, { kind: 'send' }>;
type ReplyEffect = Extract<Effect, { kind: 'reply' }>;
const sends = (es: Effect[]): SendEffect[] => es.filter((e): e is SendEffect => e.kind === 'send');
const sendsOf = (es: Effect[], type: Message['type']): SendEffect[] => sends(es).filter((e) => e.message.type === type);
const persists = (es: Effect[]): Block[] => es.flatMap((e) => (e.kind === 'persist' ? [e.block] : []));
const replies = (es: Effect[]): ReplyEffect[] => es.filter((e): e is ReplyEffect => e.kind === 'reply');
const resultOf = (es: Effect[], commandId: string): CommandResult | undefined => replies(es).find((r) => r.commandId === commandId)?.result;
const events = (es: Effect[], type: CoreEvent['type']): CoreEvent[] => es.flatMap((e) => (e.kind === 'log' && e.event.type === type ? [e.event] : []));
type ServeEffect = Extract<Effect, { kind: 'serveBlocks' }>;
const serves = (es: Effect[]): ServeEffect[] => es.filter((e): e is ServeEffect => e.kind === 'serveBlocks');

/** The REQUEST timestamp the node broadcast in `es`. */
function requestTs(es: Effect[]): number {
  const r = sendsOf(es, 'REQUEST');
  expect(r.map((s) => s.to).sort()).toEqual([2, 3]);
  const ts = r[0]!.message.ts;
  for (const s of r) expect(s.message.ts).toBe(ts);
  return ts;
}

/** Client 1 requests, then both peers reply with later timestamps; returns the effects of the last reply. */
function runRound(n: Node, ts: number): Effect[] {
  receive(n, 2, { type: 'REPLY', ts: ts + 1 });
  return receive(n, 3, { type: 'REPLY', ts: ts + 1 });
}

const blockOf = (height: number, prevHash: string, creator: number, txs: Tx[], ts = 20): Block => sealBlock({ height, prevHash, ts, creator, txs });

// A three-block chain made by clients 2 and 3, for replicas that are behind or ahead.
const b1 = blockOf(1, genesis.hash, 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
const b2 = blockOf(2, b1.hash, 3, [{ id: 'y', from: 3, to: 1, amount: 200 }]);
const b3 = blockOf(3, b2.hash, 2, [{ id: 'z', from: 2, to: 3, amount: 50 }]);

/** Client 1 restarted from storage at #3 (b1..b3 applied), clock 30, no peer up yet. */
const restoredAt3 = (): Node =>
  new Node(config(1, { restored: { head: { height: 3, hash: b3.hash }, balances: new Map([[1, 1300], [2, 850], [3, 850]]), clock: 30 } }));

describe('Node: waiting for peers', () => {
  it('a transfer issued before every peer is up sends nothing and logs waitingForPeers naming the missing peers', () => {
    const n = new Node(config(1));
    up(n, 2);
    const es = transfer(n, 'c1', 2, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', commandId: 'c1', peers: [3] }]);
    expect(n.status().requesting).toBeNull();
    expect(n.status().pendingTransfers).toBe(1);
  });

  it('names every missing peer when none is up', () => {
    const n = new Node(config(2));
    const es = transfer(n, 'c1', 1, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', commandId: 'c1', peers: [1, 3] }]);
  });

  it('announces the wait once per transfer, not on every later step', () => {
    const n = new Node(config(1));
    transfer(n, 'c1', 2, 100);
    const again = up(n, 2);
    expect(events(again, 'waitingForPeers')).toEqual([]);
    expect(sendsOf(again, 'REQUEST')).toEqual([]);
  });

  it('requests the lock from every peer, with one timestamp, once the last peer comes up', () => {
    const n = new Node(config(1));
    up(n, 2);
    transfer(n, 'c1', 2, 100);
    const es = up(n, 3);
    const ts = requestTs(es);
    expect(n.status().requesting).toEqual({ ts, node: 1 });
    expect(n.status().queue).toEqual([{ ts, node: 1 }]);
  });

  it('never requests from a subset: a peer that went down makes a new transfer wait for it', () => {
    const n = connected(1);
    n.step({ kind: 'peerDown', peer: 3 });
    const es = transfer(n, 'c1', 2, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', commandId: 'c1', peers: [3] }]);
  });

  it('a peer that comes up at an equal height is sent nothing: the heights were exchanged in the handshake', () => {
    const n = new Node(config(1));
    const es = up(n, 2, 0);
    expect(es).toEqual([]);
    expect(n.lamportTime()).toBe(0);
    expect(n.status().peersUp).toEqual([2]);
  });

  it('ignores a repeated peerUp for a peer already up', () => {
    const n = connected(1);
    expect(up(n, 2)).toEqual([]);
  });
});

describe('Node: Lamport clock', () => {
  it('moves to max(local, remote)+1 on receive', () => {
    const n = connected(1); // clock 0: coming up at equal heights sends nothing
    expect(n.lamportTime()).toBe(0);
    receive(n, 2, { type: 'REPLY', ts: 40 });
    expect(n.lamportTime()).toBe(41);
    receive(n, 3, { type: 'REPLY', ts: 5 });
    expect(n.lamportTime()).toBe(42);
  });

  it('a broadcast in one step is one send event: every peer\'s REQUEST has the same ts, one tick later', () => {
    const n = connected(1);
    const before = n.lamportTime();
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    expect(ts).toBe(before + 1);
    expect(n.lamportTime()).toBe(ts);
  });
});

describe('Node: mutual exclusion', () => {
  it('answers a REQUEST with a REPLY stamped after the request', () => {
    const n = connected(1);
    const es = receive(n, 2, { type: 'REQUEST', ts: 10 });
    expect(sends(es)).toEqual([{ kind: 'send', to: 2, message: { type: 'REPLY', ts: 12 } }]);
    expect(n.status().queue).toEqual([{ ts: 10, node: 2 }]);
  });

  it('does not enter after REPLYs from only some of its peers', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = receive(n, 2, { type: 'REPLY', ts: ts + 1 });
    expect(sends(es)).toEqual([]);
    expect(persists(es)).toEqual([]);
    expect(replies(es)).toEqual([]);
  });

  it('does not enter on messages timestamped no later than its request', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    receive(n, 2, { type: 'REPLY', ts: ts + 1 });
    const es = receive(n, 3, { type: 'BLOCKS', ts: ts, blocks: [] });
    expect(sendsOf(es, 'RELEASE')).toEqual([]);
  });

  it('counts any later-timestamped message toward entering, not only REPLYs', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    receive(n, 2, { type: 'REPLY', ts: ts + 1 });
    const es = receive(n, 3, { type: 'BLOCKS', ts: ts + 1, blocks: [] });
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
  });

  it('enters after REPLYs from all peers and persists exactly one block before any RELEASE is sent', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = runRound(n, ts);
    const kinds = es.filter((e) => e.kind === 'persist' || e.kind === 'send').map((e) => (e.kind === 'send' ? `send ${e.message.type}` : e.kind));
    expect(kinds).toEqual(['persist', 'send RELEASE', 'send RELEASE']);
    const persistAt = es.findIndex((e) => e.kind === 'persist');
    const firstRelease = es.findIndex((e) => e.kind === 'send' && e.message.type === 'RELEASE');
    expect(persistAt).toBeLessThan(firstRelease);
  });

  it('RELEASE carries the committed block to every peer and the reply is SUCCESS with msgs = 3(N-1)', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = runRound(n, ts);
    const [block] = persists(es);
    expect(block).toBeDefined();
    expect(block).toMatchObject({ height: 1, prevHash: genesis.hash, creator: 1, txs: [{ id: 'c1', from: 1, to: 2, amount: 450 }] });
    expect(block!.ts).toBeGreaterThan(ts + 1);
    const releases = sendsOf(es, 'RELEASE');
    expect(releases.map((r) => r.to).sort()).toEqual([2, 3]);
    for (const r of releases) expect(r.message).toEqual({ type: 'RELEASE', ts: block!.ts, block });
    expect(resultOf(es, 'c1')).toEqual({
      type: 'transfer', ok: true, status: 'SUCCESS', txId: 'c1', block: 1, from: 1, to: 2, amount: 450, clock: block!.ts, msgs: 3 * (N - 1), batch: 1,
    });
    expect(n.chainHead()).toEqual({ height: 1, hash: block!.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 550, 2: 1450, 3: 1000 });
    expect(n.status().requesting).toBeNull();
    expect(n.status().queue).toEqual([]);
  });

  it('does not enter while an earlier request from another client heads its queue, and enters after that client\'s RELEASE', () => {
    const n = connected(1);
    receive(n, 2, { type: 'REQUEST', ts: 3 }); // clock 5 after the REPLY
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    expect(ts).toBeGreaterThan(3);
    expect(sendsOf(runRound(n, ts), 'RELEASE')).toEqual([]);
    const es = receive(n, 2, { type: 'RELEASE', ts: ts + 2, block: null });
    expect(persists(es)).toHaveLength(1);
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });

  it('insufficient balance: FAILED with the balance, nothing persisted, but RELEASE with no block is still sent', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 1001));
    const es = runRound(n, ts);
    expect(persists(es)).toEqual([]);
    expect(resultOf(es, 'c1')).toEqual({
      type: 'transfer', ok: false, status: 'FAILED', reason: 'insufficient', error: 'insufficient balance: client1 has $10.00, needs $10.01', from: 1, to: 2, amount: 1001, balance: 1000,
    });
    const releases = sendsOf(es, 'RELEASE');
    expect(releases.map((r) => r.to).sort()).toEqual([2, 3]);
    for (const r of releases) expect(r.message).toMatchObject({ type: 'RELEASE', block: null });
    expect(n.chainHead()).toEqual({ height: 0, hash: genesis.hash });
    expect(n.status().requesting).toBeNull();
  });

  it('batches transfers queued before entering into ONE block, in order, failing one in the middle while the others succeed', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'a', 2, 300));
    // Queued while the first waits for the lock: no second request.
    expect(sendsOf(transfer(n, 'b', 3, 800), 'REQUEST')).toEqual([]);
    expect(sendsOf(transfer(n, 'c', 3, 700), 'REQUEST')).toEqual([]);
    expect(n.status().pendingTransfers).toBe(3);
    const es = runRound(n, ts);
    const blocks = persists(es);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.txs).toEqual([
      { id: 'a', from: 1, to: 2, amount: 300 },
      { id: 'c', from: 1, to: 3, amount: 700 },
    ]);
    expect(resultOf(es, 'a')).toMatchObject({ status: 'SUCCESS', block: 1, batch: 2, msgs: 6 });
    expect(resultOf(es, 'c')).toMatchObject({ status: 'SUCCESS', block: 1, batch: 2, msgs: 6 });
    // 'b' is checked against what 'a' left: $7.00.
    expect(resultOf(es, 'b')).toMatchObject({ status: 'FAILED', reason: 'insufficient', balance: 700, error: 'insufficient balance: client1 has $7.00, needs $8.00' });
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
    expect(sendsOf(es, 'REQUEST')).toEqual([]);
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 0, 2: 1300, 3: 1700 });
    expect(n.status().pendingTransfers).toBe(0);
  });

  it('puts no more than maxBatch transfers in a block and requests again for the rest', () => {
    const n = connected(1, { maxBatch: 2 });
    const ts = requestTs(transfer(n, 'a', 2, 1));
    transfer(n, 'b', 2, 1);
    transfer(n, 'c', 2, 1);
    const es = runRound(n, ts);
    expect(persists(es)[0]!.txs.map((t) => t.id)).toEqual(['a', 'b']);
    const again = requestTs(es);
    expect(again).toBeGreaterThan(persists(es)[0]!.ts);
    expect(n.status().pendingTransfers).toBe(1);
  });

  it.each([
    ['to itself', 1, 100, /itself/],
    ['to an unknown client', 9, 100, /unknown recipient client9/],
    ['of zero', 2, 0, /positive/],
    ['of a negative amount', 2, -5, /positive/],
    ['of a fractional amount', 2, 1.5, /positive/],
  ])('refuses a transfer %s immediately, with nothing sent or queued', (_what, to, amount, error) => {
    const n = connected(1);
    const es = transfer(n, 'bad', to, amount);
    expect(sends(es)).toEqual([]);
    expect(persists(es)).toEqual([]);
    const r = resultOf(es, 'bad');
    expect(r).toMatchObject({ type: 'transfer', ok: false, status: 'FAILED', reason: 'invalid' });
    if (r && r.type === 'transfer' && !r.ok) expect(r.error).toMatch(error);
    expect(n.status().pendingTransfers).toBe(0);
    expect(n.status().requesting).toBeNull();
  });

  it('a transfer times out (tick past transferTimeoutMs) while a peer is down: FAILED, reason timeout, naming the peer', () => {
    const n = new Node(config(1));
    n.step({ kind: 'tick', now: 1_000 });
    up(n, 2);
    transfer(n, 'c1', 2, 100);
    expect(replies(n.step({ kind: 'tick', now: 1_000 + TIMEOUT - 1 }))).toEqual([]);
    const es = n.step({ kind: 'tick', now: 1_000 + TIMEOUT });
    expect(sends(es)).toEqual([]);
    const r = resultOf(es, 'c1');
    expect(r).toMatchObject({ type: 'transfer', ok: false, status: 'FAILED', reason: 'timeout', from: 1, to: 2, amount: 100 });
    if (r && r.type === 'transfer' && !r.ok) {
      expect(r.error).toContain('client3');
      expect(r.error).not.toContain('client2');
    }
    expect(n.status().pendingTransfers).toBe(0);
    // Nothing left to request for when the peer finally comes up.
    expect(sendsOf(up(n, 3), 'REQUEST')).toEqual([]);
  });

  it('a transfer that times out waiting for the lock withdraws its request with a RELEASE and no block', () => {
    const n = connected(1);
    receive(n, 2, { type: 'REQUEST', ts: 1 }); // client2 holds the lock and never releases
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    runRound(n, ts);
    const es = n.step({ kind: 'tick', now: TIMEOUT });
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'FAILED', reason: 'timeout' });
    const releases = sendsOf(es, 'RELEASE');
    expect(releases.map((r) => r.to).sort()).toEqual([2, 3]);
    for (const r of releases) expect(r.message).toMatchObject({ block: null });
    expect(events(es, 'withdrawn')).toHaveLength(1);
    expect(n.status().requesting).toBeNull();
    expect(n.status().queue).toEqual([{ ts: 1, node: 2 }]);
    // The withdrawn request never enters, even once client2 releases.
    const later = receive(n, 2, { type: 'RELEASE', ts: 50, block: null });
    expect(persists(later)).toEqual([]);
    expect(sends(later)).toEqual([]);
  });

  it('on peerUp re-sends its outstanding REQUEST, and only that, to a peer at an equal height', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 0);
    expect(es).toEqual([{ kind: 'send', to: 3, message: { type: 'REQUEST', ts } }]);
  });

  it('after a peer drops, a REPLY it sent before the drop no longer counts toward entering', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    receive(n, 3, { type: 'REPLY', ts: ts + 1 });
    n.step({ kind: 'peerDown', peer: 3 });
    up(n, 3);
    expect(sendsOf(receive(n, 2, { type: 'REPLY', ts: ts + 1 }), 'RELEASE')).toEqual([]);
    const es = receive(n, 3, { type: 'REPLY', ts: ts + 5 });
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
  });
});

describe('Node: ledger replication', () => {
  it('applies and persists a block carried by a peer\'s RELEASE', () => {
    const n = connected(1);
    const es = receive(n, 2, { type: 'RELEASE', ts: 9, block: b1 });
    expect(persists(es)).toEqual([b1]);
    expect(n.chainHead()).toEqual({ height: 1, hash: b1.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1100, 2: 900, 3: 1000 });
  });

  it('buffers blocks received out of height order and applies them in order (persist effects in height order)', () => {
    const n = connected(1);
    const first = receive(n, 3, { type: 'RELEASE', ts: 9, block: b2 });
    expect(persists(first)).toEqual([]);
    expect(n.status().pendingBlocks).toBe(1);
    expect(n.chainHead().height).toBe(0);
    const second = receive(n, 2, { type: 'RELEASE', ts: 8, block: b1 });
    expect(persists(second).map((b) => b.height)).toEqual([1, 2]);
    expect(n.status().pendingBlocks).toBe(0);
    expect(n.chainHead()).toEqual({ height: 2, hash: b2.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1300, 2: 900, 3: 800 });
  });

  it('fills a gap of several heights from a BLOCKS message in any order', () => {
    const n = connected(1);
    receive(n, 2, { type: 'RELEASE', ts: 9, block: b3 });
    const es = receive(n, 3, { type: 'BLOCKS', ts: 10, blocks: [b2, b1] });
    expect(persists(es).map((b) => b.height)).toEqual([1, 2, 3]);
  });

  it('ignores a block it already has, without persisting it twice', () => {
    const n = connected(1);
    receive(n, 2, { type: 'RELEASE', ts: 9, block: b1 });
    const es = receive(n, 3, { type: 'BLOCKS', ts: 10, blocks: [b1] });
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toEqual([]);
  });

  it('rejects a block that does not chain (blockRejected) and does not persist it', () => {
    const n = connected(1);
    const stray = blockOf(1, 'c'.repeat(64), 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
    const es = receive(n, 2, { type: 'RELEASE', ts: 9, block: stray });
    expect(persists(es)).toEqual([]);
    const rejected = es.filter((e) => e.kind === 'log' && e.event.type === 'blockRejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: 'error', event: { from: 2, height: 1 } });
    expect(n.chainHead()).toEqual({ height: 0, hash: genesis.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1000, 2: 1000, 3: 1000 });
  });

  it('a rejected block is not taken as proof that its height exists: the node still enters and commits on its own head', () => {
    // A block that failed validation was discarded; it must not leave the node "behind" a height
    // nobody can serve, holding the head of every queue until its transfers time out.
    const n = connected(1);
    const stray = blockOf(1, 'c'.repeat(64), 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
    expect(events(receive(n, 2, { type: 'RELEASE', ts: 9, block: stray }), 'blockRejected')).toHaveLength(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    const es = runRound(n, ts);
    expect(persists(es)).toHaveLength(1);
    expect(persists(es)[0]).toMatchObject({ height: 1, prevHash: genesis.hash });
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });

  it('rejects a tampered block (its hash no longer matches) and does not persist it', () => {
    const n = connected(1);
    const tampered: Block = { ...b1, txs: [{ id: 'x', from: 2, to: 1, amount: 999 }] };
    const es = receive(n, 2, { type: 'RELEASE', ts: 9, block: tampered });
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
  });

  it('rejects a block that overdraws its creator', () => {
    const n = connected(1);
    const greedy = blockOf(1, genesis.hash, 2, [{ id: 'x', from: 2, to: 1, amount: 1001 }]);
    const es = receive(n, 2, { type: 'RELEASE', ts: 9, block: greedy });
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
  });

  it('rejects a second, different block for its head height', () => {
    const n = connected(1);
    receive(n, 2, { type: 'RELEASE', ts: 9, block: b1 });
    const rival = blockOf(1, genesis.hash, 3, [{ id: 'r', from: 3, to: 1, amount: 1 }]);
    const es = receive(n, 3, { type: 'RELEASE', ts: 10, block: rival });
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
    expect(n.chainHead().hash).toBe(b1.hash);
  });

  it('builds its own block on the blocks it has received', () => {
    const n = connected(1);
    receive(n, 2, { type: 'RELEASE', ts: 9, block: b1 });
    const ts = requestTs(transfer(n, 'c1', 2, 50));
    const [mine] = persists(runRound(n, ts));
    expect(mine).toMatchObject({ height: 2, prevHash: b1.hash });
  });

  it('a peer that comes up with a lower height is served exactly the heights it lacks, in one serveBlocks stamped by a tick', () => {
    const n = restoredAt3();
    const es = up(n, 2, 1);
    expect(es).toEqual([{ kind: 'serveBlocks', to: 2, fromHeight: 2, toHeight: 3, ts: 31 }]);
    expect(n.lamportTime()).toBe(31);
    expect(serves(up(n, 3, 0))).toEqual([{ kind: 'serveBlocks', to: 3, fromHeight: 1, toHeight: 3, ts: 32 }]);
  });

  it('a peer that comes up at the same or a greater height is served nothing', () => {
    const n = new Node(config(1));
    expect(serves(up(n, 2, 0))).toEqual([]);
    expect(serves(up(n, 3, 7))).toEqual([]);
  });

  it('a node that knows (from a handshake height) that a higher height exists does not enter until it has those blocks', () => {
    const n = new Node(config(1));
    const first = up(n, 2, 1);
    expect(events(first, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 2, from: 1, to: 1 }]);
    expect(sends(first)).toEqual([]);
    up(n, 3, 0);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    const round = runRound(n, ts);
    expect(sendsOf(round, 'RELEASE')).toEqual([]);
    expect(persists(round)).toEqual([]);
    expect(receive(n, 3, { type: 'REPLY', ts: ts + 7 })).not.toContainEqual(expect.objectContaining({ kind: 'persist' }));
    const es = receive(n, 2, { type: 'BLOCKS', ts: ts + 8, blocks: [b1] });
    const ps = persists(es);
    expect(ps.map((b) => b.height)).toEqual([1, 2]);
    expect(ps[1]).toMatchObject({ prevHash: b1.hash, creator: 1 });
    const lastPersist = es.map((e) => e.kind).lastIndexOf('persist');
    const firstRelease = es.findIndex((e) => e.kind === 'send' && e.message.type === 'RELEASE');
    expect(lastPersist).toBeLessThan(firstRelease);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 2 });
  });
});

describe('Node: catching up on reconnection (heights from the handshake)', () => {
  it('a peer that reconnects lower while a request is outstanding gets the re-sent REQUEST first, then serveBlocks for exactly the heights it lacks', () => {
    const n = restoredAt3();
    for (const p of n.peers) up(n, p, 3);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 1);
    expect(es).toEqual([
      { kind: 'send', to: 3, message: { type: 'REQUEST', ts } },
      { kind: 'serveBlocks', to: 3, fromHeight: 2, toHeight: 3, ts: ts + 1 },
    ]);
    // A peer below this client's head does not hold it back: it enters on its own head, #3.
    receive(n, 2, { type: 'REPLY', ts: ts + 2 });
    const done = receive(n, 3, { type: 'REPLY', ts: ts + 3 });
    expect(persists(done)).toHaveLength(1);
    expect(persists(done)[0]).toMatchObject({ height: 4, prevHash: b3.hash });
    // The re-sent REQUEST is part of the round's cost: 3 REQUESTs, 3 REPLYs, 2 RELEASEs.
    expect(resultOf(done, 'c1')).toMatchObject({ status: 'SUCCESS', block: 4, msgs: 8 });
  });

  it('a peer that reconnects higher blocks entering until its BLOCKS bring this client up to that height, then the node enters on top of them', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    n.step({ kind: 'peerDown', peer: 2 });
    const back = up(n, 2, 2);
    expect(sends(back)).toEqual([{ kind: 'send', to: 2, message: { type: 'REQUEST', ts } }]);
    expect(serves(back)).toEqual([]);
    expect(events(back, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 2, from: 1, to: 2 }]);
    // Every peer has answered and the request heads the queue, but the chain is known to be behind.
    const round = runRound(n, ts);
    expect(persists(round)).toEqual([]);
    expect(sendsOf(round, 'RELEASE')).toEqual([]);
    // One block of the two: still behind the claimed #2.
    const partial = receive(n, 2, { type: 'BLOCKS', ts: ts + 2, blocks: [b1] });
    expect(persists(partial)).toEqual([b1]);
    expect(sendsOf(partial, 'RELEASE')).toEqual([]);
    const es = receive(n, 2, { type: 'BLOCKS', ts: ts + 3, blocks: [b2] });
    expect(persists(es).map((b) => b.height)).toEqual([2, 3]);
    expect(events(es, 'entered')).toEqual([expect.objectContaining({ type: 'entered', height: 2, transfers: 1 })]);
    expect(persists(es)[1]).toMatchObject({ prevHash: b2.hash, creator: 1, txs: [{ id: 'c1', from: 1, to: 3, amount: 100 }] });
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 3 });
  });

  it('peerDown drops the peer\'s claimed height: once the peer is back at an equal height the node enters', () => {
    const n = new ClaimsVisible(config(1));
    for (const p of n.peers) up(n, p, 0);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    n.step({ kind: 'peerDown', peer: 2 });
    up(n, 2, 1); // claims #1, which this client lacks
    expect(persists(runRound(n, ts))).toEqual([]);
    expect(n.claimed()).toEqual({ 2: 1, 3: 0 });
    n.step({ kind: 'peerDown', peer: 2 });
    // Through step() alone this is invisible (a down peer keeps the node out anyway, and the next
    // peerUp overwrites the claim), so it is checked directly: a claim lives as long as its connection.
    expect(n.claimed()).toEqual({ 3: 0 });
    // Back at #0 (say it lost the block it claimed): the old claim must not hold this client back.
    const back = up(n, 2, 0);
    expect(sends(back)).toEqual([{ kind: 'send', to: 2, message: { type: 'REQUEST', ts } }]);
    expect(events(back, 'catchingUp')).toEqual([]);
    const es = receive(n, 2, { type: 'REPLY', ts: ts + 5 });
    expect(persists(es)).toHaveLength(1);
    expect(persists(es)[0]).toMatchObject({ height: 1, prevHash: genesis.hash });
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 1 });
  });

  it('out-of-order blocks still buffered keep the node out even when every claim is met', () => {
    const n = connected(1);
    receive(n, 2, { type: 'RELEASE', ts: 9, block: b2 }); // #2 without #1
    expect(n.status().pendingBlocks).toBe(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    expect(persists(runRound(n, ts))).toEqual([]);
    const es = receive(n, 3, { type: 'BLOCKS', ts: ts + 2, blocks: [b1] });
    expect(persists(es).map((b) => b.height)).toEqual([1, 2, 3]);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 3 });
  });
});

describe('Node: construction', () => {
  it('refuses a configuration that does not include itself', () => {
    expect(() => new Node(config(4))).toThrow(/client4/);
  });

  it('starts at genesis with the genesis balances, or at the restored head', () => {
    const n = new Node(config(2));
    expect(n.chainHead()).toEqual({ height: 0, hash: genesis.hash });
    expect(n.total).toBe(3000);
    expect(n.peers).toEqual([1, 3]);
    const r = new Node(config(2, { restored: { head: { height: 5, hash: 'd'.repeat(64) }, balances: new Map([[1, 1], [2, 2], [3, 2997]]), clock: 77 } }));
    expect(r.chainHead()).toEqual({ height: 5, hash: 'd'.repeat(64) });
    expect(r.lamportTime()).toBe(77);
    expect(r.total).toBe(3000);
  });
});
