/**
 * The space-time diagram as SVG text: a timeline per client, time left to right, one arrow per
 * message, critical sections as bars, and a snapshot's cut. Every drawn thing is a <g> with a
 * class and data- attributes naming what it stands for, and a <title> with its details, so the
 * file can be read back by a program as well as by eye.
 */
import type { TraceMessageType } from '../core/trace-events.js';
import type { NodeId } from '../core/types.js';
import type { SnapshotCut } from './cut.js';
import type { Layout } from './layout.js';
import type { CriticalSection, MergedTrace, MessageLink, TimelineEvent } from './merge.js';
import { clientName, eventDetails, messageDetails, statusClass } from './text.js';
import type { TraceWindow } from './window.js';

export interface DiagramInput {
  readonly merged: MergedTrace;
  readonly window: TraceWindow;
  readonly layout: Layout;
  readonly cut: SnapshotCut | null;
  readonly title: string;
}

const LEFT = 96;
const COL_W = 46;
const TOP = 56;
const ROW_H = 120;
const PAD_RIGHT = 90;
const PAD_BOTTOM = 40;
const EVENT_R = 4.5;

const TYPE_COLOURS: Readonly<Record<TraceMessageType, string>> = {
  REQUEST: '#1f77b4',
  REPLY: '#2ca02c',
  RELEASE: '#e6700a',
  MARKER: '#9467bd',
  REPORT: '#8c564b',
  BLOCKS: '#555555',
  FETCH: '#555555',
};

/** Text and attribute values: the five characters XML gives meaning to. */
const XML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ENTITIES[c] ?? c);
}

const attrs = (a: Readonly<Record<string, string | number | null>>): string =>
  Object.entries(a)
    .filter((kv): kv is [string, string | number] => kv[1] !== null)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');

const title = (lines: readonly (readonly [string, string])[]): string => `<title>${xmlEscape(lines.map(([k, v]) => `${k}: ${v}`).join('\n'))}</title>`;

/** The `data-ref` of an event's and of a message's element: what the page's details are keyed by. */
export const eventRef = (e: TimelineEvent): string => `e:${e.id}`;
export const messageRef = (index: number): string => `m:${index}`;

const f = (n: number): string => (Math.round(n * 10) / 10).toString();

/** An arrow's label: the message in a few words ("REQUEST ts=7", "RELEASE ts=9 #3"); its title has all of it. */
export function messageLabel(m: MessageLink): string {
  switch (m.type) {
    case 'REQUEST':
    case 'REPLY':
    case 'BLOCKS':
    case 'FETCH':
      return `${m.type} ts=${m.ts}`;
    case 'RELEASE': {
      const block = /\bblock #(\d+)/.exec(m.desc)?.[1];
      return `RELEASE ts=${m.ts}${block === undefined ? '' : ` #${block}`}`;
    }
    case 'MARKER':
    case 'REPORT':
      return `${m.type} ts=${m.ts}${m.snapshot === null ? '' : ` (${m.snapshot})`}`;
  }
}

export const DIAGRAM_CSS = `
.trace-diagram { font-family: system-ui, sans-serif; background: #fff; }
.trace-diagram .axis { stroke: #9a9a9a; stroke-width: 1.5; }
.trace-diagram .lane-label { font-size: 13px; font-weight: 600; fill: #222; }
.trace-diagram .timeline.untraced .lane-label { fill: #999; font-style: italic; }
.trace-diagram .event circle, .trace-diagram .event rect, .trace-diagram .event path { stroke: #333; stroke-width: 1.2; fill: #fff; }
.trace-diagram .event.k-send circle { fill: #333; }
.trace-diagram .event.k-record path { fill: #d62728; stroke: #7a0d0d; }
.trace-diagram .event.k-commit rect { fill: #2ca02c; }
.trace-diagram .event.k-start rect, .trace-diagram .event.k-peerUp rect, .trace-diagram .event.k-peerDown rect { fill: #bbb; }
.trace-diagram .event.k-channelStart rect, .trace-diagram .event.k-channelStop rect { fill: #f4c2c2; stroke: #d62728; }
.trace-diagram .msg .shaft { stroke-width: 1.4; fill: none; }
.trace-diagram .msg .halo { stroke: #ffd54a; stroke-width: 7; stroke-linecap: round; opacity: .85; }
.trace-diagram .msg.in-cut .shaft { stroke-width: 2.4; }
.trace-diagram .msg.in-flight .shaft { stroke-dasharray: 7 4; }
.trace-diagram .msg.unmatched .shaft { opacity: .75; }
.trace-diagram .msg.lost .shaft, .trace-diagram .msg.untraced .shaft { stroke-dasharray: 7 4; stroke: #d62728 !important; }
.trace-diagram .msg.clipped .shaft, .trace-diagram .msg.send-missing .shaft { stroke-dasharray: 2 3; }
.trace-diagram .msg .lost-mark { stroke: #d62728; stroke-width: 2; }
.trace-diagram .msg-label { font-size: 10px; fill: #222; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.trace-diagram .cs rect { fill: #2ca02c; fill-opacity: .28; stroke: #2ca02c; }
.trace-diagram .cs.open rect { stroke-dasharray: 3 2; }
.trace-diagram .cs text { font-size: 10px; fill: #1b6e1b; font-weight: 600; }
.trace-diagram .restart line { stroke: #555; stroke-width: 2; stroke-dasharray: 1 2; }
.trace-diagram .restart text { font-size: 10px; fill: #555; }
.trace-diagram .cut polyline { fill: none; stroke: #ad1457; stroke-width: 2.5; stroke-dasharray: 12 4 2 4; opacity: .9; }
.trace-diagram .cut text { font-size: 12px; font-weight: 600; fill: #ad1457; }
.trace-diagram .window-edge { stroke: #ccc; stroke-dasharray: 2 4; }
.trace-diagram .hovered .shaft, .trace-diagram .hovered circle, .trace-diagram .hovered path, .trace-diagram .hovered rect { stroke: #000 !important; stroke-width: 3 !important; }
`;

interface Geometry {
  /** Each client's first and last shown event. */
  readonly shown: ReadonlyMap<NodeId, { readonly first: TimelineEvent; readonly last: TimelineEvent }>;
  /** The last event of each run, by `<node>:<run>`. */
  readonly runEnd: ReadonlyMap<string, TimelineEvent>;
  readonly width: number;
  readonly height: number;
  readonly edgeLeft: number;
  readonly edgeRight: number;
  x(e: TimelineEvent): number;
  y(node: NodeId): number;
}

function geometry(input: DiagramInput): Geometry {
  const { layout, merged } = input;
  const width = LEFT + 24 + Math.max(layout.columns, 1) * COL_W + PAD_RIGHT;
  const height = TOP + Math.max(merged.nodes.length - 1, 0) * ROW_H + PAD_BOTTOM + 30;
  const shown = new Map<NodeId, { first: TimelineEvent; last: TimelineEvent }>();
  for (const e of input.window.events) {
    const s = shown.get(e.node);
    if (s === undefined) shown.set(e.node, { first: e, last: e });
    else if (e.pos > s.last.pos) s.last = e;
  }
  const runEnd = new Map<string, TimelineEvent>();
  for (const timeline of merged.timelines.values()) for (const e of timeline) runEnd.set(`${e.node}:${e.event.run}`, e);
  return {
    shown,
    runEnd,
    width,
    height,
    edgeLeft: LEFT,
    edgeRight: width - PAD_RIGHT / 2,
    x: (e) => LEFT + 24 + (layout.column.get(e) ?? 0) * COL_W,
    y: (node) => TOP + (layout.row.get(node) ?? 0) * ROW_H,
  };
}

/** The end point of an arrow's shaft, stopped short of the event's glyph. */
function shortened(x1: number, y1: number, x2: number, y2: number, by: number): [number, number] {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = Math.hypot(dx, dy);
  if (len <= by) return [x2, y2];
  return [x2 - (dx / len) * by, y2 - (dy / len) * by];
}

function renderMessage(m: MessageLink, ref: string, input: DiagramInput, g: Geometry, inCut: ReadonlySet<MessageLink>): string | null {
  const { window, merged } = input;
  const sendShown = window.has(m.send);
  const receiveShown = window.has(m.receive);
  if (!sendShown && !receiveShown) return null;
  const x1 = sendShown ? g.x(m.send!) : g.edgeLeft;
  const y1 = g.y(m.from);
  const x2 = receiveShown ? g.x(m.receive!) : g.edgeRight;
  const y2 = g.y(m.to);
  // An end that exists but lies outside the window is cut at the edge; an end that does not exist
  // (in flight, lost, send not traced) is drawn at the edge too, and the status says which.
  const clippedEnd = m.send !== null && !sendShown ? 'send' : m.receive !== null && !receiveShown ? 'receive' : null;
  const classes = ['msg', `t-${m.type}`, statusClass(m.status)];
  if (m.status !== 'delivered') classes.push('unmatched');
  if (clippedEnd !== null) classes.push('clipped');
  if (inCut.has(m)) classes.push('in-cut');
  const [ex, ey] = shortened(x1, y1, x2, y2, receiveShown ? EVENT_R + 2 : 0);
  const colour = TYPE_COLOURS[m.type];
  // Arrows to an edge can be long: their label stays near the end that is drawn.
  const along = receiveShown ? (sendShown ? 0.45 : 0.75) : sendShown ? Math.min(0.45, 70 / Math.max(Math.hypot(x2 - x1, y2 - y1), 1)) : 0.5;
  const lx = x1 + (x2 - x1) * along;
  const ly = y1 + (y2 - y1) * along - 3;
  const parts = [
    `<g${attrs({
      class: classes.join(' '),
      'data-ref': ref,
      'data-key': m.key,
      'data-chan': m.chan,
      'data-seq': m.seq,
      'data-from': m.from,
      'data-to': m.to,
      'data-type': m.type,
      'data-desc': m.desc,
      'data-status': statusClass(m.status),
      'data-snapshot': m.snapshot,
      'data-send': m.send?.id ?? null,
      'data-receive': m.receive?.id ?? null,
      'data-clipped': clippedEnd,
      tabindex: 0,
    })}>`,
    title(messageDetails(m, merged.nodes)),
  ];
  if (inCut.has(m)) parts.push(`<line class="halo" x1="${f(x1)}" y1="${f(y1)}" x2="${f(ex)}" y2="${f(ey)}"/>`);
  parts.push(`<line class="shaft" x1="${f(x1)}" y1="${f(y1)}" x2="${f(ex)}" y2="${f(ey)}" stroke="${colour}" marker-end="url(#arrow-${m.type})"/>`);
  if (m.status === 'lost' || m.status === 'untraced') {
    parts.push(`<path class="lost-mark" d="M${f(ex - 5)},${f(ey - 5)} L${f(ex + 5)},${f(ey + 5)} M${f(ex - 5)},${f(ey + 5)} L${f(ex + 5)},${f(ey - 5)}"/>`);
  }
  const suffix = m.status === 'inFlight' ? ' (in flight)' : m.status === 'lost' ? ' (lost)' : '';
  parts.push(`<text class="msg-label" x="${f(lx)}" y="${f(ly)}" text-anchor="middle">${xmlEscape(messageLabel(m) + suffix)}</text>`, '</g>');
  return parts.join('');
}

function renderSection(s: CriticalSection, input: DiagramInput, g: Geometry): string | null {
  const { window } = input;
  const range = g.shown.get(s.node);
  if (range === undefined) return null;
  const { first, last } = range;
  // A section with no leave ends where its run does: a crash inside it, or the end of the trace.
  const start = s.enter;
  const end = s.leave ?? (s.enter === null ? null : (g.runEnd.get(`${s.node}:${s.enter.event.run}`) ?? null));
  const startPos = start?.pos ?? -Infinity;
  const endPos = end?.pos ?? Infinity;
  if (startPos > last.pos || endPos < first.pos) return null;
  const x1 = start !== null && window.has(start) ? g.x(start) : startPos < first.pos ? g.edgeLeft : g.x(first);
  const x2 = end !== null && window.has(end) ? g.x(end) : endPos > last.pos ? g.edgeRight : g.x(last);
  const y = g.y(s.node);
  const label = s.leave === null ? 'no leave' : s.block === null ? 'no block' : `#${s.block}`;
  const lines: [string, string][] = [
    ['critical section', `${clientName(s.node)}${s.enter?.event.kind === 'enter' ? `, ts ${s.enter.event.ts}` : ''}`],
    ['block', s.leave === null ? 'did not leave it in this trace (a crash, or the trace ends inside it)' : s.block === null ? 'committed nothing' : `committed #${s.block}`],
  ];
  return [
    `<g${attrs({ class: s.leave === null ? 'cs open' : 'cs', 'data-node': s.node, 'data-block': s.block, 'data-enter': s.enter?.id ?? null, 'data-leave': s.leave?.id ?? null })}>`,
    title(lines),
    `<rect x="${f(x1)}" y="${f(y - 7)}" width="${f(Math.max(x2 - x1, 3))}" height="14" rx="3"/>`,
    `<text x="${f((x1 + x2) / 2)}" y="${f(y + 22)}" text-anchor="middle">${xmlEscape(label)}</text>`,
    '</g>',
  ].join('');
}

function glyph(e: TimelineEvent, x: number, y: number): string {
  switch (e.event.kind) {
    case 'send':
    case 'receive':
      return `<circle cx="${f(x)}" cy="${f(y)}" r="${EVENT_R}"/>`;
    case 'record':
      return `<path d="M${f(x)},${f(y - 8)} L${f(x + 7)},${f(y)} L${f(x)},${f(y + 8)} L${f(x - 7)},${f(y)} Z"/>`;
    case 'start':
    case 'peerUp':
    case 'peerDown':
    case 'enter':
    case 'leave':
    case 'commit':
    case 'channelStart':
    case 'channelStop':
      return `<rect x="${f(x - 3.5)}" y="${f(y - 3.5)}" width="7" height="7"/>`;
  }
}

function renderEvent(e: TimelineEvent, input: DiagramInput, g: Geometry): string {
  const x = g.x(e);
  const y = g.y(e.node);
  return [
    `<g${attrs({
      class: `event k-${e.event.kind}`,
      'data-ref': eventRef(e),
      'data-id': e.id,
      'data-node': e.node,
      'data-kind': e.event.kind,
      'data-order': e.order,
      'data-pos': e.pos,
      'data-col': input.layout.column.get(e) ?? 0,
      'data-clock': e.clock,
      'data-vc': e.vc.join(','),
      'data-snapshot': e.event.kind === 'record' || e.event.kind === 'channelStart' || e.event.kind === 'channelStop' ? e.event.snapshot : null,
      tabindex: 0,
    })}>`,
    title(eventDetails(e, input.merged.nodes)),
    glyph(e, x, y),
    '</g>',
  ].join('');
}

function renderCut(cut: SnapshotCut, input: DiagramInput, g: Geometry): string {
  const { window } = input;
  const points: [number, number, NodeId][] = [];
  for (const p of cut.points) {
    if (p.record === null) continue;
    const first = g.shown.get(p.node)?.first;
    let x: number;
    if (window.has(p.record)) x = g.x(p.record);
    else if (first !== undefined ? p.record.pos < first.pos : p.record.order < (window.events[0]?.order ?? 0)) x = g.edgeLeft;
    else x = g.edgeRight;
    points.push([x, g.y(p.node), p.node]);
  }
  points.sort((a, b) => a[1] - b[1]);
  const top = points[0];
  const bottom = points[points.length - 1];
  if (top === undefined || bottom === undefined) return '';
  const poly = [[top[0], top[1] - 34] as const, ...points.map(([x, y]) => [x, y] as const), [bottom[0], bottom[1] + 34] as const];
  const lines: [string, string][] = [
    ['snapshot cut', cut.id],
    ['through', cut.points.map((p) => `${clientName(p.node)} ${p.record === null ? 'not recorded' : `at clock ${p.record.clock}`}`).join(', ')],
    ['crossing messages', cut.crossing.length === 0 ? 'none' : cut.crossing.map((m) => `${m.from}->${m.to} ${m.desc}`).join('; ')],
  ];
  return [
    `<g${attrs({ class: 'cut', 'data-snapshot': cut.id, 'data-nodes': points.map((p) => p[2]).join(','), 'data-crossing': cut.crossing.length })}>`,
    title(lines),
    `<polyline points="${poly.map(([x, y]) => `${f(x)},${f(y)}`).join(' ')}"/>`,
    `<text x="${f(top[0] + 6)}" y="${f(top[1] - 38)}">cut ${xmlEscape(cut.id)}</text>`,
    '</g>',
  ].join('');
}

function renderRestarts(input: DiagramInput, g: Geometry): string {
  const out: string[] = [];
  for (const e of input.window.events) {
    if (!e.restart) continue;
    const x = g.x(e) - COL_W / 2;
    const y = g.y(e.node);
    out.push(
      `<g${attrs({ class: 'restart', 'data-node': e.node, 'data-run': e.event.run })}>${title([['restart', `${clientName(e.node)} restarted: run ${e.event.run} begins`]])}` +
        `<line x1="${f(x)}" y1="${f(y - 18)}" x2="${f(x)}" y2="${f(y + 18)}"/><text x="${f(x)}" y="${f(y - 22)}" text-anchor="middle">restart</text></g>`,
    );
  }
  return out.join('');
}

export function renderSvg(input: DiagramInput): string {
  const { merged, window, cut } = input;
  const g = geometry(input);
  const inCut = new Set(cut?.crossing ?? []);
  const markers = (Object.entries(TYPE_COLOURS) as [TraceMessageType, string][]).map(
    ([type, colour]) =>
      `<marker id="arrow-${type}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${colour}"/></marker>`,
  );
  const lanes = merged.nodes.map((n) => {
    const y = g.y(n);
    const untraced = merged.untracedNodes.includes(n);
    return `<g${attrs({ class: untraced ? 'timeline untraced' : 'timeline', 'data-node': n })}><line class="axis" x1="${LEFT}" y1="${f(y)}" x2="${f(g.edgeRight)}" y2="${f(y)}"/><text class="lane-label" x="10" y="${f(y + 4)}">${clientName(n)}${untraced ? ' (no trace)' : ''}</text></g>`;
  });
  const edges = window.whole ? [] : [g.edgeLeft, g.edgeRight].map((x) => `<line class="window-edge" x1="${f(x)}" y1="${TOP - 30}" x2="${f(x)}" y2="${f(g.height - 20)}"/>`);
  const sections = merged.sections.map((s) => renderSection(s, input, g)).filter((s): s is string => s !== null);
  const messages = merged.messages.map((m, k) => renderMessage(m, messageRef(k), input, g, inCut)).filter((s): s is string => s !== null);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg"${attrs({
      class: 'trace-diagram',
      width: f(g.width),
      height: f(g.height),
      viewBox: `0 0 ${f(g.width)} ${f(g.height)}`,
      'data-nodes': merged.nodes.join(','),
      'data-window': window.label,
      'data-snapshot': cut?.id ?? null,
    })}>`,
    `<title>${xmlEscape(input.title)}</title>`,
    `<style>${DIAGRAM_CSS}</style>`,
    `<defs>${markers.join('')}</defs>`,
    `<g class="timelines">${lanes.join('')}${edges.join('')}</g>`,
    `<g class="sections">${sections.join('')}</g>`,
    `<g class="restarts">${renderRestarts(input, g)}</g>`,
    `<g class="messages">${messages.join('')}</g>`,
    cut === null ? '' : renderCut(cut, input, g),
    `<g class="events">${window.events.map((e) => renderEvent(e, input, g)).join('')}</g>`,
    '</svg>',
  ].join('\n');
}
