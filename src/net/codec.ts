/**
 * Frame bodies: MessagePack maps. Two kinds share one encoding:
 *  - handshake frames, `type` HELLO / WELCOME / REFUSE, only before a connection is established
 *    (with a cluster secret, inside TLS like everything else on the connection);
 *  - message frames, the core `Message` itself, only after it.
 * No Message type collides with a handshake type, and each connection knows which kind it
 * expects next, so no extra envelope is needed.
 *
 * Decoding never throws: anything malformed comes back as a `NetError` value for the connection
 * to close itself with.
 */
import { Packr } from 'msgpackr';
import { validateMessage } from '../core/messages.js';
import type { Message, NodeId } from '../core/types.js';
import { blockBytes } from './block-bytes.js';
import { NetError, NetErrorKind, describeError } from './errors.js';

import { MAX_HEIGHT, MAX_VIEW } from '../core/limits.js';

/** Bumped whenever the wire format changes incompatibly. */
export const PROTOCOL_VERSION = 5;

export interface Hello {
  readonly type: 'HELLO';
  readonly protocol: number;
  readonly cluster: string;
  /** The dialer. */
  readonly node: NodeId;
  /** Whom the dialer thinks it dialed. */
  readonly to: NodeId;
  /** Genesis block hash (hex): identifies the cluster's config. */
  readonly genesis: string;
  /** The dialer's chain height, so the acceptor can send what it lacks first thing. */
  readonly height: number;
  /** Names the dialer's process run: a restarted client has a new one. */
  readonly incarnation: number;
  /** Names this connection (drawn by the dialer): both ends trace the channel under this name. */
  readonly conn: string;
}
export interface Welcome {
  readonly type: 'WELCOME';
  readonly node: NodeId;
  /** The acceptor's chain height. */
  readonly height: number;
  /** Names the acceptor's process run. */
  readonly incarnation: number;
}
export interface Refuse {
  readonly type: 'REFUSE';
  readonly reason: string;
}
export type HandshakeFrame = Hello | Welcome | Refuse;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: NetError };

/** Caps on handshake strings, so a hostile HELLO cannot make us log megabytes. */
const MAX_HANDSHAKE_STRING = 256;

/**
 * `useRecords: false`: plain MessagePack maps, readable by any decoder. Structured clone and the
 * extra types are off: the wire carries plain data only, and a peer must not be able to make us
 * build Sets, Errors, RegExps or reference cycles.
 */
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, int64AsType: 'number' });

function encode(value: unknown): Buffer {
  return packr.pack(value);
}

export function encodeHandshake(frame: HandshakeFrame): Buffer {
  return encode(frame);
}

/** MessagePack's nil: the one byte a map's last value takes when it is null. */
const NIL = 0xc0;

export function encodeMessage(message: Message): Buffer {
  if (message.type !== 'RELEASE' || message.block === null) return encode(message);
  // The block's bytes are the ones its chain record holds (block-bytes.ts): the map is packed
  // with the block last and null, and the block's encoding takes the place of that null.
  const head = encode({ type: message.type, ts: message.ts, height: message.height, view: message.view, block: null });
  if (head[head.length - 1] !== NIL) throw new Error('codec: a RELEASE head does not end in its null block');
  return Buffer.concat([head.subarray(0, head.length - 1), blockBytes(message.block)]);
}

function unpack(body: Uint8Array): Decoded<unknown> {
  try {
    return { ok: true, value: packr.unpack(body) as unknown };
  } catch (e) {
    return { ok: false, error: NetError.badFrame(describeError(e), e) };
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is NodeId => typeof v === 'number' && Number.isSafeInteger(v);
const isHeight = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_HEIGHT;
const isIncarnation = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_VIEW;
const isHex = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max && /^[0-9a-f]+$/.test(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_HANDSHAKE_STRING;

/** Decodes a message frame and validates it against the cluster's node ids. */
export function decodeMessage(body: Uint8Array, nodes: ReadonlySet<NodeId>): Decoded<Message> {
  const raw = unpack(body);
  if (!raw.ok) return raw;
  const checked = validateMessage(raw.value, nodes);
  return checked.ok ? checked : { ok: false, error: NetError.badMessage(checked.error) };
}

/**
 * Decodes a handshake frame. A HELLO with another protocol version is reported as
 * ProtocolMismatch (its other fields may mean something else in that version), so that the
 * acceptor can refuse it with a precise reason.
 */
export function decodeHandshake(body: Uint8Array): Decoded<HandshakeFrame> {
  const raw = unpack(body);
  if (!raw.ok) return raw;
  const v = raw.value;
  const bad = (detail: string): Decoded<HandshakeFrame> => ({ ok: false, error: NetError.badHandshake(detail) });
  if (!isObj(v)) return bad('expected a map');
  switch (v.type) {
    case 'HELLO': {
      if (typeof v.protocol !== 'number' || !Number.isSafeInteger(v.protocol)) return bad('HELLO.protocol: expected an integer');
      if (v.protocol !== PROTOCOL_VERSION) {
        return {
          ok: false,
          error: new NetError(
            NetErrorKind.ProtocolMismatch,
            `protocol version ${v.protocol} is not supported (this client speaks version ${PROTOCOL_VERSION}); run the same version of lamport-ledger everywhere`,
          ),
        };
      }
      if (!isStr(v.cluster)) return bad('HELLO.cluster: expected a string');
      if (!isId(v.node)) return bad('HELLO.node: expected a client id');
      if (!isId(v.to)) return bad('HELLO.to: expected a client id');
      if (!isStr(v.genesis)) return bad('HELLO.genesis: expected a string');
      if (!isHeight(v.height)) return bad('HELLO.height: expected a chain height');
      if (!isIncarnation(v.incarnation)) return bad('HELLO.incarnation: expected a 48-bit number');
      if (!isHex(v.conn, 32)) return bad('HELLO.conn: expected a connection name in hex');
      return { ok: true, value: { type: 'HELLO', protocol: v.protocol, cluster: v.cluster, node: v.node, to: v.to, genesis: v.genesis, height: v.height, incarnation: v.incarnation, conn: v.conn } };
    }
    case 'WELCOME':
      if (!isId(v.node)) return bad('WELCOME.node: expected a client id');
      if (!isHeight(v.height)) return bad('WELCOME.height: expected a chain height');
      if (!isIncarnation(v.incarnation)) return bad('WELCOME.incarnation: expected a 48-bit number');
      return { ok: true, value: { type: 'WELCOME', node: v.node, height: v.height, incarnation: v.incarnation } };
    case 'REFUSE':
      if (typeof v.reason !== 'string') return bad('REFUSE.reason: expected a string');
      // A reason is shown to users; keep it one bounded line whatever the peer sent.
      return { ok: true, value: { type: 'REFUSE', reason: v.reason.replace(/[\r\n]+/g, ' ').slice(0, 1000) } };
    default:
      return bad(`expected HELLO, WELCOME or REFUSE, got ${typeof v.type === 'string' ? JSON.stringify(v.type.slice(0, 40)) : typeof v.type}`);
  }
}
