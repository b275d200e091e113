// @ts-check
/**
 * The live view's page: reads the server's event stream (EventSource; it reconnects by itself and
 * resumes after the last event id it saw), keeps what it was sent in a bounded store, draws a
 * window of it at most ten times a second (once a second under heavy load, with the rates per
 * channel beside it), and sends the controls to the server, which carries them out on the real
 * clients. The same page replays a saved run with a slider.
 */
import { DEFAULT_COL_W, ZOOMS, columnsIn, draw } from './diagram.js';
import { LaneInfo, dollars, h, logLine, showDetails, showRates, showSnapshots } from './panels.js';
import { fetchReplay, position, storeAt } from './replay.js';
import { Store, vcAtMost } from './store.js';
import { authHeaders, setToken, withToken } from './token.js';

/** Events a second beyond which the page shows rates and redraws once a second. */
const BUSY_RATE = 300;
/** Items kept while paused; beyond, they are counted and lost. */
const MAX_PAUSED = 50000;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ ($('diagram')));
const wrap = $('diagram-wrap');

const state = {
  /** @type {any} */ hello: null,
  /** @type {number[]} */ nodes: [],
  live: new Store([]),
  /** What is drawn: the live store, or a replay's. */
  store: new Store([]),
  /** @type {Map<number, any>} */ statuses: new Map(),
  /** @type {LaneInfo | null} */ lanes: null,
  paused: false,
  /** @type {any[]} */ pending: [],
  pendingLost: 0,
  follow: true,
  end: 0,
  colW: DEFAULT_COL_W,
  scheduled: false,
  lastDraw: 0,
  busy: false,
  arrivals: 0,
  arrivalsSince: Date.now(),
  /** @type {any} */ rates: { perSecond: 0, channels: [] },
  /** @type {Map<number, number>} */ droppedAtClients: new Map(),
  droppedHere: 0,
  missed: 0,
  /** @type {string | null} */ hovered: null,
  /** @type {any} */ replay: null,
  /** @type {EventSource | null} */ source: null,
};

// ---- the stream ------------------------------------------------------------------------------

async function connect() {
  const probe = await fetch(withToken('/api/hello'), { headers: authHeaders() }).catch(() => null);
  if (probe !== null && probe.status === 401) {
    const form = $('token-form');
    form.hidden = false;
    $('conn').textContent = 'needs its token';
    return;
  }
  const source = new EventSource(withToken('/events'));
  state.source = source;
  source.onopen = () => setConn(state.replay && !state.hello?.mode ? 'replay' : 'live');
  source.onerror = () => setConn('reconnecting');
  source.onmessage = (m) => {
    try {
      handle(JSON.parse(m.data));
    } catch (e) {
      console.warn('live view: an item could not be read', e);
    }
  };
}

/** @param {string} s */
function setConn(s) {
  const conn = $('conn');
  conn.dataset.state = s;
  conn.textContent = s === 'live' ? 'live' : s === 'replay' ? 'replay' : s === 'reconnecting' ? 'reconnecting… (the page resumes where it stopped)' : s;
}

/** @param {any} item */
function handle(item) {
  switch (item.t) {
    case 'hello':
      return hello(item);
    case 'status':
      state.statuses.set(item.node, item);
      state.lanes?.update(item);
      return schedule();
    case 'rates':
      // Once a second: also what tells the page the load is over, when nothing else comes.
      state.rates = item;
      return schedule();
    case 'ev':
      return event(item);
    case 'snapshot': {
      const target = state.paused ? null : state.live;
      if (target === null) return void state.pending.push(item);
      target.snap(item.id).verdict = item;
      return schedule();
    }
    case 'dropped':
      if (item.where === 'client') state.droppedAtClients.set(item.node, item.count);
      else state.droppedHere = item.count;
      return counters();
    case 'missed':
      state.missed += item.count;
      return counters();
    case 'action':
      logLine($('log-list'), `${item.action}: ${item.text}`, item.ok ? 'ok' : 'bad');
      return;
    case 'demo':
      return demoStep(item);
    default:
      return;
  }
}

/** @param {any} item */
function hello(item) {
  // A new run of the server: its events are another history; start again.
  const fresh = state.hello === null || state.hello.instance !== item.instance;
  state.hello = item;
  state.nodes = item.nodes;
  $('title').textContent = item.title;
  $('mode').textContent = item.mode === 'replay' ? 'replay' : 'live view';
  document.title = `lamport-ledger ${item.mode === 'replay' ? 'replay' : 'live view'}`;
  if (fresh) {
    state.live = new Store(item.nodes);
    if (state.replay === null) state.store = state.live;
    state.lanes = new LaneInfo($('lanes-info'), item.nodes, item.processes, (action, client) => void act({ action, client }, `${action} client${client}`));
    for (const s of state.statuses.values()) state.lanes.update(s);
    fillClientSelects(item.nodes);
  }
  const live = item.mode === 'live';
  for (const b of document.querySelectorAll('#controls button[data-action]')) {
    const a = /** @type {HTMLElement} */ (b).dataset.action ?? '';
    if (['transfer', 'snapshot', 'hold', 'release', 'delay', 'demo'].includes(a)) /** @type {HTMLButtonElement} */ (b).disabled = !live;
  }
  document.documentElement.dataset.ready = 'true';
  setConn(live ? 'live' : 'replay');
  if (!live && state.replay === null) void openReplay();
  schedule();
}

/** @param {number[]} nodes */
function fillClientSelects(nodes) {
  for (const sel of document.querySelectorAll('select[data-clients]')) {
    const s = /** @type {HTMLSelectElement} */ (sel);
    s.replaceChildren(...nodes.map((n) => h('option', { value: String(n) }, `client${n}`)));
  }
  /** @type {HTMLSelectElement} */ ($('transfer-to')).value = String(nodes[1] ?? nodes[0]);
  /** @type {HTMLSelectElement} */ ($('link-to')).value = String(nodes[nodes.length - 1]);
}

/** @param {any} item */
function event(item) {
  state.arrivals++;
  if (state.paused) {
    if (state.pending.length < MAX_PAUSED) state.pending.push(item);
    else state.pendingLost++;
    return counters();
  }
  state.live.add(item);
  schedule();
}

// ---- drawing ---------------------------------------------------------------------------------

function schedule() {
  if (state.scheduled) return;
  state.scheduled = true;
  const wait = Math.max(0, (state.busy ? 1000 : 100) - (performance.now() - state.lastDraw));
  setTimeout(() => requestAnimationFrame(render), wait);
}

function render() {
  state.scheduled = false;
  state.lastDraw = performance.now();
  measureRate();
  counters();
  if (state.paused) return;
  const store = state.store;
  const width = Math.max(400, wrap.clientWidth);
  // A redraw replaces the events: the one focused from the keyboard keeps the focus.
  const focused = /** @type {HTMLElement | null} */ (document.activeElement)?.closest?.('#diagram .ev');
  const focusedId = focused ? /** @type {SVGElement} */ (/** @type {unknown} */ (focused)).dataset.id ?? null : null;
  redrawing = true;
  if (state.follow) state.end = Math.max(store.maxCol + 1, columnsIn(width, state.colW) - 1);
  draw(svg, store, {
    end: state.end,
    width,
    colW: state.colW,
    connected: (node) => state.replay !== null || state.statuses.get(node)?.connected === true,
    held: (from, to) => state.replay === null && linkHeld(from, to),
  });
  if (focusedId !== null) /** @type {SVGElement | null} */ (svg.querySelector(`.ev[data-id="${CSS.escape(focusedId)}"]`))?.focus();
  redrawing = false;
  showSnapshots($('snapshot-list'), store);
  $('no-snapshots').hidden = store.snapshots.size > 0;
  if (state.hovered !== null) highlight(state.hovered);
}

/** Set while a redraw replaces the events: the focus moving then is not the user's. */
let redrawing = false;

/** @param {number} from @param {number} to */
function linkHeld(from, to) {
  const s = state.statuses.get(from)?.status;
  return s ? s.links.some((/** @type {any} */ l) => l.peer === to && l.held) : false;
}

function measureRate() {
  const now = Date.now();
  const elapsed = now - state.arrivalsSince;
  if (elapsed < 1000) return;
  const rate = (state.arrivals * 1000) / elapsed;
  state.arrivals = 0;
  state.arrivalsSince = now;
  // Hysteresis: busy above BUSY_RATE, calm again below half of it.
  state.busy = state.busy ? rate > BUSY_RATE / 2 : rate > BUSY_RATE;
  showRates($('rates'), $('rates-list'), state.rates, state.busy && state.replay === null);
}

function counters() {
  const store = state.store;
  const atClients = [...state.droppedAtClients.values()].reduce((a, b) => a + b, 0);
  $('counts').textContent = `${store.total} events${store.forgotten > 0 ? ` (the oldest ${store.forgotten} forgotten: the page keeps the last ${store.events.length})` : ''}`;
  const dropped = $('dropped');
  const parts = [];
  if (atClients > 0) parts.push(`${atClients} left out by the clients' streams`);
  if (state.droppedHere > 0) parts.push(`${state.droppedHere} left out because this page fell behind`);
  if (state.missed > 0) parts.push(`${state.missed} missed while reconnecting`);
  if (state.pendingLost > 0) parts.push(`${state.pendingLost} lost while paused`);
  dropped.hidden = parts.length === 0;
  dropped.textContent = parts.length === 0 ? '' : `events not shown: ${parts.join(', ')}`;
  dropped.dataset.count = String(atClients + state.droppedHere + state.missed + state.pendingLost);
  const pc = $('paused-count');
  pc.hidden = !state.paused;
  pc.textContent = state.paused ? `paused: ${state.pending.length} new events wait` : '';
}

// ---- details and happens-before --------------------------------------------------------------

/** @param {string} id */
function highlight(id) {
  const ev = state.store.byId.get(id);
  if (!ev) return;
  svg.classList.add('lit');
  for (const node of svg.querySelectorAll('.ev')) {
    const g = /** @type {SVGElement} */ (node);
    const other = state.store.byId.get(g.dataset.id ?? '');
    g.classList.remove('hb-before', 'hb-after', 'hb-self');
    if (!other) continue;
    if (other === ev) g.classList.add('hb-self');
    else if (vcAtMost(other.vc, ev.vc)) g.classList.add('hb-before');
    else if (vcAtMost(ev.vc, other.vc)) g.classList.add('hb-after');
  }
  for (const node of svg.querySelectorAll('.msg')) {
    const g = /** @type {SVGElement} */ (node);
    const m = state.store.msgs.get(g.dataset.msg ?? '');
    g.classList.remove('hb-before', 'hb-after', 'hb-self');
    if (!m || !m.send) continue;
    if (m === ev.msg) g.classList.add('hb-self');
    else if (m.recv && vcAtMost(m.recv.vc, ev.vc)) g.classList.add('hb-before');
    else if (vcAtMost(ev.vc, m.send.vc)) g.classList.add('hb-after');
  }
}

function unlight() {
  if (redrawing) return;
  svg.classList.remove('lit');
  state.hovered = null;
}

/** @param {Event} e */
function onPoint(e) {
  const target = /** @type {Element | null} */ (e.target);
  const g = target?.closest?.('.ev');
  if (!g || redrawing) return;
  const id = /** @type {SVGElement} */ (g).dataset.id ?? '';
  const ev = state.store.byId.get(id);
  if (!ev || (e.type === 'mousemove' && id === state.hovered)) return;
  state.hovered = id;
  showDetails($('details'), ev, state.store.nodes, (from, to) => state.replay === null && linkHeld(from, to));
  highlight(id);
}

// The pointer's own moves, not 'mouseover': a redraw under a resting pointer is no new choice.
svg.addEventListener('mousemove', onPoint);
svg.addEventListener('focusin', onPoint);
svg.addEventListener('mouseleave', unlight);
svg.addEventListener('focusout', unlight);

// ---- scrolling back --------------------------------------------------------------------------

/** @param {number} by */
function scroll(by) {
  const cols = columnsIn(Math.max(400, wrap.clientWidth), state.colW);
  const last = Math.max(state.store.maxCol + 1, cols - 1);
  const first = Math.min(last, (state.store.events[0]?.col ?? 0) + cols - 1);
  state.end = Math.min(last, Math.max(first, state.end + by));
  state.follow = state.end >= last;
  schedule();
}

wrap.addEventListener('keydown', (e) => {
  const step = e.shiftKey ? 20 : 4;
  if (e.key === 'ArrowLeft') scroll(-step);
  else if (e.key === 'ArrowRight') scroll(step);
  else if (e.key === 'Home') scroll(-Infinity);
  else if (e.key === 'End') {
    state.follow = true;
    schedule();
  } else if (e.key === '+' || e.key === '=') zoom(1);
  else if (e.key === '-') zoom(-1);
  else return;
  e.preventDefault();
});
wrap.addEventListener(
  'wheel',
  (e) => {
    const delta = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY;
    if (delta === 0) return;
    e.preventDefault();
    scroll(Math.sign(delta) * Math.max(1, Math.round(Math.abs(delta) / state.colW)));
  },
  { passive: false },
);
window.addEventListener('resize', schedule);

// ---- controls ----------------------------------------------------------------------------------

/**
 * Sends one control to the server and logs its answer.
 * @param {Record<string, unknown>} body @param {string} what
 */
async function act(body, what) {
  const line = logLine($('log-list'), `${what}: …`, 'pending');
  try {
    const r = await fetch('/api/action', { method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() }, body: JSON.stringify(body) });
    const answer = await r.json();
    line.textContent = `${what}: ${answer.text}`;
    line.className = answer.ok ? 'ok' : 'bad';
    line.dataset.ok = String(answer.ok);
    return answer;
  } catch (e) {
    line.textContent = `${what}: no answer (${e instanceof Error ? e.message : String(e)})`;
    line.className = 'bad';
    return { ok: false };
  }
}

const selected = (/** @type {string} */ id) => Number(/** @type {HTMLSelectElement} */ ($(id)).value);
const valueOf = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();

/** @type {Record<string, () => void>} */
const CONTROLS = {
  transfer: () => {
    const m = /^\$?(\d{1,13})(?:\.(\d{1,2}))?$/.exec(valueOf('transfer-amount'));
    const from = selected('transfer-from');
    const to = selected('transfer-to');
    if (m === null) return void logLine($('log-list'), `transfer: "${valueOf('transfer-amount')}" is not an amount in dollars with up to 2 decimals, e.g. 4.50`, 'bad');
    const cents = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
    void act({ action: 'transfer', from, to, cents }, `client${from} transfer ${dollars(cents)} to client${to}`);
  },
  snapshot: () => void act({ action: 'snapshot', from: selected('snapshot-from') }, `snapshot from client${selected('snapshot-from')}`),
  hold: () => void act({ action: 'hold', from: selected('link-from'), to: selected('link-to') }, `hold link ${selected('link-from')} → ${selected('link-to')}`),
  release: () => void act({ action: 'release', from: selected('link-from'), to: selected('link-to') }, `release link ${selected('link-from')} → ${selected('link-to')}`),
  delay: () => {
    const ms = Number(valueOf('link-delay'));
    if (!/^\d+$/.test(valueOf('link-delay'))) return void logLine($('log-list'), `delay: "${valueOf('link-delay')}" is not a whole number of milliseconds`, 'bad');
    void act({ action: 'delay', from: selected('link-from'), to: selected('link-to'), ms }, `delay link ${selected('link-from')} → ${selected('link-to')} by ${ms} ms`);
  },
  demo: () => {
    $('demo').hidden = false;
    $('demo-steps').replaceChildren();
    void act({ action: 'demo' }, 'guided demo');
  },
  pause: () => (state.paused ? resume() : pause()),
  live: () => {
    if (state.replay !== null && state.hello?.mode === 'live') closeReplay();
    state.follow = true;
    schedule();
  },
  replay: () => void openReplay(),
  'zoom-in': () => zoom(1),
  'zoom-out': () => zoom(-1),
  fit: () => {
    // Every column kept, as far as the narrowest zoom allows.
    const span = state.store.maxCol - (state.store.events[0]?.col ?? 0) + 2;
    const width = Math.max(400, wrap.clientWidth);
    state.colW = [...ZOOMS].reverse().find((w) => columnsIn(width, w) >= span) ?? ZOOMS[0];
    state.follow = true;
    schedule();
  },
};

/** One zoom step in (+1) or out (-1). @param {number} by */
function zoom(by) {
  const k = ZOOMS.indexOf(state.colW);
  state.colW = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, (k < 0 ? ZOOMS.indexOf(DEFAULT_COL_W) : k) + by))];
  schedule();
}

for (const b of document.querySelectorAll('#controls button[data-action]')) {
  b.addEventListener('click', () => CONTROLS[/** @type {HTMLElement} */ (b).dataset.action ?? '']?.());
}

function pause() {
  state.paused = true;
  const b = /** @type {HTMLElement} */ (document.querySelector('[data-action="pause"]'));
  b.setAttribute('aria-pressed', 'true');
  b.textContent = 'Resume';
  counters();
}

function resume() {
  state.paused = false;
  const b = /** @type {HTMLElement} */ (document.querySelector('[data-action="pause"]'));
  b.setAttribute('aria-pressed', 'false');
  b.textContent = 'Pause';
  const waiting = state.pending;
  state.pending = [];
  for (const item of waiting) {
    if (item.t === 'snapshot') state.live.snap(item.id).verdict = item;
    else state.live.add(item);
  }
  state.follow = true;
  schedule();
}

/** @param {any} item */
function demoStep(item) {
  const panel = $('demo');
  panel.hidden = false;
  const list = $('demo-steps');
  for (const li of list.querySelectorAll('li')) li.classList.remove('current');
  const li = h('li', { class: 'current', 'data-step': String(item.step), value: String(item.step) }, item.text);
  list.append(li);
  panel.dataset.done = String(item.done);
}

// ---- replay ------------------------------------------------------------------------------------

async function openReplay() {
  const got = await fetchReplay(withToken('/api/replay'), authHeaders());
  if (!got.ok) return void logLine($('log-list'), `replay: ${got.text}`, 'bad');
  const data = got.data;
  state.replay = data;
  const bar = $('replay-bar');
  bar.hidden = false;
  const slider = /** @type {HTMLInputElement} */ ($('replay-slider'));
  slider.max = String(data.events.length);
  slider.value = String(data.events.length);
  $('replay-summary').textContent = `${data.summary}${data.leftOut > 0 ? ` (the first ${data.leftOut} events left out)` : ''}`;
  $('mode').textContent = 'replay';
  setConn('replay');
  seek(data.events.length);
}

function closeReplay() {
  state.replay = null;
  state.store = state.live;
  $('replay-bar').hidden = true;
  $('mode').textContent = 'live view';
  setConn('live');
}

/** Shows the replay up to its `k`th event. @param {number} k */
function seek(k) {
  if (state.replay === null) return;
  state.store = storeAt(state.replay, k);
  $('replay-at').textContent = position(state.replay, k);
  state.follow = true;
  schedule();
}

$('replay-slider').addEventListener('input', (e) => seek(Number(/** @type {HTMLInputElement} */ (e.target).value)));

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(valueOf('token'));
  $('token-form').hidden = true;
  void connect();
});

void connect();
