import { describe, expect, it } from 'vitest';
import { FrameOpener, FrameSealer, TAG_BYTES, channelKey, isLoopback, newNonce, proofHolds, proofOf } from '../../src/net/auth.js';

const key = channelKey('a-cluster-secret!', 'c', 1, 2, 'aa', 'bb');
const body = (n: number): Buffer => Buffer.from(`message ${n}`);

describe('the cluster secret', () => {
  it('a proof holds only for the same secret, role, cluster, ids and nonce', () => {
    const p = proofOf('a-cluster-secret!', 'acceptor', 'c', 1, 2, 'ab');
    expect(proofHolds(p, proofOf('a-cluster-secret!', 'acceptor', 'c', 1, 2, 'ab'))).toBe(true);
    expect(proofHolds(p, proofOf('another-secret!!!', 'acceptor', 'c', 1, 2, 'ab'))).toBe(false);
    expect(proofHolds(p, proofOf('a-cluster-secret!', 'dialer', 'c', 1, 2, 'ab'))).toBe(false);
    expect(proofHolds(p, proofOf('a-cluster-secret!', 'acceptor', 'c', 2, 1, 'ab'))).toBe(false);
    expect(proofHolds(p, proofOf('a-cluster-secret!', 'acceptor', 'c', 1, 2, 'ac'))).toBe(false);
    expect(proofHolds(p, undefined)).toBe(false);
    expect(proofHolds(p, 'ab')).toBe(false);
  });

  it('nonces are fresh', () => {
    expect(newNonce()).not.toBe(newNonce());
    expect(newNonce()).toMatch(/^[0-9a-f]{32}$/);
  });

  it('each direction of each connection has its own frame key', () => {
    expect(channelKey('a-cluster-secret!', 'c', 2, 1, 'aa', 'bb').equals(key)).toBe(false);
    expect(channelKey('a-cluster-secret!', 'c', 1, 2, 'aa', 'bc').equals(key)).toBe(false);
  });

  it('frames sealed in order open in order, with the body intact', () => {
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    for (let i = 0; i < 5; i++) {
      const sealed = sealer.seal(body(i));
      expect(sealed.length).toBe(body(i).length + TAG_BYTES);
      expect(opener.open(sealed)?.toString()).toBe(`message ${i}`);
    }
  });

  it('an altered, replayed, reordered or foreign frame does not open', () => {
    const sealer = new FrameSealer(key);
    const [a, b] = [sealer.seal(body(0)), sealer.seal(body(1))];
    const altered = Buffer.from(a);
    altered[0] = altered[0]! ^ 1;
    expect(new FrameOpener(key).open(altered)).toBeNull();
    expect(new FrameOpener(key).open(b)).toBeNull(); // out of order
    const opener = new FrameOpener(key);
    expect(opener.open(a)).not.toBeNull();
    expect(opener.open(a)).toBeNull(); // replayed
    expect(new FrameOpener(channelKey('a-cluster-secret!', 'c', 2, 1, 'aa', 'bb')).open(a)).toBeNull();
    expect(new FrameOpener(key).open(Buffer.alloc(3))).toBeNull();
  });

  it('loopback is 127.0.0.0/8, ::1 and localhost; anything else is reachable from elsewhere', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '[::1]']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '10.0.0.1', 'client1', '::', '128.0.0.1', '127.0.0.1.evil.example']) expect(isLoopback(h)).toBe(false);
  });
});
