/**
 * A block's MessagePack encoding, made once and shared: the chain file's record holds it (the
 * creator's, chain-record.ts) and the RELEASE that carries the block holds the same bytes
 * (codec.ts). A block is never changed once made, so its bytes are kept by object, for as long as
 * the block itself is kept.
 */
import { Packr } from 'msgpackr';
import type { Block } from '../core/types.js';

/** Plain maps, as the wire and the chain file both are (see codec.ts). */
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, int64AsType: 'number' });

const encoded = new WeakMap<Block, Buffer>();

/** Only the Block fields, in a fixed order, whatever else the object carries. */
function plainBlock(b: Block): Block {
  return {
    height: b.height,
    prevHash: b.prevHash,
    ts: b.ts,
    creator: b.creator,
    txs: b.txs.map((t) => ({ id: t.id, from: t.from, to: t.to, amount: t.amount })),
    hash: b.hash,
  };
}

/** The block's MessagePack encoding (a map of its fields), made once per block. */
export function blockBytes(block: Block): Buffer {
  let bytes = encoded.get(block);
  if (bytes === undefined) {
    bytes = packr.pack(plainBlock(block));
    encoded.set(block, bytes);
  }
  return bytes;
}
