/**
 * Length-prefixed framing: a 4-byte big-endian body length, then the body.
 * The decoder keeps received chunks in a list and copies each byte at most once (only when a frame
 * spans chunks), so cost stays linear however the stream is split.
 */
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from '../core/limits.js';
import { NetError } from './errors.js';

export { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES };

/** A frame with an empty body: a heartbeat, which says only that the channel is alive. */
export const HEARTBEAT_FRAME: Buffer = Buffer.alloc(FRAME_HEADER_BYTES);
/** The header is a uint32, so no frame can declare more than this. */
const ABSOLUTE_MAX_FRAME_BYTES = 0xffff_ffff;

export function encodeFrame(body: Uint8Array, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Buffer {
  // Refuse to send what the peer would refuse to receive: a clear error here beats a dropped link.
  if (body.length > maxFrameBytes || body.length > ABSOLUTE_MAX_FRAME_BYTES) {
    throw NetError.frameTooLarge(body.length, Math.min(maxFrameBytes, ABSOLUTE_MAX_FRAME_BYTES));
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

export interface FrameDecoderOptions {
  /** Largest body accepted; a larger declared length fails before any of the body is buffered. */
  maxFrameBytes?: number;
}

export class FrameDecoder {
  private max: number;
  private chunks: Buffer[] = [];
  /** Index of the first unconsumed chunk in `chunks` (avoids Array#shift on every frame). */
  private head = 0;
  /** Bytes already consumed from `chunks[head]`. */
  private offset = 0;
  /** Unconsumed bytes across all chunks. */
  private buffered = 0;
  /** Body length of the frame being read, once its header is in. */
  private expected: number | null = null;
  /** Once a stream is broken there is no resynchronising it; every later push fails the same way. */
  private failure: NetError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.max = FrameDecoder.checkedMax(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  }

  private static checkedMax(max: number): number {
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxFrameBytes must be a non-negative integer, got ${max}`);
    return max;
  }

  get maxFrameBytes(): number {
    return this.max;
  }

  /** Raises (or lowers) the limit for the frames still to come: a handshake's frames are small. */
  setMaxFrameBytes(max: number): void {
    this.max = FrameDecoder.checkedMax(max);
  }

  /** Bytes held that do not yet form a complete frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds bytes from the stream; returns every frame body they complete, in order. */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failure !== null) throw this.failure;
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.expected === null) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const header = this.take(FRAME_HEADER_BYTES);
        const length = header.readUInt32BE(0);
        if (length > this.max) {
          this.failure = NetError.frameTooLarge(length, this.max);
          this.reset();
          throw this.failure;
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = null;
    }
    this.compact();
    return frames;
  }

  /** Removes and returns the next `n` buffered bytes (n <= buffered). Zero-copy within a chunk. */
  private take(n: number): Buffer {
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    const available = first.length - this.offset;
    if (n <= available) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const c = this.chunks[this.head];
      if (c === undefined) throw new Error('FrameDecoder: buffered byte count out of sync');
      const count = Math.min(c.length - this.offset, n - written);
      c.copy(out, written, this.offset, this.offset + count);
      written += count;
      this.advance(count);
    }
    return out;
  }

  private advance(n: number): void {
    this.offset += n;
    this.buffered -= n;
    const c = this.chunks[this.head];
    if (c !== undefined && this.offset >= c.length) {
      this.chunks[this.head] = EMPTY; // drop the reference so consumed chunks can be collected
      this.head++;
      this.offset = 0;
    }
  }

  private compact(): void {
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  private reset(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.buffered = 0;
    this.expected = null;
  }
}

const EMPTY = Buffer.alloc(0);
