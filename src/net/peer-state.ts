/**
 * What the mesh knows of each peer (its two channels, its session, its counters) and what the
 * dialer and the acceptor may ask of the mesh. The mesh owns the peers; the dialer fills `out`,
 * the acceptor fills `in`, and both report back through MeshContext.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../core/types.js';
import type { Channel, FrameSink } from './channel.js';
import type { LinkSettings, LinkSink } from './link.js';
import type { DialerHandshake } from './handshake.js';
import type { Security } from './transport.js';

/** Bound on remembered "already logged" problems, so a hostile dialer cannot grow them forever. */
export const MAX_LOGGED_PROBLEMS = 1000;

/** Our outgoing channel to a peer, from the connect until it is closed. */
export interface Outgoing {
  readonly channel: Channel;
  readonly conn: string;
  readonly where: string;
  readonly hint: () => string | null;
  handshake: DialerHandshake | null;
  welcomed: boolean;
  /** Where messages go: the channel, or the link (hold, delay) in front of it. */
  sink: FrameSink;
  link: LinkSink | null;
  timer: NodeJS.Timeout | null;
  /** The peer's host name did not resolve on this attempt (said by the lookup, not again as a connect error). */
  unresolved: boolean;
}

/** A connection accepted here, before and after its HELLO. */
export interface Incoming {
  readonly channel: Channel;
  readonly remote: string;
  readonly identity: string | null;
  /** Set once the HELLO is admitted. */
  peer: Peer | null;
  conn: string;
  /** A REFUSE was written: whatever else arrives is ignored until the socket is gone. */
  refused: boolean;
}

export interface Peer {
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
  /** Our link to this peer: held or delayed (`link hold`, `--delay`); kept across reconnections. */
  readonly link: LinkSettings;
  redial: { timer: NodeJS.Timeout | null; attempt: number; logged: Set<string> };
  /**
   * What the peer's host name resolved to on the last dial: an address, or `unresolved` when the
   * lookup failed. A failed lookup is said when it starts failing, not on every redial.
   */
  dns: { unresolved: boolean; address: string | null };
  since: number;
  sent: number;
  received: number;
  lastError: string | undefined;
}

export const remoteOf = (socket: net.Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

/** The mesh as its dialer and acceptor see it. */
export interface MeshContext {
  readonly self: NodeId;
  readonly cluster: string;
  readonly genesis: string;
  /** Every client id of the cluster, `self` included. */
  readonly nodes: ReadonlySet<NodeId>;
  /** This client's chain height now, announced in every handshake. */
  readonly height: () => number;
  readonly incarnation: number;
  readonly peers: ReadonlyMap<NodeId, Peer>;
  readonly security: Security | null;
  readonly maxFrameBytes: number;
  readonly maxQueuedBytes: number;
  readonly handshakeTimeoutMs: number;
  /** Resolves peers' host names; undefined: the system resolver. */
  readonly lookup: net.LookupFunction | undefined;
  readonly log: Logger;
  /** close() has begun: nothing new starts and no events fire. */
  isClosed(): boolean;
  /** A channel of `peer` changed state. */
  touch(peer: Peer): void;
  /** A channel of `peer` came up: the session starts if both are. */
  checkUp(peer: Peer): void;
  /** A channel of `peer` dropped: the session ends if it was up. */
  sessionLost(peer: Peer): void;
  /** A validated message on `peer`'s incoming channel, in channel order. */
  received(peer: Peer, message: Message): void;
  /** A line worth a person's attention (the mesh's 'problem' event). */
  problem(line: string): void;
}
