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
 * The parts: handshake.ts (what is said before a connection is admitted), transport.ts (plain TCP
 * or TLS with the cluster secret), channel.ts (one directed connection: frames, writes,
 * heartbeats), delay.ts (`--delay`). What is left here is who is up, redialing, and holding the
 * messages that arrive in the moment before a session is up on this side.
 *
 * Nothing in here throws out of a socket or timer callback: bad input closes the connection it came
 * on, with a log line, and the process goes on.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Logger } from 'pino';
import { MAX_UNIDENTIFIED_CONNECTIONS, slowConsumerBytes } from '../core/limits.js';
import type { Message, NodeId } from '../core/types.js';
import { Channel, type ChannelProblem, type FrameSink } from './channel.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { type Delay, DelayedSink, checkDelay } from './delay.js';
import { NetError, NetErrorKind, describeError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from './framing.js';
import { DialerHandshake, acceptHello, tlsIdentityOf } from './handshake.js';
import { type Security, channelPsk, describeDialFailure, dial, listen } from './transport.js';

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
  /** Hold each outgoing message for a random time in [minMs, maxMs], never reordering a channel. */
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
/** Bound on remembered "already logged" problems, so a hostile dialer cannot grow them forever. */
const MAX_LOGGED_PROBLEMS = 1000;

/** Our outgoing channel to a peer, from the connect until it is closed. */
interface Outgoing {
  readonly channel: Channel;
  readonly conn: string;
  readonly where: string;
  readonly hint: () => string | null;
  handshake: DialerHandshake | null;
  welcomed: boolean;
  /** Where messages go: the channel, or a delay queue in front of it. */
  sink: FrameSink;
  delayed: DelayedSink | null;
  timer: NodeJS.Timeout | null;
}

/** A connection accepted here, before and after its HELLO. */
interface Incoming {
  readonly channel: Channel;
  readonly remote: string;
  readonly identity: string | null;
  /** Set once the HELLO is admitted. */
  peer: Peer | null;
  conn: string;
  /** A REFUSE was written: whatever else arrives is ignored until the socket is gone. */
  refused: boolean;
}

interface Peer {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  out: Outgoing | null;
  in: Incoming | null;
  /** peerUp was fired and peerDown not yet. */
  up: boolean;
  /** The peer's chain height and process run, from the later of its two handshakes. */
  height: number;
  incarnation: number;
  /** Messages received on the incoming channel before peerUp; delivered right after it. */
  held: Message[];
  redial: { timer: NodeJS.Timeout | null; attempt: number; logged: Set<string> };
  since: number;
  sent: number;
  received: number;
  lastError: string | undefined;
}

const remoteOf = (socket: net.Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

export class Mesh extends EventEmitter<MeshEvents> {
  readonly self: NodeId;
  private readonly o: MeshOptions;
  private readonly delay: Delay | null;
  private readonly maxFrameBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly handshakeTimeoutMs: number;
  private readonly heartbeat: { everyMs: number; silenceMs: number };
  private readonly security: Security | null;
  private readonly describe: (m: Message) => string;
  private readonly log: Logger;
  private readonly peers = new Map<NodeId, Peer>();
  /** TCP connections accepted that have not completed a handshake, by remote address, oldest first. */
  private readonly unidentified = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout }>();
  /** "node|reason" refusals already logged at warn. */
  private readonly loggedRefusals = new Set<string>();
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
    this.backoff = { ...(options.backoff ?? DEFAULT_BACKOFF) };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.heartbeat = { ...(options.heartbeat ?? DEFAULT_HEARTBEAT) };
    this.security = options.secret ? { psk: channelPsk(options.secret, options.cluster) } : null;
    this.describe = options.describe ?? ((m) => `${m.type} ts=${m.ts}`);
    this.log = options.logger.child({ component: 'net', self: options.self });
    this.delay = options.delay === undefined ? null : checkDelay(options.delay);
    if (!(this.backoff.initialMs > 0 && this.backoff.maxMs >= this.backoff.initialMs)) {
      throw new RangeError(`backoff: need 0 < initialMs <= maxMs, got ${this.backoff.initialMs}..${this.backoff.maxMs}`);
    }
    const now = Date.now();
    for (const p of options.peers) {
      if (p.id === this.self) throw new RangeError(`peers: client${p.id} is this client itself`);
      if (this.peers.has(p.id)) throw new RangeError(`peers: client${p.id} is listed twice`);
      if (!options.nodes.has(p.id)) throw new RangeError(`peers: client${p.id} is not in nodes`);
      this.peers.set(p.id, {
        id: p.id, host: p.host, port: p.port, out: null, in: null, up: false, height: 0, incarnation: 0, held: [],
        redial: { timer: null, attempt: 0, logged: new Set() }, since: now, sent: 0, received: 0, lastError: undefined,
      });
    }
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
      onTcpConnection: (socket) => this.onTcpConnection(socket),
      onConnection: (socket, identity) => this.accept(socket, identity),
      onRefused: (remote, problem) => this.refusedEarly(remote, problem),
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
    for (const peer of this.peers.values()) this.dial(peer);
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
   * Closes the listener, every connection and every timer, and resolves once all of them are gone,
   * so nothing keeps the process alive. No events are fired from here on.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const sockets: net.Socket[] = [];
    for (const { socket, timer } of this.unidentified.values()) {
      clearTimeout(timer);
      sockets.push(socket);
    }
    this.unidentified.clear();
    for (const peer of this.peers.values()) {
      if (peer.redial.timer !== null) clearTimeout(peer.redial.timer);
      peer.redial.timer = null;
      for (const ch of [peer.out?.channel, peer.in?.channel]) if (ch) sockets.push(ch.socket);
      if (peer.out) this.forgetOutgoing(peer.out);
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

  // ---- outgoing channels ----------------------------------------------------------------------

  private dial(peer: Peer): void {
    peer.redial.timer = null;
    if (this.closed || peer.out !== null) return;
    const where = `${peer.host}:${peer.port}`;
    const { socket, ready, hint } = dial(peer.host, peer.port, this.security, this.self);
    const channel = new Channel(socket, {
      maxQueuedBytes: this.maxQueuedBytes,
      onFrame: (body) => this.onAnswer(peer, out, body),
      onClose: (problem) => this.outgoingClosed(peer, out, problem),
    });
    const out: Outgoing = { channel, conn: randomBytes(6).toString('hex'), where, hint, handshake: null, welcomed: false, sink: channel, delayed: null, timer: null };
    peer.out = out;
    this.touch(peer);
    out.timer = setTimeout(() => {
      out.timer = null;
      this.dialFailed(peer, out, NetErrorKind.HandshakeTimeout, `client${peer.id} (${where}) did not complete the handshake within ${this.handshakeTimeoutMs} ms; retrying`, 'info');
    }, this.handshakeTimeoutMs);
    socket.once(ready, () => {
      if (peer.out !== out) return;
      out.handshake = new DialerHandshake({
        self: this.self, cluster: this.o.cluster, genesis: this.o.genesis, peer: peer.id, where,
        height: this.o.height(), incarnation: this.o.incarnation, conn: out.conn,
      });
      out.channel.writeNow(out.handshake.hello);
    });
  }

  private onAnswer(peer: Peer, out: Outgoing, body: Buffer): void {
    if (peer.out !== out || out.handshake === null) return;
    const step = out.handshake.receive(body);
    switch (step.kind) {
      case 'refused':
        this.dialFailed(peer, out, NetErrorKind.HandshakeRefused, step.problem, 'warn');
        return;
      case 'fail':
        this.dialFailed(peer, out, step.error.kind, step.error.message, 'warn');
        return;
      case 'welcomed': {
        const hint = out.hint();
        if (this.security !== null && hint !== tlsIdentityOf(peer.id)) {
          this.dialFailed(peer, out, NetErrorKind.BadHandshake, `client${peer.id} (${out.where}) named itself ${JSON.stringify(hint)} in TLS; check the peer addresses in the config`, 'warn');
          return;
        }
        if (out.timer !== null) clearTimeout(out.timer);
        out.timer = null;
        out.welcomed = true;
        peer.height = step.welcome.height;
        peer.incarnation = step.welcome.incarnation;
        if (this.delay !== null) {
          out.delayed = new DelayedSink(out.channel, this.delay);
          out.sink = out.delayed;
        }
        peer.redial.attempt = 0;
        peer.redial.logged.clear();
        this.touch(peer);
        this.log.info({ peer: peer.id, addr: out.where }, `outgoing channel to client${peer.id} is up`);
        this.checkUp(peer);
        return;
      }
    }
  }

  /** The connect or the handshake did not work out: say so (once per distinct problem) and redial. */
  private dialFailed(peer: Peer, out: Outgoing, kind: NetErrorKind, problem: string, level: 'warn' | 'info'): void {
    this.noteDialProblem(peer, kind, problem, level);
    out.channel.close();
  }

  private noteDialProblem(peer: Peer, kind: NetErrorKind | 'socket', problem: string, level: 'warn' | 'info'): void {
    peer.lastError = problem;
    // A peer that is down or misconfigured would otherwise log the same line every retry.
    if (peer.redial.logged.has(problem)) {
      this.log.debug({ peer: peer.id, kind }, problem);
      return;
    }
    if (peer.redial.logged.size >= MAX_LOGGED_PROBLEMS) peer.redial.logged.clear();
    peer.redial.logged.add(problem);
    this.log[level]({ peer: peer.id, kind }, problem);
    if (level === 'warn') this.safeEmit('problem', problem);
  }

  private outgoingClosed(peer: Peer, out: Outgoing, problem: ChannelProblem | null): void {
    this.forgetOutgoing(out);
    if (peer.out !== out) return;
    peer.out = null;
    this.touch(peer);
    if (problem !== null && !this.closed) {
      if (!out.welcomed) {
        // A connect that failed: TLS trouble is said plainly; network trouble as it is.
        const tls = problem.cause instanceof Error ? describeDialFailure(problem.cause, this.security !== null) : null;
        // Without a secret, a peer that hangs up on our HELLO is most likely a TLS listener.
        const hungUp = this.security === null && out.handshake !== null && problem.kind === 'socket' && /closed|ECONNRESET|EPIPE/.test(problem.message);
        const line = tls !== null ? `client${peer.id} (${out.where}) ${tls}`
          : hungUp ? `client${peer.id} (${out.where}) closed the connection before answering: does it require a cluster secret? then set the same secret here`
          : `client${peer.id} not reachable at ${out.where}: ${problem.message}; retrying`;
        this.noteDialProblem(peer, problem.kind, line, tls !== null || line.includes('cluster secret') ? 'warn' : 'info');
      } else {
        peer.lastError = `outgoing channel to client${peer.id}: ${problem.message}`;
        if (problem.kind === NetErrorKind.SlowConsumer) this.log.warn({ peer: peer.id, kind: problem.kind }, `client${peer.id} is not reading: ${problem.message}; closing the channel`);
        else this.log.info({ peer: peer.id }, `outgoing channel to client${peer.id} closed: ${problem.message}`);
      }
    }
    this.scheduleDial(peer);
    this.sessionLost(peer);
  }

  private forgetOutgoing(out: Outgoing): void {
    if (out.timer !== null) clearTimeout(out.timer);
    out.timer = null;
    out.delayed?.stop();
  }

  private scheduleDial(peer: Peer): void {
    if (this.closed || peer.redial.timer !== null || peer.out !== null) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(peer.redial.attempt, 30));
    peer.redial.attempt++;
    // "Equal jitter": at least half the backoff, so peers restarted together do not dial in lockstep.
    const wait = base / 2 + Math.random() * (base / 2);
    peer.redial.timer = setTimeout(() => this.dial(peer), wait);
  }

  // ---- incoming channels ----------------------------------------------------------------------

  /** Every TCP connection, before TLS and before HELLO: bounded in number and in time. */
  private onTcpConnection(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const remote = remoteOf(socket);
    // Strangers cannot hold more than a bounded number of connections open, however patient.
    if (this.unidentified.size >= MAX_UNIDENTIFIED_CONNECTIONS) {
      const [oldestRemote, oldest] = this.unidentified.entries().next().value!;
      this.unidentified.delete(oldestRemote);
      clearTimeout(oldest.timer);
      this.log.warn({ remote, kind: NetErrorKind.HandshakeTimeout }, `more than ${MAX_UNIDENTIFIED_CONNECTIONS} connections without a handshake: closing the oldest (${oldestRemote})`);
      oldest.socket.destroy();
    }
    const timer = setTimeout(() => {
      if (!this.unidentified.has(remote)) return;
      this.unidentified.delete(remote);
      this.log.warn({ remote, kind: NetErrorKind.HandshakeTimeout }, `closing connection from ${remote}: no handshake within ${this.handshakeTimeoutMs} ms`);
      socket.destroy();
    }, this.handshakeTimeoutMs);
    this.unidentified.set(remote, { socket, timer });
    socket.once('close', () => {
      const entry = this.unidentified.get(remote);
      if (entry?.socket !== socket) return;
      clearTimeout(entry.timer);
      this.unidentified.delete(remote);
    });
  }

  /** A connection that failed before the project's handshake (TLS, or TLS against plain). */
  private refusedEarly(remote: string, problem: string): void {
    this.noteRefusal(null, remote, `refused connection from ${remote}: ${problem}`, `?|${problem}`);
  }

  private accept(socket: net.Socket, identity: string | null): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const incoming: Incoming = {
      channel: new Channel(socket, {
        maxQueuedBytes: this.maxQueuedBytes,
        onFrame: (body) => this.onIncomingFrame(incoming, body),
        onClose: (problem) => this.incomingClosed(incoming, problem),
      }),
      remote: remoteOf(socket),
      identity,
      peer: null,
      conn: '',
      refused: false,
    };
  }

  private onIncomingFrame(incoming: Incoming, body: Buffer): void {
    if (this.closed || incoming.refused) return;
    const peer = incoming.peer;
    if (peer === null) {
      this.onHello(incoming, body);
      return;
    }
    if (peer.in !== incoming) return;
    const decoded = decodeMessage(body, this.o.nodes);
    if (!decoded.ok) {
      peer.lastError = `bad input from client${peer.id}: ${decoded.error.message}`;
      this.log.warn({ remote: incoming.remote, kind: decoded.error.kind, peer: peer.id }, `closing incoming channel from client${peer.id} (${incoming.remote}): ${decoded.error.message}`);
      incoming.channel.close();
      return;
    }
    peer.received++;
    if (peer.up) {
      this.safeEmit('message', peer.id, decoded.value);
      return;
    }
    // The peer can see the session up (and send) a moment before our own WELCOME arrives.
    if (peer.held.length >= MAX_HELD_MESSAGES) {
      peer.lastError = `client${peer.id} sent more than ${MAX_HELD_MESSAGES} messages before the session was up`;
      this.log.warn({ peer: peer.id }, `closing incoming channel from client${peer.id}: ${peer.lastError}`);
      incoming.channel.close();
      return;
    }
    peer.held.push(decoded.value);
  }

  private onHello(incoming: Incoming, body: Buffer): void {
    const step = acceptHello(body, {
      self: this.self, cluster: this.o.cluster, genesis: this.o.genesis, peers: new Set(this.peers.keys()),
      height: this.o.height(), incarnation: this.o.incarnation, tlsIdentity: incoming.identity,
      connected: (n) => this.peers.get(n)?.in != null,
    });
    switch (step.kind) {
      case 'drop':
        this.log.warn({ remote: incoming.remote, kind: step.error.kind }, `closing connection from ${incoming.remote} before handshake: ${step.error.message}`);
        incoming.channel.close();
        return;
      case 'refuse': {
        incoming.refused = true;
        const line = `refused connection from ${step.peer === null ? incoming.remote : `client${step.peer} (${incoming.remote})`}: ${step.reason}`;
        this.noteRefusal(step.peer, incoming.remote, line, `${step.peer ?? '?'}|${step.reason}`);
        // The dialer closes on REFUSE; the handshake timer destroys the socket if it does not.
        incoming.channel.socket.end(step.frame);
        return;
      }
      case 'admit': {
        const p = this.peers.get(step.hello.node)!;
        incoming.channel.writeNow(step.frame);
        const entry = this.unidentified.get(incoming.remote);
        if (entry !== undefined) {
          clearTimeout(entry.timer);
          this.unidentified.delete(incoming.remote);
        }
        for (const key of this.loggedRefusals) if (key.startsWith(`${p.id}|`)) this.loggedRefusals.delete(key);
        incoming.peer = p;
        incoming.conn = step.hello.conn;
        incoming.channel.setMaxFrameBytes(this.maxFrameBytes);
        p.in = incoming;
        p.height = step.hello.height;
        p.incarnation = step.hello.incarnation;
        p.held = [];
        this.touch(p);
        this.log.info({ peer: p.id, remote: incoming.remote }, `incoming channel from client${p.id} is up`);
        this.checkUp(p);
        return;
      }
    }
  }

  private noteRefusal(peer: NodeId | null, remote: string, line: string, key: string): void {
    // A misconfigured dialer retries every second or so; say so once, not every time.
    if (this.loggedRefusals.has(key)) {
      this.log.debug({ remote }, line);
    } else {
      if (this.loggedRefusals.size >= MAX_LOGGED_PROBLEMS) this.loggedRefusals.clear();
      this.loggedRefusals.add(key);
      this.log.warn({ remote, kind: NetErrorKind.HandshakeRefused, ...(peer === null ? {} : { peer }) }, line);
      this.safeEmit('problem', line);
    }
    const known = peer === null ? undefined : this.peers.get(peer);
    if (known !== undefined) known.lastError = line;
  }

  private incomingClosed(incoming: Incoming, problem: ChannelProblem | null): void {
    const peer = incoming.peer;
    if (peer === null) {
      if (problem !== null && problem.kind !== 'socket' && !incoming.refused) {
        this.log.warn({ remote: incoming.remote, kind: problem.kind }, `closing connection from ${incoming.remote} before handshake: ${problem.message}`);
      }
      return;
    }
    if (peer.in !== incoming) return;
    if (problem !== null && problem.kind !== 'socket') {
      peer.lastError = `bad input from client${peer.id}: ${problem.message}`;
      this.log.warn({ peer: peer.id, kind: problem.kind }, `closing incoming channel from client${peer.id} (${incoming.remote}): ${problem.message}`);
    } else if (!this.closed) this.log.info({ peer: peer.id }, `incoming channel from client${peer.id} closed`);
    peer.in = null;
    peer.held = [];
    this.touch(peer);
    this.sessionLost(peer);
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
