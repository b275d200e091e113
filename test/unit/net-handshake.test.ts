/**
 * The handshake state machines, driven with bytes alone (no sockets), as the core is.
 */
import { describe, expect, it } from 'vitest';
import { type HandshakeFrame, type Hello, PROTOCOL_VERSION, decodeHandshake, encodeHandshake, encodeMessage } from '../../src/net/codec.js';
import { NetErrorKind } from '../../src/net/errors.js';
import { FrameDecoder } from '../../src/net/framing.js';
import { type AcceptorContext, DialerHandshake, acceptHello, tlsIdentityOf } from '../../src/net/handshake.js';

const GENESIS = 'ab'.repeat(32);

const ctx = (over: Partial<AcceptorContext> = {}): AcceptorContext => ({
  self: 1, cluster: 'c', genesis: GENESIS, peers: new Set([2, 3]), height: 7, incarnation: 11, tlsIdentity: null, connected: () => false, ...over,
});

const hello = (over: Partial<Hello> = {}): Hello => ({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'c', node: 2, to: 1, genesis: GENESIS, height: 3, incarnation: 22, conn: 'ab12', ...over });

/** The one frame body in a framed buffer. */
function bodyOf(frame: Buffer): HandshakeFrame {
  const [body] = new FrameDecoder().push(frame);
  const d = decodeHandshake(body!);
  if (!d.ok) throw new Error(d.error.message);
  return d.value;
}

describe('the acceptor: a HELLO decides the connection', () => {
  it('admits a HELLO of this cluster and answers WELCOME with its own height and incarnation', () => {
    const step = acceptHello(encodeHandshake(hello()), ctx());
    expect(step.kind).toBe('admit');
    if (step.kind !== 'admit') return;
    expect(step.hello).toEqual(hello());
    expect(bodyOf(step.frame)).toEqual({ type: 'WELCOME', node: 1, height: 7, incarnation: 11 });
  });

  it.each([
    ['another cluster', hello({ cluster: 'd' }), /client2 has a different config: cluster "d" != "c"/],
    ['another genesis', hello({ genesis: 'cd'.repeat(32) }), /client2 has a different config: genesis cdcdcdcd != abababab/],
    ['its own id', hello({ node: 1 }), /client1 is this client's own id/],
    ['an unknown client', hello({ node: 9 }), /unknown client9: this cluster has clients 1, 2, 3/],
    ['the wrong target', hello({ to: 3 }), /client2 meant to dial client3 but reached client1/],
  ])('refuses %s with a REFUSE saying why', (_what, h, reason) => {
    const step = acceptHello(encodeHandshake(h), ctx());
    expect(step.kind).toBe('refuse');
    if (step.kind !== 'refuse') return;
    expect(step.reason).toMatch(reason);
    expect(bodyOf(step.frame)).toEqual({ type: 'REFUSE', reason: step.reason });
  });

  it('refuses a second incoming channel from a client already connected', () => {
    const step = acceptHello(encodeHandshake(hello()), ctx({ connected: (n) => n === 2 }));
    expect(step).toMatchObject({ kind: 'refuse', peer: 2, reason: 'client2 is already connected' });
  });

  it('with TLS, admits a client whose TLS identity is the client its HELLO claims, and refuses one presenting another client\'s identity', () => {
    expect(acceptHello(encodeHandshake(hello()), ctx({ tlsIdentity: tlsIdentityOf(2) })).kind).toBe('admit');
    const step = acceptHello(encodeHandshake(hello()), ctx({ tlsIdentity: 'client3' }));
    expect(step).toMatchObject({ kind: 'refuse', peer: 2 });
    if (step.kind === 'refuse') expect(step.reason).toBe('the connection presented TLS identity "client3" but claims to be client2: a client may only connect as itself');
  });

  it('answers another protocol version with a REFUSE naming both versions', () => {
    const step = acceptHello(encodeHandshake({ ...hello(), protocol: 99 }), ctx());
    expect(step).toMatchObject({ kind: 'refuse', peer: null });
    if (step.kind === 'refuse') expect(step.reason).toMatch(`protocol version 99 is not supported (this client speaks version ${PROTOCOL_VERSION})`);
  });

  it('drops, without an answer, bytes that are no handshake at all or a message before the handshake', () => {
    expect(acceptHello(Buffer.from('garbage'), ctx())).toMatchObject({ kind: 'drop', error: { kind: NetErrorKind.BadFrame } });
    expect(acceptHello(encodeMessage({ type: 'REQUEST', ts: 1, height: 0, view: 0 }), ctx())).toMatchObject({ kind: 'drop', error: { kind: NetErrorKind.BadHandshake } });
    expect(acceptHello(encodeHandshake({ type: 'WELCOME', node: 2, height: 0, incarnation: 0 }), ctx())).toMatchObject({ kind: 'drop', error: { kind: NetErrorKind.BadHandshake } });
  });
});

describe('the dialer: writes HELLO, reads exactly one answer', () => {
  const dialer = (): DialerHandshake => new DialerHandshake({ self: 2, cluster: 'c', genesis: GENESIS, peer: 1, where: 'h:1', height: 3, incarnation: 22, conn: 'ab12' });

  it('writes a HELLO naming itself, its target, its height, its incarnation and the connection', () => {
    expect(bodyOf(dialer().hello)).toEqual(hello());
  });

  it('is welcomed by the client it dialed', () => {
    const step = dialer().receive(encodeHandshake({ type: 'WELCOME', node: 1, height: 7, incarnation: 11 }));
    expect(step).toEqual({ kind: 'welcomed', welcome: { type: 'WELCOME', node: 1, height: 7, incarnation: 11 } });
  });

  it('takes a REFUSE as refused, with the reason', () => {
    expect(dialer().receive(encodeHandshake({ type: 'REFUSE', reason: 'no' }))).toEqual({ kind: 'refused', problem: 'client1 (h:1) refused the connection: no' });
  });

  it('fails when another client answers, and on anything after the answer', () => {
    expect(dialer().receive(encodeHandshake({ type: 'WELCOME', node: 3, height: 0, incarnation: 0 }))).toMatchObject({
      kind: 'fail', error: { kind: NetErrorKind.BadHandshake, message: 'dialed client1 at h:1 but client3 answered; check the peer addresses in the config' },
    });
    const d = dialer();
    d.receive(encodeHandshake({ type: 'WELCOME', node: 1, height: 7, incarnation: 11 }));
    expect(d.receive(encodeHandshake({ type: 'WELCOME', node: 1, height: 7, incarnation: 11 }))).toMatchObject({ kind: 'fail', error: { kind: NetErrorKind.UnexpectedData } });
  });

  it('fails on an answer that is not a handshake frame', () => {
    expect(dialer().receive(Buffer.from([0x81]))).toMatchObject({ kind: 'fail', error: { kind: NetErrorKind.BadFrame } });
    expect(dialer().receive(encodeHandshake(hello()))).toMatchObject({ kind: 'fail', error: { kind: NetErrorKind.BadHandshake } });
  });
});
