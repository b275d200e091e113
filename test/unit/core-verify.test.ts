/**
 * The verdict printed with every global snapshot (src/core/verify.ts), check by check, on
 * hand-made cuts: each check passes on a consistent cut and fails, with its own words, on one
 * broken the way it is meant to catch. test/unit/core-verify-wrong-cuts.test.ts holds the
 * catalogue of wrong cuts and of honest shapes.
 *
 * What a consistent cut is (Chandy and Lamport 1985, section 3): the state of a channel is "the
 * sequence of messages sent along the channel before the sender's state was recorded, excluding
 * the sequence of messages received along the channel before the receiver's state was recorded".
 */
import { describe, expect, it } from 'vitest';
import { VERIFICATION_CHECKS } from '../../src/core/api.js';
import { EMPTY_DIGEST, foldDigest } from '../../src/core/digest.js';
import { short } from '../../src/core/ledger.js';
import { MAX_TABLE_SPREAD_BLOCKS } from '../../src/core/limits.js';
import type { Block } from '../../src/core/types.js';
import {
  TOTAL, at, b1, b2, b3, blockOn, blocks, chainOf, cut, editChannel, editRecord, editState, failing, fork1, genesis, problemsOf, release, reply, request, verify,
} from './cut-fixtures.js';
import { verifySnapshot } from '../../src/core/verify.js';

describe('verifySnapshot: a consistent cut', () => {
  it('passes every check, in the documented order, with the head and nobody behind', () => {
    const v = verify(cut());
    expect(v.checks.map((c) => c.name)).toEqual([...VERIFICATION_CHECKS]);
    expect(v.checks.every((c) => c.ok && c.problems.length === 0)).toBe(true);
    expect(v).toMatchObject({ ok: true, total: TOTAL, problems: [], head: { height: 0, hash: genesis.hash }, behind: [] });
    expect(v.checks.map((c) => c.detail)).toEqual([
      'counts and digests agree on every channel (0 in flight)',
      'every message received or in flight was sent before the cut',
      'clocks past what they received; queues agree with messages in flight',
      '$30.00 conserved on every replica, no negative balance',
      "every head and table on client1's chain; every replica reaches #0",
    ]);
  });
});

describe('check "channels": each channel holds exactly what its sender had sent and its receiver had not received', () => {
  it('passes when the messages not yet received are in flight, and says how many', () => {
    const v = verify(cut({}, { '1->2': { sent: [reply(2), reply(3), reply(4)], received: 2 } }));
    expect(v.ok).toBe(true);
    expect(v.checks[0]).toEqual({ name: 'channels', ok: true, detail: 'counts and digests agree on every channel (1 in flight)', problems: [] });
  });

  it('fails when a channel holds fewer messages than were in flight (a message recorded nowhere)', () => {
    const c = cut({}, { '1->2': { sent: [reply(2), reply(3)], received: 1 } });
    editChannel(c, 1, 2, () => []);
    const v = verify(c);
    expect(failing(v)).toEqual(['channels']);
    expect(problemsOf(v, 'channels')).toEqual(['channel 1 -> 2 holds 0 messages, but client1 had sent 2 and client2 received 1 when they recorded: 1 were in flight']);
    expect(v.ok).toBe(false);
    expect(v.head).toBeNull();
  });

  it('fails when a receiver had received more than its sender had sent (a cut through the future)', () => {
    const c = cut();
    editRecord(c, 2, 3, () => ({ sent: 1 }));
    editRecord(c, 3, 2, () => ({ received: 3 }));
    expect(problemsOf(verify(c), 'channels')).toEqual(['channel 2 -> 3: client3 had received 3 messages when it recorded, but client2 had sent only 1 when it recorded']);
  });

  it('fails when the counts agree but the messages are not the ones sent (digests differ), naming the channel', () => {
    const c = cut({}, { '2->1': { sent: [reply(3, 0), reply(4, 0)], received: 0 } });
    editChannel(c, 2, 1, () => [reply(3, 0), reply(4, 1)]);
    const v = verify(c);
    expect(failing(v)).toEqual(['channels']);
    expect(problemsOf(v, 'channels')).toEqual([
      'channel 2 -> 1: the 2 messages recorded in flight are not the ones client2 sent after the 0 client1 had received (digests differ: one missing, extra, altered or out of order)',
    ]);
  });

  it('folds the receiver\'s digest over the channel in order: the same messages in another order fail', () => {
    const c = cut({}, { '3->2': { sent: [reply(3), reply(4), reply(5)], received: 1 } });
    expect(verify(c).ok).toBe(true);
    editChannel(c, 3, 2, (ms) => [...ms].reverse());
    expect(failing(verify(c))).toContain('channels');
  });

  it('fails for a marker or a report in a channel state: they are the snapshot\'s own traffic', () => {
    const c = cut();
    editChannel(c, 2, 3, () => [{ type: 'MARKER', ts: 3, snapshot: { initiator: 1, seq: 1 } }]);
    const v = verify(c);
    expect(failing(v)).toEqual(['channels']);
    expect(problemsOf(v, 'channels')).toEqual(["channel 2 -> 3 holds MARKER ts=3 snapshot 1.1, which is the snapshot's own traffic"]);
  });

  it('fails when a channel has no recorded state, or comes from a client that recorded none', () => {
    const c = cut();
    c.channels = c.channels.filter((ch) => !(ch.from === 1 && ch.to === 3));
    c.channels.push({ from: 4, to: 1, messages: [] });
    expect(problemsOf(verify(c), 'channels')).toEqual(['channel 4 -> 1: no recorded state for client4', 'channel 1 -> 3 has no recorded state']);
  });

  it('a session starts from the empty digest: a channel whose receiver had received nothing folds from it', () => {
    const c = cut({}, { '1->3': { sent: [request(2)], received: 0 } });
    expect(c.nodes[2]!.channels.find((r) => r.peer === 1)).toMatchObject({ received: 0, receivedDigest: EMPTY_DIGEST, lastReceivedTs: 0 });
    expect(foldDigest(EMPTY_DIGEST, [request(2)])).toBe(c.nodes[0]!.channels.find((r) => r.peer === 3)!.sentDigest);
  });
});

describe('check "sent before the cut": no message crosses the cut backwards', () => {
  it('passes for a message stamped at the sender\'s recorded clock', () => {
    expect(verify(cut({ 2: { clock: 10 } }, { '2->1': { sent: [reply(10)], received: 0 } })).ok).toBe(true);
  });

  it('fails for a message in flight stamped after the sender\'s recorded clock', () => {
    const v = verify(cut({ 2: { clock: 10 } }, { '2->1': { sent: [reply(11)], received: 0 } }));
    expect(failing(v)).toEqual(['sent before the cut']);
    expect(problemsOf(v, 'sent before the cut')).toEqual(['channel 2 -> 1 holds REPLY ts=11 at #0, sent after client2 recorded at clock 10']);
  });

  it('fails for a message received before the receiver recorded but sent after its sender recorded', () => {
    const v = verify(cut({ 2: { clock: 10 } }, { '2->1': { sent: [reply(11)], received: 1 } }));
    expect(failing(v)).toEqual(['sent before the cut']);
    expect(problemsOf(v, 'sent before the cut')).toEqual(['client1 had received a message at ts 11 from client2 when it recorded, sent after client2 recorded at clock 10']);
  });
});

describe('check "clocks and queues": clocks past what was received, queues as the lock messages in flight leave them', () => {
  it('passes when every holder queues the requester\'s request, or the REQUEST is in flight to it', () => {
    const own = { ts: 3, node: 1 };
    const v = verify(cut({ 1: { queue: [own] }, 2: { queue: [own] } }, { '1->2': { sent: [request(3)], received: 1 }, '1->3': { sent: [request(3)], received: 0 } }));
    expect(v.ok).toBe(true);
  });

  it('passes when a holder still queues a request whose RELEASE is in flight to it', () => {
    const v = verify(cut({ 2: { queue: [{ ts: 3, node: 1 }] } }, { '1->2': { sent: [request(3), release(4, null)], received: 1 }, '1->3': { sent: [request(3), release(4, null)], received: 2 } }));
    expect(v.ok).toBe(true);
  });

  it('fails when a holder queues a request its requester does not have, with no RELEASE in flight', () => {
    const v = verify(cut({ 2: { queue: [{ ts: 3, node: 1 }] } }, { '1->2': { sent: [request(3)], received: 1 } }));
    expect(failing(v)).toEqual(['clocks and queues']);
    expect(problemsOf(v, 'clocks and queues')).toEqual(['client2 queues a request at ts 3 for client1 (counting the lock messages in flight), but client1 recorded no request']);
  });

  it('fails when a requester\'s request is neither queued by a peer nor in flight to it', () => {
    const own = { ts: 3, node: 1 };
    const v = verify(cut({ 1: { queue: [own] }, 2: { queue: [own] } }, { '1->2': { sent: [request(3)], received: 1 } }));
    expect(problemsOf(v, 'clocks and queues')).toEqual(['client3 queues no request for client1 (counting the lock messages in flight), but client1 recorded a request at ts 3']);
  });

  it('fails when a RELEASE is in flight to a holder that queues no request for it to end', () => {
    const v = verify(cut({}, { '1->2': { sent: [request(3), release(4, null)], received: 1 }, '1->3': { sent: [request(3), release(4, null)], received: 2 } }));
    expect(failing(v)).toEqual(['clocks and queues']);
    expect(problemsOf(v, 'clocks and queues')).toEqual(['RELEASE ts=4 no block, at #0 from client1 is in flight to client2, which queues no request from it for it to end (counting the lock messages in flight before it)']);
  });

  it('fails when a REQUEST is in flight to a holder that already queues it', () => {
    const own = { ts: 3, node: 1 };
    const c = cut({ 1: { queue: [own] }, 2: { queue: [own] }, 3: { queue: [own] } }, { '1->2': { sent: [request(3)], received: 1 }, '1->3': { sent: [request(3)], received: 1 } });
    editChannel(c, 1, 2, () => [request(3)]);
    expect(problemsOf(verify(c), 'clocks and queues')).toContain('REQUEST ts=3 at #0 from client1 is in flight to client2, which already queues a request at ts 3 from it (counting the lock messages in flight before it)');
  });

  it('fails when a clock is not past a timestamp its owner had received, or a queued request', () => {
    const own = { ts: 6, node: 3 };
    const v = verify(cut({ 1: { queue: [own] }, 2: { clock: 6, queue: [own] }, 3: { queue: [own] } }, { '1->2': { sent: [reply(8)], received: 1 }, '3->1': { sent: [request(6)], received: 1 }, '3->2': { sent: [request(6)], received: 1 } }));
    expect(failing(v)).toEqual(['clocks and queues']);
    expect(problemsOf(v, 'clocks and queues')).toEqual([
      'client2 queues a request at ts 6 from client3, but its clock 6 is not past it',
      "client2's clock 6 is not past ts 8, the last it received from client1",
      "client2's clock 6 is not past ts 6, the last it received from client3",
    ]);
  });

  it('fails when a client queues its own request stamped past its own clock', () => {
    const own = { ts: 30, node: 3 };
    expect(problemsOf(verify(cut({ 1: { clock: 40, queue: [own] }, 2: { clock: 40, queue: [own] }, 3: { queue: [own] } }, { '3->1': { sent: [request(30)], received: 1 }, '3->2': { sent: [request(30)], received: 1 } })), 'clocks and queues'))
      .toEqual(['client3 queues its own request at ts 30, past its clock 20']);
  });

  it('fails when a message in flight is no later than one its receiver had already received on that channel', () => {
    const c = cut({}, { '1->2': { sent: [reply(5), reply(6)], received: 1 } });
    editChannel(c, 1, 2, () => [reply(5)]);
    editRecord(c, 1, 2, (r) => ({ sentDigest: foldDigest(r.sentDigest, []), sent: 2 }));
    expect(problemsOf(verify(c), 'clocks and queues')).toEqual(['channel 1 -> 2 holds REPLY ts=5 at #0 in flight after ts 5, the last client2 had received on it']);
  });

  it('allows the BLOCKS of one serve, which share a timestamp, on either side of the cut', () => {
    const v = verify(cut({ 1: at([b1, b2]), 3: at([b1]) }, { '1->3': { sent: [blocks(4, [b1], false), blocks(4, [b2], true)], received: 1 } }), [b1, b2]);
    expect(v).toMatchObject({ ok: true, head: { height: 2, hash: b2.hash } });
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

describe('check "one history": every head, block and balance table on the initiator\'s chain; replicas catching up allowed', () => {
  it('accepts replicas behind the head when the missing block is in flight to them (in a RELEASE)', () => {
    const queued = { queue: [{ ts: 3, node: 1 }] };
    const v = verify(cut({ 1: at([b1]), 2: queued, 3: queued }, { '1->2': { sent: [request(3), release(5, b1)], received: 1 }, '1->3': { sent: [request(3), reply(4), release(5, b1)], received: 1 } }), [b1]);
    expect(v).toMatchObject({ ok: true, head: { height: 1, hash: b1.hash }, behind: [] });
    expect(v.checks[4]!.detail).toBe("every head and table on client1's chain; every replica reaches #1");
  });

  it('accepts a replica whose missing block is buffered in its own pending blocks, with the rest in a BLOCKS in flight', () => {
    const v = verify(cut({ 1: at([b1, b2]), 2: at([b1, b2]), 3: { pendingBlocks: [b2] } }, { '1->3': { sent: [blocks(9, [b1])], received: 0 } }), [b1, b2]);
    expect(v).toMatchObject({ ok: true, head: { height: 2, hash: b2.hash }, behind: [] });
  });

  it('a replica that is behind with nothing in flight to it is allowed (it fetches later) and listed in `behind`', () => {
    const v = verify(cut({ 1: at([b1, b2]), 2: at([b1]) }), [b1, b2]);
    expect(v.ok).toBe(true);
    expect(v.head).toEqual({ height: 2, hash: b2.hash });
    expect(v.behind).toEqual([{ node: 2, height: 1 }, { node: 3, height: 0 }]);
    expect(v.checks[4]).toEqual({ name: 'one history', ok: true, detail: "every head and table on client1's chain; 2 still catching up to #2", problems: [] });
  });

  it('names a head that is not on the initiator\'s chain, and the initiator\'s block at that height', () => {
    const v = verify(cut({ 1: at([b1]), 2: { height: 1, head: fork1.hash, balances: tableAfterFork() }, 3: at([b1]) }), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual([`client2's head #1 ${short(fork1.hash)} is not on client1's chain, whose #1 is ${short(b1.hash)}`]);
    expect(v.head).toBeNull();
    expect(v.behind).toEqual([]);
  });

  it('names a head above the initiator\'s, which the initiator did not reach in time to compare', () => {
    const v = verify(cut({ 2: at([b1, b2]), 3: at([b1, b2]) }), []);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual([`client2's head #2 ${short(b2.hash)} is above client1's head #0, which did not reach #2 in time to compare`]);
  });

  it('flags a balance table that is not the one at its head, naming the accounts', () => {
    const v = verify(cut({ 2: { balances: { '1': 900, '2': 1100, '3': 1000 } } }));
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')).toEqual(["client2's balance table is not the one at its head #0: client1 $9.00, not $10.00, client2 $11.00, not $10.00"]);
  });

  it('flags an in-flight block that does not chain on its receiver', () => {
    const bad = { ...b1, prevHash: 'e'.repeat(64) };
    const v = verify(cut({ 1: at([b1]), 3: at([b1]) }, { '1->2': { sent: [blocks(5, [bad])], received: 0 } }), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')[0]).toMatch(/^delivering the blocks in flight to client2: block #1 does not chain/);
  });

  it('flags two different blocks for one height on their way to one replica', () => {
    const v = verify(cut({ 1: at([b1]), 3: at([b1]) }, { '1->2': { sent: [blocks(5, [b1])], received: 0 }, '3->2': { sent: [blocks(6, [fork1])], received: 0 } }), [b1]);
    expect(problemsOf(v, 'one history')).toContain('two different blocks #1 are on their way to client2');
    expect(problemsOf(v, 'one history')).toContain(`block in flight to client2 #1 ${short(fork1.hash)} is not on client1's chain, whose #1 is ${short(b1.hash)}`);
  });

  it('flags a block in flight for the height a replica already holds, when it is another block', () => {
    const v = verify(cut({ 1: at([b1]), 2: at([b1]), 3: at([b1]) }, { '2->3': { sent: [blocks(6, [fork1])], received: 0 } }), [b1]);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')[0]).toBe(`client3's block #1 ${short(b1.hash)} differs from ${short(fork1.hash)} in flight to it`);
  });

  it('reads no block of the initiator\'s chain when every head is at its own (the idle snapshot), and only the spread otherwise', () => {
    const idle = cut({ 1: at([b1, b2, b3]), 2: at([b1, b2, b3]), 3: at([b1, b2, b3]) });
    const chain = chainOf([b1, b2, b3]);
    expect(verifySnapshot(idle.nodes, idle.channels, TOTAL, 1, chain).ok).toBe(true);
    expect(chain.reads).toBe(0);
    const spread = cut({ 1: at([b1, b2, b3]), 2: at([b1, b2]), 3: at([b1, b2, b3]) });
    expect(verifySnapshot(spread.nodes, spread.channels, TOTAL, 1, chain).ok).toBe(true);
    expect(chain.reads).toBe(1);
  });
});

describe('the table and hash comparison is bounded: a replica far behind costs one block read, not the spread', () => {
  // 1 and 2 at the head of a long chain, 3 far below it (it is catching up).
  const long: Block[] = [];
  for (let h = 1, prev = genesis; h <= 2000; h++) {
    const b = blockOn(prev, h % 2 === 1 ? 1 : 2, h % 2 === 1 ? 2 : 1, 1, 10 + h);
    long.push(b);
    prev = b;
  }

  it(`reads the hash at a far head directly, and compares no table more than MAX_TABLE_SPREAD_BLOCKS (${MAX_TABLE_SPREAD_BLOCKS}) below the initiator's head, saying whose and why`, () => {
    const c = cut({ 1: { clock: 30, ...at(long) }, 2: { clock: 30, ...at(long) }, 3: { clock: 30, ...at(long.slice(0, 5)) } });
    const chain = chainOf(long);
    const v = verifySnapshot(c.nodes, c.channels, TOTAL, 1, chain);
    expect(v.ok, JSON.stringify(v.problems)).toBe(true);
    expect(chain.reads).toBe(1);
    expect(v.checks[4]!.detail).toBe(
      `every head on client1's chain, every table compared at its head; client3's table (#5) not compared: more than ${MAX_TABLE_SPREAD_BLOCKS} blocks below client1's head #2000, the most the verdict undoes; 1 still catching up to #2000`,
    );
  });

  it('still fails a far head that is not on the initiator\'s chain (its hash), with one block read', () => {
    const rival = blockOn(long[3]!, 3, 1, 7, 99);
    const c = cut({ 1: { clock: 30, ...at(long) }, 2: { clock: 30, ...at(long) }, 3: { clock: 100, ...at([...long.slice(0, 4), rival]) } });
    const chain = chainOf(long);
    const v = verifySnapshot(c.nodes, c.channels, TOTAL, 1, chain);
    expect(problemsOf(v, 'one history')).toEqual([`client3's head #5 ${short(rival.hash)} is not on client1's chain, whose #5 is ${short(long[4]!.hash)}`]);
    expect(chain.reads).toBe(1);
  });

  it('compares the table of a replica within the bound, reading only the blocks between', () => {
    const near = long.length - MAX_TABLE_SPREAD_BLOCKS;
    const c = cut({ 1: { clock: 30, ...at(long) }, 2: { clock: 30, ...at(long.slice(0, near)) }, 3: { clock: 30, ...at(long) } });
    editState(c, 2, (s) => ({ balances: { ...s.balances, '1': s.balances['1']! + 1, '3': s.balances['3']! - 1 } }));
    const chain = chainOf(long);
    const v = verifySnapshot(c.nodes, c.channels, TOTAL, 1, chain);
    expect(failing(v)).toEqual(['one history']);
    expect(problemsOf(v, 'one history')[0]).toMatch(new RegExp(`^client2's balance table is not the one at its head #${near}`));
    expect(chain.reads).toBe(MAX_TABLE_SPREAD_BLOCKS);
  });
});

describe('the verdict as a whole', () => {
  it('lists every check\'s problems in `problems`, has no head and lists nobody behind when any check fails', () => {
    const c = cut({ 2: { balances: { '1': 1000, '2': 1000, '3': 999 }, queue: [{ ts: 1, node: 3 }] } });
    const v = verify(c);
    expect(failing(v)).toEqual(['clocks and queues', 'money', 'one history']);
    expect(v.problems).toEqual(v.checks.flatMap((ch) => ch.problems));
    expect(v).toMatchObject({ ok: false, head: null, behind: [] });
  });

  it('a check with more than 10 problems lists 10, sums up the rest, and says how many it found in its detail', () => {
    const broke = { '1': -1, '2': -1, '3': -1 };
    const v = verify(cut({ 1: { balances: broke }, 2: { balances: broke }, 3: { balances: broke } }));
    // 3 wrong sums and 9 negative balances: 12 problems.
    const money = v.checks.find((ch) => ch.name === 'money')!;
    expect(money.problems).toHaveLength(11);
    expect(money.problems[10]).toBe('... and 2 more');
    expect(money.detail).toBe('12 problem(s)');
  });

  it('a state edited after recording is caught (the fixture\'s cuts are consistent only as built)', () => {
    const c = cut({}, { '1->2': { sent: [reply(3)], received: 1 } });
    expect(verify(c).ok).toBe(true);
    editState(c, 2, () => ({ clock: 3 }));
    expect(failing(verify(c))).toEqual(['clocks and queues']);
  });
});

function tableAfterFork(): Record<string, number> {
  return { '1': 1400, '2': 600, '3': 1000 };
}
