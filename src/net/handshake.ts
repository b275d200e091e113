/**
 * The handshake of one connection as two small pure state machines, one per end: frames in, what
 * to write and whether to admit, refuse or drop the connection out. No sockets, no timers: the
 * mesh carries out what they say, and tests drive them with bytes alone.
 *
 * The dialer writes HELLO (protocol version, cluster, genesis hash, who it is and whom it meant to
 * reach, its chain height and process incarnation, a name for the connection); the acceptor
 * answers WELCOME (who it is, its height and incarnation) or REFUSE (why, in one line for both
 * logs). With a cluster secret this all happens inside TLS, and the acceptor also checks that the
 * TLS identity the dialer presented is the client its HELLO claims to be.
 */
import type { NodeId } from '../core/types.js';
import { type Hello, PROTOCOL_VERSION, type Refuse, type Welcome, decodeHandshake, encodeHandshake } from './codec.js';
import { NetError, NetErrorKind } from './errors.js';
import { encodeFrame } from './framing.js';

export interface ClusterIdentity {
  readonly self: NodeId;
  /** Cluster name from the config; must match on every client. */
  readonly cluster: string;
  /** Genesis block hash (hex): identifies the config's balances. */
  readonly genesis: string;
}

export interface AcceptorContext extends ClusterIdentity {
  /** Every other client of the cluster. */
  readonly peers: ReadonlySet<NodeId>;
  readonly height: number;
  readonly incarnation: number;
  /** With TLS: the identity the dialer presented (`client<n>`); null on a plain connection. */
  readonly tlsIdentity: string | null;
  /** Whether `peer` already has an incoming channel here (a second one is refused). */
  readonly connected: (peer: NodeId) => boolean;
}

export type AcceptorStep =
  /** Write `frame` (the WELCOME); the connection is `hello.node`'s incoming channel from now on. */
  | { readonly kind: 'admit'; readonly hello: Hello; readonly frame: Buffer }
  /** Write `frame` (the REFUSE), then end the connection; `peer` is who the dialer said it was. */
  | { readonly kind: 'refuse'; readonly peer: NodeId | null; readonly reason: string; readonly frame: Buffer }
  /** Close without an answer: the bytes were not a handshake at all. */
  | { readonly kind: 'drop'; readonly error: NetError };

/** The identity a client presents in TLS: the PSK identity names the connecting client. */
export const tlsIdentityOf = (id: NodeId): string => `client${id}`;

/** Shortest prefixes (at least 8 characters) that tell two hashes apart, for readable logs. */
function distinguish(a: string, b: string): [string, string] {
  let n = 8;
  while (n < Math.max(a.length, b.length) && a.slice(0, n) === b.slice(0, n)) n += 8;
  return [a.slice(0, n) || '(empty)', b.slice(0, n) || '(empty)'];
}

/** Why a HELLO must be refused, as one line for both logs; null to admit it. */
export function refusalOf(hello: Hello, ctx: AcceptorContext): string | null {
  const n = hello.node;
  if (hello.cluster !== ctx.cluster) {
    return `client${n} has a different config: cluster ${JSON.stringify(hello.cluster)} != ${JSON.stringify(ctx.cluster)}; start every client with the same config`;
  }
  if (hello.genesis !== ctx.genesis) {
    const [theirs, ours] = distinguish(hello.genesis, ctx.genesis);
    return `client${n} has a different config: genesis ${theirs} != ${ours}; start every client with the same config`;
  }
  if (n === ctx.self) return `client${n} is this client's own id; every client needs its own id`;
  if (!ctx.peers.has(n)) {
    const known = [ctx.self, ...ctx.peers].sort((a, b) => a - b).join(', ');
    return `unknown client${n}: this cluster has clients ${known}`;
  }
  if (hello.to !== ctx.self) return `client${n} meant to dial client${hello.to} but reached client${ctx.self}; check the peer addresses in the config`;
  if (ctx.tlsIdentity !== null && ctx.tlsIdentity !== tlsIdentityOf(n)) {
    return `the connection presented TLS identity ${JSON.stringify(ctx.tlsIdentity)} but claims to be client${n}: a client may only connect as itself`;
  }
  if (ctx.connected(n)) return `client${n} is already connected`;
  return null;
}

/** The acceptor's side: the first frame on a connection is a HELLO, and decides its fate. */
export function acceptHello(body: Uint8Array, ctx: AcceptorContext): AcceptorStep {
  const decoded = decodeHandshake(body);
  const refuse = (peer: NodeId | null, reason: string): AcceptorStep => ({ kind: 'refuse', peer, reason, frame: encodeFrame(encodeHandshake({ type: 'REFUSE', reason } satisfies Refuse)) });
  if (!decoded.ok) {
    // Another version is told why, so that an upgrade in progress is easy to recognise.
    if (decoded.error.kind === NetErrorKind.ProtocolMismatch) return refuse(null, decoded.error.message);
    return { kind: 'drop', error: decoded.error };
  }
  const hello = decoded.value;
  if (hello.type !== 'HELLO') return { kind: 'drop', error: NetError.badHandshake(`expected HELLO, got ${hello.type}`) };
  const reason = refusalOf(hello, ctx);
  if (reason !== null) return refuse(hello.node, reason);
  const welcome: Welcome = { type: 'WELCOME', node: ctx.self, height: ctx.height, incarnation: ctx.incarnation };
  return { kind: 'admit', hello, frame: encodeFrame(encodeHandshake(welcome)) };
}

export interface DialerContext extends ClusterIdentity {
  /** The client this connection is meant to reach. */
  readonly peer: NodeId;
  /** host:port, for messages. */
  readonly where: string;
  readonly height: number;
  readonly incarnation: number;
  /** This connection's name (hex), drawn by the dialer. */
  readonly conn: string;
}

export type DialerStep =
  /** The acceptor admitted us: this connection is our outgoing channel to the peer. */
  | { readonly kind: 'welcomed'; readonly welcome: Welcome }
  /** The acceptor said no, and why. */
  | { readonly kind: 'refused'; readonly problem: string }
  /** Not a handshake answer, or the wrong peer answered. */
  | { readonly kind: 'fail'; readonly error: NetError };

/** The dialer's side: it writes `hello` first, then reads exactly one answer. */
export class DialerHandshake {
  readonly hello: Buffer;
  private answered = false;

  constructor(private readonly ctx: DialerContext) {
    const hello: Hello = {
      type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: ctx.cluster, node: ctx.self, to: ctx.peer, genesis: ctx.genesis,
      height: ctx.height, incarnation: ctx.incarnation, conn: ctx.conn,
    };
    this.hello = encodeFrame(encodeHandshake(hello));
  }

  receive(body: Uint8Array): DialerStep {
    const { peer, where } = this.ctx;
    // An outgoing channel carries exactly one frame towards us: the answer to our HELLO.
    if (this.answered) return { kind: 'fail', error: new NetError(NetErrorKind.UnexpectedData, `client${peer} sent unexpected data after WELCOME on our outgoing channel; reconnecting`) };
    this.answered = true;
    const decoded = decodeHandshake(body);
    if (!decoded.ok) return { kind: 'fail', error: new NetError(decoded.error.kind, `bad handshake answer from client${peer} (${where}): ${decoded.error.message}`) };
    const frame = decoded.value;
    switch (frame.type) {
      case 'REFUSE':
        return { kind: 'refused', problem: `client${peer} (${where}) refused the connection: ${frame.reason}` };
      case 'WELCOME':
        if (frame.node !== peer) {
          return { kind: 'fail', error: new NetError(NetErrorKind.BadHandshake, `dialed client${peer} at ${where} but client${frame.node} answered; check the peer addresses in the config`) };
        }
        return { kind: 'welcomed', welcome: frame };
      case 'HELLO':
        return { kind: 'fail', error: new NetError(NetErrorKind.BadHandshake, `bad handshake answer from client${peer} (${where}): expected WELCOME or REFUSE, got HELLO`) };
    }
  }
}
