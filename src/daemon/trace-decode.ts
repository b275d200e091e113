/**
 * Reads a trace file (trace-format.ts) back into the TraceEvent objects the tracer made, their
 * descriptions made again from what the file kept of each message (describe.ts). Never throws on
 * what it reads: a record cut short, or one this program does not write, ends its chunk, and the
 * reading goes on at the next chunk (a torn write, then a later run appending after it).
 */
import { TRACE_VERSION, type TraceEvent } from '../core/trace-events.js';
import { type BlockGist, type MessageGist, describeGist } from '../core/describe.js';
import { type NodeId, snapshotKey } from '../core/types.js';
import { TRACE_MAGIC, TYPES, Tag } from './trace-format.js';

/** What reading a trace file gave: its events, and why it stopped early, if it did. */
export interface DecodedTrace {
  readonly events: TraceEvent[];
  /** Null when every byte was read; else where and why reading stopped. */
  readonly problem: { readonly offset: number; readonly reason: string } | null;
}

/** The bytes ran out inside a record. */
class Truncated extends Error {}
/** A record that is not one this program writes. */
class BadRecord extends Error {}

/** The latest wall-clock time a Date can show (ms since 1970): a later one is not one a client wrote. */
const MAX_WALL_MS = 8.64e15;

/**
 * Reads a whole trace file. Never throws: a record cut short or not one ends its chunk, said in
 * `problem` (the first such), and reading goes on at the next chunk's mark.
 */
export function decodeTrace(data: Buffer): DecodedTrace {
  const events: TraceEvent[] = [];
  if (data.length < TRACE_MAGIC.length || !data.subarray(0, TRACE_MAGIC.length).equals(TRACE_MAGIC)) {
    return { events, problem: { offset: 0, reason: 'not a trace file (no LLTRACE1 at its start)' } };
  }
  let problem: DecodedTrace['problem'] = null;
  let from = TRACE_MAGIC.length;
  for (;;) {
    const stop = decodeChunks(data, from, events);
    if (stop === null) return { events, problem };
    const next = data.indexOf(TRACE_MAGIC, stop.offset + 1);
    problem ??= { offset: stop.offset, reason: next < 0 ? stop.reason : `${stop.reason} (reading went on at the next chunk, byte ${next})` };
    if (next < 0) return { events, problem };
    from = next;
  }
}

/** Decodes records from `from` on into `events`; null at the end of the data, else where and why it stopped. */
function decodeChunks(data: Buffer, from: number, events: TraceEvent[]): { offset: number; reason: string } | null {
  const r = new Reader(data, from);
  let node = 0;
  let run = '';
  let i = 0;
  let wall = 0;
  let started = false;
  const outNames = new Map<NodeId, string>();
  const inNames = new Map<NodeId, string>();
  const base = (): { v: typeof TRACE_VERSION; node: NodeId; run: string; i: number; wall: number } => ({ v: TRACE_VERSION, node, run, i: i++, wall });
  let at = r.at;
  try {
    while (!r.done) {
      at = r.at;
      if (r.skip(TRACE_MAGIC)) {
        // A chunk's mark: what follows is its HEADER, read on its own.
        started = false;
        continue;
      }
      const tag = r.byte();
      if (tag === Tag.Header) {
        node = r.uint();
        if (node === 0) throw new BadRecord('a header naming client 0');
        run = r.str();
        i = r.uint();
        outNames.clear();
        inNames.clear();
        for (let k = r.uint(); k > 0; k--) {
          const peer = r.uint();
          outNames.set(peer, r.str());
          inNames.set(peer, r.str());
        }
        started = true;
        continue;
      }
      if (tag < Tag.Wall || tag > Tag.ChannelStop) throw new BadRecord(`unknown record ${tag}`);
      if (!started) throw new BadRecord('an event before any header');
      switch (tag) {
        case Tag.Wall:
          wall = r.uint();
          if (wall > MAX_WALL_MS) throw new BadRecord(`a wall-clock time out of range (${wall})`);
          break;
        case Tag.Start: {
          const nodes: NodeId[] = [];
          for (let k = r.uint(); k > 0; k--) nodes.push(r.uint());
          events.push({ ...base(), kind: 'start', nodes, clock: r.uint(), height: r.uint() });
          break;
        }
        case Tag.PeerUp: {
          const peer = r.uint();
          const out = r.str();
          const inn = r.str();
          outNames.set(peer, out);
          inNames.set(peer, inn);
          events.push({ ...base(), kind: 'peerUp', peer, out, in: inn });
          break;
        }
        case Tag.PeerDown: {
          const peer = r.uint();
          outNames.delete(peer);
          inNames.delete(peer);
          events.push({ ...base(), kind: 'peerDown', peer });
          break;
        }
        case Tag.Send: {
          const b = base();
          const to = r.uint();
          const seq = r.uint();
          const g = readGist(r);
          events.push({ ...b, kind: 'send', to, chan: outNames.get(to) ?? '?', seq, type: g.type, ts: g.ts, desc: describeGist(g), clock: g.ts, ...snapshotOf(g) });
          break;
        }
        case Tag.Receive: {
          const b = base();
          const from = r.uint();
          const seq = r.uint();
          const clockBefore = r.uint();
          const g = readGist(r);
          events.push({ ...b, kind: 'receive', from, chan: inNames.get(from) ?? '?', seq, type: g.type, ts: g.ts, desc: describeGist(g), clockBefore, clock: Math.max(clockBefore, g.ts) + 1, ...snapshotOf(g) });
          break;
        }
        case Tag.Enter:
          events.push({ ...base(), kind: 'enter', ts: r.uint(), height: r.uint(), transfers: r.uint() });
          break;
        case Tag.Leave: {
          const b = base();
          const ts = r.uint();
          const block = r.uint();
          events.push({ ...b, kind: 'leave', ts, block: block === 0 ? null : block - 1 });
          break;
        }
        case Tag.Commit: {
          const b = base();
          const height = r.uint();
          const hash = r.str();
          const creator = r.uint();
          const txs = r.uint();
          const from = r.uint();
          events.push({ ...b, kind: 'commit', height, hash, creator, txs, from: from === 0 ? null : from - 1 });
          break;
        }
        case Tag.Record: {
          const b = base();
          events.push({ ...b, kind: 'record', snapshot: readSnapshot(r), clock: r.uint(), height: r.uint() });
          break;
        }
        case Tag.ChannelStart: {
          const b = base();
          events.push({ ...b, kind: 'channelStart', snapshot: readSnapshot(r), from: r.uint() });
          break;
        }
        case Tag.ChannelStop: {
          const b = base();
          events.push({ ...b, kind: 'channelStop', snapshot: readSnapshot(r), from: r.uint(), messages: r.uint() });
          break;
        }
        default:
          throw new BadRecord(`unknown record ${tag}`);
      }
    }
  } catch (e) {
    // An event is pushed only once every field of it was read: one cut short is not in `events`.
    if (e instanceof Truncated) return { offset: at, reason: 'a record cut short at the end' };
    if (e instanceof BadRecord) return { offset: at, reason: e.message };
    throw e;
  }
  return null;
}

const snapshotOf = (g: MessageGist): { snapshot?: string } => (g.type === 'MARKER' || g.type === 'REPORT' ? { snapshot: snapshotKey(g.snapshot) } : {});

function readSnapshot(r: Reader): string {
  return snapshotKey({ initiator: r.uint(), seq: r.uint() });
}

function readGist(r: Reader): MessageGist {
  const code = r.byte();
  const type = TYPES[code];
  if (type === undefined) throw new BadRecord(`unknown message type ${code}`);
  const ts = r.uint();
  switch (type) {
    case 'REQUEST':
    case 'REPLY':
      return { type, ts, height: r.uint() };
    case 'RELEASE': {
      const height = r.uint();
      const kind = r.byte();
      if (kind === 0) return { type, ts, height, block: null };
      const b: { height: number; hash: string; creator: number; txs: number } = { height: r.uint(), hash: r.str(), creator: r.uint(), txs: r.uint() };
      const block: BlockGist = { ...b, single: kind === 2 ? { from: r.uint(), to: r.uint(), amount: r.uint() } : null };
      return { type, ts, height, block };
    }
    case 'MARKER':
      return { type, ts, snapshot: { initiator: r.uint(), seq: r.uint() } };
    case 'REPORT': {
      const snapshot = { initiator: r.uint(), seq: r.uint() };
      if (r.byte() === 0) return { type, ts, snapshot, from: null, error: r.str() };
      return { type, ts, snapshot, from: { node: r.uint(), height: r.uint(), inFlight: r.uint() }, error: '' };
    }
    case 'FETCH':
      return { type, ts, from: r.uint() };
    case 'BLOCKS': {
      const flags = r.byte();
      const has = (flags & 2) !== 0;
      return { type, ts, first: has ? r.uint() : null, last: has ? r.uint() : null, more: (flags & 1) !== 0 };
    }
  }
}

/** Reads fields from a buffer; running out of bytes throws Truncated. */
class Reader {
  constructor(
    private readonly data: Buffer,
    public at: number,
  ) {}

  get done(): boolean {
    return this.at >= this.data.length;
  }

  /** Steps over `bytes` if they come next; the data ending inside them is a record cut short. */
  skip(bytes: Buffer): boolean {
    const left = this.data.length - this.at;
    if (left < bytes.length) {
      if (this.data.compare(bytes, 0, left, this.at) === 0) throw new Truncated();
      return false;
    }
    if (this.data.compare(bytes, 0, bytes.length, this.at, this.at + bytes.length) !== 0) return false;
    this.at += bytes.length;
    return true;
  }

  byte(): number {
    if (this.at >= this.data.length) throw new Truncated();
    return this.data[this.at++]!;
  }

  uint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
      if (scale > 2 ** 56) throw new BadRecord('a number longer than any this program writes');
    }
  }

  str(): string {
    const n = this.uint();
    if (this.at + n > this.data.length) throw new Truncated();
    const s = this.data.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
}
