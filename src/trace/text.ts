/**
 * Words for events, messages and clocks: the same phrases in SVG titles, the page's hover details
 * and the ShiViz log.
 */
import type { TraceEvent } from '../core/trace-events.js';
import type { NodeId } from '../core/types.js';
import type { MessageLink, MessageStatus, TimelineEvent } from './merge.js';
import type { VectorClock } from './vclock.js';

export const clientName = (n: NodeId): string => `client${n}`;

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "sent REQUEST ts=7 to client2", "recorded its state for snapshot 1.1 (clock 12, #3)". */
export function describeTraceEvent(e: TraceEvent): string {
  switch (e.kind) {
    case 'start':
      return `started (clock ${e.clock}, chain #${e.height}, clients ${e.nodes.join(', ')})`;
    case 'peerUp':
      return `${clientName(e.peer)} connected (channel out ${e.out}, in ${e.in})`;
    case 'peerDown':
      return `${clientName(e.peer)} disconnected`;
    case 'send':
      return `sent ${e.desc} to ${clientName(e.to)}`;
    case 'receive':
      return `received ${e.desc} from ${clientName(e.from)}`;
    case 'enter':
      return `entered the critical section (ts ${e.ts}, on #${e.height}, ${plural(e.transfers, 'transfer')})`;
    case 'leave':
      return e.block === null ? `left the critical section (ts ${e.ts}), no block` : `left the critical section (ts ${e.ts}), committed #${e.block}`;
    case 'commit':
      return e.from === null
        ? `committed its block #${e.height} ${e.hash.slice(0, 8)} (${plural(e.txs, 'tx')})`
        : `applied block #${e.height} ${e.hash.slice(0, 8)} by ${clientName(e.creator)} from ${clientName(e.from)} (${plural(e.txs, 'tx')})`;
    case 'record':
      return `recorded its state for snapshot ${e.snapshot} (clock ${e.clock}, #${e.height})`;
    case 'channelStart':
      return `snapshot ${e.snapshot}: starts recording the channel from ${clientName(e.from)}`;
    case 'channelStop':
      return `snapshot ${e.snapshot}: channel from ${clientName(e.from)} recorded (${plural(e.messages, 'message')})`;
  }
}

export function describeStatus(s: MessageStatus): string {
  switch (s) {
    case 'delivered':
      return 'delivered';
    case 'inFlight':
      return 'in flight (not received when the trace ends; the connection was still up)';
    case 'lost':
      return 'lost (never received: its connection went down, or later messages on it arrived)';
    case 'untraced':
      return "not known to have arrived (the receiver's trace is not loaded or was rotated away)";
    case 'sendMissing':
      return "its send is not in the trace (the sender's trace is not loaded or was rotated away)";
  }
}

/** The CSS class of a status: `in-flight`, `send-missing`. */
export const statusClass = (s: MessageStatus): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** "client1:3 client2:0 client3:5". */
export const vcText = (vc: VectorClock, nodes: readonly NodeId[]): string => nodes.map((n, k) => `${clientName(n)}:${vc[k] ?? 0}`).join(' ');

/** A wall-clock time as ISO text; one no Date can show (a damaged file) as itself. */
export const wallText = (ms: number): string => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} (not a time)`);

export function clockText(e: TimelineEvent): string {
  return e.clockBefore === e.clock ? `${e.clock}` : `${e.clockBefore} -> ${e.clock}`;
}

/** The lines shown for an event: in SVG titles and the page's details panel. */
export function eventDetails(e: TimelineEvent, nodes: readonly NodeId[]): [label: string, value: string][] {
  return [
    ['what', `${clientName(e.node)} ${describeTraceEvent(e.event)}`],
    ['Lamport clock', clockText(e)],
    ['vector clock', vcText(e.vc, nodes)],
    ['wall time', wallText(e.event.wall)],
    ['where', `run ${e.event.run}, event ${e.event.i}${e.restart ? ' (first after a restart)' : ''}; causal position ${e.order}`],
  ];
}

export function messageDetails(m: MessageLink, nodes: readonly NodeId[]): [label: string, value: string][] {
  const lines: [string, string][] = [
    ['message', `${clientName(m.from)} -> ${clientName(m.to)} ${m.desc}`],
    ['status', describeStatus(m.status)],
    ['channel', `${m.chan}, message ${m.seq}`],
  ];
  if (m.send !== null) lines.push(['sent', `clock ${clockText(m.send)}, vector ${vcText(m.send.vc, nodes)}, ${wallText(m.send.event.wall)}`]);
  if (m.receive !== null) lines.push(['received', `clock ${clockText(m.receive)}, vector ${vcText(m.receive.vc, nodes)}, ${wallText(m.receive.event.wall)}`]);
  if (m.send !== null && m.receive !== null) lines.push(['wall-clock gap', `${m.receive.event.wall - m.send.event.wall} ms (clocks of two machines: display only)`]);
  return lines;
}
