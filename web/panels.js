// @ts-check
/**
 * Everything beside the diagram: each client's state next to its lane (lock queue, what its
 * request waits for, chain, balances, peers, links, its process), an event's details, the
 * snapshots as they are recorded and assembled, the demo's steps, the controls' log and the
 * rates per channel. Text goes in as text, never as markup.
 */
import { LANE_H } from './diagram.js';

/** @param {string} tag @param {Record<string, string>} [attrs] @param {string} [text] */
export function h(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** $4.50 for 450, as the clients print money. @param {number} cents */
export function dollars(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}$${String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${String(abs % 100).padStart(2, '0')}`;
}

/** What a client's outstanding request still waits for, in the terms of Lamport's rule 5. @param {any} s */
export function waitingFor(s) {
  const w = s.waitingFor;
  if (!w) return '';
  const own = s.requesting ? s.requesting.ts : '?';
  const names = (/** @type {number[]} */ ids) => ids.map((p) => `client${p}`).join(', ');
  switch (w.kind) {
    case 'peersDown':
      return `${names(w.peers)} to connect`;
    case 'queuedBehind':
      return w.entries.map((/** @type {any} */ e) => `client${e.node}'s earlier request (ts ${e.ts}) to be released`).join(', ');
    case 'noLaterMessage':
      return w.peers.map((/** @type {number} */ p) => `a message from client${p} later than ts ${own} (none yet)`).join(', ');
    case 'oldView':
      return `${names(w.peers)} to confirm the current membership`;
    case 'catchingUp':
      return `block #${w.height} from client${w.peer} (catching up)`;
    default:
      return '';
  }
}

const FIELDS = [
  ['clock', 'clock'],
  ['height', 'chain'],
  ['queue', 'lock queue'],
  ['waiting', 'waiting for'],
  ['balances', 'balances'],
  ['peers', 'peers up'],
  ['links', 'links'],
];

export class LaneInfo {
  /**
   * @param {HTMLElement} container
   * @param {number[]} nodes
   * @param {{ enabled: boolean, reason: string }} processes
   * @param {(action: string, client: number) => void} act
   */
  constructor(container, nodes, processes, act) {
    /** @type {Map<number, Map<string, HTMLElement>>} */
    this.fields = new Map();
    /** @type {Map<number, HTMLElement>} */
    this.boxes = new Map();
    this.processes = processes;
    container.replaceChildren();
    for (const node of nodes) {
      const box = h('section', { class: 'lane-info', 'data-info-client': String(node), 'data-connected': 'false', 'aria-label': `client${node}` });
      box.style.height = `${LANE_H}px`;
      const title = h('h3', {}, `client${node} `);
      const proc = h('span', { class: 'process', 'data-field': 'process' }, 'not connected');
      title.append(proc);
      const buttons = h('span', { class: 'buttons' });
      for (const action of ['stop', 'start', 'restart']) {
        const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', 'data-action': action, 'aria-label': `${action} client${node}` }, action));
        b.disabled = !processes.enabled;
        if (!processes.enabled) b.title = processes.reason;
        b.addEventListener('click', () => act(action, node));
        buttons.append(b);
      }
      title.append(buttons);
      box.append(title);
      const dl = h('dl');
      /** @type {Map<string, HTMLElement>} */
      const fields = new Map([['process', proc]]);
      for (const [key, name] of FIELDS) {
        dl.append(h('dt', {}, name));
        const dd = h('dd', { 'data-field': key }, '-');
        dl.append(dd);
        fields.set(key, dd);
      }
      box.append(dl);
      container.append(box);
      this.fields.set(node, fields);
      this.boxes.set(node, box);
    }
  }

  /** @param {any} item a status item */
  update(item) {
    const f = this.fields.get(item.node);
    const box = this.boxes.get(item.node);
    if (!f || !box) return;
    box.dataset.connected = String(item.connected);
    const set = (/** @type {string} */ key, /** @type {string} */ text) => {
      const el = f.get(key);
      if (el && el.textContent !== text) el.textContent = text;
    };
    // Why the server does not watch this client at all (its data dir answers as another), when so.
    if (item.reason) box.dataset.reason = item.reason;
    else delete box.dataset.reason;
    set('process', item.reason ?? item.process ?? (item.connected ? 'connected' : 'not connected'));
    for (const b of box.querySelectorAll('button')) {
      // A client started elsewhere is not this page's to stop.
      b.disabled = !this.processes.enabled || /elsewhere/.test(item.process ?? '');
    }
    const s = item.status;
    if (!s) {
      for (const [key] of FIELDS) set(key, '-');
      return;
    }
    const n = s.node;
    set('clock', String(n.clock));
    set('height', `#${n.height} ${n.head.slice(0, 8)}${n.pendingBlocks > 0 ? ` (+${n.pendingBlocks} waiting)` : ''}`);
    set('queue', n.queue.length === 0 ? '(empty)' : n.queue.map((/** @type {any} */ e) => `(${e.ts}, client${e.node})`).join(' '));
    set('waiting', n.requesting ? waitingFor(n) || 'nothing: entering' : n.pendingTransfers > 0 ? `${n.pendingTransfers} transfers queued` : '-');
    set('balances', Object.entries(s.balances.balances).map(([id, c]) => `${id}: ${dollars(/** @type {number} */ (c))}`).join('  '));
    set('peers', n.peersUp.length === 0 ? 'none' : n.peersUp.map((/** @type {number} */ p) => `client${p}`).join(', '));
    const links = f.get('links');
    if (links) {
      links.replaceChildren(
        ...s.links.map((/** @type {any} */ l, /** @type {number} */ k) => {
          const delay = l.delay === null ? '' : `, ${l.delay.minMs === l.delay.maxMs ? l.delay.minMs : `${l.delay.minMs}-${l.delay.maxMs}`} ms`;
          const span = h('span', { class: l.held ? 'held' : '', 'data-link': `${n.id}>${l.peer}` }, `${k > 0 ? ' · ' : ''}→${l.peer} ${l.held ? 'held' : 'open'}${delay}${l.waiting > 0 ? ` (${l.waiting} waiting)` : ''}`);
          return span;
        }),
      );
    }
  }
}

/** What an event says, in a sentence. @param {any} e */
function sentence(e) {
  switch (e.kind) {
    case 'send':
      return `client${e.node} sent ${e.desc} to client${e.to}`;
    case 'receive':
      return `client${e.node} received ${e.desc} from client${e.from}`;
    case 'enter':
      return `client${e.node} entered the critical section at ts=${e.ts} on #${e.height} (${e.transfers} transfer${e.transfers === 1 ? '' : 's'})`;
    case 'leave':
      return `client${e.node} left the critical section${e.block === null ? ', no block' : `, block #${e.block} committed`}`;
    case 'commit':
      return `client${e.node} appended block #${e.height} (${e.txs} transfer${e.txs === 1 ? '' : 's'} by client${e.creator})${e.from === null ? '' : `, from client${e.from}`}`;
    case 'record':
      return `client${e.node} recorded its state for snapshot ${e.snapshot} at clock ${e.clock} (chain #${e.height})`;
    case 'channelStart':
      return `snapshot ${e.snapshot}: client${e.node} starts recording the channel from client${e.from}`;
    case 'channelStop':
      return `snapshot ${e.snapshot}: the marker from client${e.from} closed that channel at client${e.node}: ${e.messages} message${e.messages === 1 ? '' : 's'} recorded on it`;
    case 'start':
      return `client${e.node} started (run ${e.run}) at clock ${e.clock}, chain #${e.height}`;
    case 'peerUp':
      return `client${e.node}'s session with client${e.peer} is up`;
    case 'peerDown':
      return `client${e.node}'s session with client${e.peer} is down`;
    default:
      return `${e.kind} at client${e.node}`;
  }
}

/**
 * @param {HTMLElement} panel
 * @param {import('./store.js').Ev} ev
 * @param {number[]} nodes
 * @param {(from: number, to: number) => boolean} held
 */
export function showDetails(panel, ev, nodes, held) {
  const e = ev.e;
  const rows = [
    ['client', `client${e.node}`],
    ['Lamport clock', ev.clockBefore === ev.clock ? String(ev.clock) : `${ev.clockBefore} → ${ev.clock}`],
    ['vector clock', nodes.map((n, k) => `client${n}:${ev.vc[k] ?? 0}`).join(' ')],
    ['wall time', new Date(e.wall).toISOString()],
    ['event', `${ev.id}${ev.unmatched ? ' (its send never reached this page)' : ''}`],
  ];
  const m = ev.msg;
  if (m) {
    const status = m.recv ? `delivered (${m.send && m.recv ? `sent at column ${m.send.col}, received at ${m.recv.col}` : 'its send not shown'})` : m.lost ? 'lost with its connection' : held(m.from, m.to) ? 'in flight: held on the link' : 'in flight';
    rows.splice(1, 0, ['message', `${m.desc} (client${m.from} → client${m.to}, channel ${m.key})`], ['status', status]);
    if (m.recordedIn.length > 0) rows.push(['recorded in', `the channel state of snapshot ${m.recordedIn.join(', ')}`]);
  }
  const dl = h('dl');
  for (const [k, v] of rows) {
    dl.append(h('dt', {}, k));
    dl.append(h('dd', {}, v));
  }
  panel.replaceChildren(h('h2', {}, 'Details'), h('p', { 'data-field': 'sentence' }, sentence(e)), dl, h('p', { class: 'hint' }, 'Blue: happened before it. Orange: happened after it. Faded: concurrent (neither).'));
}

/**
 * The snapshots known so far: who recorded, each channel being recorded and what it holds, and the
 * verdict once the initiator has assembled it.
 * @param {HTMLElement} list
 * @param {import('./store.js').Store} store
 */
export function showSnapshots(list, store) {
  const ids = [...store.snapshots.keys()].sort((a, b) => {
    const [ai, as] = a.split('.').map(Number);
    const [bi, bs] = b.split('.').map(Number);
    return bs - as || ai - bi;
  });
  list.replaceChildren(
    ...ids.slice(0, 20).map((id) => {
      const s = /** @type {import('./store.js').Snap} */ (store.snapshots.get(id));
      const box = h('div', { class: 'snapshot', 'data-snapshot': id });
      const recorded = [...s.records.keys()].sort((a, b) => a - b).map((lane) => `client${store.nodes[lane]}`);
      box.append(h('h3', {}, `snapshot ${id}`));
      box.append(h('p', {}, recorded.length === 0 ? 'markers on their way' : `recorded by ${recorded.join(', ')} (${recorded.length} of ${store.nodes.length})`));
      const ul = h('ul');
      for (const r of [...s.channels.values()].sort((a, b) => a.from - b.from || a.to - b.to)) {
        const what = r.messages.length === 0 ? 'empty so far' : r.messages.map((m) => m.desc).join('; ');
        ul.append(h('li', { 'data-channel': `${r.from}>${r.to}` }, `${r.from} → ${r.to}: ${r.stop ? 'recorded' : 'recording…'} ${r.messages.length} message${r.messages.length === 1 ? '' : 's'}${r.messages.length > 0 ? `: ${what}` : ''}`));
      }
      if (ul.childElementCount > 0) box.append(ul);
      const v = s.verdict;
      if (v) {
        const inFlight = v.channels.filter((/** @type {any} */ c) => c.count > 0).map((/** @type {any} */ c) => `${c.from} → ${c.to}: ${c.messages.join('; ')}${c.count > c.messages.length ? ` and ${c.count - c.messages.length} more` : ''}`);
        box.append(h('p', {}, inFlight.length === 0 ? 'in flight across the cut: nothing' : `in flight across the cut: ${inFlight.join(' | ')}`));
        box.append(h('p', { class: `verdict ${v.verified ? 'ok' : 'bad'}`, 'data-verdict': v.verified ? 'verified' : 'not-verified' }, v.verdict));
      }
      return box;
    }),
  );
}

/** @param {HTMLElement} list @param {string} text @param {string} cls */
export function logLine(list, text, cls) {
  const li = h('li', { class: cls }, text);
  list.prepend(li);
  while (list.childElementCount > 200) list.lastElementChild?.remove();
  return li;
}

/** @param {HTMLElement} panel @param {HTMLElement} list @param {any} rates @param {boolean} active */
export function showRates(panel, list, rates, active) {
  panel.hidden = !active;
  panel.dataset.active = String(active);
  if (!active) return;
  const total = rates.channels.reduce((/** @type {number} */ n, /** @type {any} */ c) => n + c.count, 0);
  list.replaceChildren(
    h('li', {}, `${total} messages/s; the diagram shows ${rates.perSecond} events/s of them and redraws once a second. Per channel:`),
    ...rates.channels.map((/** @type {any} */ c) => {
      const drawn = Object.entries(c.types).map(([t, n]) => `${t} ${n}`).join(', ');
      return h('li', { 'data-rate': `${c.from}>${c.to}` }, `${c.from} → ${c.to}: ${c.count}/s${drawn === '' ? '' : ` (drawn: ${drawn})`}`);
    }),
  );
}
