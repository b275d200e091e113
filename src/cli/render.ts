/**
 * What a person sees: every result rendered as text. The same results go out as JSON with --json;
 * both forms are built here so that the REPL, the control socket and `ctl` print alike.
 */
import type { CommandResult, GlobalSnapshot, NodeStatus } from '../core/api.js';
import { describeMessage } from '../core/describe.js';
import { short } from '../core/ledger.js';
import { formatCents } from '../core/money.js';
import type { Block, NodeId } from '../core/types.js';
import type { PeerStatus } from '../net/mesh.js';

export const clientName = (id: NodeId): string => `client${id}`;

const ms = (x: number): string => (x < 10 ? x.toFixed(1) : x.toFixed(0));

export function renderTransfer(r: Extract<CommandResult, { type: 'transfer' }>, elapsedMs: number): string {
  if (!r.ok) return `FAILED  ${r.error}`;
  const batch = r.batch > 1 ? `, ${r.batch} in block` : '';
  return `SUCCESS  block #${r.block}  ${clientName(r.from)} -> ${clientName(r.to)}  ${formatCents(r.amount)}  (clock ${r.clock}, ${r.msgs} msgs${batch}, ${ms(elapsedMs)} ms)`;
}

function table(rows: readonly (readonly string[])[], rightAlign: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (rightAlign.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function renderBalances(balances: ReadonlyMap<NodeId, number>, height: number, head: string, total: number): string {
  const rows = [...balances.entries()].sort(([a], [b]) => a - b).map(([id, v]) => [clientName(id), formatCents(v)]);
  const sum = [...balances.values()].reduce((a, b) => a + b, 0);
  rows.push(['total', formatCents(sum)]);
  const note = sum === total ? '' : `  (expected ${formatCents(total)}!)`;
  return `${table(rows, new Set([1]))}${note}\n(this replica at block #${height} ${short(head)})`;
}

export function renderBlock(b: Block): string {
  const head = `#${b.height}  ${short(b.hash)}  prev ${short(b.prevHash)}  ts ${b.ts}  by ${b.creator === 0 ? 'genesis' : clientName(b.creator)}`;
  const txs = b.txs.map((t) => `    ${t.from === 0 ? 'mint' : clientName(t.from)} -> ${clientName(t.to)}  ${formatCents(t.amount)}`);
  return [head, ...txs].join('\n');
}

export function renderChain(blocks: readonly Block[], height: number): string {
  if (blocks.length === 0) return `chain is empty`;
  const first = blocks[0]!.height;
  const skipped = first > 0 ? `(${first} earlier block${first === 1 ? '' : 's'} not shown; chain <count> shows more)\n` : '';
  return `${skipped}${blocks.map(renderBlock).join('\n')}\nheight ${height}`;
}

export function renderPeers(self: NodeId, peers: readonly PeerStatus[], now: number): string {
  const rows = [['client', 'out', 'in', 'for', 'sent', 'received', 'last problem']];
  for (const p of peers) {
    rows.push([clientName(p.id), p.outgoing, p.incoming, `${((now - p.since) / 1000).toFixed(0)} s`, String(p.sent), String(p.received), p.outgoing === 'up' && p.incoming === 'up' ? '' : (p.lastError ?? '')]);
  }
  return `${clientName(self)}'s connections\n${table(rows)}`;
}

export function renderStatus(s: NodeStatus, extra: { dataDir: string; listen: string }): string {
  const queue = s.queue.length === 0 ? '(empty)' : s.queue.map((e) => `(${e.ts}, ${clientName(e.node)})`).join(' ');
  return [
    `${clientName(s.id)}  listening on ${extra.listen}, data in ${extra.dataDir}`,
    `clock          ${s.clock}`,
    `chain          #${s.height} ${short(s.head)}${s.pendingBlocks > 0 ? ` (+${s.pendingBlocks} out-of-order blocks waiting)` : ''}`,
    `lock queue     ${queue}`,
    `own request    ${s.requesting ? `ts ${s.requesting.ts}` : 'none'}`,
    `transfers      ${s.pendingTransfers} waiting`,
    `peers up       ${s.peersUp.length === 0 ? 'none' : s.peersUp.map(clientName).join(', ')}`,
    `snapshots      ${s.snapshotsInProgress} in progress`,
  ].join('\n');
}

/** The saved and --json form of a snapshot. */
export interface SnapshotRecord {
  readonly id: string;
  readonly initiator: NodeId;
  readonly verified: boolean;
  readonly verdict: string;
  readonly takenAt: string;
  readonly elapsedMs: number;
  readonly markers: number;
  readonly nodes: GlobalSnapshot['nodes'];
  readonly channels: GlobalSnapshot['channels'];
  readonly verification: GlobalSnapshot['verification'];
}

export function verdict(s: GlobalSnapshot): string {
  const v = s.verification;
  if (!v.ok) return `NOT VERIFIED: ${v.problems.join('; ')}`;
  const behind = v.behind.length > 0 ? `; ${v.behind.map((b) => `${clientName(b.node)} at #${b.height}`).join(', ')} still catching up` : '';
  return `verified: ${v.checks.length} checks passed, ${formatCents(v.total)} conserved${v.head ? `, replicas at #${v.head.height} ${short(v.head.hash)}` : ''}${behind}`;
}

export function snapshotRecord(s: GlobalSnapshot, elapsedMs: number, takenAt: Date): SnapshotRecord {
  return {
    id: `${s.id.initiator}.${s.id.seq}`,
    initiator: s.initiator,
    verified: s.verification.ok,
    verdict: verdict(s),
    takenAt: takenAt.toISOString(),
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    markers: s.markers,
    nodes: s.nodes,
    channels: s.channels,
    verification: s.verification,
  };
}

export function renderSnapshot(r: SnapshotRecord): string {
  const ids = r.nodes.map((n) => n.node);
  const header = ['client', 'clock', 'chain', ...ids.map((id) => `sees ${id}`), 'lock queue'];
  const rows: string[][] = [header];
  for (const n of r.nodes) {
    const pending = n.pendingBlocks.length > 0 ? ` +${n.pendingBlocks.length}` : '';
    rows.push([
      clientName(n.node),
      String(n.clock),
      `#${n.height} ${short(n.head)}${pending}`,
      ...ids.map((id) => formatCents(n.balances[String(id)] ?? 0)),
      n.queue.length === 0 ? '-' : n.queue.map((e) => `${e.node}@${e.ts}`).join(' '),
    ]);
  }
  // Per channel: what the sender had sent and the receiver had received when each recorded.
  const counts: string[][] = [];
  const messages: string[] = [];
  for (const c of r.channels) {
    const sent = r.nodes.find((n) => n.node === c.from)?.channels?.find((x) => x.peer === c.to)?.sent;
    const received = r.nodes.find((n) => n.node === c.to)?.channels?.find((x) => x.peer === c.from)?.received;
    counts.push([`  ${c.from} -> ${c.to}`, `sent ${sent ?? '?'}`, `received ${received ?? '?'}`, `in flight ${c.messages.length}`]);
    for (const m of c.messages) messages.push(`  ${c.from} -> ${c.to}  ${describeMessage(m)}`);
  }
  const checks = (r.verification.checks ?? []).map((c) => `  ${c.ok ? '[ok]    ' : '[FAILED]'} ${c.name.padEnd(20)} ${c.ok ? c.detail : c.problems.join('; ')}`);
  return [
    `snapshot ${r.id} (started by ${clientName(r.initiator)} at ${r.takenAt}, ${ms(r.elapsedMs)} ms, ${r.markers} markers)`,
    table(rows, new Set([1, ...ids.map((_, i) => i + 3)])),
    'channels (messages sent and received when each end recorded; the difference was in flight):',
    table(counts),
    ...(messages.length > 0 ? ['in flight:', ...messages] : ['in flight: nothing (every channel was empty)']),
    ...(checks.length > 0 ? ['checks:', ...checks] : []),
    r.verdict,
  ].join('\n');
}
