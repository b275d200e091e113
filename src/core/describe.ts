/**
 * One-line renderings of messages, effects and events: the same text in logs, simulator traces,
 * snapshot channel states and test transcripts.
 */
import type { Command, CommandResult, CoreEvent, Effect, Input } from './api.js';
import { short } from './ledger.js';
import { formatCents } from './money.js';
import { type Block, type Message, type NodeId, snapshotKey } from './types.js';

export function describeBlock(b: Block): string {
  const txs = b.txs.length === 1 ? `${b.txs[0]!.from}->${b.txs[0]!.to} ${formatCents(b.txs[0]!.amount)}` : `${b.txs.length} txs`;
  return `#${b.height} ${short(b.hash)} by ${b.creator} (${txs})`;
}

/** "REQUEST ts=7 at #2", "RELEASE ts=9 block #3 1a2b3c4d by 1 (1->2 $4.50)". */
export function describeMessage(m: Message): string {
  switch (m.type) {
    case 'REQUEST':
    case 'REPLY':
      return `${m.type} ts=${m.ts} at #${m.height}`;
    case 'RELEASE':
      return `RELEASE ts=${m.ts} ${m.block ? `block ${describeBlock(m.block)}` : `no block, at #${m.height}`}`;
    case 'MARKER':
      return `MARKER ts=${m.ts} snapshot ${snapshotKey(m.snapshot)}`;
    case 'REPORT':
      return m.local === null
        ? `REPORT ts=${m.ts} snapshot ${snapshotKey(m.snapshot)} failed: ${m.error ?? 'no reason'}`
        : `REPORT ts=${m.ts} snapshot ${snapshotKey(m.snapshot)} from ${m.local.state.node} (#${m.local.state.height}, ${m.local.channels.reduce((n, c) => n + c.messages.length, 0)} in flight)`;
    case 'FETCH':
      return `FETCH ts=${m.ts} from #${m.from}`;
    case 'BLOCKS': {
      const first = m.blocks[0];
      const last = m.blocks[m.blocks.length - 1];
      return `BLOCKS ts=${m.ts} ${first && last ? `#${first.height}..#${last.height}` : 'none'}${m.last ? '' : ' (more follow)'}`;
    }
  }
}

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
