/**
 * Every size and range limit of the protocol, derived from its constants in this one place, so
 * that no two numbers elsewhere can disagree: the largest block, the largest message a frame must
 * carry, how BLOCKS are chunked, how large a snapshot report may grow, which timestamps are sane.
 *
 * Sizes are upper bounds of the MessagePack encoding (what the wire carries), computed from plain
 * values without encoding them: the core must not depend on the codec, and a bound is all a limit
 * needs. `encodedBytesBound` over-estimates headers and never under-estimates a value.
 */
import type { Block, Message } from './types.js';

/** Transfers in one block (one lock round). */
export const MAX_TXS_PER_BLOCK = 1000;

/**
 * A transfer's key, its id in the block: 1..64 characters of A-Z a-z 0-9 . _ : - (letters, digits
 * and a few separators: safe in a shell, a file name, a URL and a log line alike). The caller
 * chooses it (`--id`) or the client makes one (16 characters).
 */
export const MAX_TX_ID_LENGTH = 64;
export const TX_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** How the pattern reads in an error. */
export const TX_ID_RULE = '1-64 characters of A-Z a-z 0-9 . _ : -';

/**
 * Transfers whose key did not commit (failed or withdrawn) that a client remembers, newest
 * first, so that `tx <key>` can say what became of them; older ones are forgotten.
 */
export const RECENT_TRANSFER_OUTCOMES = 10_000;

/**
 * The largest Lamport timestamp accepted from a peer. Far above any clock a real run reaches (at a
 * million events a second it takes 35 years), yet with room below 2^53 for the clock to keep
 * counting: a hostile or corrupt timestamp near 2^53 would otherwise freeze the clock for good.
 */
export const MAX_TIMESTAMP = 2 ** 50;

/** The largest chain height accepted from a peer, for the same reason. */
export const MAX_HEIGHT = 2 ** 50;

/** Membership view ids and process incarnations are 48-bit numbers (exact in a double). */
export const MAX_VIEW = 2 ** 48 - 1;

/** Messages recorded in one channel state of a snapshot; a longer channel fails that snapshot. */
export const MAX_RECORDED_MESSAGES = 100_000;

/** The bytes of one frame's length prefix (a 32-bit big-endian integer). */
export const FRAME_HEADER_BYTES = 4;

/** The default and the ceiling of the configurable frame size (`maxFrameBytes`). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
export const MAX_FRAME_BYTES_CEILING = 256 * 1024 * 1024;

/**
 * Before a connection's handshake completes, a frame may be at most this large: a HELLO or WELCOME
 * is a few hundred bytes, and an unauthenticated stranger must not make us buffer megabytes.
 */
export const PRE_HANDSHAKE_FRAME_BYTES = 4 * 1024;

/** Connections accepted whose handshake has not completed; past this the oldest is dropped. */
export const MAX_UNIDENTIFIED_CONNECTIONS = 64;

/**
 * Blocks sent in one catch-up serve (the push on a new session, or the answer to one FETCH):
 * about this many bytes, and at least one message. More is fetched once these are applied, so a
 * long catch-up never queues the whole chain for a peer at once.
 */
export const CATCH_UP_WINDOW_BYTES = 8 * 1024 * 1024;

/** Bytes queued for a peer that does not read, before its channel is closed as a slow consumer. */
export const slowConsumerBytes = (maxFrameBytes: number): number => Math.max(64 * 1024 * 1024, 4 * maxFrameBytes, 2 * CATCH_UP_WINDOW_BYTES);

/** UTF-8 length of a string, without an encoder (the core stays free of I/O modules). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair is one 4-byte code point
      i++;
    } else n += 3; // a lone surrogate becomes U+FFFD, 3 bytes
  }
  return n;
}

/** Largest header MessagePack writes before a string, array or map (type byte + 32-bit length). */
const CONTAINER_HEADER = 5;
/** Largest encoding of a number (float64 or uint64: type byte + 8). */
const NUMBER_BYTES = 9;

/**
 * An upper bound of the MessagePack encoding of a plain value (nulls, booleans, numbers, strings,
 * arrays, plain objects): never below what the codec writes.
 */
export function encodedBytesBound(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'number') return NUMBER_BYTES;
  if (typeof value === 'string') return CONTAINER_HEADER + utf8Length(value);
  if (Array.isArray(value)) {
    let n = CONTAINER_HEADER;
    for (const v of value) n += encodedBytesBound(v);
    return n;
  }
  if (typeof value === 'object') {
    let n = CONTAINER_HEADER;
    for (const [k, v] of Object.entries(value)) n += CONTAINER_HEADER + utf8Length(k) + encodedBytesBound(v);
    return n;
  }
  throw new Error(`encodedBytesBound: not plain data (${typeof value})`);
}

const WORST_HASH = 'f'.repeat(64);
const WORST_ID = 'z'.repeat(MAX_TX_ID_LENGTH);
const WORST_NUMBER = Number.MAX_SAFE_INTEGER;

/** The largest block the protocol allows: every field at its widest. */
export function worstCaseBlock(): Block {
  const txs = Array.from({ length: MAX_TXS_PER_BLOCK }, () => ({ id: WORST_ID, from: WORST_NUMBER, to: WORST_NUMBER, amount: WORST_NUMBER }));
  return { height: WORST_NUMBER, prevHash: WORST_HASH, ts: WORST_NUMBER, creator: WORST_NUMBER, txs, hash: WORST_HASH };
}

/** Bound of the largest block's encoding. */
export const MAX_BLOCK_BYTES = encodedBytesBound(worstCaseBlock());

/** The smallest a valid block can be: one transfer with a one-character id, every number small. */
export function leanestBlock(): Block {
  return { height: 1, prevHash: WORST_HASH, ts: 0, creator: 1, txs: [{ id: '~', from: 1, to: 2, amount: 1 }], hash: WORST_HASH };
}

/**
 * Blocks held from peers above the head (they came out of height order), at most: this many bytes
 * (bounds of their encodings), and this many blocks, which is what one catch-up window holds at
 * the smallest; a block farther than that above the head is not held either. Blocks come out of
 * order only when the RELEASEs of successive lock rounds overtake each other on different
 * channels, a few at a time, and a serve starts at the asker's head: a whole window out of order
 * still fits. What exceeds them is refused (a peer that holds it sends it again once it is due,
 * or it is fetched), and nothing already applied is touched.
 */
export const MAX_HELD_BLOCK_BYTES = CATCH_UP_WINDOW_BYTES;
export const MAX_HELD_BLOCKS = Math.ceil(CATCH_UP_WINDOW_BYTES / encodedBytesBound(leanestBlock()));

/**
 * How far below the initiator's head the snapshot verdict compares a replica's balance table with
 * the table at that replica's head: the initiator finds that table by undoing its own blocks from
 * its head down, in the step that assembles the snapshot. One catch-up window of the largest
 * blocks, so that the comparison never reads more than one serve does. A replica further behind
 * is catching up; its head is still compared (one block read), and the verdict says that its
 * table was not.
 */
export const MAX_TABLE_SPREAD_BLOCKS = Math.floor(CATCH_UP_WINDOW_BYTES / MAX_BLOCK_BYTES);

/** Bound of a BLOCKS message's encoding without its blocks; each block adds its own bound. */
export const BLOCKS_OVERHEAD_BYTES = encodedBytesBound({ type: 'BLOCKS', ts: WORST_NUMBER, blocks: [], last: true } satisfies Message);

/** A failed REPORT says why in at most this many characters. */
export const MAX_REPORT_ERROR_LENGTH = 500;

/** Bound of a snapshot REPORT that says the report itself could not be sent (see `Message`). */
const FAILED_REPORT_BYTES = encodedBytesBound({
  type: 'REPORT', ts: WORST_NUMBER, snapshot: { initiator: WORST_NUMBER, seq: WORST_NUMBER }, local: null, error: '~'.repeat(MAX_REPORT_ERROR_LENGTH),
} satisfies Message);

/**
 * The smallest frame that carries every message the protocol must be able to send: a RELEASE with
 * the largest block, a BLOCKS with one, and a REPORT that says the report did not fit. A
 * `maxFrameBytes` below this is refused at start.
 */
export const REQUIRED_FRAME_BYTES = Math.max(
  encodedBytesBound({ type: 'RELEASE', ts: WORST_NUMBER, height: WORST_NUMBER, view: WORST_NUMBER, block: worstCaseBlock() } satisfies Message),
  BLOCKS_OVERHEAD_BYTES + MAX_BLOCK_BYTES,
  FAILED_REPORT_BYTES,
  PRE_HANDSHAKE_FRAME_BYTES,
);

/** What the largest message that needs a frame is, for the error that refuses a too small one. */
export const REQUIRED_FRAME_REASON = `a RELEASE carrying a full block of ${MAX_TXS_PER_BLOCK} transfers`;

/** "16 MiB", "1.5 MiB", "900 KiB", "512 bytes": a size in the units limits are set in. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[1024 * 1024, 'MiB'], [1024, 'KiB']];
  for (const [size, unit] of units) {
    if (n >= size) {
      const v = n / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${n} bytes`;
}

/** Whether a timestamp from a peer is within the protocol's range. */
export const saneTimestamp = (ts: number): boolean => Number.isSafeInteger(ts) && ts >= 0 && ts <= MAX_TIMESTAMP;
