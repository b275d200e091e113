/**
 * The sockets under the channels: plain TCP, or, with a cluster secret, TLS 1.2 with a pre-shared
 * key. Node's TLS does the cryptography: the key is derived from the secret and the cluster name
 * (HKDF-SHA256), the PSK identity names the connecting client, and only ECDHE-PSK suites are
 * offered, so every connection has its own keys (forward secrecy) and no certificate is needed.
 * Everything after the TCP connect, the handshake of handshake.ts included, travels inside TLS.
 *
 * What TLS gives: only holders of the secret take part; what they say cannot be altered,
 * replayed or reordered on the way; nobody on the path can read it. What it does not: a member
 * with the secret that lies (the members of a cluster are trusted).
 */
import { hkdfSync } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { NodeId } from '../core/types.js';
import { encodeHandshake } from './codec.js';
import { NetError, NetErrorKind, describeError } from './errors.js';
import { encodeFrame } from './framing.js';
import { tlsIdentityOf } from './handshake.js';

/** ECDHE-PSK suites only: an ephemeral key exchange authenticated by the pre-shared key. */
export const PSK_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES256-CBC-SHA384:ECDHE-PSK-AES128-CBC-SHA256';
const TLS_VERSION = 'TLSv1.2';
const KEEPALIVE_MS = 5000;

/** The key every channel of a cluster is keyed with: the secret alone would do; the cluster name separates clusters that share one. */
export function channelPsk(secret: string, cluster: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, cluster, 'lamport-ledger channel psk v1', 32));
}

/** Loopback addresses: listening on one of these is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

export interface Security {
  readonly psk: Buffer;
}

/** A TLS ClientHello starts with a handshake record (22) of version 3.x. */
const looksLikeTls = (chunk: Buffer): boolean => chunk.length >= 2 && chunk[0] === 0x16 && chunk[1] === 0x03;

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly security: Security | null;
  readonly self: NodeId;
  /** Gives up on a TLS handshake that has not completed by then. */
  readonly handshakeTimeoutMs: number;
  /** A connection ready for the project's own handshake; `identity` is its TLS identity (null without TLS). */
  readonly onConnection: (socket: net.Socket, identity: string | null) => void;
  /** Every raw TCP connection, before TLS: the mesh bounds how many wait for a handshake. */
  readonly onTcpConnection: (socket: net.Socket) => void;
  /** A connection that failed before it could be handed over, with one line saying why. */
  readonly onRefused: (remote: string, problem: string) => void;
}

/** Listens; rejects with a ListenFailed NetError naming the address (and a hint on EADDRINUSE). */
export async function listen(o: ListenOptions): Promise<net.Server> {
  let server: net.Server;
  if (o.security === null) {
    server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS }, (socket) => {
      o.onTcpConnection(socket);
      // A TLS dialer here means that one side has a secret and the other none: say so.
      socket.once('data', (first: Buffer) => {
        if (looksLikeTls(first)) {
          const reason = 'it speaks TLS (it has a cluster secret) but this client has none; set the same secret on every client';
          o.onRefused(remoteOf(socket), reason);
          // A plain answer, not a reset: the dialer's TLS then says "not TLS", which names the cause.
          socket.end(encodeFrame(encodeHandshake({ type: 'REFUSE', reason })));
          return;
        }
        socket.unshift(first);
        o.onConnection(socket, null);
      });
    });
  } else {
    const psk = o.security.psk;
    const identities = new WeakMap<tls.TLSSocket, string>();
    const secure = tls.createServer({
      ciphers: PSK_CIPHERS,
      minVersion: TLS_VERSION,
      maxVersion: TLS_VERSION,
      pskIdentityHint: tlsIdentityOf(o.self),
      handshakeTimeout: o.handshakeTimeoutMs,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
      pskCallback: (socket, identity) => {
        if (!/^client\d{1,9}$/.test(identity)) return null;
        identities.set(socket, identity);
        return psk;
      },
    }, (socket) => o.onConnection(socket, identities.get(socket) ?? null));
    secure.on('connection', (raw: net.Socket) => o.onTcpConnection(raw));
    secure.on('tlsClientError', (err, socket) => o.onRefused(remoteOf(socket), describeAcceptFailure(err)));
    server = secure;
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const hint = err.code === 'EADDRINUSE' ? ' (is another client already running on that port?)' : '';
      reject(new NetError(NetErrorKind.ListenFailed, `cannot listen on ${o.host}:${o.port}: ${describeError(err)}${hint}`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(o.port, o.host);
  });
  return server;
}

export interface Dialed {
  readonly socket: net.Socket;
  /** The event after which the project's handshake may start ('secureConnect' with TLS). */
  readonly ready: 'connect' | 'secureConnect';
  /** With TLS: the identity the acceptor hinted at (it names itself). */
  readonly hint: () => string | null;
}

/**
 * Connects to `host`:`port`. A host name is looked up again on every call (Node keeps no DNS
 * cache), so a peer that comes back at a new address is found; `lookup` replaces the system
 * resolver (tests). The socket's 'lookup' event tells what the name resolved to, or why it did not.
 */
export function dial(host: string, port: number, security: Security | null, self: NodeId, lookup?: net.LookupFunction): Dialed {
  const resolver = lookup === undefined ? {} : { lookup };
  if (security === null) {
    return { socket: net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS, ...resolver }), ready: 'connect', hint: () => null };
  }
  let hint: string | null = null;
  const socket = tls.connect({
    host, port, ...resolver,
    ciphers: PSK_CIPHERS, minVersion: TLS_VERSION, maxVersion: TLS_VERSION,
    // No certificate in PSK suites: the key is what authenticates the acceptor.
    checkServerIdentity: () => undefined,
    pskCallback: (given) => {
      hint = given;
      return { psk: security.psk, identity: tlsIdentityOf(self) };
    },
  });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_MS);
  return { socket, ready: 'secureConnect', hint: () => hint };
}

const remoteOf = (socket: net.Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

const codeOf = (err: unknown): string => String((err as NodeJS.ErrnoException | undefined)?.code ?? '');

/** Why a TLS handshake from a dialer failed, for the acceptor's log. */
function describeAcceptFailure(err: Error): string {
  const code = codeOf(err);
  if (/BAD_RECORD_MAC|DECRYPT/.test(code)) return 'its cluster secret differs from this client\'s; set the same secret on every client';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG|UNEXPECTED_MESSAGE/.test(code)) {
    return 'it does not speak TLS (no cluster secret set on that client?); set the same secret on every client';
  }
  if (/PSK_IDENTITY|UNKNOWN_PSK/.test(code)) return 'it presented a TLS identity that is not a client of this cluster';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || /timed out/i.test(err.message)) return 'no TLS handshake in time';
  return `TLS handshake failed: ${describeError(err)}`;
}

/**
 * Why connecting to a peer failed before the project's handshake could start, for the dialer's
 * log; null when it is plain network trouble (refused, reset, unreachable) said as it is.
 */
export function describeDialFailure(err: Error, secured: boolean): string | null {
  const code = codeOf(err);
  if (!secured) return null;
  if (/BAD_RECORD_MAC|DECRYPT/.test(code)) return 'rejected the TLS handshake: its cluster secret differs from this client\'s; set the same secret on every client';
  if (/WRONG_VERSION_NUMBER|UNEXPECTED_MESSAGE|PACKET_LENGTH_TOO_LONG/.test(code)) {
    return 'does not speak TLS: it has no cluster secret; set the same secret on every client';
  }
  if (/PSK_IDENTITY|UNKNOWN_PSK|HANDSHAKE_FAILURE/.test(code)) return `refused this client's TLS identity (${describeError(err)})`;
  return null;
}
