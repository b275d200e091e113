/**
 * The initiator compares every recorded head with its own chain (check "one history"), so it
 * assembles a snapshot only once its chain reaches the highest recorded head: normally at once,
 * since every block a replica recorded reached the initiator before its creator's marker did. When
 * its chain lags (a catch-up served in parts), it fetches and waits, at most until the snapshot
 * timeout, after which the verdict names the heads it could not compare. Driven through step()
 * alone: client 1 is a real core node, its peers are played by hand.
 */
import { describe, expect, it } from 'vitest';
import type { Effect, GlobalSnapshot } from '../../src/core/api.js';
import { EMPTY_DIGEST } from '../../src/core/digest.js';
import { short } from '../../src/core/ledger.js';
import { Node } from '../../src/core/node.js';
import type { Block, LocalSnapshot, Message, NodeId, RecordedState, SnapshotId } from '../../src/core/types.js';
import { at, b1, b2, blockOn, genesis } from './cut-fixtures.js';

const TIMEOUT = 5_000;

/** Client 1, with its chain file as an array it reads from, counting the blocks read. */
function initiator(): { node: Node; chain: Block[]; reads: () => number; step: (input: Parameters<Node['step']>[0]) => Effect[] } {
  const chain: Block[] = [];
  let reads = 0;
  const node = new Node({
    id: 1, nodes: [1, 2, 3], genesis, transferTimeoutMs: 60_000, snapshotTimeoutMs: TIMEOUT,
    chain: { readBlocks: (from, to) => { reads += to - from + 1; return chain.slice(from - 1, to); } },
  });
  const step = (input: Parameters<Node['step']>[0]): Effect[] => {
    const effects = node.step(input);
    // The daemon carries out the persist effects after the step.
    for (const e of effects) if (e.kind === 'persist') chain.push(e.block);
    return effects;
  };
  for (const peer of [2, 3]) step({ kind: 'peerUp', peer, height: 0, incarnation: 0 });
  return { node, chain, reads: () => reads, step };
}

const empty = (peer: NodeId) => ({ peer, sent: 0, received: 0, sentDigest: EMPTY_DIGEST, receivedDigest: EMPTY_DIGEST, lastReceivedTs: 0 });

/** A peer's report of a quiet cut: nothing sent on any channel, its head as given. */
function report(id: SnapshotId, node: NodeId, head: Pick<RecordedState, 'height' | 'head' | 'balances'>, ts: number): Message {
  const state: RecordedState = { node, clock: ts - 1, ...head, pendingBlocks: [], queue: [], channels: [1, 2, 3].filter((p) => p !== node).map(empty) };
  const local: LocalSnapshot = { state, channels: [1, 2, 3].filter((p) => p !== node).map((from) => ({ from, messages: [] })) };
  return { type: 'REPORT', ts, snapshot: id, local };
}

const completed = (es: Effect[]): GlobalSnapshot[] => es.flatMap((e) => (e.kind === 'snapshotComplete' ? [e.snapshot] : []));
const fetched = (es: Effect[]): { to: NodeId; from: number }[] =>
  es.flatMap((e) => (e.kind === 'send' && e.message.type === 'FETCH' ? [{ to: e.to, from: e.message.from }] : []));

/** Client 1 starts snapshot 1.1; clients 2 and 3 record at once (their markers arrive) and report. */
function snapshotWithReports(c: ReturnType<typeof initiator>, head2: Pick<RecordedState, 'height' | 'head' | 'balances'>): Effect[] {
  c.step({ kind: 'command', id: 's', command: { type: 'snapshot' } });
  const id = { initiator: 1, seq: 1 };
  const es: Effect[] = [];
  for (const peer of [2, 3]) es.push(...c.step({ kind: 'receive', from: peer, message: { type: 'MARKER', ts: 2, snapshot: id } }));
  es.push(...c.step({ kind: 'receive', from: 3, message: report(id, 3, at([]), 3) }));
  es.push(...c.step({ kind: 'receive', from: 2, message: report(id, 2, head2, 3) }));
  return es;
}

describe('the initiator assembles once its chain reaches every recorded head', () => {
  it('with every head at or below its own, it assembles with the last report, fetching and reading nothing (the idle snapshot)', () => {
    const c = initiator();
    const es = snapshotWithReports(c, at([]));
    const [snap] = completed(es);
    expect(snap?.verification).toMatchObject({ ok: true, head: { height: 0 } });
    expect(fetched(es)).toEqual([]);
    expect(c.reads()).toBe(0);
  });

  it('a head above its own: it fetches from the client that reported it, waits, and assembles verified once the blocks are in, read from the very step that appended them', () => {
    const c = initiator();
    const es = snapshotWithReports(c, at([b1, b2]));
    expect(completed(es)).toEqual([]);
    expect(fetched(es)).toEqual([{ to: 2, from: 1 }]);
    // A tick before the timeout changes nothing.
    expect(completed(c.step({ kind: 'tick', now: TIMEOUT - 1 }))).toEqual([]);
    const done = c.step({ kind: 'receive', from: 2, message: { type: 'BLOCKS', ts: 9, blocks: [b1, b2], last: true } });
    const [snap] = completed(done);
    expect(snap?.verification.problems).toEqual([]);
    expect(snap?.verification).toMatchObject({ ok: true, head: { height: 2, hash: b2.hash }, behind: [{ node: 1, height: 0 }, { node: 3, height: 0 }] });
    expect(done.some((e) => e.kind === 'reply' && e.commandId === 's' && e.result.type === 'snapshot' && e.result.ok)).toBe(true);
    expect(c.chain).toHaveLength(2); // appended in that step: the verdict read them before they were written
  });

  it('the reporter gone, it fetches at once from another peer that told of the height, and assembles verified once the blocks are in', () => {
    const c = initiator();
    const es = snapshotWithReports(c, at([b1, b2]));
    expect(fetched(es)).toEqual([{ to: 2, from: 1 }]);
    // Client 3 tells of height 2 (it asks for the lock), then client 2's connection drops with the FETCH unanswered.
    const told = c.step({ kind: 'receive', from: 3, message: { type: 'REQUEST', ts: 10, height: 2, view: c.node.membershipView() } });
    // Long before the catch-up patience (2 s) and the snapshot timeout.
    const soon = [...c.step({ kind: 'peerDown', peer: 2 }), ...c.step({ kind: 'tick', now: 10 })];
    expect(fetched(told)).toEqual([]);
    expect(fetched(soon)).toEqual([{ to: 3, from: 1 }]);
    const done = c.step({ kind: 'receive', from: 3, message: { type: 'BLOCKS', ts: 12, blocks: [b1, b2], last: true } });
    const [snap] = completed(done);
    expect(snap?.verification).toMatchObject({ ok: true, head: { height: 2, hash: b2.hash } });
  });

  it('a head its chain reaches with another block: NOT VERIFIED, naming both blocks', () => {
    const c = initiator();
    const rival2 = blockOn(b1, 3, 1, 7, 8);
    const es = snapshotWithReports(c, at([b1, rival2]));
    expect(completed(es)).toEqual([]);
    const [snap] = completed(c.step({ kind: 'receive', from: 2, message: { type: 'BLOCKS', ts: 9, blocks: [b1, b2], last: true } }));
    expect(snap?.verification.ok).toBe(false);
    expect(snap?.verification.checks.find((ch) => ch.name === 'one history')?.problems).toEqual([
      `client2's head #2 ${short(rival2.hash)} is not on client1's chain, whose #2 is ${short(b2.hash)}`,
    ]);
  });

  it('a head its chain does not reach before the snapshot timeout: the snapshot completes NOT VERIFIED, saying so', () => {
    const c = initiator();
    snapshotWithReports(c, at([b1, b2]));
    const es = c.step({ kind: 'tick', now: TIMEOUT });
    const [snap] = completed(es);
    expect(snap?.verification.ok).toBe(false);
    expect(snap?.verification.problems).toEqual([`client2's head #2 ${short(b2.hash)} is above client1's head #0, which did not reach #2 in time to compare`]);
    expect(es.some((e) => e.kind === 'reply' && e.commandId === 's' && e.result.type === 'snapshot' && e.result.ok)).toBe(true);
    // Answered once: a later block changes nothing.
    expect(completed(c.step({ kind: 'receive', from: 2, message: { type: 'BLOCKS', ts: 9, blocks: [b1, b2], last: true } }))).toEqual([]);
  });
});
