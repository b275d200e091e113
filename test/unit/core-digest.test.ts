/**
 * The running digest of a channel's messages (src/core/digest.ts): both ends of a channel must
 * compute the same digest, the sender from each message as sent and the receiver from the message
 * as it comes out of the wire (msgpackr, then the validating guard), and any difference in the
 * sequence (a message missing, extra, altered or out of order) must change it.
 */
import { describe, expect, it } from 'vitest';
import { ChannelDigest, EMPTY_DIGEST, foldDigest, isDigest } from '../../src/core/digest.js';
import { sealBlock } from '../../src/core/ledger.js';
import { MAX_HEIGHT, MAX_TIMESTAMP, MAX_VIEW } from '../../src/core/limits.js';
import type { Block, Message } from '../../src/core/types.js';
import { decodeMessage, encodeMessage } from '../../src/net/codec.js';
import { threeClientGenesis } from './fixtures.js';
import { Rng } from '../sim/rng.js';

const genesis = threeClientGenesis('digest');
const b1 = sealBlock({ height: 1, prevHash: genesis.hash, ts: 5, creator: 1, txs: [{ id: 'k-1', from: 1, to: 2, amount: 450 }] });
const b2 = sealBlock({ height: 2, prevHash: b1.hash, ts: 9, creator: 2, txs: [{ id: 'k-2', from: 2, to: 3, amount: 1 }] });
const nodes = new Set([1, 2, 3]);

const sample: Message[] = [
  { type: 'REQUEST', ts: 7, height: 2, view: 5 },
  { type: 'REPLY', ts: 8, height: 1, view: 5 },
  { type: 'RELEASE', ts: 9, height: 1, view: 5, block: b1 },
  { type: 'RELEASE', ts: 10, height: 1, view: 5, block: null },
  { type: 'FETCH', ts: 11, from: 2 },
  { type: 'BLOCKS', ts: 12, blocks: [b1, b2], last: false },
  { type: 'BLOCKS', ts: 12, blocks: [], last: true },
  { type: 'REQUEST', ts: MAX_TIMESTAMP - 1, height: MAX_HEIGHT, view: MAX_VIEW },
];

const digest = (ms: readonly Message[]): string => foldDigest(EMPTY_DIGEST, ms);

/** The message as the receiver gets it: encoded by the sender's codec, decoded and validated by its own. */
function overTheWire(m: Message): Message {
  const d = decodeMessage(encodeMessage(m), nodes);
  if (!d.ok) throw new Error(d.error.message);
  return d.value;
}

describe('ChannelDigest', () => {
  it('is 16 lowercase hex digits, and a session starts from EMPTY_DIGEST', () => {
    expect(isDigest(EMPTY_DIGEST)).toBe(true);
    expect(new ChannelDigest().value).toBe(EMPTY_DIGEST);
    expect(digest(sample)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('the receiver, digesting what came out of the codec, gets the sender\'s digest', () => {
    expect(digest(sample.map(overTheWire))).toBe(digest(sample));
    // Fields the guard does not keep do not count either: a message with an extra field digests the same.
    const padded = { ...(sample[1] as object), extra: 'x' } as unknown as Message;
    expect(digest([overTheWire(padded)])).toBe(digest([sample[1]!]));
  });

  it('the same over random messages of every kind', () => {
    const r = new Rng(17);
    const blocks: Block[] = [b1, b2];
    for (let i = 0; i < 500; i++) {
      const ts = r.int(0, 2 ** 40);
      const pick = r.int(0, 4);
      const m: Message = pick === 0 ? { type: 'REQUEST', ts, height: r.int(0, 2 ** 45), view: r.int(0, MAX_VIEW) }
        : pick === 1 ? { type: 'REPLY', ts, height: r.int(0, 1000), view: r.int(0, 2 ** 20) }
          : pick === 2 ? { type: 'RELEASE', ts, height: r.int(0, 1000), view: r.int(0, 2 ** 20), block: r.chance(0.5) ? r.pick(blocks) : null }
            : pick === 3 ? { type: 'FETCH', ts, from: r.int(1, 2 ** 33) }
              : { type: 'BLOCKS', ts, blocks: blocks.slice(0, r.int(0, 2)), last: r.chance(0.5) };
      expect(digest([overTheWire(m)])).toBe(digest([m]));
    }
  });

  it('folding on from a recorded digest is folding the whole sequence', () => {
    const half = digest(sample.slice(0, 3));
    expect(foldDigest(half, sample.slice(3))).toBe(digest(sample));
  });

  it('changes with a message missing, extra, swapped with its neighbour, or repeated in place of another', () => {
    const all = new Set([
      digest(sample),
      digest(sample.slice(1)),
      digest([...sample, sample[0]!]),
      digest([sample[1]!, sample[0]!, ...sample.slice(2)]),
      digest([sample[0]!, sample[0]!, ...sample.slice(2)]),
      digest([...sample].reverse()),
    ]);
    expect(all.size).toBe(6);
  });

  it('changes with every field a message carries', () => {
    const base: Message[] = [{ type: 'RELEASE', ts: 9, height: 1, view: 5, block: b1 }];
    const variants: Message[][] = [
      [{ type: 'RELEASE', ts: 10, height: 1, view: 5, block: b1 }],
      [{ type: 'RELEASE', ts: 9, height: 2, view: 5, block: b1 }],
      [{ type: 'RELEASE', ts: 9, height: 1, view: 6, block: b1 }],
      [{ type: 'RELEASE', ts: 9, height: 1, view: 5, block: null }],
      [{ type: 'RELEASE', ts: 9, height: 1, view: 5, block: b2 }],
      [{ type: 'REPLY', ts: 9, height: 1, view: 5 }],
      [{ type: 'RELEASE', ts: 9 + 2 ** 32, height: 1, view: 5, block: b1 }],
      [{ type: 'BLOCKS', ts: 9, blocks: [b1], last: true }],
      [{ type: 'BLOCKS', ts: 9, blocks: [b1], last: false }],
      [{ type: 'BLOCKS', ts: 9, blocks: [b1, b2], last: true }],
    ];
    const seen = new Set([digest(base), ...variants.map(digest)]);
    expect(seen.size).toBe(variants.length + 1);
  });

  it('refuses to start from something that is not a digest (a programmer error)', () => {
    expect(() => new ChannelDigest('xyz')).toThrow(/not a channel digest/);
  });
});
