/**
 * Wrong cuts, made by hand: each is a cut no consistent run can produce, and the verdict must say
 * NOT VERIFIED with the check that names what is wrong. Beside them, honest cuts of several shapes
 * (messages of every kind in flight, replicas behind and ahead of the initiator, a new session)
 * must stay verified.
 *
 * A consistent cut (Chandy and Lamport 1985, section 3): "the sequence of messages sent along the
 * channel before the sender's state was recorded, excluding the sequence of messages received
 * along the channel before the receiver's state was recorded" is each channel's state, and no
 * event recorded depends on one that is not.
 */
import { describe, expect, it } from 'vitest';
import type { VerificationCheckName } from '../../src/core/api.js';
import { EMPTY_DIGEST, foldDigest } from '../../src/core/digest.js';
import type { Block, Message, NodeId, QueueEntry } from '../../src/core/types.js';
import {
  type Cut, at, blockOn, blocks, cut, editChannel, editRecord, editState, failing, genesis, release, reply, request, verify,
} from './cut-fixtures.js';

// The chain of these stories: #1 by client 1 (1 -> 2 $4.00), #2 by client 2, #3 and #4 by client 3.
const a1 = blockOn(genesis, 1, 2, 400, 8);
const a2 = blockOn(a1, 2, 3, 100, 12);
const a3 = blockOn(a2, 3, 1, 50, 16);
const a4 = blockOn(a3, 3, 2, 25, 20);
/** Rivals: another #2 by client 2, and a branch x2, x3 by client 3 off #1. */
const rival2 = blockOn(a1, 2, 1, 100, 12);
const x2 = blockOn(a1, 3, 1, 300, 12);
const x3 = blockOn(x2, 3, 2, 10, 16);

const q = (ts: number, node: NodeId): QueueEntry => ({ ts, node });

interface Case {
  /** The cut, and the initiator's chain once the snapshot is assembled (after any wait). */
  readonly c: Cut;
  readonly chain: readonly Block[];
  readonly initiator?: NodeId;
}

/**
 * Story A, a lock round ending: client 1 requested at ts 3; clients 2 and 3 queued it and replied
 * at ts 5; client 1 entered at ts 8, committed #1 and released. Client 2 has the RELEASE; the one
 * to client 3 is in flight, and client 3 still queues the request.
 */
function roundEnding(): Case {
  return {
    c: cut(
      { 1: { clock: 8, ...at([a1]) }, 2: { clock: 9, ...at([a1]) }, 3: { clock: 5, queue: [q(3, 1)] } },
      {
        '1->2': { sent: [request(3), release(8, a1)], received: 2 },
        '1->3': { sent: [request(3), release(8, a1)], received: 1 },
        '2->1': { sent: [reply(5)], received: 1 },
        '3->1': { sent: [reply(5)], received: 1 },
      },
    ),
    chain: [a1],
  };
}

/**
 * Story B, a lock round starting: client 1 requested at ts 3; client 2 replied at ts 5 (received),
 * client 3 replied at ts 5 and again, confirming the view, at ts 7 (both in flight).
 */
function roundStarting(): Case {
  const own = q(3, 1);
  return {
    c: cut(
      { 1: { clock: 6, queue: [own] }, 2: { clock: 5, queue: [own] }, 3: { clock: 7, queue: [own] } },
      {
        '1->2': { sent: [request(3)], received: 1 },
        '1->3': { sent: [request(3)], received: 1 },
        '2->1': { sent: [reply(5)], received: 1 },
        '3->1': { sent: [reply(5), reply(7)], received: 0 },
      },
    ),
    chain: [],
  };
}

/**
 * Story C, catching up: client 1's machine lost #1 (it is back at genesis); client 3 served it
 * the block when they connected, and the BLOCKS is in flight. Client 3 has had nothing from 1 yet.
 */
function servingLost(): Case {
  return {
    c: cut({ 1: { clock: 4 }, 2: { clock: 10, ...at([a1]) }, 3: { clock: 10, ...at([a1]) } }, { '3->1': { sent: [blocks(9, [a1])], received: 0 } }),
    chain: [a1],
    initiator: 2,
  };
}

/** Three quiet replicas at the given chains (nothing in flight), initiated by client 1. */
function quiet(c1: readonly Block[], c2: readonly Block[], c3: readonly Block[], initiatorChain: readonly Block[]): Case {
  return { c: cut({ 1: { clock: 30, ...at(c1) }, 2: { clock: 30, ...at(c2) }, 3: { clock: 30, ...at(c3) } }), chain: initiatorChain };
}

const edit = (base: Case, change: (c: Cut) => void): Case => {
  change(base.c);
  return base;
};

/** What each wrong cut is, and the checks that must fail on it (every other check passes). */
const WRONG: readonly (readonly [kind: string, make: () => Case, fails: readonly VerificationCheckName[]])[] = [
  // -- channels: content, order, counts --
  ['a message counted both in its receiver\'s state and in the channel, with counts that agree', () => edit(roundEnding(), (c) => {
    editChannel(c, 1, 2, () => [release(8, a1)]);
    editRecord(c, 1, 2, () => ({ sent: 3 }));
  }), ['channels', 'clocks and queues']],
  ['a REPLY counted twice the same way', () => edit(roundEnding(), (c) => {
    editChannel(c, 2, 1, () => [reply(5)]);
    editRecord(c, 2, 1, () => ({ sent: 2 }));
  }), ['channels', 'clocks and queues']],
  ['a channel missing a REPLY, with counts that agree (the receiver\'s count raised)', () => edit(roundStarting(), (c) => {
    editChannel(c, 3, 1, () => [reply(7)]);
    editRecord(c, 1, 3, () => ({ received: 1 }));
  }), ['channels']],
  ['a channel missing a REPLY, with counts that agree (the sender\'s count lowered)', () => edit(roundStarting(), (c) => {
    editChannel(c, 3, 1, () => [reply(5)]);
    editRecord(c, 3, 1, () => ({ sent: 1 }));
  }), ['channels']],
  ['a channel recorded in reverse order', () => edit(roundStarting(), (c) => editChannel(c, 3, 1, (ms) => [...ms].reverse())), ['channels', 'clocks and queues']],
  ['a message replaced by a copy of the one before it', () => edit(roundStarting(), (c) => editChannel(c, 3, 1, (ms) => [ms[0]!, ms[0]!])), ['channels', 'clocks and queues']],
  ['a message altered in flight (the height a REPLY tells of)', () => edit(roundStarting(), (c) => editChannel(c, 3, 1, () => [reply(5, 1), reply(7)])), ['channels']],
  ['a block swapped in a RELEASE in flight (the rival #1)', () => edit(roundEnding(), (c) => editChannel(c, 1, 3, () => [release(8, blockOn(genesis, 1, 3, 400, 8))])), ['channels', 'one history']],
  ['a receiver that had received more than its sender had sent', () => edit(roundStarting(), (c) => editRecord(c, 2, 1, () => ({ received: 2 }))), ['channels']],
  // A state must record each of its channels: a missing record is not "nothing sent or received".
  ['a state that leaves out its records of one peer, hiding the blocks it sent there (the channel emptied to match)', () => edit(servingLost(), (c) => {
    editState(c, 3, (s) => ({ channels: s.channels.filter((r) => r.peer !== 1) }));
    editChannel(c, 3, 1, () => []);
  }), ['channels']],
  ['a state that records one peer twice, the first record hiding what it sent there (the channel emptied to match)', () => edit(roundStarting(), (c) => {
    editState(c, 3, (s) => {
      const real = s.channels.find((r) => r.peer === 1)!;
      return { channels: [{ ...real, sent: 0, sentDigest: EMPTY_DIGEST }, ...s.channels] };
    });
    editChannel(c, 3, 1, () => []);
  }), ['channels']],
  ['a marker in a channel state', () => edit(roundStarting(), (c) => editChannel(c, 2, 3, () => [{ type: 'MARKER', ts: 4, snapshot: { initiator: 1, seq: 1 } }])), ['channels']],
  // -- sent before the cut --
  ['a message in flight sent after its sender recorded', () => edit(roundStarting(), (c) => editState(c, 3, () => ({ clock: 6 }))), ['sent before the cut']],
  ['a block received but created after its sender recorded, counts agreeing', () => {
    // Client 1 recorded at clock 7, before it entered; then it released #1, and client 2 recorded
    // after receiving it. Client 1's count was raised to agree; its digest is of what it had sent.
    const c = cut(
      { 1: { clock: 7, queue: [q(3, 1)] }, 2: { clock: 9, ...at([a1]) }, 3: { clock: 7, queue: [q(3, 1)] } },
      { '1->2': { sent: [request(3), release(8, a1)], received: 2 }, '1->3': { sent: [request(3)], received: 1 }, '2->1': { sent: [reply(5)], received: 1 }, '3->1': { sent: [reply(5)], received: 1 } },
    );
    editRecord(c, 1, 2, () => ({ sentDigest: foldDigest(EMPTY_DIGEST, [request(3)]) }));
    return { c, chain: [a1], initiator: 3 };
  }, ['channels', 'sent before the cut', 'clocks and queues']],
  ['the same, with the sender\'s digest forged to agree as well', () => {
    const c = cut(
      { 1: { clock: 7, queue: [q(3, 1)] }, 2: { clock: 9, ...at([a1]) }, 3: { clock: 7, queue: [q(3, 1)] } },
      { '1->2': { sent: [request(3), release(8, a1)], received: 2 }, '1->3': { sent: [request(3)], received: 1 }, '2->1': { sent: [reply(5)], received: 1 }, '3->1': { sent: [reply(5)], received: 1 } },
    );
    return { c, chain: [a1], initiator: 3 };
  }, ['sent before the cut', 'clocks and queues']],
  // -- clocks and queues --
  ['a queue entry missing while that peer\'s RELEASE is still in flight', () => edit(roundEnding(), (c) => editState(c, 3, () => ({ queue: [] }))), ['clocks and queues']],
  ['a receiver\'s clock below a timestamp it has received', () => edit(roundEnding(), (c) => editState(c, 2, () => ({ clock: 7 }))), ['clocks and queues']],
  ['a request re-stamped above a receiver\'s clock', () => edit(roundStarting(), (c) => {
    for (const id of [1, 2, 3]) editState(c, id, () => ({ queue: [q(7, 1)] }));
  }), ['clocks and queues']],
  ['a client whose own request is stamped past its clock', () => edit(roundStarting(), (c) => editState(c, 1, (s) => ({ clock: 2, channels: s.channels }))), ['sent before the cut', 'clocks and queues']],
  ['a queue holding a request its requester does not have, no RELEASE in flight', () => edit(roundEnding(), (c) => editState(c, 2, () => ({ queue: [q(3, 1)] }))), ['clocks and queues']],
  ['a request neither queued by a peer nor in flight to it', () => edit(roundStarting(), (c) => editState(c, 2, () => ({ queue: [] }))), ['clocks and queues']],
  ['a REQUEST in flight to a client that already queues it', () => {
    const own = q(3, 1);
    const c = cut({ 1: { clock: 6, queue: [own] }, 2: { clock: 5, queue: [own] }, 3: { clock: 2, queue: [own] } }, { '1->2': { sent: [request(3)], received: 1 }, '1->3': { sent: [request(3)], received: 0 }, '2->1': { sent: [reply(5)], received: 1 } });
    return { c, chain: [] };
  }, ['clocks and queues']],
  ['a message in flight no later than one its receiver had already received on that channel', () => edit(roundStarting(), (c) => {
    // Client 1 had received both REPLYs (ts 5 and 7); the cut keeps the second in flight too, its
    // count and digest rewound to before it: only the timestamp of the last one received tells.
    editState(c, 1, () => ({ clock: 8 }));
    editRecord(c, 1, 3, () => ({ received: 1, receivedDigest: foldDigest(EMPTY_DIGEST, [reply(5)]), lastReceivedTs: 7 }));
    editChannel(c, 3, 1, () => [reply(7)]);
  }), ['clocks and queues']],
  // -- money --
  ['a balance table that does not sum to the total', () => edit(quiet([a1], [a1], [a1], [a1]), (c) => editState(c, 3, () => ({ balances: { '1': 600, '2': 1400, '3': 999 } }))), ['money', 'one history']],
  // -- one history --
  ['a replica on a fork, alone above the initiator\'s head (its chain reached that height later)', () => quiet([a1], [a1, rival2], [a1], [a1, a2]), ['one history']],
  ['a replica on a fork, alone above the initiator\'s head (its chain never reached that height)', () => quiet([a1], [a1, rival2], [a1], [a1]), ['one history']],
  ['a fork below the heads, both replicas above the initiator', () => quiet([a1], [a1, a2, a3, a4], [a1, x2, x3], [a1, a2, a3, a4]), ['one history']],
  ['a replica behind, on another chain than the initiator\'s', () => quiet([a1, a2, a3], [a1, a2, a3], [a1, x2], [a1, a2, a3]), ['one history']],
  ['a replica alone at its height whose balance table does not match its head', () => edit(quiet([a1], [a1, a2], [a1], [a1, a2]), (c) => {
    editState(c, 2, () => ({ balances: { '1': 601, '2': 1300, '3': 1099 } }));
  }), ['one history']],
  ['the initiator\'s own table not matching its head', () => edit(quiet([a1], [a1], [a1], [a1]), (c) => editState(c, 1, () => ({ balances: { '1': 1000, '2': 1000, '3': 1000 } }))), ['one history']],
  // A block is digested by its height and hash: one altered under its hash is for this check.
  ['a block in flight altered under its hash, which no longer chains on its receiver', () => edit(roundEnding(), (c) => {
    const bad = { ...a1, prevHash: 'e'.repeat(64) };
    editChannel(c, 1, 3, () => [release(8, bad)]);
  }), ['one history']],
  ['a block buffered by a replica that is not the initiator\'s', () => edit(quiet([a1, a2, a3], [a1, a2, a3], [a1], [a1, a2, a3]), (c) => {
    editState(c, 3, () => ({ pendingBlocks: [x3] }));
  }), ['one history']],
];

describe('wrong cuts: each is NOT VERIFIED by the check that names it', () => {
  it(`the catalogue holds ${WRONG.length} kinds`, () => {
    expect(WRONG.length).toBeGreaterThanOrEqual(25);
  });

  it.each(WRONG.map(([kind, make, fails]) => [kind, make, fails] as const))('%s', (_kind, make, fails) => {
    const { c, chain, initiator } = make();
    const v = verify(c, chain, initiator ?? 1);
    expect(v.ok, JSON.stringify(v.problems)).toBe(false);
    expect(failing(v), JSON.stringify(v.problems)).toEqual(fails);
    expect(v.head).toBeNull();
  });
});

describe('honest cuts of several shapes stay verified', () => {
  const HONEST: readonly (readonly [shape: string, make: () => Case])[] = [
    ['idle, every replica at genesis', () => quiet([], [], [], [])],
    ['a lock round ending, its RELEASE with a block in flight to a replica still queueing the request', roundEnding],
    ['a lock round starting, REQUEST received and REPLYs in flight', roundStarting],
    ['two requests crossing: each REQUEST in flight to the other requester', () => ({
      c: cut(
        { 1: { clock: 4, queue: [q(3, 1)] }, 2: { clock: 4, queue: [q(3, 1), q(3, 2)] }, 3: { clock: 5, queue: [q(3, 1), q(3, 2)] } },
        {
          '1->2': { sent: [request(3)], received: 1 }, '1->3': { sent: [request(3)], received: 1 },
          '2->1': { sent: [request(3)], received: 0 }, '2->3': { sent: [request(3)], received: 1 },
          '3->1': { sent: [reply(4)], received: 0 }, '3->2': { sent: [reply(5)], received: 0 },
        },
      ),
      chain: [],
    })],
    ['replicas behind and ahead of the initiator, a RELEASE with the newest block in flight to both', () => {
      const own = q(10, 2);
      return {
        c: cut(
          { 1: { clock: 11, ...at([a1]), queue: [own] }, 2: { clock: 12, ...at([a1, a2]) }, 3: { clock: 11, ...at([a1]), queue: [own] } },
          {
            '2->1': { sent: [request(10), release(12, a2)], received: 1 }, '2->3': { sent: [request(10), release(12, a2)], received: 1 },
            '1->2': { sent: [reply(11, 1)], received: 1 }, '3->2': { sent: [reply(11, 1)], received: 1 },
          },
        ),
        chain: [a1, a2],
      };
    }],
    ['a replica that lost a block, the BLOCKS serving it in flight', servingLost],
    ['a replica behind, with nothing in flight to it (it fetches later)', () => quiet([a1, a2, a3], [a1], [a1, a2, a3], [a1, a2, a3])],
    ['a new session: the re-sent REQUEST with its old timestamp first, then the pushed BLOCKS of one serve, in flight', () => {
      const own = q(3, 2);
      return {
        c: cut(
          { 1: { clock: 40, ...at([a1, a2, a3]), queue: [own] }, 2: { clock: 30, ...at([a1]), queue: [own] }, 3: { clock: 40, ...at([a1, a2, a3]), queue: [own] } },
          {
            '2->1': { sent: [request(3)], received: 1 }, '2->3': { sent: [request(3)], received: 1 },
            '1->2': { sent: [blocks(35, [a2], false), blocks(35, [a3], true)], received: 0 },
          },
        ),
        chain: [a1, a2, a3],
      };
    }],
    ['a block buffered out of height order, its predecessor in flight', () => ({
      c: cut({ 1: { clock: 40, ...at([a1, a2, a3]) }, 2: { clock: 40, ...at([a1, a2, a3]) }, 3: { clock: 40, ...at([a1]), pendingBlocks: [a3] } }, { '2->3': { sent: [blocks(33, [a2])], received: 0 } }),
      chain: [a1, a2, a3],
    })],
    ['the initiator behind every other replica, its chain having reached theirs by assembly', () => quiet([a1], [a1, a2, a3, a4], [a1, a2, a3], [a1, a2, a3, a4])],
  ];

  it.each(HONEST.map(([shape, make]) => [shape, make] as const))('%s', (_shape, make) => {
    const { c, chain, initiator } = make();
    const v = verify(c, chain, initiator ?? 1);
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
  });
});

/** The same message twice is the same digest: a check on the fixture, not on the verdict. */
it('the fixture: a message folded twice gives another digest than once', () => {
  const m: Message = reply(5);
  expect(foldDigest(foldDigest('0000000000000000', [m]), [m])).not.toBe(foldDigest('0000000000000000', [m]));
});
