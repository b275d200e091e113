/**
 * What a person sees: every answer and notice rendered as text, the same whether the daemon runs
 * in this process (the REPL) or answered through its control socket (`ctl`, `client cluster`).
 */
import type { NodeStatus, TxState } from '../core/api.js';
import type { TraceEvent } from '../core/trace-events.js';
import { describeEvent, describeMessage } from '../core/describe.js';
import { short } from '../core/ledger.js';
import { RECENT_TRANSFER_OUTCOMES } from '../core/limits.js';
import { formatCents } from '../core/money.js';
import type { Block, NodeId } from '../core/types.js';
import { describeLockWait } from '../core/wording.js';
import type { BalancesView, LinkChange, LinksView, MessageDelay, Notice, PeerView, SnapshotAnswer, SnapshotListing, StatusView, TransferAnswer } from '../daemon/api.js';
import type { SnapshotRecord } from '../daemon/snapshot-record.js';
import type { Answer, DiagramPage } from './interpret.js';
import { COMMANDS } from './parse.js';

export const clientName = (id: NodeId): string => `client${id}`;

const ms = (x: number): string => (x < 10 ? x.toFixed(1) : x.toFixed(0));

/** `client1 -> client2  $4.50  key K`: what a transfer is. */
const transferWords = (t: { readonly from: NodeId; readonly to: NodeId; readonly amount: number; readonly txId: string }): string =>
  `${clientName(t.from)} -> ${clientName(t.to)}  ${formatCents(t.amount)}  key ${t.txId}`;

export function renderTransfer(r: TransferAnswer): string {
  switch (r.status) {
    case 'FAILED':
      return `FAILED  ${r.error}  (key ${r.txId})`;
    case 'WITHDRAWN':
      return `WITHDRAWN  ${transferWords(r)}  (nothing moved)`;
    case 'SUCCESS': {
      if (r.repeat) return `SUCCESS (repeat)  block #${r.block}  ${transferWords(r)}  (committed before, at clock ${r.clock}; nothing moved now)`;
      const batch = r.batch > 1 ? `, ${r.batch} in block` : '';
      return `SUCCESS  block #${r.block}  ${transferWords(r)}  (clock ${r.clock}, ${r.msgs} msgs${batch}, ${ms(r.ms)} ms)`;
    }
  }
}

/** What `tx <key>` says: the key's state, in the words of a transfer's result. */
export function renderTxState(self: NodeId, s: TxState): string {
  switch (s.state) {
    case 'committed':
      return `COMMITTED  block #${s.block} ${short(s.hash)}  ${transferWords(s)}  (clock ${s.clock})`;
    case 'pending':
      return `PENDING  ${transferWords(s)}  (${s.requested ? 'in a lock round' : 'queued'}, ${describeLockWait(s.wait)})`;
    case 'withdrawn':
      return `WITHDRAWN  ${transferWords(s)}  (nothing moved)`;
    case 'failed':
      return `FAILED  ${transferWords(s)}  (${s.error})`;
    case 'unknown':
      return `UNKNOWN  key ${s.txId}: ${clientName(self)} has no transfer with this key (none in its chain or its queue, nor among its ${RECENT_TRANSFER_OUTCOMES.toLocaleString('en-US')} latest failed or withdrawn)`;
  }
}

export function table(rows: readonly (readonly string[])[], rightAlign: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (rightAlign.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function renderBalances(v: BalancesView): string {
  const entries = Object.entries(v.balances).map(([id, cents]) => [Number(id), cents] as const).sort(([a], [b]) => a - b);
  const rows = entries.map(([id, cents]) => [clientName(id), formatCents(cents)]);
  const sum = entries.reduce((a, [, cents]) => a + cents, 0);
  rows.push(['total', formatCents(sum)]);
  const note = sum === v.total ? '' : `  (expected ${formatCents(v.total)}!)`;
  return `${table(rows, new Set([1]))}${note}\n(this replica at block #${v.height} ${short(v.head)})`;
}

export function renderBalance(who: NodeId, v: BalancesView): string {
  return `${clientName(who)}: ${formatCents(v.balances[String(who)] ?? 0)}  (this replica at block #${v.height})`;
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

/** `tls`: whether the channels are TLS; the heading says which. */
export function renderPeers(self: NodeId, peers: readonly PeerView[], now: number, tls: boolean): string {
  const rows = [['client', 'out', 'in', 'for', 'sent', 'received', 'last problem']];
  for (const p of peers) {
    rows.push([clientName(p.id), p.outgoing, p.incoming, `${((now - p.since) / 1000).toFixed(0)} s`, String(p.sent), String(p.received), p.outgoing === 'up' && p.incoming === 'up' ? '' : (p.lastError ?? '')]);
  }
  return `${clientName(self)}'s connections (${tls ? 'TLS' : 'plain TCP'})\n${table(rows)}`;
}

export function renderStatus(v: StatusView): string {
  const status = renderNodeStatus(v.node, v);
  const channels = `channels       ${v.tls ? 'TLS 1.2, a pre-shared key from the cluster secret' : 'plain TCP (no cluster secret)'}`;
  return [status, channels, ...(v.delay === null ? [] : [`delay          ${renderDelay(v.delay)}`])].join('\n');
}

const delayText = (d: MessageDelay | null): string => (d === null ? 'none' : `${d.minMs === d.maxMs ? d.minMs : `${d.minMs}-${d.maxMs}`} ms`);

/** `link`: each link of this client, after the change asked for (said first). */
export function renderLinks(v: LinksView, changed?: { readonly peer: NodeId; readonly change: LinkChange }): string {
  const rows = [['link', 'state', 'delay', 'waiting', 'session']];
  for (const l of v.links) rows.push([`${v.self} -> ${l.peer}`, l.held ? 'held' : 'open', delayText(l.delay), String(l.waiting), l.up ? 'up' : 'down']);
  const lines = [table(rows)];
  if (changed !== undefined) {
    const { peer, change } = changed;
    const link = `${clientName(v.self)} -> ${clientName(peer)}`;
    const said =
      'held' in change
        ? change.held
          ? `${link} held: messages to ${clientName(peer)} wait, in order, until link release ${peer}`
          : `${link} released: what waited goes out in order`
        : change.delay === null
          ? `${link}: no delay`
          : `${link}: each message held ${delayText(change.delay)}`;
    lines.unshift(said);
  }
  return lines.join('\n');
}

/** What `--delay` does, for the banner and `status`: `each outgoing message held 2000 ms (--delay)`. */
export function renderDelay(d: MessageDelay): string {
  return `each outgoing message held ${d.minMs === d.maxMs ? d.minMs : `${d.minMs}-${d.maxMs}`} ms (--delay)`;
}

function renderNodeStatus(s: NodeStatus, extra: { readonly dataDir: string; readonly listen: string }): string {
  const queue = s.queue.length === 0 ? '(empty)' : s.queue.map((e) => `(${e.ts}, ${clientName(e.node)})`).join(' ');
  const latest = s.latest.length === 0 ? 'none yet' : s.latest.map((l) => `${clientName(l.peer)} ts ${l.ts}`).join(', ');
  return [
    `${clientName(s.id)}  listening on ${extra.listen}, data in ${extra.dataDir}`,
    `clock          ${s.clock}`,
    `chain          #${s.height} ${short(s.head)}${s.pendingBlocks > 0 ? ` (+${s.pendingBlocks} out-of-order blocks waiting)` : ''}`,
    `lock queue     ${queue}`,
    `own request    ${s.requesting ? `ts ${s.requesting.ts}` : 'none'}`,
    ...(s.waitingFor ? [`waiting for    ${waitingFor(s)}`] : []),
    `latest from    ${latest}`,
    `transfers      ${s.pendingTransfers} waiting`,
    `peers up       ${s.peersUp.length === 0 ? 'none' : s.peersUp.map(clientName).join(', ')}`,
    `snapshots      ${s.snapshotsInProgress} in progress`,
  ].join('\n');
}

/** What an outstanding request still waits for, in the terms of Lamport's rule 5. */
function waitingFor(s: NodeStatus): string {
  const w = s.waitingFor;
  const own = s.requesting?.ts;
  if (w === null) return '';
  switch (w.kind) {
    case 'peersDown':
      return `${w.peers.map(clientName).join(', ')} to connect`;
    case 'queuedBehind':
      return w.entries.map((e) => `${clientName(e.node)}'s earlier request (ts ${e.ts}) to be released`).join(', ');
    case 'noLaterMessage':
      return w.peers.map((p) => `a message from ${clientName(p)} later than ts ${own} (none yet)`).join(', ');
    case 'oldView':
      return `${w.peers.map(clientName).join(', ')} to confirm the current membership (a peer restarted)`;
    case 'catchingUp':
      return `block #${w.height} from ${clientName(w.peer)} (catching up before entering)`;
    case 'notRequested':
      return 'nothing';
  }
}

/** One line per message sent or received and per step of the protocol worth watching (`trace on`). */
export function renderTraceEvent(e: TraceEvent): string | null {
  switch (e.kind) {
    case 'send':
      return `-> ${e.desc} to ${clientName(e.to)}`;
    case 'receive':
      return `<- ${e.desc} from ${clientName(e.from)}, clock ${e.clockBefore} -> ${e.clock}`;
    case 'enter':
      return `== entered the critical section at ts=${e.ts} on #${e.height}`;
    case 'leave':
      return `== left the critical section${e.block === null ? ', no block' : `, block #${e.block} committed`}`;
    case 'record':
      return `== snapshot ${e.snapshot}: state recorded at clock ${e.clock}`;
    case 'channelStop':
      return `== snapshot ${e.snapshot}: channel from ${clientName(e.from)} recorded (${e.messages} in flight)`;
    case 'start':
    case 'peerUp':
    case 'peerDown':
    case 'commit':
    case 'channelStart':
      return null;
  }
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

export function renderSnapshotAnswer(a: SnapshotAnswer): string {
  return a.ok ? renderSnapshot(a.record) : `FAILED  ${a.error}`;
}

export function renderSnapshotList(l: SnapshotListing): string {
  if (l.snapshots.length === 0) return 'no snapshots saved yet (type snapshot to take one)';
  return l.snapshots.map((r) => `${r.id.padEnd(8)} ${r.takenAt}  ${r.verdict}`).join('\n');
}

/** The command list, or one command with its aliases and examples. */
export function renderHelp(topic: string | null): string {
  const specs = topic === null ? COMMANDS : COMMANDS.filter((c) => c.name === topic);
  return specs
    .map((c) => (topic !== null ? `${c.usage}\n  ${c.description}${c.aliases.length ? `\n  aliases: ${c.aliases.join(', ')}` : ''}\n  e.g. ${c.examples.join(' | ')}` : `  ${c.usage.padEnd(28)} ${c.description}`))
    .join('\n');
}

/** Why `exit` does nothing through the control socket. */
export const EXIT_REFUSED = 'exit is for the REPL; stop a client with Ctrl-C or SIGTERM';

export const missingSnapshot = (id: string): string => `no saved snapshot ${id}, or its file is unreadable`;

export function renderAnswer(a: Answer): string {
  switch (a.type) {
    case 'empty':
      return '';
    case 'invalid':
      return `error: ${a.error}`;
    case 'exitRefused':
      return EXIT_REFUSED;
    case 'transfer':
      return renderTransfer(a.result);
    case 'tx':
      return renderTxState(a.self, a.state);
    case 'balances':
      return renderBalances(a.view);
    case 'balance':
      return renderBalance(a.client, a.view);
    case 'snapshot':
      return renderSnapshotAnswer(a.answer);
    case 'snapshots':
      return renderSnapshotList(a.listing);
    case 'savedSnapshot':
      if (a.record === null) return `${missingSnapshot(a.id)} (type snapshots to list them)`;
      return a.page === undefined ? renderSnapshot(a.record) : `${renderSnapshot(a.record)}\n${renderPage(a.page)}`;
    case 'chain':
      return renderChain(a.view.blocks, a.view.height);
    case 'peers':
      return renderPeers(a.self, a.view.peers, Date.now(), a.view.tls);
    case 'status':
      return renderStatus(a.view);
    case 'links':
      return renderLinks(a.view, a.changed);
    case 'help':
      return renderHelp(a.topic);
    case 'traceElsewhere':
      return TRACE_ELSEWHERE;
    case 'clearElsewhere':
      return CLEAR_ELSEWHERE;
  }
}

/** Why `clear` does nothing through the control socket. */
export const CLEAR_ELSEWHERE = 'clear clears a prompt\'s screen; there is none here';

/** Why `trace on|off` does nothing through the control socket. */
export const TRACE_ELSEWHERE = 'trace on|off prints at a client\'s own prompt; elsewhere, run client trace (it reads <data-dir>/trace.bin)';

function renderPage(p: DiagramPage): string {
  if (!p.ok) return `FAILED  no diagram: ${p.error}`;
  return [`wrote ${p.file}: ${p.summary}`, ...(p.cut === null ? [] : [p.cut])].join('\n');
}

/** One line for something that happened without being asked for. */
export function renderNotice(n: Notice): string {
  switch (n.type) {
    case 'peerUp':
      return `${clientName(n.peer)} connected`;
    case 'peerDown':
      return `${clientName(n.peer)} disconnected`;
    case 'peerProblem':
    case 'fileProblem':
      return n.line;
    case 'waitingForPeers':
      return `waiting for ${n.peers.map(clientName).join(', ')} to connect before requesting the lock`;
    case 'blockFromPeer': {
      const b = n.block;
      const tx = b.txs[0];
      const what = b.txs.length === 1 && tx ? `${clientName(tx.from)} -> ${clientName(tx.to)} ${formatCents(tx.amount)}` : `${b.txs.length} transfers by ${clientName(b.creator)}`;
      return `block #${b.height} from ${clientName(n.from)}: ${what}`;
    }
    case 'blocksFromPeers':
      return `... and ${n.count} more blocks from peers (chain now at #${n.height})`;
    case 'event':
      return describeEvent(n.event);
    case 'periodicSnapshot': {
      const a = n.answer;
      if (a.ok) return a.record.verified ? `periodic snapshot ${a.record.id}: ${a.record.verdict}` : `periodic snapshot failed: ${a.record.verdict}`;
      return `periodic snapshot failed: ${a.error}`;
    }
  }
}
