/**
 * The accepting side of the mesh: connections peers open to us, which become our incoming
 * channels. Before its HELLO a connection is bounded in number and in time; the HELLO admits it
 * (WELCOME) or refuses it (REFUSE, logged once per peer and reason). After that every frame is
 * decoded and validated and handed to the mesh; bad input closes the channel.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { MAX_UNIDENTIFIED_CONNECTIONS } from '../core/limits.js';
import type { NodeId } from '../core/types.js';
import { Channel, type ChannelProblem } from './channel.js';
import { decodeMessage } from './codec.js';
import { NetErrorKind } from './errors.js';
import { acceptHello } from './handshake.js';
import { MAX_LOGGED_PROBLEMS, type Incoming, type MeshContext, remoteOf } from './peer-state.js';

export class Acceptor {
  private readonly log: Logger;
  /** TCP connections accepted that have not completed a handshake, by remote address, oldest first. */
  private readonly unidentified = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout }>();
  /** "node|reason" refusals already logged at warn. */
  private readonly loggedRefusals = new Set<string>();

  constructor(private readonly mesh: MeshContext) {
    this.log = mesh.log;
  }

  /** Stops every handshake timer and hands back the sockets still without a handshake, to be destroyed. */
  dropUnidentified(): net.Socket[] {
    const sockets: net.Socket[] = [];
    for (const { socket, timer } of this.unidentified.values()) {
      clearTimeout(timer);
      sockets.push(socket);
    }
    this.unidentified.clear();
    return sockets;
  }

  /** Every TCP connection, before TLS and before HELLO: bounded in number and in time. */
  onTcpConnection(socket: net.Socket): void {
    if (this.mesh.isClosed()) {
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
      this.log.warn({ remote, kind: NetErrorKind.HandshakeTimeout }, `closing connection from ${remote}: no handshake within ${this.mesh.handshakeTimeoutMs} ms`);
      socket.destroy();
    }, this.mesh.handshakeTimeoutMs);
    this.unidentified.set(remote, { socket, timer });
    socket.once('close', () => {
      const entry = this.unidentified.get(remote);
      if (entry?.socket !== socket) return;
      clearTimeout(entry.timer);
      this.unidentified.delete(remote);
    });
  }

  /** A connection that failed before the project's handshake (TLS, or TLS against plain). */
  refusedEarly(remote: string, problem: string): void {
    this.noteRefusal(null, remote, `refused connection from ${remote}: ${problem}`, `?|${problem}`);
  }

  accept(socket: net.Socket, identity: string | null): void {
    if (this.mesh.isClosed()) {
      socket.destroy();
      return;
    }
    const incoming: Incoming = {
      channel: new Channel(socket, {
        maxQueuedBytes: this.mesh.maxQueuedBytes,
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
    if (this.mesh.isClosed() || incoming.refused) return;
    const peer = incoming.peer;
    if (peer === null) {
      this.onHello(incoming, body);
      return;
    }
    if (peer.in !== incoming) return;
    const decoded = decodeMessage(body, this.mesh.nodes);
    if (!decoded.ok) {
      peer.lastError = `bad input from client${peer.id}: ${decoded.error.message}`;
      this.log.warn({ remote: incoming.remote, kind: decoded.error.kind, peer: peer.id }, `closing incoming channel from client${peer.id} (${incoming.remote}): ${decoded.error.message}`);
      incoming.channel.close();
      return;
    }
    this.mesh.received(peer, decoded.value);
  }

  private onHello(incoming: Incoming, body: Buffer): void {
    const step = acceptHello(body, {
      self: this.mesh.self, cluster: this.mesh.cluster, genesis: this.mesh.genesis, peers: new Set(this.mesh.peers.keys()),
      height: this.mesh.height(), incarnation: this.mesh.incarnation, tlsIdentity: incoming.identity,
      connected: (n) => this.mesh.peers.get(n)?.in != null,
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
        const p = this.mesh.peers.get(step.hello.node)!;
        incoming.channel.writeNow(step.frame);
        const entry = this.unidentified.get(incoming.remote);
        if (entry !== undefined) {
          clearTimeout(entry.timer);
          this.unidentified.delete(incoming.remote);
        }
        for (const key of this.loggedRefusals) if (key.startsWith(`${p.id}|`)) this.loggedRefusals.delete(key);
        incoming.peer = p;
        incoming.conn = step.hello.conn;
        incoming.channel.setMaxFrameBytes(this.mesh.maxFrameBytes);
        p.in = incoming;
        p.height = step.hello.height;
        p.incarnation = step.hello.incarnation;
        p.held = [];
        this.mesh.touch(p);
        this.log.info({ peer: p.id, remote: incoming.remote }, `incoming channel from client${p.id} is up`);
        this.mesh.checkUp(p);
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
      this.mesh.problem(line);
    }
    const known = peer === null ? undefined : this.mesh.peers.get(peer);
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
    } else if (!this.mesh.isClosed()) this.log.info({ peer: peer.id }, `incoming channel from client${peer.id} closed`);
    peer.in = null;
    peer.held = [];
    this.mesh.touch(peer);
    this.mesh.sessionLost(peer);
  }
}
