/**
 * The peer mesh of one client process: sessions over channels.
 *
 * Each client dials every peer for its OUTGOING channel and accepts the peer's own connection as
 * the INCOMING one, so every directed channel i->j is exactly one connection and FIFO is TCP's.
 * Messages are only written on outgoing channels and only read from incoming ones; after the
 * handshake nothing else may flow the other way.
 *
 * A peer is "up" while both of its channels are. When either drops, the other is closed too, so
 * each up..down session runs on fresh connections in both directions and no message from an old
 * session is delivered in a new one.
 *
 * The parts: dialer.ts (our outgoing channels: dialing, redialing, dial problems), acceptor.ts
 * (peers' connections: before and after HELLO, refusals), peer-state.ts (what is known of each
 * peer), handshake.ts (what is said before a connection is admitted), transport.ts (plain TCP or
 * TLS with the cluster secret), channel.ts (one directed connection: frames, writes, heartbeats),
 * link.ts (a link held or delayed: `link hold`, `--delay`). What is left here is sessions: who is
 * up, heartbeat silence, and holding the messages that arrive in the moment before a session is up
 * on this side.
 *
 * Nothing in here throws out of a socket or timer callback: bad input closes the connection it came
 * on, with a log line, and the process goes on.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Logger } from 'pino';
import { slowConsumerBytes } from '../core/limits.js';
import type { Message, NodeId } from '../core/types.js';
import { Acceptor } from './acceptor.js';
import { encodeMessage } from './codec.js';
import { Dialer } from './dialer.js';
import { NetError, NetErrorKind, describeError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from './framing.js';
import { type Delay, checkDelay } from './link.js';
import type { MeshContext, Peer } from './peer-state.js';
import { type Security, channelPsk, listen } from './transport.js';

export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

export interface MeshOptions {
  readonly self: NodeId;
  /** Cluster name from the config; must match on every client. */
  readonly cluster: string;
  /** Genesis block hash (hex); must match on every client. */
  readonly genesis: string;
  /** Every other client (never `self`). */
  readonly peers: readonly PeerAddress[];
  /** Where to accept peers' connections; port 0 picks a free port (see `address()`). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Every client id of the cluster, `self` included; incoming messages are validated against it. */
  readonly nodes: ReadonlySet<NodeId>;
  /** Hold each outgoing message a random time in [minMs, maxMs] (every link, until `setLink` changes one). */
  readonly delay?: Delay;
  readonly maxFrameBytes?: number;
  readonly logger: Logger;
  /** Redial backoff: doubles from initialMs up to maxMs, with jitter. Default 50 ms .. 1000 ms. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A handshake (TLS and the project's own) must complete within this time. Default 2000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** The cluster secret: with it, every channel is TLS keyed by it (see transport.ts). */
  readonly secret?: string | null;
  /** This client's chain height now, announced in every handshake. */
  readonly height: () => number;
  /** Names this process run, announced in every handshake. */
  readonly incarnation: number;
  /**
   * An idle outgoing channel sends a heartbeat this often; an incoming channel silent for
   * `silenceMs` is closed, which ends the session (a link that drops packets without a reset
   * would otherwise stall every commit while TCP backs off). Defaults 500 ms and 3000 ms.
   */
  readonly heartbeat?: { readonly everyMs: number; readonly silenceMs: number };
  /** One-line rendering of a message for debug logs. Default: its type and ts. */
  readonly describe?: (m: Message) => string;
  /**
   * Resolves the peers' host names, again on every dial. Default: the system resolver
   * (getaddrinfo: /etc/hosts, then DNS), which is what finds a pod or task at its new address.
   */
  readonly lookup?: net.LookupFunction;
}

/** 'connecting': a connect or handshake is in progress; 'down': waiting to redial (or closed). */
export type OutgoingState = 'up' | 'connecting' | 'down';
export type IncomingState = 'up' | 'down';

export interface PeerStatus {
  readonly id: NodeId;
  readonly outgoing: OutgoingState;
  readonly incoming: IncomingState;
  /** Date.now() when either channel of this peer last changed state. */
  readonly since: number;
  /** Messages accepted by `send` for this peer (including those still held by delay injection). */
  readonly sent: number;
  /** Validated messages received from this peer. */
  readonly received: number;
  /** The last problem seen with this peer: a refusal, a connect error, bad input. */
  readonly lastError?: string;
}

/** Our link to one peer: whether it is held or delayed, and how many messages wait on it. */
export interface LinkStatus {
  readonly peer: NodeId;
  readonly held: boolean;
  readonly delay: Delay | null;
  /** Messages sent to the peer and not yet written, because the link is held or delayed. */
  readonly waiting: number;
  /** The session with the peer is up (messages sent now go out, or wait on the link). */
  readonly up: boolean;
}

/** A change to one link: hold or release it, or set its delay (null: none). */
export type LinkChange = { readonly held: boolean } | { readonly delay: Delay | null };

/** The names of a session's two connections, the same at both ends (traces match on them). */
export interface SessionChannels {
  readonly out: string;
  readonly in: string;
}

export type MeshEvents = {
  /** Both channels with `peer` are connected and handshaken; `height` is the peer's latest announced chain height. */
  peerUp: [peer: NodeId, height: number, incarnation: number, channels: SessionChannels];
  /** A channel with `peer` was lost after peerUp; fired once per up->down transition. */
  peerDown: [peer: NodeId];
  /** A validated message from `peer`, in channel order; only ever between peerUp and peerDown. */
  message: [from: NodeId, message: Message];
  /** A problem worth a person's attention (a refusal, a wrong secret), once until it is solved. */
  problem: [line: string];
};

const DEFAULT_BACKOFF = { initialMs: 50, maxMs: 1000 } as const;
/** Loopback handshakes take a millisecond; one stuck in a dead link must not delay a redial long. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000;
const DEFAULT_HEARTBEAT = { everyMs: 500, silenceMs: 3000 } as const;
/** Messages that may arrive before peerUp (the peer may see the session up a moment before we do). */
const MAX_HELD_MESSAGES = 10_000;

export class Mesh extends EventEmitter<MeshEvents> {
  readonly self: NodeId;
  private readonly o: MeshOptions;
  private readonly maxFrameBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly handshakeTimeoutMs: number;
  private readonly heartbeat: { everyMs: number; silenceMs: number };
  private readonly security: Security | null;
  private readonly describe: (m: Message) => string;
  private readonly log: Logger;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly dialer: Dialer;
  private readonly acceptor: Acceptor;
  /** The last message encoded and its frame: a broadcast hands the same object to every peer. */
  private lastEncoded: { readonly message: Message; readonly frame: Buffer } | null = null;
  private server: net.Server | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;

  constructor(options: MeshOptions) {
    super();
    this.o = options;
    this.self = options.self;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedBytes = slowConsumerBytes(this.maxFrameBytes);
    const backoff = { ...(options.backoff ?? DEFAULT_BACKOFF) };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.heartbeat = { ...(options.heartbeat ?? DEFAULT_HEARTBEAT) };
    this.security = options.secret ? { psk: channelPsk(options.secret, options.cluster) } : null;
    this.describe = options.describe ?? ((m) => `${m.type} ts=${m.ts}`);
    this.log = options.logger.child({ component: 'net', self: options.self });
    const delay: Delay | null = options.delay === undefined ? null : checkDelay(options.delay);
    if (!(backoff.initialMs > 0 && backoff.maxMs >= backoff.initialMs)) {
      throw new RangeError(`backoff: need 0 < initialMs <= maxMs, got ${backoff.initialMs}..${backoff.maxMs}`);
    }
    const now = Date.now();
    for (const p of options.peers) {
      if (p.id === this.self) throw new RangeError(`peers: client${p.id} is this client itself`);
      if (this.peers.has(p.id)) throw new RangeError(`peers: client${p.id} is listed twice`);
      if (!options.nodes.has(p.id)) throw new RangeError(`peers: client${p.id} is not in nodes`);
      this.peers.set(p.id, {
        id: p.id, host: p.host, port: p.port, out: null, in: null, up: false, height: 0, incarnation: 0, held: [], link: { held: false, delay },
        redial: { timer: null, attempt: 0, logged: new Set() }, dns: { unresolved: false, address: null }, since: now, sent: 0, received: 0, lastError: undefined,
      });
    }
    const context: MeshContext = {
      self: this.self, cluster: options.cluster, genesis: options.genesis, nodes: options.nodes,
      height: () => options.height(), incarnation: options.incarnation, peers: this.peers, security: this.security,
      maxFrameBytes: this.maxFrameBytes, maxQueuedBytes: this.maxQueuedBytes, handshakeTimeoutMs: this.handshakeTimeoutMs, lookup: options.lookup, log: this.log,
      isClosed: () => this.closed,
      touch: (peer) => this.touch(peer),
      checkUp: (peer) => this.checkUp(peer),
      sessionLost: (peer) => this.sessionLost(peer),
      received: (peer, message) => this.received(peer, message),
      problem: (line) => this.safeEmit('problem', line),
    };
    this.dialer = new Dialer(context, { backoff });
    this.acceptor = new Acceptor(context);
  }

  /** Listens, then dials every peer until the mesh is closed. Peers may start in any order. */
  async start(): Promise<void> {
    if (this.started) throw new NetError(NetErrorKind.BadState, 'the mesh was already started');
    this.started = true;
    const server = await listen({
      host: this.o.listen.host,
      port: this.o.listen.port,
      security: this.security,
      self: this.self,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      onTcpConnection: (socket) => this.acceptor.onTcpConnection(socket),
      onConnection: (socket, identity) => this.acceptor.accept(socket, identity),
      onRefused: (remote, problem) => this.acceptor.refusedEarly(remote, problem),
    });
    this.server = server;
    // After listening, a server error (rare: EMFILE on accept) must not crash the client.
    server.on('error', (err) => this.log.error({ err: describeError(err) }, 'listener error'));
    if (this.closed) {
      // close() ran while we were binding; it could not close a server that was not listening yet.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return;
    }
    const { host, port } = this.address();
    this.log.info({ host, port, tls: this.security !== null }, `listening on ${host}:${port}${this.security ? ' (TLS with the cluster secret)' : ''}`);
    for (const peer of this.peers.values()) this.dialer.dial(peer);
    this.heartbeatTimer = setInterval(() => this.beat(), Math.max(10, Math.floor(this.heartbeat.everyMs / 2)));
  }

  /** The address actually listened on (useful with port 0). */
  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (a === null || a === undefined || typeof a === 'string') {
      throw new NetError(NetErrorKind.BadState, 'the mesh is not listening (call start() first)');
    }
    return { host: a.address, port: a.port };
  }

  /**
   * Queues `message` on the outgoing channel to `to`. Returns false (and drops the message) when
   * that channel is not up. Messages sent in the same tick are written together.
   */
  send(to: NodeId, message: Message): boolean {
    const peer = this.peers.get(to);
    const out = peer?.out;
    // Only within a session: before peerUp the caller has not yet said its first words on it.
    if (peer === undefined || this.closed || !peer.up || !out?.welcomed) {
      if (this.log.isLevelEnabled('debug')) {
        const why = peer === undefined ? 'not a peer' : this.closed ? 'mesh closed' : !peer.up ? 'session not up' : 'outgoing channel not up';
        this.log.debug({ peer: to }, `dropped ${this.self}->${to} ${this.describe(message)}: ${why}`);
      }
      return false;
    }
    let frame: Buffer;
    try {
      if (message !== this.lastEncoded?.message) this.lastEncoded = { message, frame: encodeFrame(encodeMessage(message), this.maxFrameBytes) };
      frame = this.lastEncoded.frame;
    } catch (e) {
      // A channel that silently skips a message is no longer FIFO-reliable, which both protocols
      // need: stop it (nothing more goes out on it) and end the session, so that the peer is
      // re-synchronised on a new connection. The session ends outside the caller's step.
      const problem = `cannot send ${this.describe(message)}: ${describeError(e)}`;
      this.log.error({ peer: to, err: describeError(e) }, `cannot send ${this.self}->${to} ${this.describe(message)}: ${describeError(e)}; reconnecting`);
      peer.lastError = problem;
      setImmediate(() => out.channel.close({ kind: NetErrorKind.FrameTooLarge, message: problem }));
      return false;
    }
    peer.sent++;
    out.sink.send(frame);
    return true;
  }

  /**
   * Writes what was sent so far on every channel now, one write each, instead of after the tick:
   * the daemon calls it once a step's effects are carried out, before the work that only follows
   * them (the trace), so that a RELEASE never waits behind it. `first`'s channel is written
   * first: a write to a socket costs tens of microseconds, and the peer next in line for the lock
   * should not wait for the others' RELEASE to be written before its own.
   */
  flush(first: NodeId | null = null): void {
    if (first !== null) this.peers.get(first)?.out?.channel.flush();
    for (const peer of this.peers.values()) peer.out?.channel.flush();
  }

  status(): PeerStatus[] {
    return [...this.peers.values()]
      .sort((a, b) => a.id - b.id)
      .map((p) => ({
        id: p.id,
        outgoing: p.out === null ? 'down' : p.out.welcomed ? 'up' : 'connecting',
        incoming: p.in === null ? 'down' : 'up',
        since: p.since,
        sent: p.sent,
        received: p.received,
        ...(p.lastError === undefined ? {} : { lastError: p.lastError }),
      }));
  }

  /**
   * Holds, releases or delays our link to `peer`, from now until changed again, across
   * reconnections. A held link keeps every message in order and writes none until released;
   * heartbeats still go out, so the peer does not take the silence for a dead link.
   */
  setLink(peer: NodeId, change: LinkChange): LinkStatus {
    const p = this.peers.get(peer);
    if (p === undefined) throw new NetError(NetErrorKind.BadState, `client${peer} is not a peer of client${this.self}`);
    if ('held' in change) p.link.held = change.held;
    else p.link.delay = change.delay === null ? null : checkDelay(change.delay);
    const out = p.out;
    if (out?.welcomed) {
      const link = out.link ?? (p.link.held || p.link.delay !== null ? this.dialer.putLink(p, out) : null);
      link?.changed();
    }
    const what = p.link.held ? 'held' : 'open';
    this.log.info({ peer, held: p.link.held, delay: p.link.delay }, `link to client${peer}: ${what}${p.link.delay === null ? '' : `, delayed ${p.link.delay.minMs}-${p.link.delay.maxMs} ms`}`);
    return this.linkStatus(p);
  }

  /** Every link of this client, by peer. */
  links(): LinkStatus[] {
    return [...this.peers.values()].sort((a, b) => a.id - b.id).map((p) => this.linkStatus(p));
  }

  private linkStatus(p: Peer): LinkStatus {
    return { peer: p.id, held: p.link.held, delay: p.link.delay, waiting: p.out?.link?.waiting ?? 0, up: p.up };
  }

  /**
   * Closes the listener, every connection and every timer, and resolves once all of them are gone,
   * so nothing keeps the process alive. No events are fired from here on.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const sockets: net.Socket[] = this.acceptor.dropUnidentified();
    for (const peer of this.peers.values()) {
      if (peer.redial.timer !== null) clearTimeout(peer.redial.timer);
      peer.redial.timer = null;
      for (const ch of [peer.out?.channel, peer.in?.channel]) if (ch) sockets.push(ch.socket);
      if (peer.out) this.dialer.forget(peer.out);
      peer.out?.channel.close();
      peer.in?.channel.close();
      peer.out = null;
      peer.in = null;
      peer.held = [];
      peer.up = false;
    }
    const gone = sockets.map((s) => new Promise<void>((resolve) => {
      if (s.closed) resolve();
      else s.once('close', () => resolve());
      s.destroy();
    }));
    const server = this.server;
    if (server !== null && server.listening) gone.push(new Promise<void>((resolve) => server.close(() => resolve())));
    await Promise.all(gone);
    this.log.info('mesh closed');
  }

  // ---- liveness -------------------------------------------------------------------------------

  /** Heartbeats on idle outgoing channels; silent incoming channels are closed. */
  private beat(): void {
    for (const peer of this.peers.values()) {
      if (peer.out?.welcomed) peer.out.channel.heartbeat(this.heartbeat.everyMs);
      const silent = peer.in?.channel.silentFor() ?? 0;
      if (peer.in !== null && silent >= this.heartbeat.silenceMs) {
        const problem = `client${peer.id} has been silent for ${(silent / 1000).toFixed(1)} s (no heartbeat): closing the session to reconnect`;
        peer.lastError = problem;
        this.log.warn({ peer: peer.id }, problem);
        peer.in.channel.close();
      }
    }
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** Fires peerUp once both channels are up, then delivers what arrived before it. */
  private checkUp(peer: Peer): void {
    if (peer.up || this.closed || !peer.out?.welcomed || peer.in === null) return;
    peer.up = true;
    this.log.info({ peer: peer.id }, `client${peer.id} is up`);
    this.safeEmit('peerUp', peer.id, peer.height, peer.incarnation, { out: `${this.self}>${peer.id}/${peer.out.conn}`, in: `${peer.id}>${this.self}/${peer.in.conn}` });
    const held = peer.held;
    peer.held = [];
    for (const m of held) {
      if (!peer.up) return; // a listener closed the mesh or the session dropped meanwhile
      this.safeEmit('message', peer.id, m);
    }
  }

  /** A validated message from `peer`: delivered within a session, held in the moment before one. */
  private received(peer: Peer, message: Message): void {
    peer.received++;
    if (peer.up) {
      this.safeEmit('message', peer.id, message);
      return;
    }
    // The peer can see the session up (and send) a moment before our own WELCOME arrives.
    if (peer.held.length >= MAX_HELD_MESSAGES) {
      peer.lastError = `client${peer.id} sent more than ${MAX_HELD_MESSAGES} messages before the session was up`;
      this.log.warn({ peer: peer.id }, `closing incoming channel from client${peer.id}: ${peer.lastError}`);
      peer.in?.channel.close();
      return;
    }
    peer.held.push(message);
  }

  /** Either channel dropped: end the session, close the other channel too, fire peerDown once. */
  private sessionLost(peer: Peer): void {
    if (!peer.up) return;
    peer.up = false;
    peer.out?.channel.close();
    peer.in?.channel.close();
    if (this.closed) return;
    this.log.info({ peer: peer.id }, `client${peer.id} is down`);
    this.safeEmit('peerDown', peer.id);
  }

  /** Listener exceptions are the listener's bug; they must not tear down the connection or the process. */
  private safeEmit<K extends keyof MeshEvents>(event: K, ...args: MeshEvents[K]): void {
    try {
      // TypeScript cannot relate a generic key to EventEmitter's conditional parameter type; the
      // signature below is exactly what MeshEvents declares.
      const emit = this.emit as (this: Mesh, e: K, ...a: MeshEvents[K]) => boolean;
      emit.call(this, event, ...args);
    } catch (e) {
      this.log.error({ event, err: e instanceof Error ? e.stack : String(e) }, `a '${event}' listener threw: ${describeError(e)}`);
    }
  }

  private touch(peer: Peer): void {
    peer.since = Date.now();
  }
}
