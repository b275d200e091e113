/**
 * The verdict printed with every global snapshot (src/core/verify.ts), on hand-made cuts: each
 * check passes on a consistent cut and fails, alone, on one broken the way it is meant to catch.
 *
 * What a consistent cut is (Chandy and Lamport 1985, section 3): the state of a channel is "the
 * sequence of messages sent along the channel before the sender's state was recorded, excluding
 * the sequence of messages received along the channel before the receiver's state was recorded".
 */
import { describe, expect, it } from 'vitest';
import { VERIFICATION_CHECKS, type Verification, type VerificationCheckName } from '../../src/core/api.js';
import { balancesToRecord, genesisBalances, sealBlock } from '../../src/core/ledger.js';
import { type BlockAt, verifySnapshot } from '../../src/core/verify.js';
import type { Block, ChannelState, Message, NodeId, RecordedState } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('verify');
const TOTAL = 3000;
const IDS = [1, 2, 3];
const V = 5;
const g = balancesToRecord(genesisBalances(genesis));

const b1 = sealBlock({ height: 1, prevHash: genesis.hash, ts: 5, creator: 1, txs: [{ id: 'a', from: 1, to: 2, amount: 400 }] });
const after1 = { '1': 600, '2': 1400, '3': 1000 };
const b2 = sealBlock({ height: 2, prevHash: b1.hash, ts: 7, creator: 2, txs: [{ id: 'b', from: 2, to: 3, amount: 1 }] });
const after2 = { '1': 600, '2': 1399, '3': 1001 };
/** A rival #1, by client 2: a fork. */
const fork1 = sealBlock({ height: 1, prevHash: genesis.hash, ts: 5, creator: 2, txs: [{ id: 'f', from: 2, to: 1, amount: 400 }] });
const afterFork1 = { '1': 1400, '2': 600, '3': 1000 };

/** The initiator's own chain, for `blockAt`. */
const chainAt = (chain: readonly Block[]): BlockAt => (h) => (h === 0 ? genesis : chain[h - 1] ?? null);

const at0 = { height: 0, head: genesis.hash, balances: g };
const at1 = { height: 1, head: b1.hash, balances: after1 };
const at2 = { height: 2, head: b2.hash, balances: after2 };

type Flight = readonly [from: NodeId, to: NodeId, messages: readonly Message[]];

/**
 * A cut of clients 1..3 at clock 10, each recorded state `over[id]` over genesis, with the given
 * messages in flight and channel counts that agree with them (sent = in flight, received = 0).
 */
function cut(over: Partial<Record<NodeId, Partial<RecordedState>>> = {}, flight: readonly Flight[] = []): { nodes: RecordedState[]; channels: ChannelState[] } {
  const inFlight = (from: NodeId, to: NodeId): readonly Message[] => flight.find(([f, t]) => f === from && t === to)?.[2] ?? [];
  const nodes = IDS.map((node): RecordedState => ({
    node, clock: 10, ...at0, pendingBlocks: [], queue: [],
    channels: IDS.filter((p) => p !== node).map((peer) => ({ peer, sent: inFlight(node, peer).length, received: 0 })),
    ...over[node],
  }));
  const channels = IDS.flatMap((from) => IDS.filter((to) => to !== from).map((to) => ({ from, to, messages: inFlight(from, to) })));
  return { nodes, channels };
}

const verify = (c: { nodes: RecordedState[]; channels: ChannelState[] }, chain: readonly Block[] = []): Verification =>
  verifySnapshot(c.nodes, c.channels, TOTAL, chainAt(chain));

const failing = (v: Verification): VerificationCheckName[] => v.checks.filter((c) => !c.ok).map((c) => c.name);
const problemsOf = (v: Verification, name: VerificationCheckName): readonly string[] => v.checks.find((c) => c.name === name)!.problems;

/** Sets client `id`'s counts for `peer`. */
function counts(c: { nodes: RecordedState[] }, id: NodeId, peer: NodeId, sent: number, received: number): void {
  const i = c.nodes.findIndex((n) => n.node === id);
  const s = c.nodes[i]!;
  c.nodes[i] = { ...s, channels: s.channels.map((ch) => (ch.peer === peer ? { peer, sent, received } : ch)) };
}

const reply = (ts: number, height = 0): Message => ({ type: 'REPLY', ts, height, view: V });
const request = (ts: number, height = 0): Message => ({ type: 'REQUEST', ts, height, view: V });
const release = (ts: number, block: Block | null, height = block?.height ?? 0): Message => ({ type: 'RELEASE', ts, height, view: V, block });

describe('verifySnapshot: a consistent cut', () => {
  it('passes every check, in the documented order, with the head and nobody behind', () => {
    const v = verify(cut());
    expect(v.checks.map((c) => c.name)).toEqual([...VERIFICATION_CHECKS]);
    expect(v.checks.every((c) => c.ok && c.problems.length === 0)).toBe(true);
    expect(v).toMatchObject({ ok: true, total: TOTAL, problems: [], head: { height: 0, hash: genesis.hash }, behind: [] });
    expect(v.checks.map((c) => c.detail)).toEqual([
      'every channel holds sent - received (0 in flight)',
      'every message in flight was sent before its sender recorded',
      'every queue agrees with the requests and releases in flight',
      '$30.00 conserved on every replica, no negative balance',
      'every replica reaches #0',
    ]);
  });
});

describe('check "channel counts": each channel holds what its sender had sent and its receiver had not received', () => {
  it('passes when sent - received messages are in flight on each channel', () => {
    const c = cut({}, [[1, 2, [reply(4)]]]);
    counts(c, 1, 2, 3, 0);
    counts(c, 2, 1, 0, 2); // client 2 had received 2 of the 3: 1 in flight
    const v = verify(c);
    expect(v.ok).toBe(true);
    expect(v.checks[0]).toEqual({ name: 'channel counts', ok: true, detail: 'every channel holds sent - received (1 in flight)', problems: [] });
  });

  it('fails when a channel holds fewer messages than were in flight (a message recorded nowhere)', () => {
    const c = cut();
    counts(c, 1, 2, 2, 0);
    counts(c, 2, 1, 0, 1);
    const v = verify(c);
    expect(failing(v)).toEqual(['channel counts']);
    expect(problemsOf(v, 'channel counts')).toEqual(['channel 1 -> 2 holds 0 messages, but client1 had sent 2 and client2 received 1 when they recorded: 1 were in flight']);
    expect(v.ok).toBe(false);
    expect(v.head).toBeNull();
  });

  it('fails when a channel holds a message its receiver had already received (recorded twice)', () => {
    const c = cut({}, [[3, 1, [reply(4)]]]);
    counts(c, 1, 3, 0, 1);
    expect(problemsOf(verify(c), 'channel counts')).toEqual(['channel 3 -> 1 holds 1 messages, but client3 had sent 1 and client1 received 1 when they recorded: 0 were in flight']);
  });

  it('fails when a receiver had received more than its sender had sent (a cut through the future)', () => {
    const c = cut();
    counts(c, 2, 3, 1, 0);
    counts(c, 3, 2, 0, 3);
    const v = verify(c);
    expect(failing(v)).toEqual(['channel counts']);
    expect(problemsOf(v, 'channel counts')).toEqual(['channel 2 -> 3: client3 had received 3 messages when it recorded, but client2 had sent only 1 when it recorded']);
  });

  it('fails when a channel has no recorded state at all', () => {
    const c = cut();
    c.channels = c.channels.filter((ch) => !(ch.from === 1 && ch.to === 3));
    const v = verify(c);
    expect(failing(v)).toEqual(['channel counts']);
    expect(problemsOf(v, 'channel counts')).toEqual(['channel 1 -> 3 has no recorded state']);
  });
});

describe('check "sent before the cut": every message in flight was sent before its sender recorded', () => {
  it('passes for a message stamped at the sender\'s recorded clock', () => {
    expect(verify(cut({}, [[2, 1, [reply(10)]]])).ok).toBe(true);
  });

  it('fails for a message stamped after the sender\'s recorded clock', () => {
    const v = verify(cut({}, [[2, 1, [reply(11)]]]));
    expect(failing(v)).toEqual(['sent before the cut']);
    expect(problemsOf(v, 'sent before the cut')).toEqual(['channel 2 -> 1 holds REPLY ts=11 at #0, sent after client2 recorded at clock 10']);
  });

  it('fails for a marker or a report in a channel state: they are the snapshot\'s own traffic', () => {
    const v = verify(cut({}, [[2, 3, [{ type: 'MARKER', ts: 3, snapshot: { initiator: 1, seq: 1 } }]]]));
    expect(failing(v)).toEqual(['sent before the cut']);
    expect(problemsOf(v, 'sent before the cut')).toEqual(["channel 2 -> 3 holds MARKER ts=3 snapshot 1.1, which is the snapshot's own traffic"]);
  });

  it('fails for a channel from a client that recorded no state', () => {
    const c = cut();
    c.channels.push({ from: 4, to: 1, messages: [] });
    expect(problemsOf(verify(c), 'sent before the cut')).toEqual(['channel 4 -> 1: no recorded state for client4']);
  });
});

describe('check "lock queues": delivering the lock messages in flight turns every queue entry into its requester\'s own request', () => {
  it('passes when every holder queues the requester\'s request, or the REQUEST is in flight to it', () => {
    const own = { ts: 3, node: 1 };
    const v = verify(cut({ 1: { queue: [own] }, 2: { queue: [own] } }, [[1, 3, [request(3)]]]));
    expect(v.ok).toBe(true);
  });

  it('passes when a holder still queues a request whose RELEASE is in flight to it', () => {
    const v = verify(cut({ 2: { queue: [{ ts: 3, node: 1 }] } }, [[1, 2, [release(4, null)]]]));
    expect(v.ok).toBe(true);
  });

  it('fails when a holder queues a request its requester does not have, with no RELEASE in flight', () => {
    const v = verify(cut({ 2: { queue: [{ ts: 3, node: 1 }] } }));
    expect(failing(v)).toEqual(['lock queues']);
    expect(problemsOf(v, 'lock queues')).toEqual(['client2 queues a request at ts 3 for client1 (counting the lock messages in flight), but client1 recorded no request']);
  });

  it('fails when a requester\'s request is neither queued by a peer nor in flight to it', () => {
    const own = { ts: 3, node: 1 };
    const v = verify(cut({ 1: { queue: [own] }, 2: { queue: [own] } }));
    expect(failing(v)).toEqual(['lock queues']);
    expect(problemsOf(v, 'lock queues')).toEqual(['client3 queues no request for client1 (counting the lock messages in flight), but client1 recorded a request at ts 3']);
  });

  it('fails when a holder queues an older request than the requester\'s own', () => {
    const v = verify(cut({ 1: { queue: [{ ts: 8, node: 1 }] }, 2: { queue: [{ ts: 3, node: 1 }] }, 3: { queue: [{ ts: 8, node: 1 }] } }));
    expect(failing(v)).toEqual(['lock queues']);
    expect(problemsOf(v, 'lock queues')).toEqual(['client2 queues a request at ts 3 for client1 (counting the lock messages in flight), but client1 recorded a request at ts 8']);
  });
});

describe('check "money": every replica sums to the genesis total, with no negative balance', () => {
  it('flags a balance table that does not sum to the total', () => {
    const v = verify(cut({ 2: { balances: { '1': 1000, '2': 1000, '3': 999 } } }));
    expect(failing(v)).toContain('money');
    expect(problemsOf(v, 'money')).toEqual(["client2's balances sum to $29.99, not $30.00"]);
    expect(v.ok).toBe(false);
    expect(v.head).toBeNull();
  });

  it('flags a negative balance even when the table sums to the total', () => {
    const v = verify(cut({ 3: { balances: { '1': -100, '2': 1100, '3': 2000 } } }));
    expect(failing(v)).toContain('money');
    expect(problemsOf(v, 'money')).toEqual(['client3 records client1 at -$1.00']);
  });
});

describe('check "one history": no two replicas hold different blocks at one height; replicas still catching up are allowed', () => {
  it('accepts replicas behind the head when the missing block is in flight to them (in a RELEASE)', () => {
    const v = verify(cut({ 1: at1 }, [[1, 2, [release(5, b1)]], [1, 3, [reply(4), release(5, b1)]]]), [b1]);
    expect(v).toMatchObject({ ok: true, head: { height: 1, hash: b1.hash }, behind: [] });
    expect(v.checks[4]!.detail).toBe('every replica reaches #1');
  });

  it('accepts a replica whose missing block is buffered in its own pending blocks, with the rest in a BLOCKS in flight', () => {
    const v = verify(cut({ 1: at2, 2: at2, 3: { pendingBlocks: [b2] } }, [[1, 3, [{ type: 'BLOCKS', ts: 9, blocks: [b1], last: true }]]]), [b1, b2]);
    expect(v).toMatchObject({ ok: true, head: { height: 2, hash: b2.hash }, behind: [] });
  });

  it('a replica that is behind with nothing in flight to it is allowed (it fetches later) and listed in `behind`', () => {
    const v = verify(cut({ 1: at2, 2: at1 }), [b1, b2]);
    expect(v.ok).toBe(true);
    expect(v.problems).toEqual([]);
    expect(v.head).toEqual({ height: 2, hash: b2.hash });
    expect(v.behind).toEqual([{ node: 2, height: 1 }, { node: 3, height: 0 }]);
    expect(v.checks[4]).toEqual({ name: 'one history', ok: true, detail: 'every replica on one chain; 2 still catching up to #2', problems: [] });
  });

  it('two replicas that hold different blocks at one height are a problem, not a replica behind', () => {
    const v = verify(cut({ 1: at1, 2: { height: 1, head: fork1.hash, balances: afterFork1 }, 3: at1 }), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual([
      `client1 and client2 hold different blocks #1: ${b1.hash.slice(0, 8)} and ${fork1.hash.slice(0, 8)}`,
      `client2's block #1 ${fork1.hash.slice(0, 8)} is not the initiator's ${b1.hash.slice(0, 8)}`,
    ]);
    expect(v.head).toBeNull();
    expect(v.behind).toEqual([]);
  });

  it('a replica behind on another chain than the initiator\'s is a problem', () => {
    const v = verify(cut({ 1: at2, 2: at2, 3: { height: 1, head: fork1.hash, balances: afterFork1 } }), [b1, b2]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual([`client3's block #1 ${fork1.hash.slice(0, 8)} is not the initiator's ${b1.hash.slice(0, 8)}`]);
  });

  it('flags replicas at the same head that disagree on a balance', () => {
    const v = verify(cut({ 2: { balances: { '1': 900, '2': 1100, '3': 1000 } } }));
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual(["client1 and client2 disagree on client1's balance at #0", "client1 and client2 disagree on client2's balance at #0"]);
  });

  it('flags an in-flight block that does not chain on its receiver', () => {
    const bad = sealBlock({ height: 1, prevHash: 'e'.repeat(64), ts: 5, creator: 1, txs: [{ id: 'a', from: 1, to: 2, amount: 400 }] });
    const v = verify(cut({ 1: at1, 3: at1 }, [[1, 2, [release(5, bad)]]]), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')[0]).toMatch(/^delivering the blocks in flight to client2: block #1 does not chain/);
  });

  it('flags two different blocks for one height on their way to one replica', () => {
    const v = verify(cut({ 1: at1, 3: at1 }, [[1, 2, [release(5, b1)]], [3, 2, [{ type: 'BLOCKS', ts: 6, blocks: [fork1], last: true }]]]), [b1]);
    expect(problemsOf(v, 'one history')).toContain('two different blocks #1 are on their way to client2');
  });

  it('flags a block in flight for the height a replica already holds, when it is another block', () => {
    const v = verify(cut({ 1: at1, 2: at1, 3: at1 }, [[2, 3, [{ type: 'BLOCKS', ts: 6, blocks: [fork1], last: true }]]]), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual([`client3's block #1 ${b1.hash.slice(0, 8)} differs from ${fork1.hash.slice(0, 8)} in flight to it`]);
  });
});

describe('the verdict as a whole', () => {
  it('lists every check\'s problems in `problems`, has no head and lists nobody behind when any check fails', () => {
    const c = cut({ 2: { balances: { '1': 1000, '2': 1000, '3': 999 }, queue: [{ ts: 1, node: 3 }] } });
    const v = verify(c);
    expect(failing(v)).toEqual(['lock queues', 'money', 'one history']);
    expect(v.problems).toEqual(v.checks.flatMap((ch) => ch.problems));
    expect(v.problems.length).toBeGreaterThanOrEqual(3);
    expect(v).toMatchObject({ ok: false, head: null, behind: [] });
  });

  it('a check with more than 10 problems lists 10 and sums up the rest', () => {
    const broke = { '1': -1, '2': -1, '3': -1 };
    const v = verify(cut({ 1: { balances: broke }, 2: { balances: broke }, 3: { balances: broke } }));
    // 3 wrong sums and 9 negative balances: 12 problems.
    const money = v.checks.find((ch) => ch.name === 'money')!;
    expect(money.problems).toHaveLength(11);
    expect(money.problems[10]).toBe('... and 2 more');
  });

  it('a check with more than 10 problems says how many it found in its detail, not how many lines it lists', () => {
    const broke = { '1': -1, '2': -1, '3': -1 };
    const v = verify(cut({ 1: { balances: broke }, 2: { balances: broke }, 3: { balances: broke } }));
    expect(v.checks.find((ch) => ch.name === 'money')!.detail).toBe('12 problem(s)');
  });
});
