// @ts-check
/**
 * The space-time diagram of a window of columns, drawn as plain SVG: one lane per client
 * (`data-client`), events with the Lamport clock after each, messages as arrows coloured by type
 * (`data-type`; dashed while in flight), critical sections as bars labelled with their block, and
 * each snapshot's cut through its record points (`data-cut`). Only the window is drawn, so the
 * cost of a redraw does not grow with the length of the run.
 */

const NS = 'http://www.w3.org/2000/svg';
export const LANE_H = 180;
/** Column widths the zoom steps through, in pixels. */
export const ZOOMS = [4, 6, 8, 12, 16, 22, 28, 36];
export const DEFAULT_COL_W = 22;
const LEFT = 64;
const RIGHT = 80;
const TYPES = ['REQUEST', 'REPLY', 'RELEASE', 'MARKER', 'REPORT', 'FETCH', 'BLOCKS'];
const COLOURS = { REQUEST: '#1f77b4', REPLY: '#2ca02c', RELEASE: '#e6700a', MARKER: '#9467bd', REPORT: '#8c564b', FETCH: '#555555', BLOCKS: '#555555' };

/**
 * @param {string} name
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** How many columns of `colW` pixels fit in `width` pixels. @param {number} width @param {number} colW */
export function columnsIn(width, colW) {
  return Math.max(8, Math.floor((width - LEFT - RIGHT) / colW));
}

/** A message in a few words: its type and timestamp, and the block of a RELEASE. @param {any} m */
function label(m) {
  const block = /block #(\d+)/.exec(m.desc);
  return `${m.type} ${m.ts}${m.type === 'RELEASE' && block ? ` #${block[1]}` : ''}`;
}

/**
 * @typedef {{ end: number, width: number, colW: number, connected: (node: number) => boolean, held: (from: number, to: number) => boolean }} Frame
 */

/**
 * Draws columns (end - fitting + 1 .. end) of `store` into `svg`.
 * @param {SVGSVGElement} svg
 * @param {import('./store.js').Store} store
 * @param {Frame} frame
 */
export function draw(svg, store, frame) {
  const COL_W = frame.colW;
  const cols = columnsIn(frame.width, COL_W);
  const end = Math.max(frame.end, cols - 1);
  const start = end - cols + 1;
  const x = (/** @type {number} */ col) => LEFT + (col - start) * COL_W + COL_W / 2;
  const y = (/** @type {number} */ lane) => lane * LANE_H + LANE_H / 2;
  const height = LANE_H * store.nodes.length;
  const frontier = x(Math.min(store.maxCol, end) + 1);
  svg.setAttribute('width', String(frame.width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${frame.width} ${height}`);
  svg.dataset.start = String(start);
  svg.dataset.end = String(end);
  // Narrow columns leave no room for labels: the details panel has them.
  svg.classList.toggle('dense', COL_W < 16);
  const root = document.createDocumentFragment();

  const defs = el('defs');
  for (const t of TYPES) {
    // In the diagram's units, so that a thick arrow (a recorded message) keeps a normal head.
    const marker = el('marker', { id: `arrow-${t}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
    marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: /** @type {Record<string, string>} */ (COLOURS)[t] ?? '#555' }));
    defs.append(marker);
  }
  root.append(defs);

  const lanes = el('g', { class: 'lanes' });
  for (const [lane, node] of store.nodes.entries()) {
    const g = el('g', { class: `lane${frame.connected(node) ? '' : ' down'}`, 'data-client': node });
    g.append(el('line', { class: 'axis', x1: LEFT - 10, x2: frame.width - 10, y1: y(lane), y2: y(lane) }));
    g.append(el('text', { class: 'lane-label', x: 6, y: y(lane) + 4 }, `client${node}`));
    lanes.append(g);
  }
  root.append(lanes);
  if (store.maxCol >= start && store.maxCol < end) root.append(el('line', { class: 'frontier', x1: frontier, x2: frontier, y1: 0, y2: height }));

  const sections = el('g', { class: 'sections' });
  for (const s of store.sections) {
    const from = s.enter ? s.enter.col : start - 1;
    const to = s.leave ? s.leave.col : Math.max(store.lastCol[s.lane], from);
    if (to < start || from > end) continue;
    const x1 = Math.max(x(from), LEFT - 4);
    const x2 = Math.min(x(to), frame.width - 10);
    const g = el('g', { class: `cs${s.leave ? '' : ' open'}`, 'data-node': store.nodes[s.lane], ...(s.block === null ? {} : { 'data-block': s.block }) });
    g.append(el('rect', { x: x1, y: y(s.lane) - 9, width: Math.max(4, x2 - x1), height: 18, rx: 3 }));
    g.append(el('text', { x: x1 + 3, y: y(s.lane) + 22 }, s.block === null ? (s.leave ? 'no block' : 'in the critical section') : `block #${s.block}`));
    sections.append(g);
  }
  root.append(sections);

  const shown = store.inColumns(start, end);
  /** @type {Set<import('./store.js').Msg>} */
  const msgs = new Set();
  for (const ev of shown) if (ev.msg) msgs.add(ev.msg);
  for (const m of store.inflight) if (m.send && m.send.col < start) msgs.add(m);
  const messages = el('g', { class: 'messages' });
  for (const m of msgs) {
    const status = m.recv ? 'delivered' : m.lost ? 'lost' : 'in-flight';
    const held = status === 'in-flight' && frame.held(m.from, m.to);
    const fromLane = store.nodes.indexOf(m.from);
    const toLane = store.nodes.indexOf(m.to);
    if (fromLane < 0 || toLane < 0) continue;
    const x1 = m.send ? Math.max(x(m.send.col), LEFT - 10) : LEFT - 10;
    const x2 = m.recv ? Math.min(x(m.recv.col), frame.width - 10) : status === 'lost' ? x1 + COL_W : Math.max(frontier, x1 + COL_W);
    const y1 = y(fromLane);
    const y2 = status === 'delivered' ? y(toLane) : y(toLane) + (y1 < y(toLane) ? -LANE_H / 4 : LANE_H / 4);
    const cls = `msg t-${m.type}${m.recordedIn.length > 0 ? ' recorded' : ''}${held ? ' held' : ''}`;
    const ends = { ...(m.send ? { 'data-send': m.send.id } : {}), ...(m.recv ? { 'data-receive': m.recv.id } : {}), ...(m.snapshot ? { 'data-snapshot': m.snapshot } : {}) };
    const g = el('g', { class: cls, 'data-type': m.type, 'data-msg': m.key, 'data-from': m.from, 'data-to': m.to, 'data-status': status, ...ends });
    g.append(el('line', { x1, y1, x2, y2, 'marker-end': `url(#arrow-${m.type})` }));
    g.append(el('title', {}, `${m.desc} (client${m.from} -> client${m.to}, ${held ? 'held on the link' : status})`));
    const t = el('text', { class: 'msg-label', x: (x1 + x2) / 2 + 3, y: (y1 + y2) / 2 - 3 }, held ? `${label(m)} (held)` : label(m));
    g.append(t);
    messages.append(g);
  }
  root.append(messages);

  const cuts = el('g', { class: 'cuts' });
  for (const s of store.snapshots.values()) {
    if (s.records.size === 0) continue;
    const points = [...s.records.entries()].sort((a, b) => a[0] - b[0]).map(([lane, ev]) => [Math.min(Math.max(x(ev.col), LEFT - 10), frame.width - 10), y(lane)]);
    if (points.every(([px]) => px <= LEFT - 10) && [...s.records.values()].every((ev) => ev.col < start)) continue;
    const complete = s.records.size === store.nodes.length;
    const g = el('g', { class: `cut${complete ? ' complete' : ''}`, 'data-cut': s.id, 'data-records': s.records.size });
    const pts = points.map(([px, py]) => `${px},${py}`);
    if (points.length === 1) pts.push(`${points[0][0]},${points[0][1] + 1}`);
    g.append(el('polyline', { points: pts.join(' ') }));
    const verdict = s.verdict ? (s.verdict.verified ? ' verified' : ' NOT verified') : complete ? '' : ' recording…';
    g.append(el('text', { x: points[0][0] + 6, y: Math.max(12, points[0][1] - LANE_H / 2 + 14) }, `cut ${s.id}${verdict}`));
    g.append(el('title', {}, `snapshot ${s.id}: the cut through each client's record point${s.verdict ? `; ${s.verdict.verdict}` : ''}`));
    cuts.append(g);
  }
  root.append(cuts);

  const events = el('g', { class: 'events' });
  for (const ev of shown) {
    const e = ev.e;
    const g = el('g', { class: `ev k-${e.kind}`, tabindex: 0, 'data-id': ev.id, 'data-kind': e.kind, 'data-clock': ev.clock, 'data-node': e.node, transform: `translate(${x(ev.col)},${y(ev.lane)})` });
    g.append(el('circle', { class: 'hit', r: 10 }));
    if (e.kind === 'record') g.append(el('path', { d: 'M0,-8 L7,0 L0,8 L-7,0 z' }));
    else if (e.kind === 'send' || e.kind === 'receive') g.append(el('circle', { r: 4.5 }));
    else g.append(el('rect', { x: -3.5, y: -3.5, width: 7, height: 7 }));
    if (e.kind === 'send' || e.kind === 'receive' || e.kind === 'record' || e.kind === 'start') g.append(el('text', { class: 'clock', x: -4, y: -10 }, String(ev.clock)));
    events.append(g);
  }
  root.append(events);
  const earliest = store.events[0]?.col ?? 0;
  if (start > earliest && store.events.length > 0) root.append(el('text', { class: 'edge-note', x: LEFT, y: height - 6 }, `← ${start - earliest} earlier columns: scroll back (arrow keys, wheel) or zoom out`));
  svg.replaceChildren(root);
  return { start, end };
}
