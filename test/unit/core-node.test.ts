/**
 * One Node driven through step() alone: inputs in, effects out, plus the reads it offers (status,
 * lockWait, membershipView). Lamport's mutex rules are quoted from the top of src/core/mutex.ts:
 *  1. To request, a process puts (ts, id) in its own queue and sends REQUEST(ts) to every other.
 *  2. On REQUEST it puts the entry in its queue and sends a timestamped REPLY.
 *  3. To release it removes its entry and sends RELEASE to every other.
 *  4. On RELEASE it removes the sender's entry.
 *  5. It enters when its own entry heads its queue (ordered by ts, ties by lower id) and it has
 *     received a message timestamped later than its request from every other process
 *     (and, since crashes, that process's last lock message was sent in the same membership view).
 */
import { describe, expect, it } from 'vitest';
import type { CommandResult, CoreEvent, Effect, LockWait } from '../../src/core/api.js';
import { sealBlock } from '../../src/core/ledger.js';
import { Node, type NodeConfig, describeLockWait } from '../../src/core/node.js';
import type { Block, Message, Tx } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

// ---- a 3-client cluster, everyone starting with $10.00 ----

const genesis = threeClientGenesis('unit');
const N = 3;
const TIMEOUT = 5_000;

/** A chain reader over an in-memory list of blocks (heights 1..). */
const chainOf = (blocks: readonly Block[]): NodeConfig['chain'] => ({
  readBlocks: (from, to) => blocks.filter((b) => b.height >= from && b.height <= to),
});

const config = (id: number, over: Partial<NodeConfig> = {}): NodeConfig => ({
  id,
  nodes: [1, 2, 3],
  genesis,
  transferTimeoutMs: TIMEOUT,
  snapshotTimeoutMs: TIMEOUT,
  chain: chainOf([]),
  ...over,
});

/** A peer (re)connecting whose handshake announced `height`, in its process run `incarnation`. */
const up = (n: Node, peer: number, height = 0, incarnation = 0): Effect[] => n.step({ kind: 'peerUp', peer, height, incarnation });

/** Client `id` with every peer connected, each announcing `height` in its handshake (default: 0). */
function connected(id = 1, over: Partial<NodeConfig> = {}, height = 0): Node {
  const n = new Node(config(id, over));
  for (const p of n.peers) up(n, p, height);
  return n;
}

// Lock messages from a peer that sees the same membership as the node under test carry its view.
const reply = (n: Node, ts: number, height = 0): Message => ({ type: 'REPLY', ts, height, view: n.membershipView() });
const request = (n: Node, ts: number, height = 0): Message => ({ type: 'REQUEST', ts, height, view: n.membershipView() });
const release = (n: Node, ts: number, block: Block | null, height = block?.height ?? 0): Message => ({ type: 'RELEASE', ts, height, view: n.membershipView(), block });
const blocksMsg = (ts: number, blocks: Block[], last = true): Message => ({ type: 'BLOCKS', ts, blocks, last });

const transfer = (n: Node, commandId: string, to: number, amount: number): Effect[] =>
  n.step({ kind: 'command', id: commandId, command: { type: 'transfer', to, amount, key: commandId } });
const receive = (n: Node, from: number, message: Message): Effect[] => n.step({ kind: 'receive', from, message });

type SendEffect = Extract<Effect, { kind: 'send' }>;
type ReplyEffect = Extract<Effect, { kind: 'reply' }>;
const sends = (es: Effect[]): SendEffect[] => es.filter((e): e is SendEffect => e.kind === 'send');
const sendsOf = (es: Effect[], type: Message['type']): SendEffect[] => sends(es).filter((e) => e.message.type === type);
const persists = (es: Effect[]): Block[] => es.flatMap((e) => (e.kind === 'persist' ? [e.block] : []));
const replies = (es: Effect[]): ReplyEffect[] => es.filter((e): e is ReplyEffect => e.kind === 'reply');
const resultOf = (es: Effect[], commandId: string): CommandResult | undefined => replies(es).find((r) => r.commandId === commandId)?.result;
const events = (es: Effect[], type: CoreEvent['type']): CoreEvent[] => es.flatMap((e) => (e.kind === 'log' && e.event.type === type ? [e.event] : []));
const errorOf = (r: CommandResult | undefined): string => (r && r.type === 'transfer' && r.status === 'FAILED' ? r.error : `not a failure: ${JSON.stringify(r)}`);

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
  receive(n, 2, reply(n, ts + 1));
  return receive(n, 3, reply(n, ts + 1));
}

const blockOf = (height: number, prevHash: string, creator: number, txs: Tx[], ts = 20): Block => sealBlock({ height, prevHash, ts, creator, txs });

// A three-block chain made by clients 2 and 3, for replicas that are behind or ahead.
const b1 = blockOf(1, genesis.hash, 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
const b2 = blockOf(2, b1.hash, 3, [{ id: 'y', from: 3, to: 1, amount: 200 }]);
const b3 = blockOf(3, b2.hash, 2, [{ id: 'z', from: 2, to: 3, amount: 50 }]);

/** Client 1 restarted from storage at #3 (b1..b3 applied and readable), clock 30, no peer up yet. */
const restoredAt3 = (): Node =>
  new Node(config(1, { chain: chainOf([b1, b2, b3]), restored: { head: { height: 3, hash: b3.hash }, balances: new Map([[1, 1300], [2, 850], [3, 850]]), clock: 30 } }));

describe('Node: waiting for peers', () => {
  it('a transfer issued before every peer is up sends nothing and logs waitingForPeers naming the missing peers', () => {
    const n = new Node(config(1));
    up(n, 2);
    const es = transfer(n, 'c1', 2, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', key: 'c1', peers: [3] }]);
    expect(n.status().requesting).toBeNull();
    expect(n.status().pendingTransfers).toBe(1);
    // The status says whom the transfer waits for, as the timeout would.
    expect(n.status().waitingFor).toEqual({ kind: 'peersDown', peers: [3] });
  });

  it('names every missing peer when none is up', () => {
    const n = new Node(config(2));
    const es = transfer(n, 'c1', 1, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', key: 'c1', peers: [1, 3] }]);
  });

  it('announces the wait once per transfer, not on every later step', () => {
    const n = new Node(config(1));
    transfer(n, 'c1', 2, 100);
    const again = up(n, 2);
    expect(events(again, 'waitingForPeers')).toEqual([]);
    expect(sendsOf(again, 'REQUEST')).toEqual([]);
  });

  it('rule 1: requests the lock from every peer, with one timestamp, once the last peer comes up', () => {
    const n = new Node(config(1));
    up(n, 2);
    transfer(n, 'c1', 2, 100);
    const es = up(n, 3);
    const ts = requestTs(es);
    expect(n.status().requesting).toEqual({ ts, node: 1 });
    expect(n.status().queue).toEqual([{ ts, node: 1 }]);
  });

  it('rule 1 ("to every other"): never requests from a subset: a peer that went down makes a new transfer wait for it', () => {
    const n = connected(1);
    n.step({ kind: 'peerDown', peer: 3 });
    const es = transfer(n, 'c1', 2, 100);
    expect(sends(es)).toEqual([]);
    expect(events(es, 'waitingForPeers')).toEqual([{ type: 'waitingForPeers', key: 'c1', peers: [3] }]);
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
  it('IR2(b): moves to max(local, remote)+1 on receive', () => {
    const n = connected(1); // clock 0: coming up at equal heights sends nothing
    expect(n.lamportTime()).toBe(0);
    receive(n, 2, reply(n, 40));
    expect(n.lamportTime()).toBe(41);
    receive(n, 3, reply(n, 5));
    expect(n.lamportTime()).toBe(42);
  });

  it('IR1 and IR2(a): a broadcast in one step is one send event: every peer\'s REQUEST has the same ts, one tick later', () => {
    const n = connected(1);
    const before = n.lamportTime();
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    expect(ts).toBe(before + 1);
    expect(n.lamportTime()).toBe(ts);
  });
});

describe('Node: mutual exclusion', () => {
  it('rule 2: answers a REQUEST with a REPLY stamped after the request, carrying its height and view', () => {
    const n = connected(1);
    const es = receive(n, 2, request(n, 10));
    expect(sends(es)).toEqual([{ kind: 'send', to: 2, message: { type: 'REPLY', ts: 12, height: 0, view: n.membershipView() } }]);
    expect(n.status().queue).toEqual([{ ts: 10, node: 2 }]);
  });

  it('rule 2: the REPLY tells the requester this client\'s own chain height', () => {
    const n = restoredAt3();
    for (const p of n.peers) up(n, p, 3);
    const es = receive(n, 3, request(n, 40, 3));
    expect(sends(es)).toEqual([{ kind: 'send', to: 3, message: { type: 'REPLY', ts: 42, height: 3, view: n.membershipView() } }]);
  });

  it('rule 5: does not enter after REPLYs from only some of its peers', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = receive(n, 2, reply(n, ts + 1));
    expect(sends(es)).toEqual([]);
    expect(persists(es)).toEqual([]);
    expect(replies(es)).toEqual([]);
  });

  /** Client 3's last lock message (a REPLY at ts 0, in the current view) arrives before client 1 requests. */
  function viewFrom3First(): { n: Node; ts: number } {
    const n = connected(1);
    receive(n, 3, reply(n, 0));
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    receive(n, 2, reply(n, ts + 1));
    return { n, ts };
  }

  it('rule 5: does not enter on messages timestamped no later than its request', () => {
    const { n, ts } = viewFrom3First();
    const es = receive(n, 3, blocksMsg(ts, []));
    expect(sendsOf(es, 'RELEASE')).toEqual([]);
    expect(n.lockWait()).toEqual({ kind: 'noLaterMessage', peers: [3] });
  });

  it('rule 5: counts any later-timestamped message toward entering, not only REPLYs', () => {
    const { n, ts } = viewFrom3First();
    const es = receive(n, 3, blocksMsg(ts + 1, []));
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
  });

  it('rule 5: enters after REPLYs from all peers and persists exactly one block before any RELEASE is sent', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = runRound(n, ts);
    const kinds = es.filter((e) => e.kind === 'persist' || e.kind === 'send').map((e) => (e.kind === 'send' ? `send ${e.message.type}` : e.kind));
    expect(kinds).toEqual(['persist', 'send RELEASE', 'send RELEASE']);
    const persistAt = es.findIndex((e) => e.kind === 'persist');
    const firstRelease = es.findIndex((e) => e.kind === 'send' && e.message.type === 'RELEASE');
    expect(persistAt).toBeLessThan(firstRelease);
  });

  it('rule 3: RELEASE carries the committed block, the height and the view to every peer, and the reply is SUCCESS with msgs = 3(N-1)', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 450));
    const es = runRound(n, ts);
    const [block] = persists(es);
    expect(block).toBeDefined();
    expect(block).toMatchObject({ height: 1, prevHash: genesis.hash, creator: 1, txs: [{ id: 'c1', from: 1, to: 2, amount: 450 }] });
    expect(block!.ts).toBeGreaterThan(ts + 1);
    const releases = sendsOf(es, 'RELEASE');
    expect(releases.map((r) => r.to).sort()).toEqual([2, 3]);
    for (const r of releases) expect(r.message).toEqual({ type: 'RELEASE', ts: block!.ts, height: 1, view: n.membershipView(), block });
    expect(resultOf(es, 'c1')).toEqual({
      type: 'transfer', ok: true, status: 'SUCCESS', txId: 'c1', repeat: false, block: 1, from: 1, to: 2, amount: 450, clock: block!.ts, msgs: 3 * (N - 1), batch: 1,
    });
    expect(n.chainHead()).toEqual({ height: 1, hash: block!.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 550, 2: 1450, 3: 1000 });
    expect(n.status().requesting).toBeNull();
    expect(n.status().queue).toEqual([]);
  });

  it('rules 4 and 5: does not enter while an earlier request from another client heads its queue, and enters after that client\'s RELEASE removes it', () => {
    const n = connected(1);
    receive(n, 2, request(n, 3)); // clock 5 after the REPLY
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    expect(ts).toBeGreaterThan(3);
    expect(sendsOf(runRound(n, ts), 'RELEASE')).toEqual([]);
    const es = receive(n, 2, release(n, ts + 2, null));
    expect(persists(es)).toHaveLength(1);
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });

  it('rule 3 with nothing committed: insufficient balance is FAILED with the balance, nothing persisted, but RELEASE with no block is still sent', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 1001));
    const es = runRound(n, ts);
    expect(persists(es)).toEqual([]);
    expect(resultOf(es, 'c1')).toEqual({
      type: 'transfer', ok: false, status: 'FAILED', txId: 'c1', reason: 'insufficient', error: 'insufficient balance: client1 has $10.00, needs $10.01', from: 1, to: 2, amount: 1001, balance: 1000,
    });
    const releases = sendsOf(es, 'RELEASE');
    expect(releases.map((r) => r.to).sort()).toEqual([2, 3]);
    for (const r of releases) expect(r.message).toEqual({ type: 'RELEASE', ts: r.message.ts, height: 0, view: n.membershipView(), block: null });
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

  it('puts no more than maxBatch transfers in a block and requests again (rule 1) for the rest', () => {
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
    if (r && r.type === 'transfer' && r.status === 'FAILED') expect(r.error).toMatch(error);
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
    if (r && r.type === 'transfer' && r.status === 'FAILED') {
      expect(r.error).toContain('client3');
      expect(r.error).not.toContain('client2');
    }
    expect(n.status().pendingTransfers).toBe(0);
    // Nothing left to request for when the peer finally comes up.
    expect(sendsOf(up(n, 3), 'REQUEST')).toEqual([]);
  });

  it('rule 3 as a withdrawal: a transfer that times out waiting for the lock withdraws its request with a RELEASE and no block', () => {
    const n = connected(1);
    receive(n, 2, request(n, 1)); // client2 holds the lock and never releases
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
    const later = receive(n, 2, release(n, 50, null));
    expect(persists(later)).toEqual([]);
    expect(sends(later)).toEqual([]);
  });

  it('rule 1 on a new connection: on peerUp re-sends its outstanding REQUEST, and only that, to a peer at an equal height', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 0);
    expect(es).toEqual([{ kind: 'send', to: 3, message: { type: 'REQUEST', ts, height: 0, view: n.membershipView() } }]);
  });

  it('rule 5 after a lost connection: a REPLY the peer sent before the drop no longer counts toward entering', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    receive(n, 3, reply(n, ts + 1));
    n.step({ kind: 'peerDown', peer: 3 });
    up(n, 3);
    expect(sendsOf(receive(n, 2, reply(n, ts + 1)), 'RELEASE')).toEqual([]);
    const es = receive(n, 3, reply(n, ts + 5));
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
  });
});

describe('Node: ledger replication', () => {
  it('applies and persists (without sync) a block carried by a peer\'s RELEASE', () => {
    const n = connected(1);
    const es = receive(n, 2, release(n, 9, b1));
    expect(persists(es)).toEqual([b1]);
    expect(es).toContainEqual({ kind: 'persist', block: b1, sync: false });
    expect(n.chainHead()).toEqual({ height: 1, hash: b1.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1100, 2: 900, 3: 1000 });
  });

  it('persists its own block with sync: the RELEASE and the replies that follow tell the world it exists', () => {
    const n = connected(1);
    const es = runRound(n, requestTs(transfer(n, 'c1', 2, 450)));
    const own = es.filter((e) => e.kind === 'persist');
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ kind: 'persist', sync: true });
  });

  it('buffers blocks received out of height order and applies them in order (persist effects in height order)', () => {
    const n = connected(1);
    const first = receive(n, 3, release(n, 9, b2));
    expect(persists(first)).toEqual([]);
    expect(n.status().pendingBlocks).toBe(1);
    expect(n.chainHead().height).toBe(0);
    const second = receive(n, 2, release(n, 8, b1));
    expect(persists(second).map((b) => b.height)).toEqual([1, 2]);
    expect(n.status().pendingBlocks).toBe(0);
    expect(n.chainHead()).toEqual({ height: 2, hash: b2.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1300, 2: 900, 3: 800 });
  });

  it('fills a gap of several heights from a BLOCKS message in any order', () => {
    const n = connected(1);
    receive(n, 2, release(n, 9, b3));
    const es = receive(n, 3, blocksMsg(10, [b2, b1]));
    expect(persists(es).map((b) => b.height)).toEqual([1, 2, 3]);
  });

  it('ignores a block it already has, without persisting it twice', () => {
    const n = connected(1);
    receive(n, 2, release(n, 9, b1));
    const es = receive(n, 3, blocksMsg(10, [b1]));
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toEqual([]);
  });

  it('rejects a block that does not chain (blockRejected) and does not persist it', () => {
    const n = connected(1);
    const stray = blockOf(1, 'c'.repeat(64), 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
    const es = receive(n, 2, release(n, 9, stray));
    expect(persists(es)).toEqual([]);
    const rejected = es.filter((e) => e.kind === 'log' && e.event.type === 'blockRejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: 'error', event: { from: 2, height: 1 } });
    expect(n.chainHead()).toEqual({ height: 0, hash: genesis.hash });
    expect(Object.fromEntries(n.balanceTable())).toEqual({ 1: 1000, 2: 1000, 3: 1000 });
  });

  it('a rejected block is never built on, yet its sender told of that height: the node fetches it instead of creating a rival block, until that sender\'s session ends', () => {
    // Before heights travelled in lock messages, a rejected block was simply forgotten and the node
    // committed its own block #1 beside it. Now the sender's word counts (see Node.heard): the node
    // asks it for #1 rather than fork, and only a new session with it clears the claim.
    const n = connected(1);
    const stray = blockOf(1, 'c'.repeat(64), 2, [{ id: 'x', from: 2, to: 1, amount: 100 }]);
    expect(events(receive(n, 2, release(n, 9, stray)), 'blockRejected')).toHaveLength(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    const es = runRound(n, ts);
    expect(persists(es)).toEqual([]);
    expect(sendsOf(es, 'FETCH')).toEqual([{ kind: 'send', to: 2, message: { type: 'FETCH', ts: expect.any(Number), from: 1 } }]);
    expect(n.lockWait()).toEqual({ kind: 'catchingUp', height: 1, peer: 2 });
    n.step({ kind: 'peerDown', peer: 2 });
    up(n, 2, 0);
    const done = receive(n, 2, reply(n, ts + 9));
    expect(persists(done)).toHaveLength(1);
    expect(persists(done)[0]).toMatchObject({ height: 1, prevHash: genesis.hash });
    expect(resultOf(done, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });

  it('rejects a tampered block (its hash no longer matches) and does not persist it', () => {
    const n = connected(1);
    const tampered: Block = { ...b1, txs: [{ id: 'x', from: 2, to: 1, amount: 999 }] };
    const es = receive(n, 2, release(n, 9, tampered));
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
  });

  it('rejects a block that overdraws its creator', () => {
    const n = connected(1);
    const greedy = blockOf(1, genesis.hash, 2, [{ id: 'x', from: 2, to: 1, amount: 1001 }]);
    const es = receive(n, 2, release(n, 9, greedy));
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
  });

  it('rejects a second, different block for its head height', () => {
    const n = connected(1);
    receive(n, 2, release(n, 9, b1));
    const rival = blockOf(1, genesis.hash, 3, [{ id: 'r', from: 3, to: 1, amount: 1 }]);
    const es = receive(n, 3, release(n, 10, rival));
    expect(persists(es)).toEqual([]);
    expect(events(es, 'blockRejected')).toHaveLength(1);
    expect(n.chainHead().hash).toBe(b1.hash);
  });

  it('rejects a second, different block for a height it holds buffered', () => {
    const n = connected(1);
    receive(n, 3, release(n, 9, b2));
    const rival = blockOf(2, b1.hash, 2, [{ id: 'r', from: 2, to: 3, amount: 1 }]);
    const es = receive(n, 3, blocksMsg(10, [rival]));
    expect(events(es, 'blockRejected')).toEqual([{ type: 'blockRejected', from: 3, height: 2, reason: 'conflicts with another block received for that height' }]);
    expect(persists(receive(n, 3, blocksMsg(11, [b1]))).map((b) => b.hash)).toEqual([b1.hash, b2.hash]);
  });

  it('builds its own block on the blocks it has received', () => {
    const n = connected(1);
    receive(n, 2, release(n, 9, b1));
    const ts = requestTs(transfer(n, 'c1', 2, 50));
    const [mine] = persists(runRound(n, ts));
    expect(mine).toMatchObject({ height: 2, prevHash: b1.hash });
  });

  it('a peer that comes up with a lower height is pushed exactly the heights it lacks, in one last BLOCKS stamped by a tick', () => {
    const n = restoredAt3();
    const es = up(n, 2, 1);
    expect(sends(es)).toEqual([{ kind: 'send', to: 2, message: { type: 'BLOCKS', ts: 31, blocks: [b2, b3], last: true } }]);
    expect(events(es, 'served')).toEqual([{ type: 'served', peer: 2, from: 2, to: 3 }]);
    expect(n.lamportTime()).toBe(31);
    expect(sends(up(n, 3, 0))).toEqual([{ kind: 'send', to: 3, message: { type: 'BLOCKS', ts: 32, blocks: [b1, b2, b3], last: true } }]);
  });

  it('a peer that comes up at the same or a greater height is sent nothing', () => {
    const n = new Node(config(1));
    expect(sends(up(n, 2, 0))).toEqual([]);
    expect(sends(up(n, 3, 7))).toEqual([]);
  });

  it('a handshake height is only a hint: it neither fetches nor holds back entering (the peer\'s lock messages carry the height that counts)', () => {
    const n = new Node(config(1));
    const first = up(n, 2, 1);
    expect(first).toEqual([]);
    up(n, 3, 0);
    expect(n.status().heard).toEqual([{ peer: 2, height: 0 }, { peer: 3, height: 0 }]);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    // Client 2's REPLY says #1: that is what keeps client 1 out (see core-catchup.test.ts).
    receive(n, 3, reply(n, ts + 1, 0));
    const es = receive(n, 2, reply(n, ts + 1, 1));
    expect(persists(es)).toEqual([]);
    expect(sendsOf(es, 'FETCH').map((s) => s.to)).toEqual([2]);
    expect(n.status().heard).toEqual([{ peer: 2, height: 1 }, { peer: 3, height: 0 }]);
  });
});

describe('Node: catching up on reconnection', () => {
  it('a peer that reconnects lower while a request is outstanding gets the re-sent REQUEST first, then BLOCKS for exactly the heights it lacks', () => {
    const n = restoredAt3();
    for (const p of n.peers) up(n, p, 3);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 1);
    expect(sends(es)).toEqual([
      { kind: 'send', to: 3, message: { type: 'REQUEST', ts, height: 3, view: n.membershipView() } },
      { kind: 'send', to: 3, message: { type: 'BLOCKS', ts: ts + 1, blocks: [b2, b3], last: true } },
    ]);
    // A peer below this client's head does not hold it back: it enters on its own head, #3.
    receive(n, 2, reply(n, ts + 2, 3));
    const done = receive(n, 3, reply(n, ts + 3, 3));
    expect(persists(done)).toHaveLength(1);
    expect(persists(done)[0]).toMatchObject({ height: 4, prevHash: b3.hash });
    // The re-sent REQUEST is part of the round's cost: 3 REQUESTs, 3 REPLYs, 2 RELEASEs.
    expect(resultOf(done, 'c1')).toMatchObject({ status: 'SUCCESS', block: 4, msgs: 8 });
  });

  it('a peer that reconnects higher blocks entering until its BLOCKS bring this client up to the height its REPLY told, then the node enters on top of them', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    n.step({ kind: 'peerDown', peer: 2 });
    const back = up(n, 2, 2);
    expect(sends(back)).toEqual([{ kind: 'send', to: 2, message: { type: 'REQUEST', ts, height: 0, view: n.membershipView() } }]);
    expect(events(back, 'catchingUp')).toEqual([]);
    // Every peer has answered and the request heads the queue, but client 2's REPLY says #2.
    receive(n, 3, reply(n, ts + 1));
    const round = receive(n, 2, reply(n, ts + 1, 2));
    expect(persists(round)).toEqual([]);
    expect(sendsOf(round, 'RELEASE')).toEqual([]);
    expect(sendsOf(round, 'FETCH')).toEqual([{ kind: 'send', to: 2, message: { type: 'FETCH', ts: expect.any(Number), from: 1 } }]);
    expect(events(round, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 2, from: 1, to: 2 }]);
    // One block of the two, more to follow: still behind the told #2, and no second FETCH.
    const partial = receive(n, 2, blocksMsg(ts + 2, [b1], false));
    expect(persists(partial)).toEqual([b1]);
    expect(sendsOf(partial, 'RELEASE')).toEqual([]);
    expect(sendsOf(partial, 'FETCH')).toEqual([]);
    const es = receive(n, 2, blocksMsg(ts + 3, [b2], true));
    expect(persists(es).map((b) => b.height)).toEqual([2, 3]);
    expect(events(es, 'entered')).toEqual([expect.objectContaining({ type: 'entered', height: 2, transfers: 1 })]);
    expect(persists(es)[1]).toMatchObject({ prevHash: b2.hash, creator: 1, txs: [{ id: 'c1', from: 1, to: 3, amount: 100 }] });
    expect(sendsOf(es, 'RELEASE')).toHaveLength(2);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 3 });
  });

  it('peerDown drops the height the peer told of: once the peer is back at a lower height the node enters', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    receive(n, 3, reply(n, ts + 1));
    receive(n, 2, reply(n, ts + 1, 1)); // tells of #1, which this client lacks
    expect(n.status().heard).toEqual([{ peer: 2, height: 1 }, { peer: 3, height: 0 }]);
    expect(n.lockWait()).toEqual({ kind: 'catchingUp', height: 1, peer: 2 });
    n.step({ kind: 'peerDown', peer: 2 });
    expect(n.status().heard).toEqual([{ peer: 3, height: 0 }]);
    // Back (say it lost the block it told of): the old height must not hold this client back.
    const back = up(n, 2, 0);
    expect(sends(back)).toEqual([{ kind: 'send', to: 2, message: { type: 'REQUEST', ts, height: 0, view: n.membershipView() } }]);
    expect(n.status().heard).toEqual([{ peer: 2, height: 0 }, { peer: 3, height: 0 }]);
    const es = receive(n, 2, reply(n, ts + 5));
    expect(sendsOf(es, 'FETCH')).toEqual([]);
    expect(persists(es)).toHaveLength(1);
    expect(persists(es)[0]).toMatchObject({ height: 1, prevHash: genesis.hash });
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 1 });
  });

  it('out-of-order blocks still buffered keep the node out even when every REPLY says #0', () => {
    const n = connected(1);
    receive(n, 3, release(n, 9, b2)); // #2 without #1, from its creator
    expect(n.status().pendingBlocks).toBe(1);
    const ts = requestTs(transfer(n, 'c1', 3, 100));
    expect(persists(runRound(n, ts))).toEqual([]);
    const es = receive(n, 3, blocksMsg(ts + 2, [b1]));
    expect(persists(es).map((b) => b.height)).toEqual([1, 2, 3]);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 3 });
  });
});

describe('rule 5 with crashes: a lock message counts only from the current membership view', () => {
  it('rule 5: REPLYs timestamped later but sent in another view do not let the node in; REPLYs in its view do', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    const other = n.membershipView() + 1;
    receive(n, 2, { type: 'REPLY', ts: ts + 1, height: 0, view: other });
    const es = receive(n, 3, { type: 'REPLY', ts: ts + 1, height: 0, view: other });
    expect(persists(es)).toEqual([]);
    expect(sendsOf(es, 'RELEASE')).toEqual([]);
    expect(n.lockWait()).toEqual({ kind: 'oldView', peers: [2, 3] });
    receive(n, 2, reply(n, ts + 2));
    expect(n.lockWait()).toEqual({ kind: 'oldView', peers: [3] });
    const done = receive(n, 3, reply(n, ts + 2));
    expect(resultOf(done, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });

  it('the view id is a digest of who is in session at which incarnation: a reconnection keeps it, a restart (new incarnation) changes it, status() shows it', () => {
    const n = connected(1);
    const v = n.membershipView();
    expect(n.status().view).toBe(v);
    n.step({ kind: 'peerDown', peer: 3 });
    const without3 = n.membershipView();
    expect(without3).not.toBe(v);
    up(n, 3, 0, 0);
    expect(n.membershipView()).toBe(v);
    n.step({ kind: 'peerDown', peer: 3 });
    up(n, 3, 0, 1);
    expect(n.membershipView()).not.toBe(v);
    expect(n.membershipView()).not.toBe(without3);
    expect(n.status().view).toBe(n.membershipView());
  });

  it('two clients that see the same runs of everyone compute the same view id; their own incarnation is part of it', () => {
    const a = connected(1);
    const b = connected(2);
    expect(a.membershipView()).toBe(b.membershipView());
    for (const x of [a, b]) {
      x.step({ kind: 'peerDown', peer: 3 });
      up(x, 3, 0, 5);
    }
    expect(a.membershipView()).toBe(b.membershipView());
    // Client 1 in another process run: everyone who sees that run computes another view.
    expect(connected(1, { incarnation: 9 }).membershipView()).not.toBe(connected(1).membershipView());
  });

  it('confirmView: on a peerUp a client sends a REPLY in the new view, with its height, to every other peer whose request it queues, and to no one else', () => {
    const n = connected(1);
    receive(n, 2, request(n, 4));
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 0, 1);
    expect(sends(es)).toEqual([{ kind: 'send', to: 2, message: { type: 'REPLY', ts: n.lamportTime(), height: 0, view: n.membershipView() } }]);
  });

  it('confirmView: with no peer\'s request queued a peerUp confirms nothing; the client\'s own request goes to the newcomer as a REQUEST, not a REPLY', () => {
    const n = connected(1);
    n.step({ kind: 'peerDown', peer: 3 });
    expect(sends(up(n, 3, 0, 1))).toEqual([]);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 2 });
    expect(sends(up(n, 2, 0, 1))).toEqual([{ kind: 'send', to: 2, message: { type: 'REQUEST', ts, height: 0, view: n.membershipView() } }]);
  });

  it('rule 5 across a restart: after client 3 restarts, client 2\'s REPLY from the old view does not count until client 2 confirms the new one', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    const old = n.membershipView();
    receive(n, 2, reply(n, ts + 1)); // client 2, in the old view
    n.step({ kind: 'peerDown', peer: 3 });
    const back = up(n, 3, 0, 1);
    expect(sends(back)).toEqual([{ kind: 'send', to: 3, message: { type: 'REQUEST', ts, height: 0, view: n.membershipView() } }]);
    expect(n.membershipView()).not.toBe(old);
    expect(n.lockWait()).toEqual({ kind: 'noLaterMessage', peers: [3] });
    const es = receive(n, 3, reply(n, ts + 2));
    expect(persists(es)).toEqual([]);
    expect(n.lockWait()).toEqual({ kind: 'oldView', peers: [2] });
    // Client 2 saw client 3 come back too and confirms the new view (its confirmView REPLY).
    const done = receive(n, 2, reply(n, ts + 3));
    expect(persists(done)).toHaveLength(1);
    expect(resultOf(done, 'c1')).toMatchObject({ status: 'SUCCESS' });
  });
});

describe('why a transfer timed out: each LockWait, in the error and in status()', () => {
  function timeout(n: Node): { error: string; es: Effect[] } {
    const es = n.step({ kind: 'tick', now: TIMEOUT });
    return { error: errorOf(resultOf(es, 'c1')), es };
  }

  it('peersDown: a peer went down while the request was out', () => {
    const n = connected(1);
    requestTs(transfer(n, 'c1', 2, 100));
    n.step({ kind: 'peerDown', peer: 3 });
    const wait: LockWait = { kind: 'peersDown', peers: [3] };
    expect(n.lockWait()).toEqual(wait);
    expect(n.status().waitingFor).toEqual(wait);
    expect(describeLockWait(wait)).toBe('waiting for client3 to connect');
    const { error, es } = timeout(n);
    expect(error).toBe('timed out after 5 s waiting for client3 to connect; nothing was transferred');
    // The request is withdrawn from the peer still connected.
    expect(sendsOf(es, 'RELEASE').map((s) => s.to)).toEqual([2]);
  });

  it('queuedBehind: earlier requests ahead in the queue, each named with its timestamp', () => {
    const n = connected(1);
    receive(n, 2, request(n, 1));
    receive(n, 3, request(n, 2));
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    runRound(n, ts);
    const wait: LockWait = { kind: 'queuedBehind', entries: [{ ts: 1, node: 2 }, { ts: 2, node: 3 }] };
    expect(n.lockWait()).toEqual(wait);
    expect(timeout(n).error).toBe("timed out after 5 s waiting for the lock: client2's earlier request (ts 1), client3's earlier request (ts 2) are ahead in the queue; nothing was transferred");
    expect(describeLockWait({ kind: 'queuedBehind', entries: [{ ts: 1, node: 2 }] })).toBe("waiting for the lock: client2's earlier request (ts 1) is ahead in the queue");
  });

  it('noLaterMessage: a peer that has not answered', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    receive(n, 2, reply(n, ts + 1));
    expect(n.lockWait()).toEqual({ kind: 'noLaterMessage', peers: [3] });
    expect(timeout(n).error).toBe('timed out after 5 s waiting for the lock: no reply yet from client3; nothing was transferred');
  });

  it('oldView: peers that have not confirmed the current membership', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    receive(n, 2, reply(n, ts + 1));
    receive(n, 3, { type: 'REPLY', ts: ts + 1, height: 0, view: n.membershipView() + 1 });
    expect(n.lockWait()).toEqual({ kind: 'oldView', peers: [3] });
    expect(timeout(n).error).toBe('timed out after 5 s waiting for the lock: client3 has not yet confirmed the current membership (a peer restarted); nothing was transferred');
    expect(describeLockWait({ kind: 'oldView', peers: [2, 3] })).toBe('waiting for the lock: client2, client3 have not yet confirmed the current membership (a peer restarted)');
  });

  it('catchingUp: the block a peer told of and this client still lacks, and from whom', () => {
    const n = connected(1);
    const ts = requestTs(transfer(n, 'c1', 2, 100));
    receive(n, 2, reply(n, ts + 1, 2));
    receive(n, 3, reply(n, ts + 1, 1));
    expect(n.lockWait()).toEqual({ kind: 'catchingUp', height: 2, peer: 2 });
    const { error, es } = timeout(n);
    expect(error).toBe('timed out after 5 s waiting for block #2 from client2 before entering; nothing was transferred');
    expect(events(es, 'withdrawn')).toHaveLength(1);
  });

  it('notRequested: no request out, and status() waits for nothing', () => {
    const n = connected(1);
    expect(n.lockWait()).toEqual({ kind: 'notRequested' });
    expect(n.status().waitingFor).toBeNull();
    expect(describeLockWait({ kind: 'notRequested' })).toBe('not requesting the lock');
  });
});

describe('Node: status()', () => {
  it('shows the latest timestamp and the highest height each connected peer told of in its session, and the view', () => {
    const n = connected(1);
    expect(n.status()).toMatchObject({ id: 1, peersUp: [2, 3], latest: [], heard: [{ peer: 2, height: 0 }, { peer: 3, height: 0 }], waitingFor: null, view: n.membershipView() });
    receive(n, 2, reply(n, 7, 0));
    receive(n, 2, release(n, 5, b1));
    receive(n, 3, blocksMsg(3, [b2, b1]));
    expect(n.status().latest).toEqual([{ peer: 2, ts: 7 }, { peer: 3, ts: 3 }]);
    expect(n.status().heard).toEqual([{ peer: 2, height: 1 }, { peer: 3, height: 2 }]);
    n.step({ kind: 'peerDown', peer: 3 });
    expect(n.status().latest).toEqual([{ peer: 2, ts: 7 }]);
    expect(n.status().heard).toEqual([{ peer: 2, height: 1 }]);
    expect(n.status().peersUp).toEqual([2]);
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

describe('nextInLine: whose RELEASE leaves first', () => {
  it('is the peer whose request heads the queue, and nobody while this client heads it or the queue is empty', () => {
    const n = connected(1);
    expect(n.nextInLine()).toBeNull();
    receive(n, 3, request(n, 5));
    receive(n, 2, request(n, 7));
    expect(n.nextInLine()).toBe(3);
    // Client 3 releases: client 2's request heads the queue now.
    receive(n, 3, release(n, 9, null));
    expect(n.nextInLine()).toBe(2);
    receive(n, 2, release(n, 11, null));
    expect(n.nextInLine()).toBeNull();
    // This client's own request at the head: nobody else is next.
    transfer(n, 't', 2, 1);
    expect(n.nextInLine()).toBeNull();
  });
});
