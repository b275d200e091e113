// @ts-check
/**
 * What the page knows of the execution: the events it was sent (at most MAX_EVENTS, the oldest
 * forgotten first), each placed in a column, the messages between them, the critical sections and
 * the snapshots (record points, channels being recorded and what they recorded, the verdict).
 *
 * Columns follow happened-before, as in `client trace`'s diagram: an event goes right of the one
 * before it on its client and right of the send of the message it receives. Unlike a saved trace,
 * a live one keeps growing, so an event never goes further left than one column before the
 * rightmost one so far: a client that was idle does not draw what it does now in the past.
 */

export const MAX_EVENTS = 20000;
/** How far left of the rightmost column so far a new event may go. */
const SLACK = 1;
const APPLICATION = new Set(['REQUEST', 'REPLY', 'RELEASE', 'FETCH', 'BLOCKS']);

/**
 * @typedef {{ t: 'ev', e: any, lane: number, vc: number[], clock: number, clockBefore: number, unmatched?: boolean }} EventItem
 * @typedef {{ id: string, n: number, e: any, lane: number, vc: number[], clock: number, clockBefore: number, unmatched: boolean, col: number, msg: Msg | null }} Ev
 * @typedef {{ key: string, type: string, from: number, to: number, ts: number, desc: string, snapshot: string | null, send: Ev | null, recv: Ev | null, lost: boolean, recordedIn: string[] }} Msg
 * @typedef {{ lane: number, enter: Ev | null, leave: Ev | null, block: number | null }} Section
 * @typedef {{ snapshot: string, from: number, to: number, start: Ev, stop: Ev | null, messages: Msg[] }} Recording
 * @typedef {{ id: string, records: Map<number, Ev>, channels: Map<string, Recording>, verdict: any, firstSeen: number }} Snap
 */

export class Store {
  /** @param {number[]} nodes */
  constructor(nodes) {
    /** @type {number[]} */
    this.nodes = [];
    /** @type {Ev[]} */
    this.events = [];
    /** @type {Map<string, Ev>} */
    this.byId = new Map();
    /** @type {Map<string, Msg>} */
    this.msgs = new Map();
    /** @type {Set<Msg>} */
    this.inflight = new Set();
    /** @type {Section[]} */
    this.sections = [];
    /** @type {Map<string, Snap>} */
    this.snapshots = new Map();
    /** @type {number[]} */
    this.lastCol = [];
    this.maxCol = -1;
    /** The section each client is in now, if any. @type {(Section | null)[]} */
    this.open = [];
    /** Channels being recorded now, by `<to><from>`: the receiver's side. @type {Map<string, Recording[]>} */
    this.recording = new Map();
    this.total = 0;
    this.forgotten = 0;
    this.reset(nodes);
  }

  /** @param {number[]} nodes */
  reset(nodes) {
    this.nodes = nodes;
    this.events = [];
    this.byId = new Map();
    this.lastCol = nodes.map(() => -1);
    this.maxCol = -1;
    this.msgs = new Map();
    this.inflight = new Set();
    this.sections = [];
    this.open = nodes.map(() => null);
    this.snapshots = new Map();
    this.recording = new Map();
    this.total = 0;
    this.forgotten = 0;
  }

  /** @param {string} id */
  snap(id) {
    let s = this.snapshots.get(id);
    if (s === undefined) {
      s = { id, records: new Map(), channels: new Map(), verdict: null, firstSeen: this.total };
      this.snapshots.set(id, s);
    }
    return s;
  }

  /** @param {EventItem} item */
  add(item) {
    const e = item.e;
    const id = `${e.node}:${e.run}:${e.i}`;
    if (this.byId.has(id) || item.lane < 0 || item.lane >= this.nodes.length) return null;
    /** @type {Ev} */
    const ev = { id, n: this.total++, e, lane: item.lane, vc: item.vc, clock: item.clock, clockBefore: item.clockBefore, unmatched: item.unmatched === true, col: 0, msg: null };
    let col = Math.max(this.lastCol[item.lane] + 1, this.maxCol - SLACK, 0);
    if (e.kind === 'send' || e.kind === 'receive') {
      const key = `${e.chan}#${e.seq}`;
      let m = this.msgs.get(key);
      if (m === undefined) {
        m = { key, type: e.type, from: e.kind === 'send' ? e.node : e.from, to: e.kind === 'send' ? e.to : e.node, ts: e.ts, desc: e.desc, snapshot: e.snapshot ?? null, send: null, recv: null, lost: false, recordedIn: [] };
        this.msgs.set(key, m);
      }
      ev.msg = m;
      if (e.kind === 'send') {
        m.send = ev;
        if (m.recv === null) this.inflight.add(m);
      } else {
        m.recv = ev;
        this.inflight.delete(m);
        if (m.send !== null) col = Math.max(col, m.send.col + 1);
        this.recorded(e, m);
      }
      if (m.snapshot !== null) this.snap(m.snapshot);
    }
    ev.col = col;
    this.lastCol[item.lane] = col;
    this.maxCol = Math.max(this.maxCol, col);
    this.events.push(ev);
    this.byId.set(id, ev);
    this.follow(ev);
    if (this.events.length > MAX_EVENTS) this.forget(Math.floor(MAX_EVENTS / 10));
    return ev;
  }

  /** A receive on a channel being recorded belongs to its state. @param {any} e @param {Msg} m */
  recorded(e, m) {
    if (!APPLICATION.has(e.type)) return;
    for (const r of this.recording.get(`${e.node}<${e.from}`) ?? []) {
      r.messages.push(m);
      m.recordedIn.push(r.snapshot);
    }
  }

  /** Sections, snapshots and lost messages, from the events that say so. @param {Ev} ev */
  follow(ev) {
    const e = ev.e;
    switch (e.kind) {
      case 'start': {
        // A new run: a section left open was cut short by the crash; its messages in flight are gone.
        this.open[ev.lane] = null;
        this.lose((m) => m.from === e.node || m.to === e.node, ev);
        break;
      }
      case 'peerDown':
        this.lose((m) => (m.from === e.node && m.to === e.peer) || (m.from === e.peer && m.to === e.node), ev);
        break;
      case 'enter': {
        /** @type {Section} */
        const s = { lane: ev.lane, enter: ev, leave: null, block: null };
        this.sections.push(s);
        this.open[ev.lane] = s;
        break;
      }
      case 'leave': {
        const s = this.open[ev.lane];
        if (s) {
          s.leave = ev;
          s.block = e.block;
          this.open[ev.lane] = null;
        } else this.sections.push({ lane: ev.lane, enter: null, leave: ev, block: e.block });
        break;
      }
      case 'record':
        this.snap(e.snapshot).records.set(ev.lane, ev);
        break;
      case 'channelStart': {
        /** @type {Recording} */
        const r = { snapshot: e.snapshot, from: e.from, to: e.node, start: ev, stop: null, messages: [] };
        this.snap(e.snapshot).channels.set(`${e.from}>${e.node}`, r);
        const key = `${e.node}<${e.from}`;
        this.recording.set(key, [...(this.recording.get(key) ?? []), r]);
        break;
      }
      case 'channelStop': {
        const r = this.snap(e.snapshot).channels.get(`${e.from}>${e.node}`);
        if (r) {
          r.stop = ev;
          const key = `${e.node}<${e.from}`;
          this.recording.set(key, (this.recording.get(key) ?? []).filter((x) => x !== r));
        }
        break;
      }
      default:
        break;
    }
  }

  /** @param {(m: Msg) => boolean} which @param {Ev} ev */
  lose(which, ev) {
    for (const m of [...this.inflight]) {
      if (m.send !== null && m.send.n < ev.n && which(m)) {
        m.lost = true;
        this.inflight.delete(m);
      }
    }
  }

  /** Forgets the oldest `count` events and whatever only they held. @param {number} count */
  forget(count) {
    const gone = this.events.splice(0, count);
    this.forgotten += gone.length;
    for (const ev of gone) this.byId.delete(ev.id);
    const kept = (/** @type {Ev | null} */ ev) => ev !== null && this.byId.has(ev.id);
    for (const [key, m] of this.msgs) {
      if (!kept(m.send) && !kept(m.recv)) {
        this.msgs.delete(key);
        this.inflight.delete(m);
      }
    }
    this.sections = this.sections.filter((s) => kept(s.leave) || kept(s.enter) || (s.leave === null && s === this.open[s.lane]));
    for (const [id, s] of this.snapshots) if (![...s.records.values()].some(kept) && s.firstSeen < this.total - MAX_EVENTS) this.snapshots.delete(id);
  }

  /**
   * The events in columns [from, to]. Columns grow with arrival up to SLACK, so the scan goes
   * back from the end only as far as it must.
   * @param {number} from @param {number} to
   */
  inColumns(from, to) {
    /** @type {Ev[]} */
    const out = [];
    for (let k = this.events.length - 1; k >= 0; k--) {
      const ev = this.events[k];
      if (ev.col < from - SLACK - 1) break;
      if (ev.col >= from && ev.col <= to) out.push(ev);
    }
    return out.reverse();
  }
}

/** a happened before or is b: no entry of a above b's. @param {number[]} a @param {number[]} b */
export function vcAtMost(a, b) {
  for (let k = 0; k < a.length; k++) if ((a[k] ?? 0) > (b[k] ?? 0)) return false;
  return true;
}
