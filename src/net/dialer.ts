/**
 * The dialing side of the mesh: our outgoing channel to each peer. Connects, says HELLO, checks
 * the WELCOME (and, under TLS, the name the peer gave), puts the link (link.ts) in front when it
 * is held or delayed, and redials with backoff when the connect, the handshake or the channel
 * fails. Each distinct dial problem is logged once until the channel comes up.
 *
 * A peer's host name is looked up again on every dial: under an orchestrator a peer that is
 * replaced comes back at a new address under the same name, and a name may not resolve at all
 * until the peer exists. That is said once when the name stops resolving, not on every redial,
 * and a change of address is logged.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Channel, type ChannelProblem } from './channel.js';
import { NetErrorKind, describeError } from './errors.js';
import { LinkSink } from './link.js';
import { DialerHandshake, tlsIdentityOf } from './handshake.js';
import { MAX_LOGGED_PROBLEMS, type MeshContext, type Outgoing, type Peer } from './peer-state.js';
import { describeDialFailure, dial } from './transport.js';

export interface DialerOptions {
  /** Redial backoff: doubles from initialMs up to maxMs, with jitter. */
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
}

export class Dialer {
  private readonly log: Logger;
  private readonly backoff: DialerOptions['backoff'];

  constructor(private readonly mesh: MeshContext, options: DialerOptions) {
    this.log = mesh.log;
    this.backoff = options.backoff;
  }

  /** Connects to `peer` for our outgoing channel, unless one is open or the mesh is closed. */
  dial(peer: Peer): void {
    peer.redial.timer = null;
    if (this.mesh.isClosed() || peer.out !== null) return;
    const where = `${peer.host}:${peer.port}`;
    const { socket, ready, hint } = dial(peer.host, peer.port, this.mesh.security, this.mesh.self, this.mesh.lookup);
    const channel = new Channel(socket, {
      maxQueuedBytes: this.mesh.maxQueuedBytes,
      onFrame: (body) => this.onAnswer(peer, out, body),
      onClose: (problem) => this.outgoingClosed(peer, out, problem),
    });
    const out: Outgoing = { channel, conn: randomBytes(6).toString('hex'), where, hint, handshake: null, welcomed: false, sink: channel, link: null, timer: null, unresolved: false };
    peer.out = out;
    let looked = false;
    // Only the first answer of a dial counts: with several addresses Node may try each in turn.
    socket.on('lookup', (err: Error | null, address: string) => {
      if (looked) return;
      looked = true;
      this.looked(peer, out, err, address);
    });
    this.mesh.touch(peer);
    out.timer = setTimeout(() => {
      out.timer = null;
      this.dialFailed(peer, out, NetErrorKind.HandshakeTimeout, `client${peer.id} (${where}) did not complete the handshake within ${this.mesh.handshakeTimeoutMs} ms; retrying`, 'info');
    }, this.mesh.handshakeTimeoutMs);
    socket.once(ready, () => {
      if (peer.out !== out) return;
      out.handshake = new DialerHandshake({
        self: this.mesh.self, cluster: this.mesh.cluster, genesis: this.mesh.genesis, peer: peer.id, where,
        height: this.mesh.height(), incarnation: this.mesh.incarnation, conn: out.conn,
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
        if (this.mesh.security !== null && hint !== tlsIdentityOf(peer.id)) {
          this.dialFailed(peer, out, NetErrorKind.BadHandshake, `client${peer.id} (${out.where}) named itself ${JSON.stringify(hint)} in TLS; check the peer addresses in the config`, 'warn');
          return;
        }
        if (out.timer !== null) clearTimeout(out.timer);
        out.timer = null;
        out.welcomed = true;
        peer.height = step.welcome.height;
        peer.incarnation = step.welcome.incarnation;
        if (peer.link.held || peer.link.delay !== null) this.putLink(peer, out);
        peer.redial.attempt = 0;
        peer.redial.logged.clear();
        this.mesh.touch(peer);
        this.log.info({ peer: peer.id, addr: out.where }, `outgoing channel to client${peer.id} is up`);
        this.mesh.checkUp(peer);
        return;
      }
    }
  }

  /**
   * What the peer's name resolved to on this dial. A name that does not resolve is said when it
   * starts not resolving (not on every redial), and again only after it resolved in between.
   */
  private looked(peer: Peer, out: Outgoing, err: Error | null, address: string): void {
    if (peer.out !== out) return;
    const name = `client${peer.id}'s host name ${peer.host}`;
    if (err !== null) {
      out.unresolved = true;
      // ENOTFOUND: no such name (yet); EAI_AGAIN: no DNS answer. Either way: try again later.
      const code = (err as NodeJS.ErrnoException).code;
      const line = `${name} does not resolve (${code ?? describeError(err)}); looking it up again at every redial`;
      peer.lastError = line;
      if (peer.dns.unresolved) {
        this.log.debug({ peer: peer.id, kind: NetErrorKind.Unresolved }, line);
        return;
      }
      peer.dns = { unresolved: true, address: peer.dns.address };
      this.log.warn({ peer: peer.id, kind: NetErrorKind.Unresolved, host: peer.host }, line);
      this.mesh.problem(line);
      return;
    }
    const before = peer.dns;
    peer.dns = { unresolved: false, address };
    if (before.unresolved) this.log.info({ peer: peer.id, host: peer.host, address }, `${name} resolves now, to ${address}`);
    else if (before.address !== null && before.address !== address) {
      this.log.info({ peer: peer.id, host: peer.host, address, was: before.address }, `${name} now resolves to ${address} (was ${before.address})`);
    } else this.log.debug({ peer: peer.id, host: peer.host, address }, `${name} resolves to ${address}`);
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
    if (level === 'warn') this.mesh.problem(problem);
  }

  private outgoingClosed(peer: Peer, out: Outgoing, problem: ChannelProblem | null): void {
    this.forget(out);
    if (peer.out !== out) return;
    peer.out = null;
    this.mesh.touch(peer);
    if (problem !== null && !this.mesh.isClosed()) {
      if (out.unresolved) {
        // Said by looked(), once; the connect error is the same news again.
      } else if (!out.welcomed) {
        // A connect that failed: TLS trouble is said plainly; network trouble as it is.
        const tls = problem.cause instanceof Error ? describeDialFailure(problem.cause, this.mesh.security !== null) : null;
        // Without a secret, a peer that hangs up on our HELLO is most likely a TLS listener.
        const hungUp = this.mesh.security === null && out.handshake !== null && problem.kind === 'socket' && /closed|ECONNRESET|EPIPE/.test(problem.message);
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
    this.mesh.sessionLost(peer);
  }

  /**
   * Puts the link in front of an outgoing channel, once per connection: from then on the
   * channel's frames pass through it, so that holding and delaying keep their order.
   */
  putLink(peer: Peer, out: Outgoing): LinkSink {
    if (out.link !== null) return out.link;
    const link = new LinkSink(out.channel, peer.link, {
      maxBytes: this.mesh.maxQueuedBytes,
      // A link held for long under load would grow without end: the peer counts as not reading.
      onOverflow: (bytes) => out.channel.close({ kind: NetErrorKind.SlowConsumer, message: `${bytes} bytes wait on the held or delayed link` }),
    });
    out.link = link;
    out.sink = link;
    return link;
  }

  /** Stops the channel's handshake timer and its link. */
  forget(out: Outgoing): void {
    if (out.timer !== null) clearTimeout(out.timer);
    out.timer = null;
    out.link?.stop();
  }

  private scheduleDial(peer: Peer): void {
    if (this.mesh.isClosed() || peer.redial.timer !== null || peer.out !== null) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(peer.redial.attempt, 30));
    peer.redial.attempt++;
    // "Equal jitter": at least half the backoff, so peers restarted together do not dial in lockstep.
    const wait = base / 2 + Math.random() * (base / 2);
    peer.redial.timer = setTimeout(() => this.dial(peer), wait);
  }
}
