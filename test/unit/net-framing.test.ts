import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, decodeHandshake, decodeMessage, encodeHandshake, encodeMessage } from '../../src/net/codec.js';
import { NetError, NetErrorKind, isNetError } from '../../src/net/errors.js';
import { FrameDecoder, encodeFrame } from '../../src/net/framing.js';
import type { Message } from '../../src/core/types.js';
import { Packr } from 'msgpackr';
import { sealBlock } from '../../src/core/ledger.js';
import { encodeRecord } from '../../src/daemon/chain-record.js';
import { blockBytes } from '../../src/net/block-bytes.js';

const nodes = new Set([1, 2, 3]);
const bytes = (...xs: number[]): Buffer => Buffer.from(xs);

describe('framing', () => {
  it('round-trips a frame: 4-byte big-endian length, then the body', () => {
    const body = Buffer.from('hello, frame');
    const frame = encodeFrame(body);
    expect(frame.readUInt32BE(0)).toBe(body.length);
    expect(frame.subarray(4)).toEqual(body);
    expect(new FrameDecoder().push(frame)).toEqual([body]);
  });

  it('round-trips an empty body', () => {
    expect(new FrameDecoder().push(encodeFrame(new Uint8Array(0)))).toEqual([Buffer.alloc(0)]);
  });

  it('reassembles frames fed one byte at a time', () => {
    const bodies = [Buffer.from('a'), Buffer.alloc(300, 7), Buffer.from('third frame')];
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    const decoder = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(out).toEqual(bodies);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('returns many frames from one chunk, in order, and keeps a trailing partial frame', () => {
    const bodies = Array.from({ length: 500 }, (_, i) => Buffer.from(`frame ${i}`));
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    const decoder = new FrameDecoder();
    // Cut the last frame in two: everything before it comes out now, the rest on the next push.
    const cut = stream.length - 3;
    const first = decoder.push(stream.subarray(0, cut));
    expect(first).toEqual(bodies.slice(0, -1));
    expect(decoder.bufferedBytes).toBeGreaterThan(0);
    expect(decoder.push(stream.subarray(cut))).toEqual(bodies.slice(-1));
  });

  it('handles frames split across uneven chunks (header split too)', () => {
    const bodies = Array.from({ length: 50 }, (_, i) => Buffer.alloc(i * 13, i));
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    const decoder = new FrameDecoder();
    const out: Buffer[] = [];
    let pos = 0;
    let step = 1;
    while (pos < stream.length) {
      out.push(...decoder.push(stream.subarray(pos, pos + step)));
      pos += step;
      step = (step * 7 + 3) % 97 + 1;
    }
    expect(out).toEqual(bodies);
  });

  it('rejects an oversized declared length with FrameTooLarge before buffering the body', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025, 0);
    let caught: unknown;
    try {
      // Only the header: the decoder must not wait for 1025 bytes to decide.
      decoder.push(header);
    } catch (e) {
      caught = e;
    }
    expect(isNetError(caught, NetErrorKind.FrameTooLarge)).toBe(true);
    expect((caught as NetError).message).toMatch(/1025 bytes exceeds the maximum of 1024/);
    expect(decoder.bufferedBytes).toBe(0);
    // The stream cannot be resynchronised: later pushes fail the same way.
    expect(() => decoder.push(Buffer.from([0]))).toThrow(NetError);
  });

  it('rejects a huge declared length (4 GiB - 1) under the default 16 MiB limit', () => {
    expect(() => new FrameDecoder().push(bytes(0xff, 0xff, 0xff, 0xff))).toThrow(/exceeds the maximum of 16777216/);
  });

  it('refuses to encode a body above the limit', () => {
    expect(() => encodeFrame(Buffer.alloc(11), 10)).toThrow(NetError);
  });
});

describe('codec', () => {
  it('round-trips a message as a plain msgpack map', () => {
    const m: Message = { type: 'MARKER', ts: 9, snapshot: { initiator: 2, seq: 1 } };
    const decoded = decodeMessage(encodeMessage(m), nodes);
    expect(decoded).toEqual({ ok: true, value: m });
  });

  it('a RELEASE carries its block as the very bytes of its chain record: what a plain encoding of it would be', () => {
    const block = sealBlock({ height: 4, prevHash: 'ab'.repeat(32), ts: 17, creator: 1, txs: [{ id: 'k-1', from: 1, to: 2, amount: 250 }, { id: 'k-2', from: 1, to: 3, amount: 7 }] });
    const m: Message = { type: 'RELEASE', ts: 17, height: 4, view: 123456789, block };
    const wire = encodeMessage(m);
    expect(wire).toEqual(new Packr({ useRecords: false }).pack(m));
    expect(decodeMessage(wire, nodes)).toEqual({ ok: true, value: m });
    const record = encodeRecord(block);
    expect(wire.subarray(wire.length - blockBytes(block).length)).toEqual(record.subarray(4, record.length - 4));
    // Without a block it is an ordinary map.
    const none: Message = { type: 'RELEASE', ts: 18, height: 4, view: 1, block: null };
    expect(decodeMessage(encodeMessage(none), nodes)).toEqual({ ok: true, value: none });
  });

  it('round-trips handshake frames, HELLO and WELCOME with the sender\'s chain height and incarnation', () => {
    const hello = { type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'c', node: 1, to: 2, genesis: 'ab'.repeat(32), height: 17, incarnation: 2 ** 48 - 1, conn: 'beef01' } as const;
    expect(decodeHandshake(encodeHandshake(hello))).toEqual({ ok: true, value: hello });
    expect(decodeHandshake(encodeHandshake({ type: 'WELCOME', node: 2, height: 0, incarnation: 0 }))).toEqual({ ok: true, value: { type: 'WELCOME', node: 2, height: 0, incarnation: 0 } });
    expect(decodeHandshake(encodeHandshake({ type: 'WELCOME', node: 2, height: 123_456, incarnation: 9 }))).toEqual({ ok: true, value: { type: 'WELCOME', node: 2, height: 123_456, incarnation: 9 } });
    // An incarnation beyond 48 bits, or none, is a bad handshake.
    expect(decodeHandshake(encodeHandshake({ ...hello, incarnation: 2 ** 48 }))).toMatchObject({ ok: false });
    expect(decodeHandshake(encodeHandshake({ type: 'WELCOME', node: 2, height: 1 } as never))).toMatchObject({ ok: false });
    expect(decodeHandshake(encodeHandshake({ type: 'REFUSE', reason: 'no' }))).toEqual({ ok: true, value: { type: 'REFUSE', reason: 'no' } });
  });

  it('turns msgpack garbage into a BadFrame error value, not an exception', () => {
    const garbage = [
      bytes(0xc1), // never-used msgpack byte
      bytes(0xdd, 0xff, 0xff, 0xff, 0xff), // array32 claiming 4 billion items, then nothing
      bytes(0x92, 0x01), // array of 2 with only one item
      bytes(0xd7, 0x70, 0, 0, 0, 0, 0, 0, 0, 0), // structured-clone pointer extension
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.alloc(0),
    ];
    for (const g of garbage) {
      const d = decodeMessage(g, nodes);
      expect(d.ok).toBe(false);
      if (!d.ok) expect([NetErrorKind.BadFrame, NetErrorKind.BadMessage]).toContain(d.error.kind);
      expect(decodeHandshake(g).ok).toBe(false);
    }
    const d = decodeMessage(bytes(0x92, 0x01), nodes);
    expect(!d.ok && d.error.kind).toBe(NetErrorKind.BadFrame);
    expect(!d.ok && d.error.message).toMatch(/undecodable frame/);
  });

  it('never throws on random bytes (seeded fuzz)', () => {
    let seed = 12345;
    const rand = (): number => {
      // xorshift32: deterministic, so a failure reproduces
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x1_0000_0000;
    };
    for (let i = 0; i < 2000; i++) {
      const g = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
      expect(() => decodeMessage(g, nodes)).not.toThrow();
      expect(() => decodeHandshake(g)).not.toThrow();
    }
  });

  it('turns well-formed msgpack of the wrong shape into a BadMessage error value', () => {
    const wrong = [{ type: 'REQUEST' }, { type: 'NOPE', ts: 1 }, [1, 2], 'REQUEST', { type: 'RELEASE', ts: 1, block: { height: 'x' } }];
    for (const w of wrong) {
      const d = decodeMessage(encodeHandshake(w as never), nodes);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error.kind).toBe(NetErrorKind.BadMessage);
    }
  });

  it('speaks protocol version 5 (recorded states carry channel digests: a version 4 report would not validate)', () => {
    expect(PROTOCOL_VERSION).toBe(5);
  });

  it('reports another protocol version as ProtocolMismatch and bad handshakes as BadHandshake', () => {
    const next = decodeHandshake(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION + 1, cluster: 'c', node: 1, to: 2, genesis: 'x', height: 0, incarnation: 0, conn: 'aa' }));
    expect(!next.ok && next.error.kind).toBe(NetErrorKind.ProtocolMismatch);
    expect(!next.ok && next.error.message).toMatch(new RegExp(`protocol version ${PROTOCOL_VERSION + 1} is not supported`));
    // A version-1 HELLO (no height) is a version mismatch, not a malformed handshake.
    const v1 = decodeHandshake(encodeHandshake({ type: 'HELLO', protocol: 1, cluster: 'c', node: 1, to: 2, genesis: 'x' } as never));
    expect(!v1.ok && v1.error.kind).toBe(NetErrorKind.ProtocolMismatch);
    expect(!v1.ok && v1.error.message).toMatch(/protocol version 1 is not supported \(this client speaks version 5\)/);
    const noNode = decodeHandshake(encodeMessage({ type: 'REQUEST', ts: 1, height: 0, view: 0 }));
    expect(!noNode.ok && noNode.error.kind).toBe(NetErrorKind.BadHandshake);
  });

  it.each([
    ['missing', undefined],
    ['negative', -1],
    ['fractional', 1.5],
    ['a string', '3'],
    ['null', null],
    ['unsafe', 2 ** 53],
  ])('rejects a HELLO or WELCOME whose height is %s as BadHandshake', (_what, height) => {
    const hello: Record<string, unknown> = { type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'c', node: 1, to: 2, genesis: 'x', height };
    const welcome: Record<string, unknown> = { type: 'WELCOME', node: 2, height };
    if (height === undefined) {
      delete hello.height;
      delete welcome.height;
    }
    const h = decodeHandshake(encodeHandshake(hello as never));
    expect(!h.ok && h.error.kind).toBe(NetErrorKind.BadHandshake);
    expect(!h.ok && h.error.message).toBe('invalid handshake: HELLO.height: expected a chain height');
    const w = decodeHandshake(encodeHandshake(welcome as never));
    expect(!w.ok && w.error.kind).toBe(NetErrorKind.BadHandshake);
    expect(!w.ok && w.error.message).toBe('invalid handshake: WELCOME.height: expected a chain height');
  });
});
