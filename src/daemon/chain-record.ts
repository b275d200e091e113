/**
 * One record of the chain file:
 *   4-byte big-endian payload length | msgpackr-encoded Block | 4-byte big-endian CRC32 of the payload
 * Encoding writes only the Block fields; decoding checks the CRC and the shape, and leaves the
 * ledger rules (checkBlock) to the chain store.
 */
import * as zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Block, Tx } from '../core/types.js';
import { describeCause } from '../base/errors.js';
import { blockBytes } from '../net/block-bytes.js';

export const RECORD_HEADER_BYTES = 4;
export const RECORD_TRAILER_BYTES = 4;

// ---------------------------------------------------------------------------------------------
// CRC32 (IEEE, as zlib/PNG/Ethernet). zlib.crc32 exists from Node 20.15; older 20.x use the table.

const CRC_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32Portable(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) >>> 0 : crc32Portable;

// ---------------------------------------------------------------------------------------------
// Records

/** Maps, not msgpackr records: every record must decode on its own, with no shared structures. */
const packr = new Packr({ useRecords: false });

/** One complete record (length, payload, CRC) for `block`; the payload is the bytes its RELEASE carries too. */
export function encodeRecord(block: Block): Buffer {
  const payload = blockBytes(block);
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length + RECORD_TRAILER_BYTES);
  record.writeUInt32BE(payload.length, 0);
  payload.copy(record, RECORD_HEADER_BYTES);
  record.writeUInt32BE(crc32(payload), RECORD_HEADER_BYTES + payload.length);
  return record;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toTx(v: unknown): Tx | null {
  if (!isObject(v)) return null;
  const { id, from, to, amount } = v;
  if (typeof id !== 'string' || !isInt(from) || !isInt(to) || typeof amount !== 'number') return null;
  return { id, from, to, amount };
}

/** The block a decoded payload describes, or null if it is not shaped like one (checkBlock does the rest). */
function toBlock(v: unknown): Block | null {
  if (!isObject(v)) return null;
  const { height, prevHash, ts, creator, txs, hash } = v;
  if (!isInt(height) || typeof prevHash !== 'string' || !isInt(ts) || !isInt(creator) || typeof hash !== 'string' || !Array.isArray(txs)) return null;
  const list: Tx[] = [];
  for (const t of txs) {
    const tx = toTx(t);
    if (tx === null) return null;
    list.push(tx);
  }
  return { height, prevHash, ts, creator, txs: list, hash };
}

export type DecodedRecord = { ok: true; block: Block } | { ok: false; error: string };

/** Verifies the CRC and decodes a record body (payload + CRC trailer). */
export function decodeRecordBody(body: Buffer): DecodedRecord {
  const payload = body.subarray(0, body.length - RECORD_TRAILER_BYTES);
  if (crc32(payload) !== body.readUInt32BE(payload.length)) return { ok: false, error: 'checksum mismatch' };
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (e) {
    return { ok: false, error: `cannot decode: ${describeCause(e)}` };
  }
  const block = toBlock(value);
  return block === null ? { ok: false, error: 'record is not a block' } : { ok: true, block };
}
