/**
 * Transfer keys, driven through `Node.step` by hand: a key names one transfer and commits at most
 * once in the chain's life, whichever client is asked; a repeat gets the first outcome, other
 * content with the key is refused, a queued key is not queued twice, what did not commit may be
 * tried again, and giving up (withdraw) is explicit.
 */
import { describe, expect, it } from 'vitest';
import type { CommandResult, Effect, TxState } from '../../src/core/api.js';
import { checkBlock, genesisBalances, sealBlock } from '../../src/core/ledger.js';
import { RECENT_TRANSFER_OUTCOMES } from '../../src/core/limits.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import type { Block, Message, Tx } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('keys');

/** One client, its effects carried out as the daemon would: persisted blocks go to its chain. */
class Client {
  readonly node: Node;
  readonly chain: Block[];

  constructor(id: number, chain: Block[] = [], over: Partial<NodeConfig> = {}) {
    this.chain = chain;
    const head = chain[chain.length - 1];
    const balances = genesisBalances(genesis);
    for (const b of chain) for (const t of b.txs) {
      balances.set(t.from, balances.get(t.from)! - t.amount);
      balances.set(t.to, balances.get(t.to)! + t.amount);
    }
    this.node = new Node({
      id, nodes: [1, 2, 3], genesis, transferTimeoutMs: 60_000, snapshotTimeoutMs: 60_000,
      chain: { readBlocks: (from, to) => this.chain.filter((b) => b.height >= from && b.height <= to) },
      ...(head ? { restored: { head: { height: head.height, hash: head.hash }, balances, clock: 50 } } : {}),
      ...over,
    });
  }

  step(input: Parameters<Node['step']>[0]): Effect[] {
    const es = this.node.step(input);
    for (const e of es) if (e.kind === 'persist') this.chain.push(e.block);
    return es;
  }

  connect(height = 0): this {
    for (const p of this.node.peers) this.step({ kind: 'peerUp', peer: p, height, incarnation: 0 });
    return this;
  }

  transfer(id: string, key: string, to: number, amount: number): Effect[] {
    return this.step({ kind: 'command', id, command: { type: 'transfer', to, amount, key } });
  }

  withdraw(id: string, key: string): Effect[] {
    return this.step({ kind: 'command', id, command: { type: 'withdraw', key } });
  }

  receive(from: number, message: Message): Effect[] {
    return this.step({ kind: 'receive', from, message });
  }

  /** Both peers reply later than `ts`, at `height`: rule 5 holds. */
  grant(ts: number, height = this.node.chainHead().height): Effect[] {
    const view = this.node.membershipView();
    this.receive(2 === this.node.id ? 1 : 2, { type: 'REPLY', ts: ts + 1, height, view });
    return this.receive(3 === this.node.id ? 1 : 3, { type: 'REPLY', ts: ts + 1, height, view });
  }

  /** A transfer committed in a lock round of its own; the round's effects. */
  commit(id: string, key: string, to: number, amount: number): Effect[] {
    const ts = requestTs(this.transfer(id, key, to, amount));
    return this.grant(ts);
  }
}

const sends = (es: Effect[]) => es.flatMap((e) => (e.kind === 'send' ? [e] : []));
const persists = (es: Effect[]): Block[] => es.flatMap((e) => (e.kind === 'persist' ? [e.block] : []));
const resultOf = (es: Effect[], id: string): CommandResult | undefined => es.flatMap((e) => (e.kind === 'reply' && e.commandId === id ? [e.result] : []))[0];
const stateOf = (es: Effect[], id: string): TxState | undefined => {
  const r = resultOf(es, id);
  return r?.type === 'withdraw' ? r.state : undefined;
};
const rejected = (es: Effect[]): string[] => es.flatMap((e) => (e.kind === 'log' && e.event.type === 'blockRejected' ? [e.event.reason] : []));

function requestTs(es: Effect[]): number {
  const r = sends(es).filter((s) => s.message.type === 'REQUEST');
  expect(r).toHaveLength(2);
  return r[0]!.message.ts;
}

const blockOf = (height: number, prevHash: string, creator: number, txs: Tx[], ts = 20): Block => sealBlock({ height, prevHash, ts, creator, txs });
const keysIn = (chain: readonly Block[], key: string): number => chain.reduce((n, b) => n + b.txs.filter((t) => t.id === key).length, 0);


/**
 * Client 3 commits `key` while client 1's transfer `c1` with it (requested at `ts`) waits for the
 * lock: in the critical section it is refused as a conflict, not committed a second time.
 */
function committedMeanwhileIsRefused(c: Client, ts: number, key: string): void {
  const theirs = blockOf(1, genesis.hash, 3, [{ id: key, from: 3, to: 2, amount: 100 }], ts - 1);
  c.receive(3, { type: 'RELEASE', ts: ts + 1, height: 1, view: c.node.membershipView(), block: theirs });
  const es = c.receive(2, { type: 'REPLY', ts: ts + 1, height: 1, view: c.node.membershipView() });
  expect(resultOf(es, 'c1')).toMatchObject({ status: 'FAILED', reason: 'conflict', first: { block: 1, from: 3, to: 2, amount: 100 } });
  expect(persists(es)).toEqual([]);
  expect(keysIn(c.chain, key)).toBe(1);
}

describe('a key commits at most once in the chain\'s life', () => {
  it('a key committed with the same content gets its first outcome again: the same block, marked repeat, and nothing is sent or committed', () => {
    const c = new Client(1).connect();
    const first = resultOf(c.commit('c1', 'K', 2, 100), 'c1');
    expect(first).toMatchObject({ status: 'SUCCESS', txId: 'K', repeat: false, block: 1 });
    const again = c.transfer('c2', 'K', 2, 100);
    expect(resultOf(again, 'c2')).toEqual({
      type: 'transfer', ok: true, status: 'SUCCESS', txId: 'K', repeat: true, block: 1, from: 1, to: 2, amount: 100, clock: c.chain[0]!.ts, msgs: 0, batch: 1,
    });
    expect(sends(again)).toEqual([]);
    expect(persists(again)).toEqual([]);
    expect(c.node.status().pendingTransfers).toBe(0);
    expect(keysIn(c.chain, 'K')).toBe(1);
  });

  it.each([
    ['another amount', 2, 150],
    ['another recipient', 3, 100],
  ])('the same key with %s is refused (conflict), naming the first transfer: block, from, to, amount', (_what, to, amount) => {
    const c = new Client(1).connect();
    c.commit('c1', 'K', 2, 100);
    const es = c.transfer('c2', 'K', to, amount);
    const r = resultOf(es, 'c2');
    expect(r).toMatchObject({ status: 'FAILED', reason: 'conflict', txId: 'K', to, amount, first: { block: 1, from: 1, to: 2, amount: 100 } });
    expect(r?.type === 'transfer' && r.status === 'FAILED' ? r.error : '').toContain('block #1 as client1 -> client2 $1.00');
    expect(sends(es)).toEqual([]);
    expect(keysIn(c.chain, 'K')).toBe(1);
  });

  it('whichever client is asked: a key another client committed is refused as a conflict (another sender), at arrival', () => {
    const b1 = blockOf(1, genesis.hash, 2, [{ id: 'K', from: 2, to: 1, amount: 100 }]);
    const c = new Client(1, [b1]).connect(1);
    const r = resultOf(c.transfer('c1', 'K', 2, 100), 'c1');
    expect(r).toMatchObject({ status: 'FAILED', reason: 'conflict', first: { block: 1, from: 2, to: 1, amount: 100 } });
  });

  it('a key still queued is not queued twice: the retry gets the queued one\'s result, and the block holds the key once', () => {
    const c = new Client(1).connect();
    const ts = requestTs(c.transfer('c1', 'K', 2, 100));
    const retry = c.transfer('c2', 'K', 2, 100);
    expect(resultOf(retry, 'c2')).toBeUndefined();
    expect(sends(retry)).toEqual([]);
    expect(c.node.status().pendingTransfers).toBe(1);
    const es = c.grant(ts);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', block: 1, repeat: false });
    expect(resultOf(es, 'c2')).toEqual(resultOf(es, 'c1'));
    expect(persists(es)[0]!.txs).toEqual([{ id: 'K', from: 1, to: 2, amount: 100 }]);
  });

  it('a queued key with other content is refused at once, naming the queued transfer (no block yet)', () => {
    const c = new Client(1).connect();
    c.transfer('c1', 'K', 2, 100);
    const r = resultOf(c.transfer('c2', 'K', 3, 100), 'c2');
    expect(r).toMatchObject({ status: 'FAILED', reason: 'conflict', first: { block: null, from: 1, to: 2, amount: 100 } });
    expect(c.node.status().pendingTransfers).toBe(1);
  });

  it('a FAILED transfer (insufficient) never committed: its key may be tried again, and then commits', () => {
    const c = new Client(1).connect();
    expect(resultOf(c.commit('c1', 'K', 2, 5000), 'c1')).toMatchObject({ status: 'FAILED', reason: 'insufficient' });
    expect(c.node.transferState('K')).toMatchObject({ state: 'failed', reason: 'insufficient' });
    expect(resultOf(c.commit('c2', 'K', 2, 500), 'c2')).toMatchObject({ status: 'SUCCESS', block: 1, repeat: false });
    expect(keysIn(c.chain, 'K')).toBe(1);
  });

  it('a withdrawn transfer never committed: its key may be tried again, and then commits', () => {
    const c = new Client(1).connect();
    c.transfer('c1', 'K', 2, 100);
    c.withdraw('w1', 'K');
    expect(resultOf(c.commit('c2', 'K', 2, 100), 'c2')).toMatchObject({ status: 'SUCCESS', repeat: false });
    expect(keysIn(c.chain, 'K')).toBe(1);
  });

  it('a key that is not 1-64 characters of A-Z a-z 0-9 . _ : - is refused as invalid, and nothing is queued', () => {
    const c = new Client(1).connect();
    for (const bad of ['', 'a b', 'x'.repeat(65), 'a/b', 'caf\u00e9']) {
      const es = c.transfer(`c-${bad}`, bad, 2, 100);
      expect(resultOf(es, `c-${bad}`)).toMatchObject({ status: 'FAILED', reason: 'invalid' });
      expect(sends(es)).toEqual([]);
    }
    expect(c.node.status().pendingTransfers).toBe(0);
  });
});

describe('the rule is checked where it matters: in the critical section, and on every block from a peer', () => {
  it('a client that lost its own block (machine crash) and is asked again with the key fetches the block before entering, and answers a repeat instead of committing twice', () => {
    const lost = blockOf(1, genesis.hash, 1, [{ id: 'K', from: 1, to: 2, amount: 100 }]);
    const c = new Client(1).connect();
    // Arrival cannot know: the chain here is at genesis. The transfer is queued and the lock requested.
    const ts = requestTs(c.transfer('c1', 'K', 2, 100));
    // Peers answer from height 1 (they hold the block): freshness makes client 1 fetch it first.
    const es = c.grant(ts, 1);
    expect(sends(es).filter((s) => s.message.type === 'FETCH')).toHaveLength(1);
    expect(persists(es)).toEqual([]);
    const after = c.receive(2, { type: 'BLOCKS', ts: ts + 5, blocks: [lost], last: true });
    expect(resultOf(after, 'c1')).toMatchObject({ status: 'SUCCESS', repeat: true, block: 1, txId: 'K' });
    expect(persists(after)).toEqual([lost]);
    expect(keysIn(c.chain, 'K')).toBe(1);
    // The lock round commits nothing: RELEASE without a block.
    expect(sends(after).filter((s) => s.message.type === 'RELEASE').map((s) => s.message)).toEqual([expect.objectContaining({ block: null }), expect.objectContaining({ block: null })]);
  });

  it('a key another client commits while the transfer is queued is refused in the critical section (conflict), not committed again', () => {
    const c = new Client(1).connect();
    committedMeanwhileIsRefused(c, requestTs(c.transfer('c1', 'K', 2, 100)), 'K');
  });

  it('a block from a peer holding a key the chain already holds does not extend it: it is rejected and logged', () => {
    const b1 = blockOf(1, genesis.hash, 2, [{ id: 'K', from: 2, to: 1, amount: 100 }]);
    const c = new Client(1, [b1]).connect(1);
    const dup = blockOf(2, b1.hash, 3, [{ id: 'K', from: 3, to: 1, amount: 100 }]);
    const es = c.receive(3, { type: 'BLOCKS', ts: 60, blocks: [dup], last: true });
    expect(persists(es)).toEqual([]);
    expect(rejected(es)).toEqual(['block #2: transfer key "K" is already committed in block #1']);
    expect(c.node.chainHead().height).toBe(1);
  });

  it('a lookup sees the blocks appended earlier in the same step, before they are persisted: the second of two blocks with one key is rejected', () => {
    const b1 = blockOf(1, genesis.hash, 2, [{ id: 'K', from: 2, to: 1, amount: 100 }]);
    const b2 = blockOf(2, b1.hash, 2, [{ id: 'K', from: 2, to: 3, amount: 100 }]);
    const c = new Client(1).connect();
    const es = c.receive(2, { type: 'BLOCKS', ts: 60, blocks: [b1, b2], last: true });
    expect(persists(es)).toEqual([b1]);
    expect(rejected(es)).toEqual(['block #2: transfer key "K" is already committed in block #1']);
  });

  it('a block holding one key twice is invalid (checkBlock; a key that is not one never gets past the wire guard)', () => {
    const twice = blockOf(1, genesis.hash, 1, [{ id: 'K', from: 1, to: 2, amount: 1 }, { id: 'K', from: 1, to: 3, amount: 1 }]);
    expect(checkBlock({ height: 0, hash: genesis.hash }, genesisBalances(genesis), twice)).toEqual({ ok: false, error: 'block #1 holds transfer key "K" twice' });
  });
});

describe('a key the client made for the transfer', () => {
  const made = (c: Client, id: string, key: string, to: number, amount: number): Effect[] =>
    c.step({ kind: 'command', id, command: { type: 'transfer', to, amount, key, madeHere: true } });

  it('is not looked up at arrival (nobody can know it yet), yet is queued, found by tx and withdraw, and commits as any other', () => {
    const lookups: string[] = [];
    const c = new Client(1, [], { policy: { findKey: (key, lookup) => (lookups.push(key), lookup(key)) } }).connect();
    const ts = requestTs(made(c, 'c1', 'Made1', 2, 100));
    made(c, 'c2', 'Made2', 3, 100);
    expect(lookups).toEqual([]);
    expect(c.node.transferState('Made2')).toMatchObject({ state: 'pending', requested: true });
    expect(stateOf(c.withdraw('w', 'Made2'), 'w')).toMatchObject({ state: 'withdrawn' });
    const es = c.grant(ts);
    expect(resultOf(es, 'c1')).toMatchObject({ status: 'SUCCESS', txId: 'Made1', repeat: false });
    expect(c.node.transferState('Made1')).toMatchObject({ state: 'committed', block: 1 });
  });

  it('is known once it is shown (answers, logs, tx): a caller\'s --id with it while it waits joins it, and the block holds it once', () => {
    const c = new Client(1).connect();
    const ts = requestTs(made(c, 'c1', 'Made1', 2, 100));
    const retry = c.transfer('c2', 'Made1', 2, 100);
    expect(resultOf(retry, 'c2')).toBeUndefined();
    expect(c.node.status().pendingTransfers).toBe(1);
    const other = c.transfer('c3', 'Made1', 3, 100);
    expect(resultOf(other, 'c3')).toMatchObject({ status: 'FAILED', reason: 'conflict', first: { block: null, from: 1, to: 2, amount: 100 } });
    const es = c.grant(ts);
    expect(persists(es).map((b) => b.txs)).toEqual([[{ id: 'Made1', from: 1, to: 2, amount: 100 }]]);
    expect(resultOf(es, 'c2')).toEqual(resultOf(es, 'c1'));
    expect(keysIn(c.chain, 'Made1')).toBe(1);
  });

  it('is looked up in the critical section: committed meanwhile by another client (a caller\'s --id there), it is refused (conflict), not committed again', () => {
    const c = new Client(1).connect();
    committedMeanwhileIsRefused(c, requestTs(made(c, 'c1', 'Made1', 2, 100)), 'Made1');
  });

  it('the creator checks its own sealed block as every replica does before appending it: one that breaks a rule is a broken invariant (it throws; nothing is persisted or sent)', () => {
    // A critical section that lets an overdraft through: the block it seals fails checkBlock.
    const c = new Client(1, [], { policy: { checkTransfer: () => ({ ok: true }) } }).connect();
    const ts = requestTs(made(c, 'c1', 'Made1', 2, 5000));
    expect(() => c.grant(ts)).toThrow(/block #1 it built breaks the chain's rules: .*insufficient balance/);
    expect(c.chain).toEqual([]);
  });

  it('is still checked by every replica: a block that repeats a committed key is refused whoever made it', () => {
    const b1 = blockOf(1, genesis.hash, 2, [{ id: 'Made1', from: 2, to: 1, amount: 100 }]);
    const c = new Client(1, [b1]).connect(1);
    const again = blockOf(2, b1.hash, 2, [{ id: 'Made1', from: 2, to: 1, amount: 100 }]);
    expect(rejected(c.receive(2, { type: 'BLOCKS', ts: 60, blocks: [again], last: true }))).toEqual(['block #2: transfer key "Made1" is already committed in block #1']);
  });
});

describe('giving up is explicit: withdraw', () => {
  it('withdraw takes a queued transfer off the queue: its caller gets WITHDRAWN, nothing moves, and the lock request left with nothing to commit is withdrawn', () => {
    const c = new Client(1).connect();
    const ts = requestTs(c.transfer('c1', 'K', 2, 100));
    const es = c.withdraw('w1', 'K');
    expect(resultOf(es, 'c1')).toEqual({ type: 'transfer', ok: false, status: 'WITHDRAWN', txId: 'K', from: 1, to: 2, amount: 100 });
    expect(stateOf(es, 'w1')).toEqual({ state: 'withdrawn', txId: 'K', from: 1, to: 2, amount: 100 });
    expect(sends(es).map((s) => s.message)).toEqual([expect.objectContaining({ type: 'RELEASE', block: null }), expect.objectContaining({ type: 'RELEASE', block: null })]);
    expect(c.node.status().requesting).toBeNull();
    expect(persists(c.grant(ts))).toEqual([]);
    expect(Object.fromEntries(c.node.balanceTable())).toEqual({ 1: 1000, 2: 1000, 3: 1000 });
  });

  it('a withdrawal that comes after the commit leaves it committed and says so; one of a key never seen says unknown', () => {
    const c = new Client(1).connect();
    c.commit('c1', 'K', 2, 100);
    expect(stateOf(c.withdraw('w1', 'K'), 'w1')).toMatchObject({ state: 'committed', block: 1, from: 1, to: 2, amount: 100 });
    expect(stateOf(c.withdraw('w2', 'never'), 'w2')).toEqual({ state: 'unknown', txId: 'never' });
  });

  it('withdrawing one of two queued transfers keeps the lock request for the other', () => {
    const c = new Client(1).connect();
    const ts = requestTs(c.transfer('c1', 'A', 2, 100));
    c.transfer('c2', 'B', 3, 100);
    expect(sends(c.withdraw('w1', 'A'))).toEqual([]);
    const es = c.grant(ts);
    expect(persists(es)[0]!.txs.map((t) => t.id)).toEqual(['B']);
  });
});

describe('tx <key>: what became of a transfer', () => {
  it('says committed (block, hash, clock), pending (queued for peers, or in a lock round with what it waits for), withdrawn, failed, or unknown', () => {
    const c = new Client(1);
    c.step({ kind: 'peerUp', peer: 2, height: 0, incarnation: 0 });
    c.transfer('c1', 'Q', 2, 100);
    expect(c.node.transferState('Q')).toEqual({ state: 'pending', txId: 'Q', from: 1, to: 2, amount: 100, requested: false, wait: { kind: 'peersDown', peers: [3] } });
    c.step({ kind: 'peerUp', peer: 3, height: 0, incarnation: 0 });
    expect(c.node.transferState('Q')).toMatchObject({ state: 'pending', requested: true, wait: { kind: 'noLaterMessage', peers: [2, 3] } });
    const ts = c.node.status().requesting!.ts;
    c.grant(ts);
    const b = c.chain[0]!;
    expect(c.node.transferState('Q')).toEqual({ state: 'committed', txId: 'Q', block: 1, hash: b.hash, clock: b.ts, from: 1, to: 2, amount: 100 });
    c.commit('c2', 'F', 2, 99_999);
    expect(c.node.transferState('F')).toMatchObject({ state: 'failed', reason: 'insufficient', error: expect.stringContaining('insufficient balance') });
    c.transfer('c3', 'W', 2, 1);
    c.withdraw('w', 'W');
    expect(c.node.transferState('W')).toEqual({ state: 'withdrawn', txId: 'W', from: 1, to: 2, amount: 1 });
    expect(c.node.transferState('nope')).toEqual({ state: 'unknown', txId: 'nope' });
  });

  it('a refused conflict is not taken for the key\'s outcome: tx still names the committed transfer', () => {
    const c = new Client(1).connect();
    c.commit('c1', 'K', 2, 100);
    c.transfer('c2', 'K', 3, 5);
    expect(c.node.transferState('K')).toMatchObject({ state: 'committed', to: 2, amount: 100 });
  });

  it(`the memory of failed and withdrawn keys is bounded: past ${RECENT_TRANSFER_OUTCOMES} the oldest is forgotten`, () => {
    const c = new Client(1); // no peer up: every transfer stays queued until withdrawn
    for (let i = 0; i <= RECENT_TRANSFER_OUTCOMES; i++) {
      c.transfer(`c${i}`, `k${i}`, 2, 1);
      c.withdraw(`w${i}`, `k${i}`);
    }
    expect(c.node.transferState('k0')).toEqual({ state: 'unknown', txId: 'k0' });
    expect(c.node.transferState('k1')).toMatchObject({ state: 'withdrawn' });
    expect(c.node.transferState(`k${RECENT_TRANSFER_OUTCOMES}`)).toMatchObject({ state: 'withdrawn' });
  });
});
