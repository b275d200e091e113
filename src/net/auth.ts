/**
 * The cluster secret's challenge-response: each end of a connection sends a random nonce and
 * proves it knows the secret by an HMAC over the other's nonce, the cluster and both ids, so a
 * proof cannot be replayed on another connection or in the other direction.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../core/types.js';

export const newNonce = (): string => randomBytes(16).toString('hex');

export function proofOf(secret: string, role: 'acceptor' | 'dialer', cluster: string, from: NodeId, to: NodeId, nonce: string): string {
  return createHmac('sha256', secret).update(`${role}|${cluster}|${from}|${to}|${nonce}`).digest('hex');
}

export function proofHolds(expected: string, given: string | undefined): boolean {
  if (given === undefined || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}

/** Loopback addresses: listening on one of these is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** Bytes of the MAC appended to every message frame on a channel of a cluster with a secret. */
export const TAG_BYTES = 16;

/**
 * The key of one directed channel, from the secret and both handshake nonces: fresh for every
 * connection, and different for the two directions.
 */
export function channelKey(secret: string, cluster: string, dialer: NodeId, acceptor: NodeId, dialerNonce: string, acceptorNonce: string): Buffer {
  return createHmac('sha256', secret).update(`frames|${cluster}|${dialer}|${acceptor}|${dialerNonce}|${acceptorNonce}`).digest();
}

function tag(key: Buffer, seq: number, body: Uint8Array): Buffer {
  const counter = Buffer.allocUnsafe(8);
  counter.writeBigUInt64BE(BigInt(seq));
  return createHmac('sha256', key).update(counter).update(body).digest().subarray(0, TAG_BYTES);
}

/**
 * Appends to each frame body a MAC over the channel's frame counter and the body, so a frame that
 * is forged, altered, replayed, dropped or reordered on an established connection is detected.
 */
export class FrameSealer {
  private seq = 0;
  constructor(private readonly key: Buffer) {}

  seal(body: Uint8Array): Buffer {
    return Buffer.concat([body, tag(this.key, this.seq++, body)]);
  }
}

export class FrameOpener {
  private seq = 0;
  constructor(private readonly key: Buffer) {}

  /** The body, or null if the frame is not the next one the sender sealed. */
  open(frame: Buffer): Buffer | null {
    if (frame.length < TAG_BYTES) return null;
    const body = frame.subarray(0, frame.length - TAG_BYTES);
    const given = frame.subarray(frame.length - TAG_BYTES);
    if (!timingSafeEqual(tag(this.key, this.seq, body), given)) return null;
    this.seq++;
    return body;
  }
}
