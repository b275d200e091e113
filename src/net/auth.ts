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
