/**
 * The size limits of src/core/limits.ts are bounds computed without encoding anything. They are
 * only as good as "never below what the wire writes", so each is checked here against the real
 * encoder, with the wire's own settings (src/net/codec.ts).
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { sealBlock } from '../../src/core/ledger.js';
import {
  BLOCKS_OVERHEAD_BYTES,
  CATCH_UP_WINDOW_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_BLOCK_BYTES,
  MAX_HEIGHT,
  MAX_HELD_BLOCKS,
  MAX_HELD_BLOCK_BYTES,
  MAX_REPORT_ERROR_LENGTH,
  MAX_TABLE_SPREAD_BLOCKS,
  MAX_TIMESTAMP,
  MAX_TXS_PER_BLOCK,
  MAX_TX_ID_LENGTH,
  MAX_VIEW,
  PRE_HANDSHAKE_FRAME_BYTES,
  REQUIRED_FRAME_BYTES,
  encodedBytesBound,
  formatBytes,
  leanestBlock,
  saneTimestamp,
  slowConsumerBytes,
  worstCaseBlock,
} from '../../src/core/limits.js';
import { validateMessage } from '../../src/core/messages.js';
import type { Block, LocalSnapshot, Message, RecordedState, Tx } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

/** The wire's encoder settings (src/net/codec.ts). */
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, int64AsType: 'number' });
const wireBytes = (v: unknown): number => packr.pack(v).length;

/** A small seeded PRNG (mulberry32): one seed, one sequence, on every machine. */
function rng(seed: number): { next: () => number; int: (lo: number, hi: number) => number; pick: <T>(xs: readonly T[]) => T; chance: (p: number) => boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: (xs) => xs[int(0, xs.length - 1)]!, chance: (p) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const NUMBERS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, MAX_TIMESTAMP, Number.MAX_SAFE_INTEGER, -1, -32, -33, -128, -129, -(2 ** 31), -(2 ** 53 - 1), 0.5, -1.25, 1e300, Math.PI];
// Lone surrogates before ASCII characters here; before other characters in the test below.
const CHARS = ['a', '~', ' ', '\u00e9', '\u20ac', '\u{1F4B8}', '\ud800x', '\udfff', '\u0000', '\n'];

function randomNumber(r: Rng): number {
  return r.chance(0.5) ? r.pick(NUMBERS) : r.chance(0.5) ? r.int(0, 2 ** 40) * (r.chance(0.2) ? -1 : 1) : (r.next() - 0.5) * 10 ** r.int(0, 20);
}

function randomString(r: Rng): string {
  // Lengths across every string header MessagePack has: fixstr, str8, str16, str32.
  const len = r.chance(0.01) ? r.pick([65535, 65536, 70_000]) : r.pick([0, 1, 31, 32, 255, 256, 1000, r.int(0, 80)]);
  let s = '';
  while (s.length < Math.min(len, 300)) s += r.chance(0.8) ? String.fromCharCode(r.int(0x21, 0x7e)) : r.pick(CHARS);
  // Long strings repeat a random piece: the same mix of characters, built fast.
  return len > 300 ? s.repeat(Math.ceil(len / s.length)).slice(0, len) : s;
}

function randomValue(r: Rng, depth: number): unknown {
  const kind = depth > 3 ? r.int(0, 3) : r.int(0, 5);
  switch (kind) {
    case 0:
      return r.pick([null, true, false]);
    case 1:
      return randomNumber(r);
    case 2:
    case 3:
      return randomString(r);
    case 4: {
      // Array lengths across fixarray, array16 and array32 (the long ones of small items only).
      const length = r.chance(0.02) ? 70_000 : r.pick([0, 1, 15, 16, r.int(0, 20)]);
      return Array.from({ length }, () => (length > 20 || depth > 1 ? r.pick([null, 1, -1.5, 'x', '\u20ac']) : randomValue(r, depth + 1)));
    }
    default: {
      const o: Record<string, unknown> = {};
      const n = r.pick([0, 1, 15, 16, r.int(0, 20)]);
      for (let i = 0; i < n; i++) o[`${randomString(r).slice(0, 40)}${i}`] = randomValue(r, depth + 1);
      return o;
    }
  }
}

// ---- random protocol messages ----

const genesis = threeClientGenesis('limits');
const hex = (r: Rng): string => Array.from({ length: 64 }, () => '0123456789abcdef'[r.int(0, 15)]).join('');
const KEY_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-';
const txId = (r: Rng): string => Array.from({ length: r.int(1, MAX_TX_ID_LENGTH) }, () => KEY_CHARS[r.int(0, KEY_CHARS.length - 1)]).join('');
const bigOrSmall = (r: Rng, max: number): number => (r.chance(0.3) ? max : r.int(0, Math.min(max, 2 ** 40)));

function randomBlock(r: Rng): Block {
  const txs: Tx[] = Array.from({ length: r.chance(0.1) ? MAX_TXS_PER_BLOCK : r.int(1, 30) }, () => ({
    id: txId(r), from: r.int(1, 3), to: r.int(1, 3), amount: r.chance(0.3) ? Number.MAX_SAFE_INTEGER : r.int(1, 100_000),
  }));
  return sealBlock({ height: Math.max(1, bigOrSmall(r, MAX_HEIGHT)), prevHash: hex(r), ts: bigOrSmall(r, MAX_TIMESTAMP), creator: r.int(1, 3), txs });
}

function randomLockMessage(r: Rng): Message {
  const base = { ts: bigOrSmall(r, MAX_TIMESTAMP), height: bigOrSmall(r, MAX_HEIGHT), view: bigOrSmall(r, MAX_VIEW) };
  const type = r.pick(['REQUEST', 'REPLY', 'RELEASE'] as const);
  return type === 'RELEASE' ? { type, ...base, block: r.chance(0.5) ? randomBlock(r) : null } : { type, ...base };
}

function randomState(r: Rng): RecordedState {
  return {
    node: r.int(1, 3), clock: bigOrSmall(r, MAX_TIMESTAMP), height: bigOrSmall(r, MAX_HEIGHT), head: hex(r),
    balances: { '1': randomNumber(r), '2': r.int(-1e9, 1e9), '3': Number.MAX_SAFE_INTEGER },
    pendingBlocks: Array.from({ length: r.int(0, 2) }, () => randomBlock(r)),
    queue: Array.from({ length: r.int(0, 3) }, () => ({ ts: bigOrSmall(r, MAX_TIMESTAMP), node: r.int(1, 3) })),
    channels: [{ peer: 2, sent: bigOrSmall(r, 2 ** 50), received: r.int(0, 100), sentDigest: 'ffffffffffffffff', receivedDigest: '0000000000000000', lastReceivedTs: bigOrSmall(r, MAX_TIMESTAMP) }],
  };
}

function randomMessage(r: Rng): Message {
  const ts = bigOrSmall(r, MAX_TIMESTAMP);
  switch (r.int(0, 6)) {
    case 0:
      return randomLockMessage(r);
    case 1:
      return { type: 'MARKER', ts, snapshot: { initiator: r.int(1, 3), seq: bigOrSmall(r, 2 ** 50) } };
    case 2:
      return { type: 'FETCH', ts, from: Math.max(1, bigOrSmall(r, MAX_HEIGHT)) };
    case 3:
      return { type: 'BLOCKS', ts, blocks: Array.from({ length: r.int(0, 4) }, () => randomBlock(r)), last: r.chance(0.5) };
    case 4:
      return { type: 'REPORT', ts, snapshot: { initiator: 1, seq: r.int(1, 9) }, local: null, error: randomString(r).slice(0, MAX_REPORT_ERROR_LENGTH) || 'x' };
    default: {
      const local: LocalSnapshot = {
        state: randomState(r),
        channels: [1, 2].map((from) => ({ from, messages: Array.from({ length: r.int(0, 5) }, () => (r.chance(0.5) ? randomLockMessage(r) : { type: 'FETCH', ts: 1, from: 1 } as const)) })),
      };
      return { type: 'REPORT', ts, snapshot: { initiator: r.int(1, 3), seq: r.int(1, 9) }, local };
    }
  }
}

describe('encodedBytesBound is never below the real MessagePack encoding', () => {
  it('for 1,000 random plain values (every header size of strings, arrays and maps; ints, negatives and floats; multi-byte and lone-surrogate strings)', () => {
    const r = rng(20261127);
    for (let i = 0; i < 1000; i++) {
      const v = randomValue(r, 0);
      const real = wireBytes(v);
      const bound = encodedBytesBound(v);
      if (bound < real) throw new Error(`bound ${bound} < real ${real} for ${JSON.stringify(v).slice(0, 300)}`);
    }
  });

  it.each([
    ['an empty string', ''],
    ['a 2-byte character', '\u00e9'],
    ['a 3-byte character', '\u20ac'],
    ['a 4-byte character (a surrogate pair)', '\u{1F4B8}'],
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate', '\udc00'],
    ['a high surrogate at the end', 'ab\ud83d'],
    ['65,536 ASCII characters (str32)', 'x'.repeat(65_536)],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
    ['a float', 0.1],
    ['NaN', Number.NaN],
    ['null', null],
    ['an empty map', {}],
    ['a map with a multi-byte key', { '\u20ac\u{1F4B8}': 1 }],
    ['an array of 70,000 nulls (array32)', new Array(70_000).fill(null)],
  ])('for %s', (_what, v) => {
    expect(encodedBytesBound(v)).toBeGreaterThanOrEqual(wireBytes(v));
  });

  it('a lone high surrogate followed by a non-ASCII character is not taken for a pair: a string of them is still bounded above its encoding', () => {
    // utf8Length takes any high surrogate with a next character as a pair, without checking that the
    // next one is a low surrogate. '\ud800\u20ac' is 3 + 3 bytes on the wire, counted as 4. No string
    // the protocol sends today holds one (tx ids are ASCII), but the bound promises "never below".
    const s = '\ud800\u20ac'.repeat(40);
    expect(encodedBytesBound(s)).toBeGreaterThanOrEqual(wireBytes(s));
    expect(encodedBytesBound('\ud800\ud800'.repeat(40))).toBeGreaterThanOrEqual(wireBytes('\ud800\ud800'.repeat(40)));
  });

  it('counts a string\'s UTF-8 bytes exactly, plus a 5-byte header', () => {
    for (const s of ['', 'abc', '\u00e9', '\u20ac', '\u{1F4B8}', 'a\u{1F4B8}b\u00e9']) expect(encodedBytesBound(s)).toBe(5 + Buffer.byteLength(s, 'utf8'));
  });

  it('for 400 random protocol messages of every type', () => {
    const r = rng(63);
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const m = randomMessage(r);
      seen.add(m.type);
      const real = wireBytes(m);
      const bound = encodedBytesBound(m);
      if (bound < real) throw new Error(`bound ${bound} < real ${real} for ${m.type}`);
    }
    expect([...seen].sort()).toEqual(['BLOCKS', 'FETCH', 'MARKER', 'RELEASE', 'REPLY', 'REPORT', 'REQUEST']);
  });

  it('for worst-case messages: a RELEASE and a BLOCKS of worst-case blocks, a failed REPORT with the longest error, a REPORT of worst-case blocks', () => {
    const w = worstCaseBlock();
    const messages: Message[] = [
      { type: 'RELEASE', ts: Number.MAX_SAFE_INTEGER, height: Number.MAX_SAFE_INTEGER, view: Number.MAX_SAFE_INTEGER, block: w },
      { type: 'BLOCKS', ts: Number.MAX_SAFE_INTEGER, blocks: [w, w, w], last: false },
      { type: 'REPORT', ts: MAX_TIMESTAMP, snapshot: { initiator: 3, seq: Number.MAX_SAFE_INTEGER }, local: null, error: '\u20ac'.repeat(MAX_REPORT_ERROR_LENGTH) },
      {
        type: 'REPORT', ts: MAX_TIMESTAMP, snapshot: { initiator: 3, seq: 1 },
        local: {
          state: { node: 2, clock: MAX_TIMESTAMP, height: MAX_HEIGHT, head: 'f'.repeat(64), balances: { '1': -Number.MAX_SAFE_INTEGER }, pendingBlocks: [w], queue: [{ ts: MAX_TIMESTAMP, node: 3 }], channels: [{ peer: 1, sent: Number.MAX_SAFE_INTEGER, received: Number.MAX_SAFE_INTEGER, sentDigest: 'ffffffffffffffff', receivedDigest: 'ffffffffffffffff', lastReceivedTs: MAX_TIMESTAMP }] },
          channels: [{ from: 1, messages: [{ type: 'RELEASE', ts: 1, height: 1, view: 1, block: w }, { type: 'BLOCKS', ts: 1, blocks: [w], last: true }] }],
        },
      },
    ];
    for (const m of messages) expect(encodedBytesBound(m)).toBeGreaterThanOrEqual(wireBytes(m));
  });

  it('refuses what is not plain data rather than guess its size', () => {
    expect(() => encodedBytesBound(10n)).toThrow(/not plain data/);
    expect(() => encodedBytesBound(() => 1)).toThrow(/not plain data/);
    expect(() => encodedBytesBound(Symbol('s'))).toThrow(/not plain data/);
  });
});

describe('MAX_BLOCK_BYTES bounds every block the protocol allows', () => {
  it('is the bound of the worst-case block, which has MAX_TXS_PER_BLOCK transfers with every field at its widest', () => {
    const w = worstCaseBlock();
    expect(w.txs).toHaveLength(MAX_TXS_PER_BLOCK);
    expect(w.txs.every((t) => t.id.length === MAX_TX_ID_LENGTH)).toBe(true);
    expect(MAX_BLOCK_BYTES).toBe(encodedBytesBound(w));
    expect(MAX_BLOCK_BYTES).toBeGreaterThanOrEqual(wireBytes(w));
  });

  it('is above the encoding of the largest block the guard accepts (sealed, 64-character ids, the widest numbers)', () => {
    const txs: Tx[] = Array.from({ length: MAX_TXS_PER_BLOCK }, (_, i) => ({ id: `${'z'.repeat(MAX_TX_ID_LENGTH - 6)}${String(i).padStart(6, '0')}`, from: 3, to: 2, amount: Number.MAX_SAFE_INTEGER }));
    const b = sealBlock({ height: MAX_HEIGHT, prevHash: 'f'.repeat(64), ts: MAX_TIMESTAMP, creator: 3, txs });
    const checked = validateMessage({ type: 'BLOCKS', ts: 1, blocks: [b], last: true }, new Set([1, 2, 3]));
    expect(checked.ok).toBe(true);
    expect(wireBytes(b)).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
    expect(encodedBytesBound(b)).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
  });

  it('bounds 200 random valid blocks', () => {
    const r = rng(7);
    for (let i = 0; i < 200; i++) {
      const b = randomBlock(r);
      expect(encodedBytesBound(b)).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
    }
  });
});

describe('REQUIRED_FRAME_BYTES carries every message the protocol must be able to send', () => {
  const w = worstCaseBlock();

  it('fits a RELEASE with the worst-case block (TLS frames it in records of its own, outside this limit)', () => {
    const release: Message = { type: 'RELEASE', ts: MAX_TIMESTAMP, height: MAX_HEIGHT, view: MAX_VIEW, block: w };
    expect(wireBytes(release)).toBeLessThanOrEqual(REQUIRED_FRAME_BYTES);
    expect(encodedBytesBound(release)).toBeLessThanOrEqual(REQUIRED_FRAME_BYTES);
  });

  it('fits a BLOCKS with one worst-case block: BLOCKS_OVERHEAD_BYTES + MAX_BLOCK_BYTES', () => {
    const blocks: Message = { type: 'BLOCKS', ts: MAX_TIMESTAMP, blocks: [w], last: true };
    expect(encodedBytesBound(blocks)).toBeLessThanOrEqual(BLOCKS_OVERHEAD_BYTES + MAX_BLOCK_BYTES);
    expect(BLOCKS_OVERHEAD_BYTES + MAX_BLOCK_BYTES).toBeLessThanOrEqual(REQUIRED_FRAME_BYTES);
  });

  it('a BLOCKS message\'s bound is its overhead plus its blocks\' bounds, so a serve can budget by block', () => {
    const r = rng(11);
    for (let i = 0; i < 50; i++) {
      const blocks = Array.from({ length: r.int(0, 5) }, () => randomBlock(r));
      const m: Message = { type: 'BLOCKS', ts: bigOrSmall(r, MAX_TIMESTAMP), blocks, last: r.chance(0.5) };
      expect(encodedBytesBound(m)).toBeLessThanOrEqual(BLOCKS_OVERHEAD_BYTES + blocks.reduce((n, b) => n + encodedBytesBound(b), 0));
    }
  });

  it('fits a failed REPORT with the longest error the guard accepts, even in 3-byte characters', () => {
    const report: Message = { type: 'REPORT', ts: MAX_TIMESTAMP - 1, snapshot: { initiator: 3, seq: MAX_TIMESTAMP }, local: null, error: '\u20ac'.repeat(MAX_REPORT_ERROR_LENGTH) };
    expect(validateMessage(report, new Set([1, 2, 3])).ok).toBe(true);
    expect(encodedBytesBound(report)).toBeLessThanOrEqual(REQUIRED_FRAME_BYTES);
  });

  it('is at least the pre-handshake frame size and at most the default frame size', () => {
    expect(REQUIRED_FRAME_BYTES).toBeGreaterThanOrEqual(PRE_HANDSHAKE_FRAME_BYTES);
    expect(REQUIRED_FRAME_BYTES).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
  });
});

describe('the other limits', () => {
  it('blocks held above the head: a catch-up window of bytes, and as many blocks as a window holds at the smallest (docs/LIMITS.md says 8 MiB and 27,325)', () => {
    expect(MAX_HELD_BLOCK_BYTES).toBe(CATCH_UP_WINDOW_BYTES);
    expect(formatBytes(MAX_HELD_BLOCK_BYTES)).toBe('8 MiB');
    expect(MAX_HELD_BLOCKS).toBe(27_325);
    expect(MAX_HELD_BLOCKS * encodedBytesBound(leanestBlock())).toBeGreaterThanOrEqual(MAX_HELD_BLOCK_BYTES);
    // No valid block is smaller than the leanest: one transfer, a one-character id.
    const b = sealBlock({ height: 1, prevHash: genesis.hash, ts: 0, creator: 1, txs: [{ id: 'a', from: 1, to: 2, amount: 1 }] });
    expect(encodedBytesBound(b)).toBe(encodedBytesBound(leanestBlock()));
  });

  it('the verdict compares balance tables within one catch-up window of the largest blocks below the initiator\'s head (docs/SNAPSHOTS.md and docs/LIMITS.md say 62)', () => {
    expect(MAX_TABLE_SPREAD_BLOCKS).toBe(62);
    expect(MAX_TABLE_SPREAD_BLOCKS * MAX_BLOCK_BYTES).toBeLessThanOrEqual(CATCH_UP_WINDOW_BYTES);
  });

  it('formatBytes writes sizes in the units limits are set in', () => {
    expect(formatBytes(16 * 1024 * 1024)).toBe('16 MiB');
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MiB');
    expect(formatBytes(900 * 1024)).toBe('900 KiB');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1023)).toBe('1023 bytes');
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(REQUIRED_FRAME_BYTES)).toMatch(/^\d+(\.\d)? KiB$/);
  });

  it('saneTimestamp accepts 0..2^50 integers only', () => {
    expect(saneTimestamp(0)).toBe(true);
    expect(saneTimestamp(MAX_TIMESTAMP)).toBe(true);
    expect(saneTimestamp(MAX_TIMESTAMP + 1)).toBe(false);
    expect(saneTimestamp(-1)).toBe(false);
    expect(saneTimestamp(1.5)).toBe(false);
    expect(saneTimestamp(Number.NaN)).toBe(false);
  });

  it('MAX_TIMESTAMP and MAX_HEIGHT leave the clock room to count below 2^53', () => {
    expect(MAX_TIMESTAMP * 8).toBeLessThanOrEqual(2 ** 53);
    expect(MAX_HEIGHT * 8).toBeLessThanOrEqual(2 ** 53);
    expect(Number.isSafeInteger(MAX_VIEW)).toBe(true);
  });

  it('a slow consumer may have at least two catch-up windows and four frames queued', () => {
    for (const frame of [REQUIRED_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, 256 * 1024 * 1024]) {
      expect(slowConsumerBytes(frame)).toBeGreaterThanOrEqual(2 * CATCH_UP_WINDOW_BYTES);
      expect(slowConsumerBytes(frame)).toBeGreaterThanOrEqual(4 * frame);
    }
  });

  it('genesis itself fits a frame (it is never sent, but a replica holds it like any block)', () => {
    expect(wireBytes(genesis)).toBeLessThanOrEqual(REQUIRED_FRAME_BYTES);
  });
});
