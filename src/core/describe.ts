/**
 * One-line renderings of messages, effects and events: the same text in logs, simulator traces,
 * snapshot channel states and test transcripts.
 */
import type { Command, CommandResult, CoreEvent, Effect, Input } from './api.js';
import { short } from './ledger.js';
import { formatCents } from './money.js';
import { type Block, type Message, type NodeId, type SnapshotId, snapshotKey } from './types.js';

/** What a block's one-line description says: a trace keeps this much of a block, not the block. */
export interface BlockGist {
  readonly height: number;
  /** The first 8 hex digits of its hash. */
  readonly hash: string;
  readonly creator: NodeId;
  readonly txs: number;
  /** The transfer of a block that holds one; null otherwise. */
  readonly single: { readonly from: NodeId; readonly to: NodeId; readonly amount: number } | null;
}

/** What a message's one-line description says, and no more (the binary trace keeps this instead of the text). */
export type MessageGist =
  | { readonly type: 'REQUEST' | 'REPLY'; readonly ts: number; readonly height: number }
  | { readonly type: 'RELEASE'; readonly ts: number; readonly height: number; readonly block: BlockGist | null }
  | { readonly type: 'MARKER'; readonly ts: number; readonly snapshot: SnapshotId }
  | { readonly type: 'REPORT'; readonly ts: number; readonly snapshot: SnapshotId; readonly from: { readonly node: NodeId; readonly height: number; readonly inFlight: number } | null; readonly error: string }
  | { readonly type: 'FETCH'; readonly ts: number; readonly from: number }
  | { readonly type: 'BLOCKS'; readonly ts: number; readonly first: number | null; readonly last: number | null; readonly more: boolean };

export function blockGist(b: Block): BlockGist {
  const t = b.txs.length === 1 ? b.txs[0]! : null;
  return { height: b.height, hash: short(b.hash), creator: b.creator, txs: b.txs.length, single: t === null ? null : { from: t.from, to: t.to, amount: t.amount } };
}

export function messageGist(m: Message): MessageGist {
  switch (m.type) {
    case 'REQUEST':
    case 'REPLY':
      return { type: m.type, ts: m.ts, height: m.height };
    case 'RELEASE':
      return { type: 'RELEASE', ts: m.ts, height: m.height, block: m.block ? blockGist(m.block) : null };
    case 'MARKER':
      return { type: 'MARKER', ts: m.ts, snapshot: m.snapshot };
    case 'REPORT':
      return {
        type: 'REPORT', ts: m.ts, snapshot: m.snapshot, error: m.error ?? 'no reason',
        from: m.local === null ? null : { node: m.local.state.node, height: m.local.state.height, inFlight: m.local.channels.reduce((n, c) => n + c.messages.length, 0) },
      };
    case 'FETCH':
      return { type: 'FETCH', ts: m.ts, from: m.from };
    case 'BLOCKS':
      return { type: 'BLOCKS', ts: m.ts, first: m.blocks[0]?.height ?? null, last: m.blocks[m.blocks.length - 1]?.height ?? null, more: !m.last };
  }
}

function describeBlockGist(b: BlockGist): string {
  const txs = b.single !== null ? `${b.single.from}->${b.single.to} ${formatCents(b.single.amount)}` : `${b.txs} txs`;
  return `#${b.height} ${b.hash} by ${b.creator} (${txs})`;
}

export const describeBlock = (b: Block): string => describeBlockGist(blockGist(b));

/** The one line of a message, from its gist. */
export function describeGist(g: MessageGist): string {
  switch (g.type) {
    case 'REQUEST':
    case 'REPLY':
      return `${g.type} ts=${g.ts} at #${g.height}`;
    case 'RELEASE':
      return `RELEASE ts=${g.ts} ${g.block ? `block ${describeBlockGist(g.block)}` : `no block, at #${g.height}`}`;
    case 'MARKER':
      return `MARKER ts=${g.ts} snapshot ${snapshotKey(g.snapshot)}`;
    case 'REPORT':
      return g.from === null
        ? `REPORT ts=${g.ts} snapshot ${snapshotKey(g.snapshot)} failed: ${g.error}`
        : `REPORT ts=${g.ts} snapshot ${snapshotKey(g.snapshot)} from ${g.from.node} (#${g.from.height}, ${g.from.inFlight} in flight)`;
    case 'FETCH':
      return `FETCH ts=${g.ts} from #${g.from}`;
    case 'BLOCKS':
      return `BLOCKS ts=${g.ts} ${g.first !== null && g.last !== null ? `#${g.first}..#${g.last}` : 'none'}${g.more ? ' (more follow)' : ''}`;
  }
}

/** "REQUEST ts=7 at #2", "RELEASE ts=9 block #3 1a2b3c4d by 1 (1->2 $4.50)". */
export const describeMessage = (m: Message): string => describeGist(messageGist(m));

/** "2->3 REQUEST ts=7". */
export const describeSend = (from: NodeId, to: NodeId, m: Message): string => `${from}->${to} ${describeMessage(m)}`;

function describeTransfer(r: Extract<CommandResult, { type: 'transfer' }>): string {
  switch (r.status) {
    case 'SUCCESS':
      return `SUCCESS${r.repeat ? ' (repeat)' : ''} block #${r.block} client${r.from} -> client${r.to} ${formatCents(r.amount)} key ${r.txId} (clock ${r.clock}, ${r.msgs} msgs)`;
    case 'FAILED':
      return `FAILED key ${r.txId}: ${r.error}`;
    case 'WITHDRAWN':
      return `WITHDRAWN client${r.from} -> client${r.to} ${formatCents(r.amount)} key ${r.txId}`;
  }
}

export function describeResult(r: CommandResult): string {
  switch (r.type) {
    case 'transfer':
      return describeTransfer(r);
    case 'withdraw':
      return `withdraw ${r.state.txId}: ${r.state.state}`;
    case 'snapshot':
      return r.ok
        ? `snapshot ${snapshotKey(r.snapshot.id)} ${r.snapshot.verification.ok ? 'verified' : `NOT verified: ${r.snapshot.verification.problems.join('; ')}`}`
        : `snapshot ${snapshotKey(r.id)} failed: ${r.error}`;
  }
}

export function describeEvent(e: CoreEvent): string {
  switch (e.type) {
    case 'waitingForPeers':
      return `transfer ${e.key} waits for ${e.peers.map((p) => `client${p}`).join(', ')} to connect`;
    case 'requested':
      return `requested the lock at ts=${e.ts} for ${e.transfers} transfer(s)`;
    case 'entered':
      return `entered the critical section at ts=${e.ts} on #${e.height} with ${e.transfers} transfer(s)`;
    case 'left':
      return `left the critical section at ts=${e.ts}, ${e.block === null ? 'no block committed' : `block #${e.block} committed`}`;
    case 'withdrawn':
      return `withdrew the lock request of ts=${e.ts}: ${e.reason}`;
    case 'transferWithdrawn':
      return `withdrew transfer ${e.key} at its caller's asking: nothing moved`;
    case 'blockApplied':
      return `block ${describeBlock(e.block)} ${e.from === null ? 'committed' : `applied from client${e.from}`}`;
    case 'blockRejected':
      return `REJECTED block #${e.height} from client${e.from}: ${e.reason}`;
    case 'blocksRefused':
      return `refused ${e.count === 1 ? `block #${e.lowest}` : `${e.count} blocks #${e.lowest}..#${e.highest}`} from client${e.from}: ${e.reason}`;
    case 'catchingUp':
      return `catching up from client${e.peer}: #${e.from}..#${e.to}`;
    case 'rechecking':
      return `asked ${e.peers.map((p) => `client${p}`).join(', ')} for any blocks from #${e.from} on (the sessions changed)`;
    case 'served':
      return `sent blocks #${e.from}..#${e.to} to client${e.peer}`;
    case 'snapshotStarted':
      return `snapshot ${snapshotKey(e.id)} ${e.from === null ? 'started here' : `recorded on marker from client${e.from}`}`;
    case 'snapshotRecorded':
      return `snapshot ${snapshotKey(e.id)}: every incoming channel recorded`;
    case 'snapshotAbandoned':
      return `snapshot ${snapshotKey(e.id)} abandoned: no report from ${e.missing.map((p) => `client${p}`).join(', ')}`;
    case 'protocolError':
      return `protocol error from client${e.from}: ${e.error}`;
  }
}

function describeCommand(c: Command): string {
  switch (c.type) {
    case 'transfer':
      return `transfer ${formatCents(c.amount)} to ${c.to} key ${c.key}`;
    case 'withdraw':
      return `withdraw ${c.key}`;
    case 'snapshot':
      return 'snapshot';
  }
}

export function describeInput(self: NodeId, i: Input): string {
  switch (i.kind) {
    case 'command':
      return `${self} command ${i.id}: ${describeCommand(i.command)}`;
    case 'receive':
      return `${i.from}->${self} ${describeMessage(i.message)}`;
    case 'peerUp':
      return `${self} peer ${i.peer} up at height ${i.height}`;
    case 'peerDown':
      return `${self} peer ${i.peer} down`;
    case 'tick':
      return `${self} tick ${i.now}`;
  }
}

export function describeEffect(self: NodeId, e: Effect): string {
  switch (e.kind) {
    case 'send':
      return describeSend(self, e.to, e.message);
    case 'persist':
      return `${self} persist${e.sync ? ' and sync' : ''} block ${describeBlock(e.block)}`;
    case 'reply':
      return `${self} reply ${e.commandId}: ${describeResult(e.result)}`;
    case 'snapshotComplete':
      return `${self} snapshot ${snapshotKey(e.snapshot.id)} complete: ${e.snapshot.verification.ok ? 'verified' : 'NOT verified'}`;
    case 'log':
      return `${self} ${e.level} ${describeEvent(e.event)}`;
  }
}
