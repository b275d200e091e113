/**
 * The trace file's format (`<data-dir>/trace.bin`): each event a few bytes, written without making
 * an object or a line of text, since a client traces every message it sends and receives; read
 * back into the same TraceEvent objects the tracer makes (trace-events.ts), descriptions included.
 *
 *   file    = magic "LLTRACE1", then records
 *   record  = tag byte, then its fields: whole numbers as unsigned LEB128, strings as a length
 *             and UTF-8, a message as what its one-line description says (describe.ts, MessageGist)
 *
 * Every chunk the writer hands the file (a few milliseconds of events) starts with the magic again
 * and a HEADER record: the client, its run, the position of the chunk's first event in the run,
 * and the channel names of every session up. So every chunk reads on its own, whatever was
 * rotated away or torn before it; a WALL record gives the wall-clock time of the events after it.
 * Events carry no position: each is the next one after the last. A record cut short (the file is
 * read while written, or the client died mid-write) or not one this program writes ends its
 * chunk; the reader goes on at the next chunk's magic (trace-decode.ts reads it).
 */
import type { TraceMessageType } from '../core/trace-events.js';
import type { TraceSink } from '../core/tracer.js';
import { short } from '../core/ledger.js';
import type { Block, Message, NodeId, SnapshotId } from '../core/types.js';

export const TRACE_MAGIC = Buffer.from('LLTRACE1', 'latin1');

export const Tag = {
  Header: 1,
  Wall: 2,
  Start: 3,
  PeerUp: 4,
  PeerDown: 5,
  Send: 6,
  Receive: 7,
  Enter: 8,
  Leave: 9,
  Commit: 10,
  Record: 11,
  ChannelStart: 12,
  ChannelStop: 13,
} as const;

export const TYPE_CODES: Readonly<Record<TraceMessageType, number>> = { REQUEST: 1, REPLY: 2, RELEASE: 3, MARKER: 4, REPORT: 5, FETCH: 6, BLOCKS: 7 };
/** Message types by code (code 0 is none). */
export const TYPES: readonly (TraceMessageType | undefined)[] = [undefined, 'REQUEST', 'REPLY', 'RELEASE', 'MARKER', 'REPORT', 'FETCH', 'BLOCKS'];

/** What a chunk's HEADER names: the client, its run, the next event's position and the sessions up. */
export interface ChunkStart {
  readonly node: NodeId;
  readonly run: string;
  readonly next: number;
  readonly sessions: readonly { readonly peer: NodeId; readonly out: string; readonly in: string }[];
}

/**
 * Encodes events into a growing buffer (a TraceSink); `take` hands over what is there as one
 * chunk for the file. The tracer that calls it supplies the positions, which the file leaves out.
 */
export class TraceEncoder implements TraceSink {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private n = 0;
  private wall = -1;

  /** Bytes encoded since the last `take`. */
  get size(): number {
    return this.n;
  }

  /** Opens a chunk: call when `size` is 0, before its first event. */
  begin(c: ChunkStart): void {
    // The mark a reader finds the chunk by after a torn record (a later run appends after one).
    for (const b of TRACE_MAGIC) this.byte(b);
    this.byte(Tag.Header);
    this.uint(c.node);
    this.str(c.run);
    this.uint(c.next);
    this.uint(c.sessions.length);
    for (const s of c.sessions) {
      this.uint(s.peer);
      this.str(s.out);
      this.str(s.in);
    }
    this.wall = -1;
  }

  /** Drops what was encoded since the last `take` (a chunk begun for a step that traced nothing). */
  discard(): void {
    this.n = 0;
  }

  /** The chunk encoded so far, in a buffer of its own; the encoder starts empty again. */
  take(): Buffer {
    const chunk = Buffer.from(this.buf.subarray(0, this.n));
    this.n = 0;
    return chunk;
  }

  start(_i: number, wall: number, nodes: readonly NodeId[], clock: number, height: number): void {
    this.event(Tag.Start, wall);
    this.uint(nodes.length);
    for (const n of nodes) this.uint(n);
    this.uint(clock);
    this.uint(height);
  }

  peerUp(_i: number, wall: number, peer: NodeId, out: string, inn: string): void {
    this.event(Tag.PeerUp, wall);
    this.uint(peer);
    this.str(out);
    this.str(inn);
  }

  peerDown(_i: number, wall: number, peer: NodeId): void {
    this.event(Tag.PeerDown, wall);
    this.uint(peer);
  }

  send(_i: number, wall: number, to: NodeId, _chan: string, seq: number, m: Message): void {
    this.event(Tag.Send, wall);
    this.uint(to);
    this.uint(seq);
    this.message(m);
  }

  receive(_i: number, wall: number, from: NodeId, _chan: string, seq: number, m: Message, clockBefore: number): void {
    this.event(Tag.Receive, wall);
    this.uint(from);
    this.uint(seq);
    this.uint(clockBefore);
    this.message(m);
  }

  enter(_i: number, wall: number, ts: number, height: number, transfers: number): void {
    this.event(Tag.Enter, wall);
    this.uint(ts);
    this.uint(height);
    this.uint(transfers);
  }

  leave(_i: number, wall: number, ts: number, block: number | null): void {
    this.event(Tag.Leave, wall);
    this.uint(ts);
    this.uint(block === null ? 0 : block + 1);
  }

  commit(_i: number, wall: number, block: Block, from: NodeId | null): void {
    this.event(Tag.Commit, wall);
    this.uint(block.height);
    this.str(block.hash);
    this.uint(block.creator);
    this.uint(block.txs.length);
    this.uint(from === null ? 0 : from + 1);
  }

  record(_i: number, wall: number, snapshot: SnapshotId, clock: number, height: number): void {
    this.event(Tag.Record, wall);
    this.snapshot(snapshot);
    this.uint(clock);
    this.uint(height);
  }

  channelStart(_i: number, wall: number, snapshot: SnapshotId, from: NodeId): void {
    this.event(Tag.ChannelStart, wall);
    this.snapshot(snapshot);
    this.uint(from);
  }

  channelStop(_i: number, wall: number, snapshot: SnapshotId, from: NodeId, messages: number): void {
    this.event(Tag.ChannelStop, wall);
    this.snapshot(snapshot);
    this.uint(from);
    this.uint(messages);
  }

  // ---- fields ----

  private event(tag: number, wall: number): void {
    if (wall !== this.wall) {
      this.wall = wall;
      this.byte(Tag.Wall);
      this.uint(wall);
    }
    this.byte(tag);
  }

  /** What `messageGist` keeps of a message, read straight from it. */
  private message(m: Message): void {
    this.byte(TYPE_CODES[m.type]);
    this.uint(m.ts);
    switch (m.type) {
      case 'REQUEST':
      case 'REPLY':
        this.uint(m.height);
        return;
      case 'RELEASE': {
        this.uint(m.height);
        const b = m.block;
        if (b === null) {
          this.byte(0);
          return;
        }
        const single = b.txs.length === 1 ? b.txs[0]! : null;
        this.byte(single === null ? 1 : 2);
        this.uint(b.height);
        this.str(short(b.hash));
        this.uint(b.creator);
        this.uint(b.txs.length);
        if (single !== null) {
          this.uint(single.from);
          this.uint(single.to);
          this.uint(single.amount);
        }
        return;
      }
      case 'MARKER':
        this.snapshot(m.snapshot);
        return;
      case 'REPORT':
        this.snapshot(m.snapshot);
        if (m.local === null) {
          this.byte(0);
          this.str(m.error ?? 'no reason');
        } else {
          this.byte(1);
          this.uint(m.local.state.node);
          this.uint(m.local.state.height);
          let inFlight = 0;
          for (const c of m.local.channels) inFlight += c.messages.length;
          this.uint(inFlight);
        }
        return;
      case 'FETCH':
        this.uint(m.from);
        return;
      case 'BLOCKS': {
        const first = m.blocks[0];
        const last = m.blocks[m.blocks.length - 1];
        this.byte((m.last ? 0 : 1) | (first && last ? 2 : 0));
        if (first && last) {
          this.uint(first.height);
          this.uint(last.height);
        }
        return;
      }
    }
  }

  private snapshot(id: SnapshotId): void {
    this.uint(id.initiator);
    this.uint(id.seq);
  }

  private room(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + bytes));
    this.buf.copy(bigger, 0, 0, this.n);
    this.buf = bigger;
  }

  private byte(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }

  /** A whole number in 0..2^53 as LEB128 (anything else, which the trace never holds, as 0). */
  private uint(v: number): void {
    this.room(8);
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER)) v = 0;
    while (v >= 0x80) {
      // Seven bits at a time; above 2^31 bit operations would wrap, so divide.
      const low = v < 0x80000000 ? v & 0x7f : v % 128;
      this.buf[this.n++] = low | 0x80;
      v = v < 0x80000000 ? v >>> 7 : Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }

  private str(s: string): void {
    const bytes = Buffer.byteLength(s);
    this.uint(bytes);
    this.room(bytes);
    this.n += this.buf.write(s, this.n, bytes, 'utf8');
  }
}
