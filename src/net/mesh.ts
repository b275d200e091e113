/**
 * The peer mesh of one client process (DESIGN.md 3, "Channels").
 *
 * Each client dials every peer for its OUTGOING channel and accepts the peer's own connection as
 * the INCOMING one, so every directed channel i->j is exactly one TCP connection and FIFO is TCP's.
 * Messages are only written on outgoing sockets and only read from incoming sockets; after the
 * handshake nothing else may flow in the other direction.
 *
 * A peer is "up" while both of its channels are. When either drops, the other is closed too, so
 * each up..down session runs on fresh connections in both directions and no message from an old
 * session is delivered in a new one.
 *
 * Nothing in here throws out of a socket or timer callback: bad input closes the connection it came
 * on, with a log line, and the process goes on.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../core/types.js';
import { PROTOCOL_VERSION, decodeHandshake, decodeMessage, encodeHandshake, encodeMessage, type Hello } from './codec.js';
import { NetError, NetErrorKind, describeError, isNetError } from './errors.js';
import { FrameOpener, FrameSealer, TAG_BYTES, channelKey, newNonce, proofHolds, proofOf } from './auth.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, HEARTBEAT_FRAME, encodeFrame } from './framing.js';
import { MAX_UNIDENTIFIED_CONNECTIONS, PRE_HANDSHAKE_FRAME_BYTES, slowConsumerBytes } from '../core/limits.js';

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
  readonly delay?: { readonly minMs: number; readonly maxMs: number };
  readonly maxFrameBytes?: number;
  readonly logger: Logger;
  /** Redial backoff: doubles from initialMs up to maxMs, with jitter. Default 50 ms .. 2000 ms. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A handshake (both directions) must complete within this time. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** The cluster secret: with it, both ends of every connection prove they know it. */
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

/** 'connecting': a TCP connect or handshake is in progress; 'down': waiting to redial (or closed). */
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

export type MeshEvents = {
  /** Both channels with `peer` are connected and handshaken; `height` is the peer's latest announced chain height. */
  peerUp: [peer: NodeId, height: number, incarnation: number];
  /** A channel with `peer` was lost after peerUp; fired once per up->down transition. */
  peerDown: [peer: NodeId];
  /** A validated message from `peer`, in channel order; only ever between peerUp and peerDown. */
  message: [from: NodeId, message: Message];
};

const DEFAULT_BACKOFF = { initialMs: 50, maxMs: 1000 } as const;
/** Loopback handshakes take a millisecond; one stuck in a dead link must not delay a redial long. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000;
const DEFAULT_HEARTBEAT = { everyMs: 500, silenceMs: 3000 } as const;
const KEEPALIVE_MS = 5000;
/** Messages that may arrive before peerUp (the peer may see the session up a moment before we do). */
const MAX_HELD_MESSAGES = 10_000;
/** Bound on remembered "already logged" refusals, so a hostile dialer cannot grow it forever. */
const MAX_LOGGED_REFUSALS = 1000;

interface DelayedFrame {
  readonly frame: Buffer;
  readonly due: number;
}

/** Everything the mesh knows about one peer; both channels and the write queues of the outgoing one. */
interface Peer {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  outSocket: net.Socket | null;
  outState: OutgoingState;
  inSocket: net.Socket | null;
  /** peerUp was fired and peerDown not yet. */
  up: boolean;
  /** The peer's chain height from the later of its two handshakes. */
  announcedHeight: number;
  /** The peer's process run, from its handshakes. */
  incarnation: number;
  /** When the outgoing channel was last written to, and the incoming one last read from (ms). */
  lastWrite: number;
  lastRead: number;
  /** With a cluster secret: MACs this connection's outgoing frames. */
  sealer: FrameSealer | null;
  /** Messages received on the incoming channel before peerUp; delivered right after it. */
  held: Message[];
  retryTimer: NodeJS.Timeout | null;
  attempt: number;
  /** Dial problems already logged at info/warn since the last successful handshake. */
  loggedProblems: Set<string>;
  /** Frames of this tick, written together on nextTick (no delay injection). */
  pending: Buffer[];
  flushScheduled: boolean;
  /** Frames held by delay injection, oldest first; `delayedHead` indexes the next to write. */
  delayed: DelayedFrame[];
  delayedHead: number;
  delayTimer: NodeJS.Timeout | null;
  since: number;
  sent: number;
  received: number;
  lastError: string | undefined;
}

export class Mesh extends EventEmitter<MeshEvents> {
  readonly self: NodeId;
  private readonly cluster: string;
  private readonly genesis: string;
  private readonly nodes: ReadonlySet<NodeId>;
  private readonly listenAt: { host: string; port: number };
  private readonly delay: { minMs: number; maxMs: number } | null;
  private readonly maxFrameBytes: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly handshakeTimeoutMs: number;
  private readonly describe: (m: Message) => string;
  private readonly log: Logger;
  private readonly peers = new Map<NodeId, Peer>();
  /** Accepted sockets that have not completed (or were refused in) the handshake. */
  private readonly unidentified = new Set<net.Socket>();
  /** Handshake timers of connections in both directions, so close() can clear them at once. */
  private readonly handshakeTimers = new Set<NodeJS.Timeout>();
  /** "node|reason" refusals the acceptor side already logged at warn. */
  private readonly loggedRefusals = new Set<string>();
  private readonly localHeight: () => number;
  private readonly incarnation: number;
  private readonly heartbeat: { everyMs: number; silenceMs: number };
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly maxQueuedWriteBytes: number;
  /** The last message encoded, and its frame once built for an unsealed channel. */
  private lastEncoded: { readonly message: Message; readonly body: Buffer; frame: Buffer | null } | null = null;
  private readonly secret: string | null;
  private server: net.Server | null = null;
  private started = false;
  private closed = false;

  constructor(options: MeshOptions) {
    super();
    this.self = options.self;
    this.cluster = options.cluster;
    this.genesis = options.genesis;
    this.localHeight = options.height;
    this.incarnation = options.incarnation;
    this.heartbeat = { ...(options.heartbeat ?? DEFAULT_HEARTBEAT) };
    this.secret = options.secret ?? null;
    this.nodes = options.nodes;
    this.listenAt = { host: options.listen.host, port: options.listen.port };
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedWriteBytes = slowConsumerBytes(this.maxFrameBytes);
    this.backoff = { ...(options.backoff ?? DEFAULT_BACKOFF) };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.describe = options.describe ?? ((m) => `${m.type} ts=${m.ts}`);
    this.log = options.logger.child({ component: 'net', self: options.self });

    if (options.delay !== undefined) {
      const { minMs, maxMs } = options.delay;
      if (!(minMs >= 0 && maxMs >= minMs && Number.isFinite(maxMs))) {
        throw new RangeError(`delay: need 0 <= minMs <= maxMs, got ${minMs}..${maxMs}`);
      }
      this.delay = { minMs, maxMs };
    } else {
      this.delay = null;
    }
    if (!(this.backoff.initialMs > 0 && this.backoff.maxMs >= this.backoff.initialMs)) {
      throw new RangeError(`backoff: need 0 < initialMs <= maxMs, got ${this.backoff.initialMs}..${this.backoff.maxMs}`);
    }
    const now = Date.now();
    for (const p of options.peers) {
      if (p.id === this.self) throw new RangeError(`peers: client ${p.id} is this client itself`);
      if (this.peers.has(p.id)) throw new RangeError(`peers: client ${p.id} is listed twice`);
      if (!this.nodes.has(p.id)) throw new RangeError(`peers: client ${p.id} is not in nodes`);
      this.peers.set(p.id, {
        id: p.id,
        host: p.host,
        port: p.port,
        outSocket: null,
        outState: 'down',
        inSocket: null,
        up: false,
        announcedHeight: 0,
        incarnation: 0,
        lastWrite: now,
        lastRead: now,
        sealer: null,
        held: [],
        retryTimer: null,
        attempt: 0,
        loggedProblems: new Set(),
        pending: [],
        flushScheduled: false,
        delayed: [],
        delayedHead: 0,
        delayTimer: null,
        since: now,
        sent: 0,
        received: 0,
        lastError: undefined,
      });
    }
  }

  /** Listens, then dials every peer until the mesh is closed. Peers may start in any order. */
  async start(): Promise<void> {
    if (this.started) throw new NetError(NetErrorKind.BadState, 'the mesh was already started');
    this.started = true;
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    this.server = server;
    server.on('connection', (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.off('listening', onListening);
        const { host, port } = this.listenAt;
        const code = (err as NodeJS.ErrnoException).code;
        const hint = code === 'EADDRINUSE' ? ' (is another client already running on that port?)' : '';
        reject(new NetError(NetErrorKind.ListenFailed, `cannot listen on ${host}:${port}: ${describeError(err)}${hint}`, { cause: err }));
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(this.listenAt.port, this.listenAt.host);
    });
    // After listening, a server error (rare: EMFILE on accept) must not crash the client.
    server.on('error', (err) => this.log.error({ err: describeError(err) }, 'listener error'));
    if (this.closed) {
      // close() ran while we were binding; it could not close a server that was not listening yet.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return;
    }
    const { host, port } = this.address();
    this.log.info({ host, port }, `listening on ${host}:${port}`);
    for (const peer of this.peers.values()) this.dial(peer);
    this.heartbeatTimer = setInterval(() => this.beat(), Math.max(10, Math.floor(this.heartbeat.everyMs / 2)));
  }

  /** Heartbeats on idle outgoing channels; silent incoming channels are closed. */
  private beat(): void {
    const now = Date.now();
    for (const peer of this.peers.values()) {
      const out = peer.outSocket;
      if (peer.outState === 'up' && out !== null && !out.destroyed && now - peer.lastWrite >= this.heartbeat.everyMs) {
        // A transport frame: never seen by the protocol, its clocks or its channel states.
        out.write(peer.sealer === null ? HEARTBEAT_FRAME : encodeFrame(peer.sealer.seal(EMPTY_BODY), this.maxFrameBytes));
        peer.lastWrite = now;
      }
      if (peer.inSocket !== null && now - peer.lastRead >= this.heartbeat.silenceMs) {
        const problem = `client ${peer.id} has been silent for ${((now - peer.lastRead) / 1000).toFixed(1)} s (no heartbeat): closing the session to reconnect`;
        peer.lastError = problem;
        this.log.warn({ peer: peer.id }, problem);
        this.dropIncoming(peer);
      }
    }
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
    // Only within a session: before peerUp the caller has not yet said its first words on it.
    if (peer === undefined || this.closed || !peer.up || peer.outState !== 'up' || peer.outSocket === null) {
      if (this.log.isLevelEnabled('debug')) {
        const why = peer === undefined ? 'not a peer' : this.closed ? 'mesh closed' : !peer.up ? 'session not up' : `outgoing channel ${peer.outState}`;
        this.log.debug({ peer: to }, `dropped ${this.self}->${to} ${this.describe(message)}: ${why}`);
      }
      return false;
    }
    let frame: Buffer;
    try {
      // A broadcast hands the same message object to every peer: encode it once.
      if (message !== this.lastEncoded?.message) this.lastEncoded = { message, body: encodeMessage(message), frame: null };
      const encoded = this.lastEncoded;
      if (peer.sealer !== null) {
        // Sealed when written (see `write`), so that heartbeats keep the frame counter in order.
        if (encoded.body.length + TAG_BYTES > this.maxFrameBytes) throw NetError.frameTooLarge(encoded.body.length + TAG_BYTES, this.maxFrameBytes);
        frame = encoded.body;
      } else frame = encoded.frame ??= encodeFrame(encoded.body, this.maxFrameBytes);
    } catch (e) {
      // A channel that silently skips a message is no longer FIFO-reliable, which both protocols
      // need: stop it at once (nothing more goes out on it) and end the session, so the peer is
      // re-synchronised on a new connection. The session ends outside the caller's step.
      this.log.error({ peer: to, err: describeError(e) }, `cannot send ${this.self}->${to} ${this.describe(message)}: ${describeError(e)}; reconnecting`);
      peer.lastError = `cannot send ${this.describe(message)}: ${describeError(e)}`;
      this.setOutState(peer, 'down');
      setImmediate(() => this.dropOutgoing(peer));
      return false;
    }
    peer.sent++;
    if (this.delay === null) {
      peer.pending.push(frame);
      if (!peer.flushScheduled) {
        peer.flushScheduled = true;
        process.nextTick(() => this.flushPending(peer));
      }
    } else {
      const { minMs, maxMs } = this.delay;
      const due = Date.now() + minMs + Math.random() * (maxMs - minMs);
      peer.delayed.push({ frame, due });
      if (peer.delayTimer === null) this.armDelayTimer(peer);
    }
    return true;
  }

  status(): PeerStatus[] {
    return [...this.peers.values()]
      .sort((a, b) => a.id - b.id)
      .map((p) => ({
        id: p.id,
        outgoing: p.outState,
        incoming: p.inSocket === null ? 'down' : 'up',
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
    const sockets: net.Socket[] = [...this.unidentified];
    for (const peer of this.peers.values()) {
      if (peer.retryTimer !== null) clearTimeout(peer.retryTimer);
      peer.retryTimer = null;
      this.clearWriteQueues(peer);
      if (peer.outSocket !== null) sockets.push(peer.outSocket);
      if (peer.inSocket !== null) sockets.push(peer.inSocket);
      peer.outSocket = null;
      peer.outState = 'down';
      peer.inSocket = null;
      peer.held = [];
      peer.up = false;
    }
    for (const t of this.handshakeTimers) clearTimeout(t);
    this.handshakeTimers.clear();
    this.unidentified.clear();
    const gone = sockets.map((s) => new Promise<void>((resolve) => {
      if (s.closed) resolve();
      else s.once('close', () => resolve());
      s.destroy();
    }));
    const server = this.server;
    if (server !== null && server.listening) {
      gone.push(new Promise<void>((resolve) => server.close(() => resolve())));
    }
    await Promise.all(gone);
    this.log.info('mesh closed');
  }

  // ---- outgoing channels ------------------------------------------------------------------------

  private dial(peer: Peer): void {
    peer.retryTimer = null;
    if (this.closed || peer.outSocket !== null) return;
    const socket = net.connect({ host: peer.host, port: peer.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    peer.outSocket = socket;
    this.setOutState(peer, 'connecting');
    // Only handshake frames ever arrive on an outgoing channel.
    const decoder = new FrameDecoder({ maxFrameBytes: PRE_HANDSHAKE_FRAME_BYTES });
    let welcomed = false;
    const where = `${peer.host}:${peer.port}`;
    const nonce = newNonce();

    const fail = (kind: NetErrorKind, problem: string, level: 'warn' | 'info'): void => {
      peer.lastError = problem;
      // A peer that is down or misconfigured would otherwise log the same line every retry.
      if (!peer.loggedProblems.has(problem)) {
        peer.loggedProblems.add(problem);
        this.log[level]({ peer: peer.id, addr: where, kind }, problem);
      } else {
        this.log.debug({ peer: peer.id, addr: where, kind }, problem);
      }
      if (peer.outSocket === socket) this.dropOutgoing(peer);
      else socket.destroy();
    };

    const timer = setTimeout(() => {
      this.handshakeTimers.delete(timer);
      fail(NetErrorKind.HandshakeTimeout, `client ${peer.id} (${where}) did not complete the handshake within ${this.handshakeTimeoutMs} ms; retrying`, 'info');
    }, this.handshakeTimeoutMs);
    this.handshakeTimers.add(timer);

    socket.on('connect', () => {
      const hello: Hello = { type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: this.cluster, node: this.self, to: peer.id, genesis: this.genesis, height: this.localHeight(), incarnation: this.incarnation, nonce };
      socket.write(encodeFrame(encodeHandshake(hello), this.maxFrameBytes));
    });

    socket.on('data', (chunk: Buffer) => {
      try {
        if (welcomed) {
          // Our outgoing channel is write-only after the handshake.
          fail(NetErrorKind.UnexpectedData, `client ${peer.id} sent ${chunk.length} unexpected bytes on our outgoing channel; reconnecting`, 'warn');
          return;
        }
        const frames = decoder.push(chunk);
        for (const body of frames) {
          if (welcomed || peer.outSocket !== socket) {
            fail(NetErrorKind.UnexpectedData, `client ${peer.id} sent unexpected data after WELCOME on our outgoing channel; reconnecting`, 'warn');
            return;
          }
          const decoded = decodeHandshake(body);
          if (!decoded.ok) {
            fail(decoded.error.kind, `bad handshake answer from client ${peer.id} (${where}): ${decoded.error.message}`, 'warn');
            return;
          }
          const frame = decoded.value;
          if (frame.type === 'REFUSE') {
            fail(NetErrorKind.HandshakeRefused, `client ${peer.id} (${where}) refused the connection: ${frame.reason}`, 'warn');
            return;
          }
          if (frame.type !== 'WELCOME') {
            fail(NetErrorKind.BadHandshake, `bad handshake answer from client ${peer.id} (${where}): expected WELCOME or REFUSE, got ${frame.type}`, 'warn');
            return;
          }
          if (frame.node !== peer.id) {
            fail(NetErrorKind.BadHandshake, `dialed client ${peer.id} at ${where} but client ${frame.node} answered; check the peer addresses in the config`, 'warn');
            return;
          }
          if (this.secret === null && frame.proof !== undefined) {
            fail(NetErrorKind.HandshakeRefused, `client ${peer.id} (${where}) requires the cluster secret; set the same "secret" in this client's config (or LAMPORT_LEDGER_SECRET)`, 'warn');
            return;
          }
          if (this.secret !== null) {
            if (frame.nonce === undefined || !proofHolds(proofOf(this.secret, 'acceptor', this.cluster, peer.id, this.self, nonce), frame.proof)) {
              fail(NetErrorKind.HandshakeRefused, `client ${peer.id} (${where}) could not prove it knows the cluster secret; is the same "secret" set on it?`, 'warn');
              return;
            }
            // Our answer goes first on the channel, before any message.
            socket.write(encodeFrame(encodeHandshake({ type: 'AUTH', proof: proofOf(this.secret, 'dialer', this.cluster, this.self, peer.id, frame.nonce) }), this.maxFrameBytes));
          }
          peer.sealer = this.secret === null || frame.nonce === undefined ? null : new FrameSealer(channelKey(this.secret, this.cluster, this.self, peer.id, nonce, frame.nonce));
          welcomed = true;
          peer.announcedHeight = frame.height;
          peer.incarnation = frame.incarnation;
          peer.lastWrite = Date.now();
          clearTimeout(timer);
          this.handshakeTimers.delete(timer);
          peer.attempt = 0;
          peer.loggedProblems.clear();
          this.setOutState(peer, 'up');
          this.log.info({ peer: peer.id, addr: where }, `outgoing channel to client ${peer.id} is up`);
          this.checkUp(peer);
        }
      } catch (e) {
        fail(isNetError(e) ? e.kind : NetErrorKind.BadFrame, `outgoing channel to client ${peer.id}: ${describeError(e)}`, 'warn');
      }
    });

    socket.on('error', (err) => {
      // 'close' follows; only describe the problem here. Connect errors while a peer is down are
      // expected, so they are logged once per distinct error until the next successful handshake.
      const problem = welcomed
        ? `outgoing channel to client ${peer.id} failed: ${describeError(err)}`
        : `client ${peer.id} not reachable at ${where}: ${describeError(err)}; retrying`;
      peer.lastError = problem;
      // A reset on a live channel is what a peer restart looks like: routine, not a warning.
      if (welcomed) this.log.info({ peer: peer.id }, problem);
      else if (!peer.loggedProblems.has(problem)) {
        peer.loggedProblems.add(problem);
        this.log.info({ peer: peer.id }, problem);
      } else this.log.debug({ peer: peer.id }, problem);
    });

    socket.on('close', () => {
      clearTimeout(timer);
      this.handshakeTimers.delete(timer);
      if (peer.outSocket === socket) {
        if (welcomed && !this.closed) this.log.info({ peer: peer.id }, `outgoing channel to client ${peer.id} closed`);
        this.dropOutgoing(peer);
      }
    });
  }

  /** Detaches and destroys the outgoing socket, discards what was queued on it, schedules a redial. */
  private dropOutgoing(peer: Peer): void {
    const socket = peer.outSocket;
    if (socket === null) return;
    peer.outSocket = null;
    peer.sealer = null;
    this.clearWriteQueues(peer);
    this.setOutState(peer, 'down');
    socket.destroy();
    this.scheduleDial(peer);
    this.sessionLost(peer);
  }

  private scheduleDial(peer: Peer): void {
    if (this.closed || peer.retryTimer !== null || peer.outSocket !== null) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(peer.attempt, 30));
    peer.attempt++;
    // "Equal jitter": at least half the backoff, so peers restarted together do not dial in lockstep.
    const wait = base / 2 + Math.random() * (base / 2);
    peer.retryTimer = setTimeout(() => this.dial(peer), wait);
  }

  // ---- writes -----------------------------------------------------------------------------------

  private flushPending(peer: Peer): void {
    peer.flushScheduled = false;
    const frames = peer.pending;
    if (frames.length === 0) return;
    peer.pending = [];
    this.write(peer, frames);
  }

  private armDelayTimer(peer: Peer): void {
    const next = peer.delayed[peer.delayedHead];
    if (next === undefined) {
      peer.delayed = [];
      peer.delayedHead = 0;
      return;
    }
    peer.delayTimer = setTimeout(() => this.releaseDelayed(peer), Math.max(0, next.due - Date.now()));
  }

  /**
   * Writes every held frame that is due, oldest first, stopping at the first one that is not:
   * frame k goes out at max(its due time, frame k-1's write time), so the channel never reorders.
   */
  private releaseDelayed(peer: Peer): void {
    peer.delayTimer = null;
    const now = Date.now();
    const frames: Buffer[] = [];
    for (;;) {
      const next = peer.delayed[peer.delayedHead];
      if (next === undefined || next.due > now) break;
      frames.push(next.frame);
      peer.delayedHead++;
    }
    if (peer.delayedHead > 1024 && peer.delayedHead * 2 > peer.delayed.length) {
      peer.delayed = peer.delayed.slice(peer.delayedHead);
      peer.delayedHead = 0;
    }
    if (frames.length > 0) this.write(peer, frames);
    if (peer.outSocket !== null) this.armDelayTimer(peer);
  }

  /** `frames` are whole frames, or on a sealed channel the bodies still to seal, in write order. */
  private write(peer: Peer, queued: Buffer[]): void {
    const socket = peer.outSocket;
    if (socket === null || peer.outState !== 'up' || socket.destroyed) return;
    peer.lastWrite = Date.now();
    const sealer = peer.sealer;
    const frames = sealer === null ? queued : queued.map((body) => encodeFrame(sealer.seal(body), this.maxFrameBytes));
    if (frames.length === 1) {
      socket.write(frames[0] as Buffer);
    } else {
      // One writev for the whole batch instead of a syscall per frame.
      socket.cork();
      for (const f of frames) socket.write(f);
      socket.uncork();
    }
    if (socket.writableLength > this.maxQueuedWriteBytes) {
      const problem = `client ${peer.id} is not reading: ${socket.writableLength} bytes queued; closing the channel`;
      peer.lastError = problem;
      this.log.warn({ peer: peer.id, kind: NetErrorKind.SlowConsumer }, problem);
      this.dropOutgoing(peer);
    }
  }

  private clearWriteQueues(peer: Peer): void {
    peer.pending = [];
    peer.delayed = [];
    peer.delayedHead = 0;
    if (peer.delayTimer !== null) clearTimeout(peer.delayTimer);
    peer.delayTimer = null;
  }

  // ---- incoming channels ------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    // Strangers cannot hold more than a bounded number of connections open, however patient.
    if (this.unidentified.size >= MAX_UNIDENTIFIED_CONNECTIONS) {
      const oldest = this.unidentified.values().next().value!;
      this.unidentified.delete(oldest);
      this.log.warn({ remote, kind: NetErrorKind.HandshakeTimeout }, `more than ${MAX_UNIDENTIFIED_CONNECTIONS} connections without a handshake: closing the oldest (${oldest.remoteAddress ?? '?'}:${oldest.remotePort ?? '?'})`);
      oldest.destroy();
    }
    this.unidentified.add(socket);
    // Until the handshake is done a frame is a HELLO: a few hundred bytes, not megabytes.
    const decoder = new FrameDecoder({ maxFrameBytes: PRE_HANDSHAKE_FRAME_BYTES });
    /** Set once the HELLO is accepted. */
    let peer: Peer | null = null;
    /** Set once a REFUSE was sent: ignore anything else until the socket is gone. */
    let refused = false;
    /** With a cluster secret: the HELLO waits here for the dialer's AUTH, and our challenge. */
    let awaiting: { hello: Hello; nonce: string } | null = null;
    /** With a cluster secret: checks the MAC of every message frame on this connection. */
    let opener: FrameOpener | null = null;

    /** The dialer is who it says: this socket becomes the peer's incoming channel. */
    const admit = (p: Peer, hello: Hello): void => {
      clearTimeout(timer);
      this.handshakeTimers.delete(timer);
      this.unidentified.delete(socket);
      for (const key of this.loggedRefusals) if (key.startsWith(`${p.id}|`)) this.loggedRefusals.delete(key);
      peer = p;
      p.inSocket = socket;
      p.announcedHeight = hello.height;
      p.incarnation = hello.incarnation;
      p.lastRead = Date.now();
      decoder.setMaxFrameBytes(this.maxFrameBytes);
      p.held = [];
      this.touch(p);
      this.log.info({ peer: p.id, remote }, `incoming channel from client ${p.id} is up`);
      this.checkUp(p);
    };

    const timer = setTimeout(() => {
      this.handshakeTimers.delete(timer);
      if (peer !== null) return;
      if (!refused) this.log.warn({ remote, kind: NetErrorKind.HandshakeTimeout }, `closing connection from ${remote}: no handshake within ${this.handshakeTimeoutMs} ms`);
      socket.destroy();
    }, this.handshakeTimeoutMs);
    this.handshakeTimers.add(timer);

    const reject = (kind: NetErrorKind, reason: string): void => {
      this.log.warn({ remote, kind, ...(peer === null ? {} : { peer: peer.id }) }, reason);
      if (peer !== null && peer.inSocket === socket) this.dropIncoming(peer);
      else socket.destroy();
    };

    const refuse = (hello: Hello | null, reason: string): void => {
      refused = true;
      const key = `${hello?.node ?? '?'}|${reason}`;
      const line = `refused connection from ${hello === null ? remote : `client ${hello.node} (${remote})`}: ${reason}`;
      // A misconfigured dialer retries every couple of seconds; say so once, not every time.
      if (!this.loggedRefusals.has(key)) {
        if (this.loggedRefusals.size >= MAX_LOGGED_REFUSALS) this.loggedRefusals.clear();
        this.loggedRefusals.add(key);
        this.log.warn({ remote, kind: NetErrorKind.HandshakeRefused, ...(hello === null ? {} : { peer: hello.node }), reason }, line);
      } else {
        this.log.debug({ remote, reason }, line);
      }
      if (hello !== null) {
        const known = this.peers.get(hello.node);
        if (known !== undefined) known.lastError = line;
      }
      // The dialer closes on REFUSE; the handshake timer destroys the socket if it does not.
      socket.end(encodeFrame(encodeHandshake({ type: 'REFUSE', reason }), this.maxFrameBytes));
    };

    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      if (peer !== null) peer.lastRead = Date.now();
      try {
        const frames = decoder.push(chunk);
        for (const body of frames) {
          if (this.closed || refused) return;
          if (awaiting !== null) {
            const { hello, nonce } = awaiting;
            awaiting = null;
            const decoded = decodeHandshake(body);
            const expected = proofOf(this.secret!, 'dialer', this.cluster, hello.node, this.self, nonce);
            if (!decoded.ok || decoded.value.type !== 'AUTH' || !proofHolds(expected, decoded.value.proof)) {
              refuse(hello, 'it did not prove it knows the cluster secret; set the same "secret" on every client');
              return;
            }
            const p = this.peers.get(hello.node);
            if (p === undefined || p.inSocket !== null) {
              refuse(hello, `client ${hello.node} is already connected`);
              return;
            }
            opener = new FrameOpener(channelKey(this.secret!, this.cluster, hello.node, this.self, hello.nonce!, nonce));
            admit(p, hello);
            continue;
          }
          if (peer === null) {
            const decoded = decodeHandshake(body);
            if (!decoded.ok) {
              if (decoded.error.kind === NetErrorKind.ProtocolMismatch) refuse(null, decoded.error.message);
              else reject(decoded.error.kind, `closing connection from ${remote} before handshake: ${decoded.error.message}`);
              return;
            }
            const hello = decoded.value;
            if (hello.type !== 'HELLO') {
              reject(NetErrorKind.BadHandshake, `closing connection from ${remote} before handshake: expected HELLO, got ${hello.type}`);
              return;
            }
            const reason = this.refusalReason(hello);
            if (reason !== null) {
              refuse(hello, reason);
              return;
            }
            const p = this.peers.get(hello.node);
            if (p === undefined) return; // refusalReason already checked; keeps the compiler happy
            if (this.secret === null) {
              socket.write(encodeFrame(encodeHandshake({ type: 'WELCOME', node: this.self, height: this.localHeight(), incarnation: this.incarnation }), this.maxFrameBytes));
              admit(p, hello);
              continue;
            }
            if (hello.nonce === undefined) {
              refuse(hello, 'this cluster requires a secret; set the same "secret" on every client');
              return;
            }
            const nonce = newNonce();
            const proof = proofOf(this.secret, 'acceptor', this.cluster, this.self, hello.node, hello.nonce);
            socket.write(encodeFrame(encodeHandshake({ type: 'WELCOME', node: this.self, height: this.localHeight(), incarnation: this.incarnation, nonce, proof }), this.maxFrameBytes));
            awaiting = { hello, nonce };
            continue;
          }
          if (peer.inSocket !== socket) return;
          if (opener === null && body.length === 0) continue; // a heartbeat
          const payload = opener === null ? body : opener.open(body);
          if (payload === null) {
            peer.lastError = `bad input from client ${peer.id}: a frame failed its MAC check`;
            reject(NetErrorKind.BadMessage, `closing incoming channel from client ${peer.id} (${remote}): a frame failed its MAC check (forged, altered, replayed or out of order)`);
            return;
          }
          if (payload.length === 0) continue; // a heartbeat
          const decoded = decodeMessage(payload, this.nodes);
          if (!decoded.ok) {
            peer.lastError = `bad input from client ${peer.id}: ${decoded.error.message}`;
            reject(decoded.error.kind, `closing incoming channel from client ${peer.id} (${remote}): ${decoded.error.message}`);
            return;
          }
          this.deliver(peer, decoded.value);
        }
      } catch (e) {
        const who = peer === null ? remote : `client ${peer.id} (${remote})`;
        if (peer !== null) peer.lastError = `bad input from client ${peer.id}: ${describeError(e)}`;
        reject(isNetError(e) ? e.kind : NetErrorKind.BadFrame, `closing ${peer === null ? 'connection' : 'incoming channel'} from ${who}: ${describeError(e)}`);
      }
    });

    socket.on('error', (err) => {
      // 'close' follows and cleans up; resets from a peer that went away are routine.
      this.log.debug({ remote, ...(peer === null ? {} : { peer: peer.id }) }, `connection from ${remote}: ${describeError(err)}`);
      if (peer !== null && peer.inSocket === socket) peer.lastError = `incoming channel from client ${peer.id}: ${describeError(err)}`;
    });

    socket.on('close', () => {
      clearTimeout(timer);
      this.handshakeTimers.delete(timer);
      this.unidentified.delete(socket);
      if (peer !== null && peer.inSocket === socket) {
        if (!this.closed) this.log.info({ peer: peer.id }, `incoming channel from client ${peer.id} closed`);
        this.dropIncoming(peer);
      }
    });
  }

  /** Why a HELLO must be refused, as a line for both logs; null to accept it. */
  private refusalReason(hello: Hello): string | null {
    const n = hello.node;
    if (hello.cluster !== this.cluster) {
      return `client ${n} has a different config: cluster ${JSON.stringify(hello.cluster)} != ${JSON.stringify(this.cluster)}; start every client with the same config`;
    }
    if (hello.genesis !== this.genesis) {
      const [theirs, ours] = distinguish(hello.genesis, this.genesis);
      return `client ${n} has a different config: genesis ${theirs} != ${ours}; start every client with the same config`;
    }
    if (n === this.self) return `client ${n} is this client's own id; every client needs its own id`;
    const peer = this.peers.get(n);
    if (peer === undefined) {
      const known = [this.self, ...this.peers.keys()].sort((a, b) => a - b).join(', ');
      return `unknown client ${n}: this cluster has clients ${known}`;
    }
    if (hello.to !== this.self) {
      return `client ${n} meant to dial client ${hello.to} but reached client ${this.self}; check the peer addresses in the config`;
    }
    if (peer.inSocket !== null) return `client ${n} is already connected`;
    return null;
  }

  private dropIncoming(peer: Peer): void {
    const socket = peer.inSocket;
    if (socket === null) return;
    peer.inSocket = null;
    peer.held = [];
    this.touch(peer);
    socket.destroy();
    this.sessionLost(peer);
  }

  // ---- sessions and events ----------------------------------------------------------------------

  /** Fires peerUp once both channels are up, then delivers what arrived before it. */
  private checkUp(peer: Peer): void {
    if (peer.up || this.closed || peer.outState !== 'up' || peer.inSocket === null) return;
    peer.up = true;
    this.log.info({ peer: peer.id }, `client ${peer.id} is up`);
    this.safeEmit('peerUp', peer.id, peer.announcedHeight, peer.incarnation);
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
    this.dropOutgoing(peer);
    this.dropIncoming(peer);
    if (this.closed) return;
    this.log.info({ peer: peer.id }, `client ${peer.id} is down`);
    this.safeEmit('peerDown', peer.id);
  }

  private deliver(peer: Peer, message: Message): void {
    peer.received++;
    if (peer.up) {
      this.safeEmit('message', peer.id, message);
      return;
    }
    // The peer can see the session up (and send) a moment before our own WELCOME arrives.
    if (peer.held.length >= MAX_HELD_MESSAGES) {
      peer.lastError = `client ${peer.id} sent more than ${MAX_HELD_MESSAGES} messages before the session was up`;
      this.log.warn({ peer: peer.id }, `closing incoming channel from client ${peer.id}: ${peer.lastError}`);
      this.dropIncoming(peer);
      return;
    }
    peer.held.push(message);
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

  private setOutState(peer: Peer, state: OutgoingState): void {
    if (peer.outState === state) return;
    peer.outState = state;
    this.touch(peer);
  }

  private touch(peer: Peer): void {
    peer.since = Date.now();
  }
}

const EMPTY_BODY = Buffer.alloc(0);

/** Shortest prefixes (at least 8 characters) that tell two hashes apart, for readable logs. */
function distinguish(a: string, b: string): [string, string] {
  let n = 8;
  while (n < Math.max(a.length, b.length) && a.slice(0, n) === b.slice(0, n)) n += 8;
  return [a.slice(0, n) || '(empty)', b.slice(0, n) || '(empty)'];
}
