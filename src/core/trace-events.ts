/**
 * The protocol trace: the events each client appends to `<data-dir>/trace.bin` (a few bytes each,
 * see src/daemon/trace-format.ts), streams to a live view as JSON objects, and `client trace`
 * reads back. Every event is derived from the core's inputs and effects, so the simulator produces
 * the same events for a seed as a real client does for a run.
 *
 * Matching: a `send` on channel `chan` with sequence number `seq` is the `receive` with the same
 * `chan` and `seq` on the other client. `chan` names one directed connection (one session of one
 * channel: a reconnection gets a new name) and is the same string at both ends; `seq` counts the
 * protocol messages on it from 1. A send whose receive never appears was in flight when the trace
 * ended, or was lost with its connection. A broadcast is one send event per receiver, all with the
 * same clock. Of a snapshot's incoming channels, the one its first marker came on is recorded
 * empty and gets no channelStart or channelStop.
 */
import type { MessageType, NodeId } from './types.js';

export const TRACE_VERSION = 1;

export type TraceMessageType = MessageType;

interface TraceBase {
  readonly v: typeof TRACE_VERSION;
  /** The client that wrote the event. */
  readonly node: NodeId;
  /** Names one run of the client process (a restart starts a new run). */
  readonly run: string;
  /** Position of the event in its run, from 0: the order in which the client saw things happen. */
  readonly i: number;
  /** Wall-clock milliseconds since the epoch; for display only, never for ordering across clients. */
  readonly wall: number;
}

export type TraceEvent = TraceBase &
  (
    /** The client started, with its Lamport clock and chain height restored from disk. */
    | { readonly kind: 'start'; readonly nodes: readonly NodeId[]; readonly clock: number; readonly height: number }
    /** Both channels with `peer` are up: `out` is the name of this client's channel to it, `in` of its channel to this client. */
    | { readonly kind: 'peerUp'; readonly peer: NodeId; readonly out: string; readonly in: string }
    | { readonly kind: 'peerDown'; readonly peer: NodeId }
    /** A protocol message written to `to`. `ts` is its Lamport timestamp, `clock` this client's clock after the send. */
    | {
        readonly kind: 'send';
        readonly to: NodeId;
        readonly chan: string;
        readonly seq: number;
        readonly type: TraceMessageType;
        readonly ts: number;
        /** The message in one line, as logs and snapshot channel states show it. */
        readonly desc: string;
        readonly clock: number;
        /** MARKER and REPORT only: the snapshot id, like "3.1". */
        readonly snapshot?: string;
      }
    /** A protocol message received from `from`; the clock went from `clockBefore` to `clock` = max(clockBefore, ts) + 1. */
    | {
        readonly kind: 'receive';
        readonly from: NodeId;
        readonly chan: string;
        readonly seq: number;
        readonly type: TraceMessageType;
        readonly ts: number;
        readonly desc: string;
        readonly clockBefore: number;
        readonly clock: number;
        readonly snapshot?: string;
      }
    /** Entered the critical section at Lamport time `ts`, building on block `height`. */
    | { readonly kind: 'enter'; readonly ts: number; readonly height: number; readonly transfers: number }
    /** Left the critical section; `block` is the height of the block it committed, or null. */
    | { readonly kind: 'leave'; readonly ts: number; readonly block: number | null }
    /** A block was appended to this client's chain: its own (`from` null) or one from a peer. */
    | { readonly kind: 'commit'; readonly height: number; readonly hash: string; readonly creator: NodeId; readonly txs: number; readonly from: NodeId | null }
    /** Snapshot `snapshot`: this client recorded its local state here, at Lamport time `clock`. */
    | { readonly kind: 'record'; readonly snapshot: string; readonly clock: number; readonly height: number }
    /** Snapshot `snapshot`: recording of the channel from `from` to this client starts. */
    | { readonly kind: 'channelStart'; readonly snapshot: string; readonly from: NodeId }
    /** Snapshot `snapshot`: recording of the channel from `from` stops (its marker arrived), holding `messages` messages. */
    | { readonly kind: 'channelStop'; readonly snapshot: string; readonly from: NodeId; readonly messages: number }
  );

export type TraceEventKind = TraceEvent['kind'];
