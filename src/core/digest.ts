/**
 * Running digests of the protocol messages on one channel, so that a snapshot's verdict can tell
 * whether a recorded channel state is exactly what its sender sent and its receiver had not yet
 * received: missing, extra, reordered and altered messages all change the digest.
 *
 * Each end folds every message into a 64-bit state (two 32-bit lanes) as it sends or receives
 * it. The words folded are a canonical sequence of the fields the wire carries and the validating
 * guard rebuilds (messages.ts), so the sender, folding the message as sent, and the receiver,
 * folding it as decoded, get the same result. A block is folded as its height and hash: the hash
 * covers every other field, and the verdict checks blocks against their hashes on its own.
 *
 * The mixing is a multiply-rotate over each word with a finalisation after every message (the
 * shape of MurmurHash and cyrb53): order-sensitive, a few nanoseconds per word, and no
 * allocation, since it runs on every message. It guards against accidents, not against a forger:
 * the members are trusted.
 */
import { type Message, assertNever } from './types.js';

/** A channel state as recorded: 16 lowercase hex digits, the high lane first. */
export type Digest = string;

const SEED_HI = 0x6c6c6564; // "lled"
const SEED_LO = 0x6c61706d; // "lapm"

const TYPE_CODES = { REQUEST: 1, REPLY: 2, RELEASE: 3, MARKER: 4, REPORT: 5, FETCH: 6, BLOCKS: 7 } as const;

const TWO_TO_32 = 4294967296;

/** The digest of a channel on which nothing has been sent (a session starts from it). */
export const EMPTY_DIGEST: Digest = lanesToDigest(SEED_HI, SEED_LO);

function lanesToDigest(hi: number, lo: number): Digest {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

export const isDigest = (v: unknown): v is Digest => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v);

/** The running digest of one direction of one channel. */
export class ChannelDigest {
  private hi: number;
  private lo: number;

  constructor(from: Digest = EMPTY_DIGEST) {
    if (!isDigest(from)) throw new Error(`digest: not a channel digest: ${JSON.stringify(from)}`);
    this.hi = Number.parseInt(from.slice(0, 8), 16) | 0;
    this.lo = Number.parseInt(from.slice(8), 16) | 0;
  }

  /** Folds one message in. */
  add(m: Message): void {
    this.word(TYPE_CODES[m.type]);
    this.wide(m.ts);
    switch (m.type) {
      case 'REQUEST':
      case 'REPLY':
        this.wide(m.height);
        this.wide(m.view);
        break;
      case 'RELEASE':
        this.wide(m.height);
        this.wide(m.view);
        if (m.block === null) this.word(0);
        else {
          this.word(1);
          this.wide(m.block.height);
          this.text(m.block.hash);
        }
        break;
      case 'FETCH':
        this.wide(m.from);
        break;
      case 'BLOCKS':
        this.word(m.last ? 1 : 0);
        this.word(m.blocks.length);
        for (const b of m.blocks) {
          this.wide(b.height);
          this.text(b.hash);
        }
        break;
      case 'MARKER':
        this.wide(m.snapshot.initiator);
        this.wide(m.snapshot.seq);
        break;
      case 'REPORT':
        // Never part of a channel's state; folded by type and timestamp only, to stay total.
        break;
      default:
        assertNever(m);
    }
    // Finalise after every message, mixing the lanes into each other (cyrb53's avalanche).
    let h1 = this.hi;
    let h2 = this.lo;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    this.hi = h1;
    this.lo = h2;
  }

  get value(): Digest {
    return lanesToDigest(this.hi, this.lo);
  }

  private word(w: number): void {
    this.hi = Math.imul(this.hi ^ w, 0x9e3779b1);
    this.hi = (this.hi << 13) | (this.hi >>> 19);
    this.lo = Math.imul(this.lo ^ w, 0x85ebca77);
    this.lo = (this.lo << 17) | (this.lo >>> 15);
  }

  /** A non-negative safe integer, as two words. */
  private wide(n: number): void {
    const low = n >>> 0;
    this.word(low);
    this.word((n - low) / TWO_TO_32);
  }

  /** A string of ASCII characters (a block hash), four to a word, then its length. */
  private text(s: string): void {
    for (let i = 0; i < s.length; i += 4) {
      this.word(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24));
    }
    this.word(s.length);
  }
}

/** The digest `from` with `messages` folded in, in order. */
export function foldDigest(from: Digest, messages: readonly Message[]): Digest {
  const d = new ChannelDigest(from);
  for (const m of messages) d.add(m);
  return d.value;
}
