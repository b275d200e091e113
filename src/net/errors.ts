/**
 * Typed errors of the network layer (in the style of nats.js): one class, `NetError`, whose `kind`
 * says what went wrong so callers branch on a string rather than on `instanceof` chains, and
 * whose message can be shown to a person as is.
 */
import { KindedError } from '../base/errors.js';

export const NetErrorKind = {
  /** A frame header declared a body larger than the configured maximum. */
  FrameTooLarge: 'FRAME_TOO_LARGE',
  /** A frame body is not decodable MessagePack. */
  BadFrame: 'BAD_FRAME',
  /** A frame decoded, but is not a valid protocol message. */
  BadMessage: 'BAD_MESSAGE',
  /** A handshake frame (HELLO/WELCOME/REFUSE) is malformed or arrived out of place. */
  BadHandshake: 'BAD_HANDSHAKE',
  /** The peer speaks a different protocol version. */
  ProtocolMismatch: 'PROTOCOL_MISMATCH',
  /** The acceptor refused our HELLO (different config, duplicate connection, ...). */
  HandshakeRefused: 'HANDSHAKE_REFUSED',
  /** No handshake completed within the time limit. */
  HandshakeTimeout: 'HANDSHAKE_TIMEOUT',
  /** The peer sent bytes where the protocol allows none (e.g. on our outgoing channel). */
  UnexpectedData: 'UNEXPECTED_DATA',
  /** The peer does not read fast enough and too many bytes are queued for it. */
  SlowConsumer: 'SLOW_CONSUMER',
  /** A peer's host name did not resolve (not yet registered in DNS, or misspelt). */
  Unresolved: 'UNRESOLVED',
  /** The listening socket could not be opened. */
  ListenFailed: 'LISTEN_FAILED',
  /** A method was called in the wrong state (start() twice, address() before listening). */
  BadState: 'BAD_STATE',
} as const;
export type NetErrorKind = (typeof NetErrorKind)[keyof typeof NetErrorKind];

export class NetError extends KindedError<NetErrorKind> {
  static frameTooLarge(declared: number, max: number): NetError {
    return new NetError(
      NetErrorKind.FrameTooLarge,
      `frame of ${declared} bytes exceeds the maximum of ${max} bytes`,
    );
  }

  static badFrame(detail: string, cause?: unknown): NetError {
    return new NetError(NetErrorKind.BadFrame, `undecodable frame: ${detail}`, { cause });
  }

  static badMessage(detail: string): NetError {
    return new NetError(NetErrorKind.BadMessage, `invalid message: ${detail}`);
  }

  static badHandshake(detail: string): NetError {
    return new NetError(NetErrorKind.BadHandshake, `invalid handshake: ${detail}`);
  }
}

export function isNetError(e: unknown, kind?: NetErrorKind): e is NetError {
  return e instanceof NetError && (kind === undefined || e.kind === kind);
}

/** One line for a caught value, keeping errno codes (`ECONNREFUSED: connect ...`). */
export { describeCause as describeError } from '../base/errors.js';
