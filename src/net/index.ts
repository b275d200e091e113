/** The network layer's public surface: the daemon needs nothing else from src/net/. */
export { Mesh, type MeshEvents, type MeshOptions, type PeerAddress, type PeerStatus, type OutgoingState, type IncomingState } from './mesh.js';
export { NetError, NetErrorKind, isNetError, describeError } from './errors.js';
export { FrameDecoder, encodeFrame, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, type FrameDecoderOptions } from './framing.js';
export {
  PROTOCOL_VERSION,
  decodeHandshake,
  decodeMessage,
  encodeHandshake,
  encodeMessage,
  type Decoded,
  type HandshakeFrame,
  type Hello,
  type Refuse,
  type Welcome,
} from './codec.js';
