import { describe, expect, it } from 'vitest';
import type { CoreEvent, Effect, GlobalSnapshot, Input } from '../../src/core/api.js';
import { describeBlock, describeEffect, describeEvent, describeInput, describeMessage, describeResult, describeSend } from '../../src/core/describe.js';
import { makeGenesis, sealBlock } from '../../src/core/ledger.js';
import { EMPTY_DIGEST } from '../../src/core/digest.js';
import type { Block, Message } from '../../src/core/types.js';

const genesis = makeGenesis(new Map([[1, 1000], [2, 1000], [3, 1000]]), 'describe');
const b1: Block = sealBlock({ height: 1, prevHash: genesis.hash, ts: 9, creator: 1, txs: [{ id: 'c1', from: 1, to: 2, amount: 450 }] });
const b2: Block = sealBlock({
  height: 2, prevHash: b1.hash, ts: 12, creator: 2,
  txs: [{ id: 'c2', from: 2, to: 3, amount: 1 }, { id: 'c3', from: 2, to: 1, amount: 2 }],
});
const state = {
  node: 3, clock: 40, height: 2, head: b2.hash, balances: { '1': 552, '2': 1447, '3': 1001 }, pendingBlocks: [b2], queue: [{ ts: 38, node: 1 }],
  channels: [{ peer: 1, sent: 3, received: 2, sentDigest: '00c0ffee00c0ffee', receivedDigest: '0123456789abcdef', lastReceivedTs: 39 }, { peer: 2, sent: 0, received: 0, sentDigest: EMPTY_DIGEST, receivedDigest: EMPTY_DIGEST, lastReceivedTs: 0 }],
};

const messages: Message[] = [
  { type: 'REQUEST', ts: 7, height: 2, view: 5 },
  { type: 'REPLY', ts: 8, height: 1, view: 5 },
  { type: 'RELEASE', ts: 9, height: 1, view: 5, block: b1 },
  { type: 'RELEASE', ts: 10, height: 1, view: 5, block: null },
  { type: 'MARKER', ts: 11, snapshot: { initiator: 2, seq: 3 } },
  {
    type: 'REPORT', ts: 41, snapshot: { initiator: 2, seq: 3 },
    local: { state, channels: [{ from: 1, messages: [{ type: 'RELEASE', ts: 9, height: 1, view: 5, block: b1 }, { type: 'REPLY', ts: 8, height: 1, view: 5 }] }, { from: 2, messages: [] }] },
  },
  { type: 'REPORT', ts: 42, snapshot: { initiator: 2, seq: 3 }, local: null, error: 'client3\'s part of the snapshot would take up to 20 MiB' },
  { type: 'BLOCKS', ts: 14, blocks: [b1, b2], last: true },
  { type: 'BLOCKS', ts: 15, blocks: [], last: true },
  { type: 'BLOCKS', ts: 16, blocks: [b1], last: false },
  { type: 'FETCH', ts: 17, from: 3 },
];

describe('describeMessage', () => {
  it.each(messages.map((m) => [m.type, m] as const))('renders %s on one line with its type and ts', (type, m) => {
    const line = describeMessage(m);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.startsWith(type)).toBe(true);
    expect(line).toContain(`ts=${m.ts}`);
  });

  it('renders the documented forms', () => {
    expect(describeMessage({ type: 'REQUEST', ts: 7, height: 2, view: 5 })).toBe('REQUEST ts=7 at #2');
    expect(describeMessage({ type: 'REPLY', ts: 8, height: 0, view: 5 })).toBe('REPLY ts=8 at #0');
    expect(describeMessage({ type: 'RELEASE', ts: 9, height: 1, view: 5, block: b1 })).toBe(`RELEASE ts=9 block #1 ${b1.hash.slice(0, 8)} by 1 (1->2 $4.50)`);
    expect(describeMessage({ type: 'RELEASE', ts: 10, height: 4, view: 5, block: null })).toBe('RELEASE ts=10 no block, at #4');
    expect(describeMessage({ type: 'MARKER', ts: 11, snapshot: { initiator: 2, seq: 3 } })).toBe('MARKER ts=11 snapshot 2.3');
    expect(describeMessage({ type: 'BLOCKS', ts: 14, blocks: [b1, b2], last: true })).toBe('BLOCKS ts=14 #1..#2');
    expect(describeMessage({ type: 'FETCH', ts: 17, from: 3 })).toBe('FETCH ts=17 from #3');
  });

  it('a BLOCKS that is not the last of its serve says more follow; an empty one says none', () => {
    expect(describeMessage({ type: 'BLOCKS', ts: 16, blocks: [b1], last: false })).toBe('BLOCKS ts=16 #1..#1 (more follow)');
    expect(describeMessage({ type: 'BLOCKS', ts: 15, blocks: [], last: true })).toBe('BLOCKS ts=15 none');
  });

  it('a failed REPORT (local: null) shows its error', () => {
    expect(describeMessage({ type: 'REPORT', ts: 42, snapshot: { initiator: 2, seq: 3 }, local: null, error: 'too large' })).toBe('REPORT ts=42 snapshot 2.3 failed: too large');
  });

  it('summarises a REPORT instead of dumping its contents', () => {
    const line = describeMessage(messages[5]!);
    expect(line).toContain('snapshot 2.3');
    expect(line).toContain('2 in flight');
    expect(line.length).toBeLessThan(120);
  });

  it('describeSend prefixes sender and receiver', () => {
    expect(describeSend(2, 3, { type: 'REQUEST', ts: 7, height: 0, view: 5 })).toBe('2->3 REQUEST ts=7 at #0');
  });
});

describe('describeBlock', () => {
  it('shows a lone transfer and counts several', () => {
    expect(describeBlock(b1)).toContain('1->2 $4.50');
    expect(describeBlock(b2)).toContain('2 txs');
    expect(describeBlock(b2)).not.toMatch(/\n/);
  });
});

describe('one-line renderings of inputs, events, results and effects', () => {
  const inputs: Input[] = [
    { kind: 'command', id: 'c1', command: { type: 'transfer', to: 2, amount: 450, key: 'rent-2026-11' } },
    { kind: 'command', id: 'w1', command: { type: 'withdraw', key: 'rent-2026-11' } },
    { kind: 'command', id: 's1', command: { type: 'snapshot' } },
    { kind: 'receive', from: 2, message: { type: 'REPLY', ts: 8, height: 0, view: 5 } },
    { kind: 'peerUp', peer: 2, height: 4, incarnation: 77 },
    { kind: 'peerDown', peer: 3 },
    { kind: 'tick', now: 1234 },
  ];
  const events: CoreEvent[] = [
    { type: 'waitingForPeers', key: 'rent-2026-11', peers: [2, 3] },
    { type: 'requested', ts: 3, transfers: 2 },
    { type: 'entered', ts: 5, transfers: 2, height: 3 },
    { type: 'left', ts: 6, block: 4 },
    { type: 'left', ts: 6, block: null },
    { type: 'withdrawn', ts: 3, reason: 'every waiting transfer timed out' },
    { type: 'transferWithdrawn', key: 'rent-2026-11' },
    { type: 'blockApplied', block: b1, from: null },
    { type: 'blockApplied', block: b1, from: 2 },
    { type: 'blockRejected', from: 2, height: 1, reason: 'does not chain' },
    { type: 'catchingUp', peer: 2, from: 1, to: 5 },
    { type: 'served', peer: 3, from: 2, to: 9 },
    { type: 'snapshotStarted', id: { initiator: 1, seq: 1 }, from: null },
    { type: 'snapshotRecorded', id: { initiator: 1, seq: 1 } },
    { type: 'snapshotAbandoned', id: { initiator: 1, seq: 1 }, missing: [3] },
    { type: 'protocolError', from: 3, error: 'unexpected snapshot report 2.1' },
  ];
  const snapshot: GlobalSnapshot = {
    id: { initiator: 1, seq: 1 }, initiator: 1, nodes: [], channels: [], markers: 6,
    verification: {
      ok: false, total: 3000, problems: ['a', 'b'], head: null, behind: [],
      checks: [{ name: 'money', ok: false, detail: '2 problem(s)', problems: ['a', 'b'] }],
    },
  };
  const effects: Effect[] = [
    { kind: 'send', to: 3, message: { type: 'REQUEST', ts: 7, height: 0, view: 5 } },
    { kind: 'persist', block: b1, sync: true },
    { kind: 'persist', block: b2, sync: false },
    // What was the serveBlocks effect is now plain BLOCKS sends.
    { kind: 'send', to: 2, message: { type: 'BLOCKS', ts: 20, blocks: [b1, b2], last: true } },
    { kind: 'send', to: 2, message: { type: 'FETCH', ts: 21, from: 3 } },
    { kind: 'reply', commandId: 'c1', result: { type: 'transfer', ok: true, status: 'SUCCESS', txId: 'c1', repeat: false, block: 1, from: 1, to: 2, amount: 450, clock: 9, msgs: 6, batch: 1 } },
    { kind: 'reply', commandId: 'c2', result: { type: 'transfer', ok: false, status: 'FAILED', txId: 'c2', reason: 'insufficient', error: 'insufficient balance: client1 has $3.00, needs $4.50', from: 1, to: 2, amount: 450, balance: 300 } },
    { kind: 'reply', commandId: 'c3', result: { type: 'transfer', ok: true, status: 'SUCCESS', txId: 'c1', repeat: true, block: 1, from: 1, to: 2, amount: 450, clock: 9, msgs: 0, batch: 1 } },
    { kind: 'reply', commandId: 'c4', result: { type: 'transfer', ok: false, status: 'WITHDRAWN', txId: 'k4', from: 1, to: 2, amount: 450 } },
    { kind: 'reply', commandId: 'w1', result: { type: 'withdraw', state: { state: 'withdrawn', txId: 'k4', from: 1, to: 2, amount: 450 } } },
    { kind: 'reply', commandId: 's1', result: { type: 'snapshot', ok: true, snapshot } },
    { kind: 'reply', commandId: 's2', result: { type: 'snapshot', ok: false, id: { initiator: 1, seq: 2 }, error: 'timed out', missing: [3] } },
    { kind: 'snapshotComplete', snapshot },
    ...events.map((event): Effect => ({ kind: 'log', level: 'info', event })),
  ];

  it.each(inputs.map((i) => [i.kind, i] as const))('input %s', (_k, i) => {
    const line = describeInput(1, i);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.length).toBeGreaterThan(0);
  });

  it('entering shows the height the new block builds on', () => {
    expect(describeEvent({ type: 'entered', ts: 5, transfers: 2, height: 3 })).toBe('entered the critical section at ts=5 on #3 with 2 transfer(s)');
  });

  it('a peerUp shows the height the peer announced in its handshake', () => {
    expect(describeInput(1, { kind: 'peerUp', peer: 2, height: 4, incarnation: 77 })).toBe('1 peer 2 up at height 4');
  });

  it('a persist says whether it syncs: only the node\'s own blocks are synced', () => {
    expect(describeEffect(1, { kind: 'persist', block: b1, sync: true })).toBe(`1 persist and sync block ${describeBlock(b1)}`);
    expect(describeEffect(1, { kind: 'persist', block: b2, sync: false })).toBe(`1 persist block ${describeBlock(b2)}`);
  });

  it('a served event names the peer and the heights sent, a catchingUp event the heights asked for', () => {
    expect(describeEvent({ type: 'served', peer: 3, from: 2, to: 9 })).toBe('sent blocks #2..#9 to client3');
    expect(describeEvent({ type: 'catchingUp', peer: 2, from: 1, to: 5 })).toBe('catching up from client2: #1..#5');
  });

  it('leaving the critical section says which block was committed, if any', () => {
    expect(describeEvent({ type: 'left', ts: 6, block: 4 })).toBe('left the critical section at ts=6, block #4 committed');
    expect(describeEvent({ type: 'left', ts: 6, block: null })).toBe('left the critical section at ts=6, no block committed');
  });

  it.each(events.map((e) => [e.type, e] as const))('event %s', (_t, e) => {
    const line = describeEvent(e);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.length).toBeGreaterThan(0);
  });

  it.each(effects.map((e, i) => [`${i} ${e.kind}`, e] as const))('effect %s', (_k, e) => {
    const line = describeEffect(1, e);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.length).toBeGreaterThan(0);
  });

  it('a transfer result reads like the REPL line', () => {
    const r = effects[5]!;
    if (r.kind !== 'reply') throw new Error('fixture');
    expect(describeResult(r.result)).toBe('SUCCESS block #1 client1 -> client2 $4.50 key c1 (clock 9, 6 msgs)');
    const f = effects[6]!;
    if (f.kind !== 'reply') throw new Error('fixture');
    expect(describeResult(f.result)).toBe('FAILED key c2: insufficient balance: client1 has $3.00, needs $4.50');
    const again = effects[7]!;
    if (again.kind !== 'reply') throw new Error('fixture');
    expect(describeResult(again.result)).toBe('SUCCESS (repeat) block #1 client1 -> client2 $4.50 key c1 (clock 9, 0 msgs)');
    const gone = effects[8]!;
    if (gone.kind !== 'reply') throw new Error('fixture');
    expect(describeResult(gone.result)).toBe('WITHDRAWN client1 -> client2 $4.50 key k4');
  });

  it('a failed snapshot verification lists its problems', () => {
    expect(describeResult({ type: 'snapshot', ok: true, snapshot })).toBe('snapshot 1.1 NOT verified: a; b');
  });
});
