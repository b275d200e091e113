/**
 * Catching up, through step() alone: freshness as part of the entry rule, FETCH and its timeouts,
 * serving BLOCKS in frame-sized chunks within a window, and the blocks buffered from a session.
 *
 * Freshness (src/core/node.ts): a client enters only when its head is at least every height a
 * peer told it of in the current session. Rule 5 (mutex.ts) may hold while it is behind: it then
 * asks the peer that told of the highest height for the blocks from its head on.
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { CoreEvent, Effect } from '../../src/core/api.js';
import { sealBlock } from '../../src/core/ledger.js';
import { BLOCKS_OVERHEAD_BYTES, CATCH_UP_WINDOW_BYTES, MAX_BLOCK_BYTES, MAX_HELD_BLOCKS, MAX_HELD_BLOCK_BYTES, REQUIRED_FRAME_BYTES, encodedBytesBound, formatBytes } from '../../src/core/limits.js';
import { MAX_BLOCKS_PER_MESSAGE } from '../../src/core/messages.js';
import { CATCH_UP_PATIENCE_MS, FETCH_TIMEOUT_MS, Node, type NodeConfig } from '../../src/core/node.js';
import type { Block, Message, Tx } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('catchup');
const TRANSFER_TIMEOUT = 60_000;

const chainOf = (blocks: readonly Block[]): NodeConfig['chain'] => ({
  readBlocks: (from, to) => blocks.slice(from - 1, to),
});

const config = (over: Partial<NodeConfig> = {}): NodeConfig => ({
  id: 1, nodes: [1, 2, 3], genesis, transferTimeoutMs: TRANSFER_TIMEOUT, snapshotTimeoutMs: 60_000, chain: chainOf([]), ...over,
});

const up = (n: Node, peer: number, height = 0, incarnation = 0): Effect[] => n.step({ kind: 'peerUp', peer, height, incarnation });
function connected(over: Partial<NodeConfig> = {}): Node {
  const n = new Node(config(over));
  for (const p of n.peers) up(n, p, 0);
  return n;
}

const reply = (n: Node, ts: number, height = 0): Message => ({ type: 'REPLY', ts, height, view: n.membershipView() });
const release = (n: Node, ts: number, block: Block | null, height = block?.height ?? 0): Message => ({ type: 'RELEASE', ts, height, view: n.membershipView(), block });
const blocksMsg = (ts: number, blocks: Block[], last = true): Message => ({ type: 'BLOCKS', ts, blocks, last });
const receive = (n: Node, from: number, message: Message): Effect[] => n.step({ kind: 'receive', from, message });
const tick = (n: Node, now: number): Effect[] => n.step({ kind: 'tick', now });
const transfer = (n: Node, id: string, to: number, amount: number): Effect[] => n.step({ kind: 'command', id, command: { type: 'transfer', to, amount, key: id } });

type SendEffect = Extract<Effect, { kind: 'send' }>;
const sends = (es: Effect[]): SendEffect[] => es.filter((e): e is SendEffect => e.kind === 'send');
const sendsOf = (es: Effect[], type: Message['type']): SendEffect[] => sends(es).filter((e) => e.message.type === type);
const fetches = (es: Effect[]): { to: number; from: number }[] => sendsOf(es, 'FETCH').map((s) => ({ to: s.to, from: (s.message as Extract<Message, { type: 'FETCH' }>).from }));
const persisted = (es: Effect[]): { height: number; sync: boolean }[] => es.flatMap((e) => (e.kind === 'persist' ? [{ height: e.block.height, sync: e.sync }] : []));
const events = (es: Effect[], type: CoreEvent['type']): CoreEvent[] => es.flatMap((e) => (e.kind === 'log' && e.event.type === type ? [e.event] : []));
const blocksSent = (es: Effect[]): Extract<Message, { type: 'BLOCKS' }>[] => sendsOf(es, 'BLOCKS').map((s) => s.message as Extract<Message, { type: 'BLOCKS' }>);

/** A valid chain of `length` one-transfer blocks, alternating creators 2 and 3 ($1 to client 1 each). */
function smallChain(length: number): Block[] {
  const chain: Block[] = [];
  let prev = genesis.hash;
  for (let h = 1; h <= length; h++) {
    const creator = h % 2 === 0 ? 3 : 2;
    const b = sealBlock({ height: h, prevHash: prev, ts: 10 * h, creator, txs: [{ id: `t${h}`, from: creator, to: 1, amount: 100 }] });
    chain.push(b);
    prev = b.hash;
  }
  return chain;
}
const [c1, c2, c3] = smallChain(3) as [Block, Block, Block];

/** Client 1 requests; returns the REQUEST timestamp. */
function requestNow(n: Node, id = 'c1'): number {
  const es = transfer(n, id, 2, 50);
  const r = sendsOf(es, 'REQUEST');
  expect(r).toHaveLength(2);
  return r[0]!.message.ts;
}

describe('freshness: a client enters only on a head at least as high as every height told in the session', () => {
  it('a REPLY telling of #2 keeps it out although rule 5 holds; it FETCHes from head+1 and enters on top of the fetched blocks', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    const es = receive(n, 2, reply(n, ts + 1, 2));
    expect(persisted(es)).toEqual([]);
    expect(sendsOf(es, 'RELEASE')).toEqual([]);
    expect(fetches(es)).toEqual([{ to: 2, from: 1 }]);
    expect(events(es, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 2, from: 1, to: 2 }]);
    expect(n.status().waitingFor).toEqual({ kind: 'catchingUp', height: 2, peer: 2 });

    const done = receive(n, 2, blocksMsg(ts + 2, [c1, c2]));
    // Fetched blocks are persisted without sync, then the node's own block with sync, before its RELEASE.
    expect(persisted(done)).toEqual([{ height: 1, sync: false }, { height: 2, sync: false }, { height: 3, sync: true }]);
    const own = done.flatMap((e) => (e.kind === 'persist' && e.sync ? [e.block] : []))[0]!;
    expect(own).toMatchObject({ height: 3, prevHash: c2.hash, creator: 1 });
    const lastPersist = done.map((e) => e.kind).lastIndexOf('persist');
    const firstRelease = done.findIndex((e) => e.kind === 'send' && e.message.type === 'RELEASE');
    expect(lastPersist).toBeLessThan(firstRelease);
    for (const r of sendsOf(done, 'RELEASE')) expect(r.message).toMatchObject({ height: 3, block: own });
    expect(done).toContainEqual(expect.objectContaining({ kind: 'reply', commandId: 'c1', result: expect.objectContaining({ status: 'SUCCESS', block: 3 }) }));
  });

  it('a height told in a RELEASE (a block this client did not get) keeps it out just the same', () => {
    const n = connected();
    receive(n, 3, release(n, 5, null, 1)); // client 3 is at #1: the RELEASE carrying #1 to us was lost
    const ts = requestNow(n);
    receive(n, 2, reply(n, ts + 1));
    const es = receive(n, 3, reply(n, ts + 1, 1));
    expect(persisted(es)).toEqual([]);
    expect(fetches(es)).toEqual([{ to: 3, from: 1 }]);
  });

  it('the FETCH goes to the peer that told of the highest height', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 2, reply(n, ts + 1, 1));
    const es = receive(n, 3, reply(n, ts + 1, 3));
    expect(fetches(es)).toEqual([{ to: 3, from: 1 }]);
    expect(events(es, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 3, from: 1, to: 3 }]);
  });

  it('one FETCH at a time: more news of higher heights while one is out sends no second FETCH', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 2)))).toHaveLength(1);
    expect(fetches(receive(n, 3, release(n, ts + 2, null, 5)))).toEqual([]);
    expect(fetches(receive(n, 2, release(n, ts + 3, null, 6)))).toEqual([]);
    expect(n.status().heard).toEqual([{ peer: 2, height: 6 }, { peer: 3, height: 5 }]);
  });

  it('a last BLOCKS that advanced the head while still behind triggers the next FETCH, from the new head', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 3)))).toEqual([{ to: 2, from: 1 }]);
    const more = receive(n, 2, blocksMsg(ts + 2, [c1], true));
    expect(persisted(more)).toEqual([{ height: 1, sync: false }]);
    expect(fetches(more)).toEqual([{ to: 2, from: 2 }]);
    expect(events(more, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 2, from: 2, to: 3 }]);
    const done = receive(n, 2, blocksMsg(ts + 3, [c2, c3], true));
    expect(persisted(done)).toEqual([{ height: 2, sync: false }, { height: 3, sync: false }, { height: 4, sync: true }]);
    expect(fetches(done)).toEqual([]);
  });

  it('the continuation needs no lock request: a client fetching on its patience goes on while each serve brings blocks', () => {
    const n = connected();
    receive(n, 2, release(n, 5, null, 3)); // client 2 is at #3; this client has no request out
    tick(n, 0);
    expect(fetches(tick(n, CATCH_UP_PATIENCE_MS))).toEqual([{ to: 2, from: 1 }]);
    const more = receive(n, 2, blocksMsg(9, [c1], true));
    expect(fetches(more)).toEqual([{ to: 2, from: 2 }]);
    const done = receive(n, 2, blocksMsg(10, [c2, c3], true));
    expect(n.chainHead().height).toBe(3);
    expect(fetches(done)).toEqual([]);
  });

  it('a last BLOCKS that brought nothing new does not start another FETCH on its own (no ping-pong with a peer that cannot help)', () => {
    const n = connected();
    receive(n, 2, release(n, 5, null, 3));
    tick(n, 0);
    expect(fetches(tick(n, CATCH_UP_PATIENCE_MS))).toEqual([{ to: 2, from: 1 }]);
    expect(fetches(receive(n, 2, blocksMsg(9, [], true)))).toEqual([]);
    // The next try waits for another period of patience, not just the next tick.
    expect(fetches(tick(n, CATCH_UP_PATIENCE_MS + 100))).toEqual([]);
    expect(fetches(tick(n, 2 * CATCH_UP_PATIENCE_MS))).toEqual([{ to: 2, from: 1 }]);
  });

  it('with a lock request out, a last BLOCKS that brought nothing new because the head moved on meanwhile is followed at once by a FETCH from the new head', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 3)))).toEqual([{ to: 2, from: 1 }]);
    receive(n, 3, blocksMsg(ts + 2, [c1], false)); // #1 arrives from client 3 first
    const answer = receive(n, 2, blocksMsg(ts + 3, [c1], true)); // client 2's answer: #1 again
    expect(persisted(answer)).toEqual([]);
    expect(fetches(answer)).toEqual([{ to: 2, from: 2 }]);
  });

  it('with a lock request out, a last BLOCKS that brought nothing (its block rejected) does not start the same FETCH again at once: no FETCH/BLOCKS ping-pong', () => {
    // Rule 5 holds and the client is behind, which asks for a FETCH after every step; the same
    // FETCH to the same peer waits for patience. Here client 2 holds a #1 this client rejects.
    const n = connected();
    const stray = sealBlock({ height: 1, prevHash: 'c'.repeat(64), ts: 4, creator: 2, txs: [{ id: 's', from: 2, to: 1, amount: 1 }] });
    receive(n, 2, release(n, 4, stray)); // rejected, but client 2 told of #1
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 1)))).toEqual([{ to: 2, from: 1 }]);
    const answer = receive(n, 2, blocksMsg(ts + 2, [stray], true));
    expect(events(answer, 'blockRejected')).toHaveLength(1);
    expect(fetches(answer)).toEqual([]);
  });

  it('a BLOCKS that is not the last of its serve does not trigger a FETCH: the rest is on its way', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    receive(n, 2, reply(n, ts + 1, 3));
    const partial = receive(n, 2, blocksMsg(ts + 2, [c1], false));
    expect(persisted(partial)).toEqual([{ height: 1, sync: false }]);
    expect(fetches(partial)).toEqual([]);
  });

  it('without a lock request a client behind does not fetch at once: blocks normally arrive on their own', () => {
    const n = connected();
    const es = receive(n, 2, release(n, 5, null, 2));
    expect(fetches(es)).toEqual([]);
    expect(n.status().waitingFor).toBeNull();
  });
});

describe('fetching on time: CATCH_UP_PATIENCE_MS and FETCH_TIMEOUT_MS, driven by tick', () => {
  it('after CATCH_UP_PATIENCE_MS of being behind, a tick fetches (and not a millisecond before)', () => {
    const n = connected();
    receive(n, 3, release(n, 5, c2)); // #2 without #1: buffered, and client 3 is known to hold #2
    expect(n.status().pendingBlocks).toBe(1);
    expect(fetches(tick(n, 1_000))).toEqual([]);
    expect(fetches(tick(n, 1_000 + CATCH_UP_PATIENCE_MS - 1))).toEqual([]);
    const es = tick(n, 1_000 + CATCH_UP_PATIENCE_MS);
    expect(fetches(es)).toEqual([{ to: 3, from: 1 }]);
    expect(events(es, 'catchingUp')).toEqual([{ type: 'catchingUp', peer: 3, from: 1, to: 2 }]);
  });

  it('a client that caught up before its patience ran out does not fetch, and its patience starts again when it falls behind again', () => {
    const n = connected();
    receive(n, 3, release(n, 5, c2));
    tick(n, 1_000);
    receive(n, 2, release(n, 6, c1)); // #1 arrives on its own: #1 and #2 applied
    expect(n.chainHead().height).toBe(2);
    expect(fetches(tick(n, 1_000 + CATCH_UP_PATIENCE_MS))).toEqual([]);
    receive(n, 3, release(n, 7, null, 3)); // behind again
    expect(fetches(tick(n, 1_000 + CATCH_UP_PATIENCE_MS + 1))).toEqual([]);
    expect(fetches(tick(n, 1_000 + 2 * CATCH_UP_PATIENCE_MS))).toEqual([]);
    expect(fetches(tick(n, 1_000 + 2 * CATCH_UP_PATIENCE_MS + 1))).toEqual([{ to: 3, from: 3 }]);
  });

  it('a FETCH unanswered for FETCH_TIMEOUT_MS is given up, and the next one may go to another peer', () => {
    const n = connected();
    tick(n, 10_000);
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 1));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 2)))).toEqual([{ to: 2, from: 1 }]);
    receive(n, 3, release(n, ts + 2, null, 4)); // client 3 now tells of #4
    expect(fetches(tick(n, 10_000 + FETCH_TIMEOUT_MS - 1))).toEqual([]);
    expect(fetches(tick(n, 10_000 + FETCH_TIMEOUT_MS))).toEqual([{ to: 3, from: 1 }]);
  });

  it('an answer that has started arriving (a BLOCKS that is not the last) restarts the FETCH timeout', () => {
    const n = connected();
    tick(n, 10_000);
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 0));
    receive(n, 2, reply(n, ts + 1, 3));
    tick(n, 12_000);
    receive(n, 2, blocksMsg(ts + 2, [c1], false));
    expect(fetches(tick(n, 10_000 + FETCH_TIMEOUT_MS))).toEqual([]);
    expect(fetches(tick(n, 12_000 + FETCH_TIMEOUT_MS - 1))).toEqual([]);
    expect(fetches(tick(n, 12_000 + FETCH_TIMEOUT_MS))).toEqual([{ to: 2, from: 2 }]);
  });

  it('the session of the peer asked ending gives the FETCH up at once', () => {
    const n = connected();
    const ts = requestNow(n);
    receive(n, 3, reply(n, ts + 1, 1));
    expect(fetches(receive(n, 2, reply(n, ts + 1, 2)))).toEqual([{ to: 2, from: 1 }]);
    n.step({ kind: 'peerDown', peer: 2 });
    up(n, 2, 0);
    // Client 2 is back and answers at #0; client 3 still told of #1: ask client 3, without waiting.
    const es = receive(n, 2, reply(n, ts + 5, 0));
    expect(fetches(es)).toEqual([{ to: 3, from: 1 }]);
  });
});

// ---- serving: big blocks, a frame just large enough for the largest block ----

/** A block of `txs` transfers with 64-character ids: its bound grows by the same amount per transfer. */
function bigChain(length: number, txsPerBlock: number): Block[] {
  const txs: Tx[] = Array.from({ length: txsPerBlock }, (_, i) => ({ id: `${'~'.repeat(58)}${String(i).padStart(6, '0')}`, from: 2, to: 3, amount: 1 }));
  const chain: Block[] = [];
  let prev = genesis.hash;
  for (let h = 1; h <= length; h++) {
    const b = sealBlock({ height: h, prevHash: prev, ts: h, creator: 2, txs });
    chain.push(b);
    prev = b.hash;
  }
  return chain;
}

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, int64AsType: 'number' });

/** A node restored at the head of `chain` (balances are not checked when serving), every peer up at `peerHeight`. */
function serving(chain: Block[], maxMessageBytes = REQUIRED_FRAME_BYTES): Node {
  const last = chain[chain.length - 1]!;
  const n = new Node(config({
    chain: chainOf(chain), maxMessageBytes,
    restored: { head: { height: last.height, hash: last.hash }, balances: new Map([[1, 1000], [2, 1000], [3, 1000]]), clock: 1_000 },
  }));
  return n;
}

/** Checks one serve: frame-sized BLOCKS, consecutive from `from`, one send event, `last` only on the final one. */
function checkServe(es: Effect[], to: number, from: number, maxMessageBytes: number): Block[] {
  const ms = sendsOf(es, 'BLOCKS');
  expect(ms.length).toBeGreaterThan(0);
  expect(new Set(ms.map((m) => m.to))).toEqual(new Set([to]));
  const bodies = blocksSent(es);
  expect(new Set(bodies.map((m) => m.ts)).size).toBe(1);
  expect(bodies.map((m) => m.last)).toEqual(bodies.map((_, i) => i === bodies.length - 1));
  for (const m of bodies) {
    expect(m.blocks.length).toBeGreaterThan(0);
    expect(encodedBytesBound(m)).toBeLessThanOrEqual(maxMessageBytes);
    expect(packr.pack(m).length).toBeLessThanOrEqual(maxMessageBytes);
  }
  const served = bodies.flatMap((m) => m.blocks);
  expect(served.map((b) => b.height)).toEqual(served.map((_, i) => from + i));
  return served;
}

describe('serve: BLOCKS that each fit maxMessageBytes, about CATCH_UP_WINDOW_BYTES in all, the final one `last`', () => {
  const TXS = 400;
  const chain = bigChain(200, TXS);
  const size = encodedBytesBound(chain[0]!);
  const perMessage = Math.floor((REQUIRED_FRAME_BYTES - BLOCKS_OVERHEAD_BYTES) / size);
  const windowBlocks = Math.ceil(CATCH_UP_WINDOW_BYTES / size);

  it('the fixture: blocks of a fair fraction of the largest, two to a frame of REQUIRED_FRAME_BYTES, a window of many frames', () => {
    expect(size).toBeLessThan(MAX_BLOCK_BYTES);
    expect(perMessage).toBe(2);
    expect(windowBlocks).toBeGreaterThan(2 * perMessage);
    expect(windowBlocks).toBeLessThan(chain.length);
  });

  it('answers a FETCH with as many blocks per message as fit, stopping once the window is spent', () => {
    const n = serving(chain);
    for (const p of n.peers) up(n, p, 200);
    const es = receive(n, 2, { type: 'FETCH', ts: 2_000, from: 1 });
    const served = checkServe(es, 2, 1, REQUIRED_FRAME_BYTES);
    expect(served).toHaveLength(windowBlocks);
    expect(blocksSent(es).map((m) => m.blocks.length)).toEqual([...Array(Math.floor(windowBlocks / 2)).fill(2), ...(windowBlocks % 2 ? [1] : [])]);
    // About the window: the last block served crossed it, the one before did not.
    const bytes = served.reduce((a, b) => a + encodedBytesBound(b), 0);
    expect(bytes).toBeGreaterThanOrEqual(CATCH_UP_WINDOW_BYTES);
    expect(bytes - size).toBeLessThan(CATCH_UP_WINDOW_BYTES);
    expect(events(es, 'served')).toEqual([{ type: 'served', peer: 2, from: 1, to: windowBlocks }]);
  });

  it('the asker\'s next FETCH, from where the window stopped, gets the rest up to the head', () => {
    const n = serving(chain);
    for (const p of n.peers) up(n, p, 200);
    const es = receive(n, 3, { type: 'FETCH', ts: 2_000, from: windowBlocks + 1 });
    const served = checkServe(es, 3, windowBlocks + 1, REQUIRED_FRAME_BYTES);
    expect(served.map((b) => b.hash)).toEqual(chain.slice(windowBlocks).map((b) => b.hash));
  });

  it('with a larger frame the same window goes in fewer messages', () => {
    const big = 4 * REQUIRED_FRAME_BYTES;
    const n = serving(chain, big);
    for (const p of n.peers) up(n, p, 200);
    const es = receive(n, 2, { type: 'FETCH', ts: 2_000, from: 1 });
    expect(checkServe(es, 2, 1, big)).toHaveLength(windowBlocks);
    expect(blocksSent(es)[0]!.blocks.length).toBe(Math.floor((big - BLOCKS_OVERHEAD_BYTES) / size));
  });

  it('a block as large as the protocol allows goes alone in a frame of REQUIRED_FRAME_BYTES', () => {
    const largest = bigChain(3, 1000);
    expect(encodedBytesBound(largest[0]!)).toBe(MAX_BLOCK_BYTES);
    const n = serving(largest);
    for (const p of n.peers) up(n, p, 3);
    const es = receive(n, 2, { type: 'FETCH', ts: 2_000, from: 1 });
    checkServe(es, 2, 1, REQUIRED_FRAME_BYTES);
    expect(blocksSent(es).map((m) => m.blocks.length)).toEqual([1, 1, 1]);
  });

  it('pushes the same way on peerUp to a peer whose handshake height is below the head, after re-sending the outstanding REQUEST', () => {
    const n = serving(chain);
    for (const p of n.peers) up(n, p, 200);
    const ts = requestNow(n);
    n.step({ kind: 'peerDown', peer: 3 });
    const es = up(n, 3, 150);
    expect(sends(es)[0]).toEqual({ kind: 'send', to: 3, message: { type: 'REQUEST', ts, height: 200, view: n.membershipView() } });
    expect(sends(es).slice(1).every((s) => s.message.type === 'BLOCKS')).toBe(true);
    const served = checkServe(es, 3, 151, REQUIRED_FRAME_BYTES);
    expect(served).toHaveLength(50);
  });

  it('answers a FETCH from beyond its head with one empty, last BLOCKS', () => {
    const n = new Node(config({ chain: chainOf([c1, c2, c3]), restored: { head: { height: 3, hash: c3.hash }, balances: new Map([[1, 1300], [2, 900], [3, 800]]), clock: 50 } }));
    for (const p of n.peers) up(n, p, 3);
    const es = receive(n, 2, { type: 'FETCH', ts: 60, from: 4 });
    expect(sends(es)).toEqual([{ kind: 'send', to: 2, message: { type: 'BLOCKS', ts: 62, blocks: [], last: true } }]);
    expect(events(es, 'served')).toEqual([]);
  });

  it('on peerUp: the outstanding REQUEST first, then the blocks the peer lacks, then the view confirmed to the other waiting peers', () => {
    const n = new Node(config({ chain: chainOf([c1, c2, c3]), restored: { head: { height: 3, hash: c3.hash }, balances: new Map([[1, 1300], [2, 900], [3, 800]]), clock: 50 } }));
    for (const p of n.peers) up(n, p, 3);
    receive(n, 3, { type: 'REQUEST', ts: 60, height: 3, view: n.membershipView() });
    const ts = requestNow(n);
    n.step({ kind: 'peerDown', peer: 2 });
    const es = up(n, 2, 1, 1);
    expect(sends(es).map((s) => [s.to, s.message.type])).toEqual([[2, 'REQUEST'], [2, 'BLOCKS'], [3, 'REPLY']]);
    expect(sends(es)[0]!.message).toEqual({ type: 'REQUEST', ts, height: 3, view: n.membershipView() });
    expect(blocksSent(es)).toEqual([{ type: 'BLOCKS', ts: expect.any(Number), blocks: [c2, c3], last: true }]);
    expect(sends(es)[2]!.message).toMatchObject({ type: 'REPLY', height: 3, view: n.membershipView() });
  });
});

describe('blocks buffered out of order belong to the session that brought them', () => {
  it('peerDown drops the buffered blocks that peer sent, and only those', () => {
    const n = connected();
    receive(n, 3, release(n, 5, c2)); // #2 from client 3
    receive(n, 2, blocksMsg(6, [c3])); // #3 from client 2
    expect(n.status().pendingBlocks).toBe(2);
    n.step({ kind: 'peerDown', peer: 3 });
    expect(n.status().pendingBlocks).toBe(1);
    // #1 arrives: #2 went with client 3's session, so #3 still waits.
    const es = receive(n, 2, blocksMsg(7, [c1]));
    expect(persisted(es)).toEqual([{ height: 1, sync: false }]);
    expect(n.chainHead().height).toBe(1);
    expect(n.status().pendingBlocks).toBe(1);
    // Once #2 comes again (from anyone), the buffered #3 follows.
    expect(persisted(receive(n, 2, blocksMsg(8, [c2])))).toEqual([{ height: 2, sync: false }, { height: 3, sync: false }]);
  });

  it('the heights that peer told of go with its session too: a client behind only on its word is fresh again', () => {
    const n = connected();
    receive(n, 3, release(n, 5, c2)); // client 3 told of #2 (and #1 never came)
    const ts = requestNow(n);
    receive(n, 2, reply(n, ts + 1));
    expect(n.lockWait()).toEqual({ kind: 'noLaterMessage', peers: [3] });
    n.step({ kind: 'peerDown', peer: 3 });
    up(n, 3, 0);
    const es = receive(n, 3, reply(n, ts + 2));
    expect(persisted(es)).toEqual([{ height: 1, sync: true }]);
  });
});

describe('blocks held above the head are bounded (MAX_HELD_BLOCKS, MAX_HELD_BLOCK_BYTES), and checked as far as they can be alone', () => {
  /** Blocks that each look right alone (hash, creator) but chain on nothing this client has; one transfer: the leanest. */
  const farAbove = (from: number, count: number, txs = 1): Block[] =>
    Array.from({ length: count }, (_, i) => sealBlock({
      height: from + i, prevHash: 'ab'.repeat(32), ts: 1, creator: 2,
      txs: Array.from({ length: txs }, (_, k) => ({ id: txs === 1 ? '~' : `x${String(k).padStart(3, '0')}`, from: 2, to: 3, amount: 1 })),
    }));
  const refusedOf = (es: Effect[]): Extract<CoreEvent, { type: 'blocksRefused' }>[] =>
    es.flatMap((e) => (e.kind === 'log' && e.event.type === 'blocksRefused' ? [e.event] : []));

  it('200,000 blocks far above the head from one peer: at most MAX_HELD_BLOCKS are held, the rest refused with one line per message, and what was applied stays', () => {
    const n = connected();
    receive(n, 2, release(n, 5, c1));
    expect(n.chainHead().height).toBe(1);
    const junk = farAbove(3, 200_000);
    expect(encodedBytesBound(junk[0]!) * MAX_HELD_BLOCKS).toBeGreaterThanOrEqual(MAX_HELD_BLOCK_BYTES); // the two limits agree
    const refused: Extract<CoreEvent, { type: 'blocksRefused' }>[] = [];
    for (let i = 0; i < junk.length; i += MAX_BLOCKS_PER_MESSAGE) {
      const es = receive(n, 2, blocksMsg(10 + i, junk.slice(i, i + MAX_BLOCKS_PER_MESSAGE), false));
      expect(refusedOf(es).length).toBeLessThanOrEqual(1);
      refused.push(...refusedOf(es));
    }
    expect(n.status().pendingBlocks).toBe(MAX_HELD_BLOCKS - 1);
    expect(refused.reduce((a, r) => a + r.count, 0)).toBe(200_000 - (MAX_HELD_BLOCKS - 1));
    expect(refused[0]).toMatchObject({ from: 2, lowest: MAX_HELD_BLOCKS + 2, reason: `more than ${MAX_HELD_BLOCKS.toLocaleString('en-US')} blocks above the head #1: not held (a block is fetched when due)` });
    expect(n.chainHead()).toEqual({ height: 1, hash: c1.hash });
    // The session goes on: the real #2 comes, is applied, and the held #3 that does not chain on it is refused loudly.
    const es = receive(n, 3, release(n, 300_000, c2));
    expect(persisted(es)).toEqual([{ height: 2, sync: false }]);
    expect(events(es, 'blockRejected')).toMatchObject([{ from: 3, height: 3 }]);
    expect(n.status().pendingBlocks).toBe(MAX_HELD_BLOCKS - 2);
    n.step({ kind: 'peerDown', peer: 2 });
    expect(n.status().pendingBlocks).toBe(0);
  });

  it('the bytes held are bounded too: blocks of 1000 transfers stop being held at MAX_HELD_BLOCK_BYTES', () => {
    const n = connected();
    const big = farAbove(2, 120, 1000);
    const size = encodedBytesBound(big[0]!);
    const es = receive(n, 2, blocksMsg(5, big));
    const fits = Math.floor(MAX_HELD_BLOCK_BYTES / size);
    expect(fits).toBeLessThan(120);
    expect(n.status().pendingBlocks).toBe(fits);
    expect(refusedOf(es)).toEqual([{
      type: 'blocksRefused', from: 2, count: 120 - fits, lowest: 2 + fits, highest: 121,
      reason: `the blocks held above the head (${fits}, ${formatBytes(fits * size)}) are at their limit of ${formatBytes(MAX_HELD_BLOCK_BYTES)}: not held (a block is fetched when due)`,
    }]);
  });

  it('a block above the head with a wrong hash, or spending from another account than its creator\'s, is rejected when it arrives, not held', () => {
    const n = connected();
    const [good] = farAbove(3, 1) as [Block];
    const wrongHash: Block = { ...good, ts: 2 };
    const othersMoney = sealBlock({ height: 4, prevHash: good.hash, ts: 3, creator: 2, txs: [{ id: 'steal', from: 3, to: 2, amount: 1 }] });
    const es = receive(n, 2, blocksMsg(5, [wrongHash, othersMoney]));
    expect(events(es, 'blockRejected')).toEqual([
      { type: 'blockRejected', from: 2, height: 3, reason: 'block #3 has a wrong hash' },
      { type: 'blockRejected', from: 2, height: 4, reason: "block #4: client2 cannot spend from client3's account" },
    ]);
    expect(n.status().pendingBlocks).toBe(0);
  });

  it('a RELEASE carries its sender\'s own block: one created by another client is rejected, even next in height', () => {
    const n = connected();
    const es = receive(n, 3, release(n, 5, c1)); // #1 was created by client 2
    expect(events(es, 'blockRejected')).toEqual([{ type: 'blockRejected', from: 3, height: 1, reason: "a RELEASE carries its sender's own block, this one was created by client2" }]);
    expect(n.chainHead().height).toBe(0);
  });
});
