/**
 * What the live view's server tells the page, one JSON object per Server-Sent Event. History items
 * (events, snapshots, action results) carry an event id and can be resumed after a reconnection;
 * state items (who is connected, each client's state, the rates) are the latest of their kind
 * and are sent again whole instead. The page (web/*.js) reads exactly these shapes.
 */
import type { TraceEvent } from '../core/trace-events.js';
import type { NodeId } from '../core/types.js';
import type { LiveStatus } from '../daemon/control/protocol.js';

/** One trace event placed in the merged execution. */
export interface EventItem {
  readonly t: 'ev';
  readonly e: TraceEvent;
  /** Index of the client in `nodes`, and so in `vc`. */
  readonly lane: number;
  /** The vector clock: per client, how many of its events happened before or at this one. */
  readonly vc: readonly number[];
  /** The client's Lamport clock just before and after (events that state none keep the last). */
  readonly clockBefore: number;
  readonly clock: number;
  /** A receive whose send never reached the server (dropped, or its client's stream lagged too long). */
  readonly unmatched?: true;
}

/** A snapshot's verdict, as its initiator saved it (channel states cut short for the page). */
export interface SnapshotItem {
  readonly t: 'snapshot';
  readonly id: string;
  readonly initiator: NodeId;
  readonly verified: boolean;
  readonly verdict: string;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  readonly channels: readonly { readonly from: NodeId; readonly to: NodeId; readonly count: number; readonly messages: readonly string[] }[];
  readonly markers: number;
  readonly elapsedMs: number;
}

export type HistoryItem =
  | EventItem
  | SnapshotItem
  /** A client's stream left out `count` events (a running total per client): the page fell behind at the client. */
  | { readonly t: 'dropped'; readonly where: 'client'; readonly node: NodeId; readonly count: number }
  /** What a control did, as the page and every other watcher should see it. */
  | { readonly t: 'action'; readonly action: string; readonly ok: boolean; readonly text: string }
  /** A step of the guided demo. */
  | { readonly t: 'demo'; readonly step: number; readonly of: number; readonly text: string; readonly done: boolean };

/** Why stop, start and restart are or are not offered. */
export interface ProcessControl {
  readonly enabled: boolean;
  readonly reason: string;
}

export type StateItem =
  | {
      readonly t: 'hello';
      /** Names this server run: ids from another run cannot be resumed. */
      readonly instance: string;
      readonly mode: 'live' | 'replay';
      readonly nodes: readonly NodeId[];
      readonly title: string;
      readonly processes: ProcessControl;
      /** Whether a saved run can be replayed (the clients' data dirs are known). */
      readonly replay: boolean;
    }
  | {
      readonly t: 'status';
      readonly node: NodeId;
      /** The server has a live stream from the client. */
      readonly connected: boolean;
      /** Its process as the cluster knows it (`running`, `stopped`, ...), when the page's cluster started it. */
      readonly process: string | null;
      readonly status: LiveStatus | null;
      /** Why the server does not watch the client at all, when it does not (its data dir answers as another client). */
      readonly reason: string | null;
    }
  /**
   * The last second: events sent to the pages (`perSecond`), and per channel the messages sent
   * (`count`, from the clients' counters) and, of those drawn, how many of each type.
   */
  | { readonly t: 'rates'; readonly perSecond: number; readonly channels: readonly { readonly from: NodeId; readonly to: NodeId; readonly count: number; readonly types: Readonly<Record<string, number>> }[] };

/** Items sent to one page only. */
export type DirectItem =
  /** The page asked to resume from an event older than the server keeps: `count` events are gone. */
  | { readonly t: 'missed'; readonly count: number }
  /** The page read too slowly: `count` events were left out for it (a running total). */
  | { readonly t: 'dropped'; readonly where: 'server'; readonly count: number };

export type PageItem = HistoryItem | StateItem | DirectItem;
