/**
 * The control socket's protocol: a running client listens on `<data-dir>/control.sock` and
 * answers typed requests, one JSON object per line each way, many in flight per connection.
 * Each request names a method of the daemon's API (`LedgerApi`) and is answered with its result.
 *
 *   {"id": 7, "type": "transfer", "to": 2, "amount": 450, "key": "rent-2026-11"}
 *   {"id": 7, "ok": true, "result": {"type": "transfer", "ok": true, "status": "SUCCESS", ...}}
 *   {"id": 8, "ok": false, "error": {"kind": "BAD_REQUEST", "message": "transfer: \"amount\" must be ..."}}
 *
 * A driver or a script with many transfers to make sends them in one request, and gets every
 * result, in its order, in one answer once the last is settled (each is a transfer of its own:
 * its own key, its own outcome):
 *
 *   {"id": 10, "type": "transfers", "transfers": [{"to": 2, "amount": 1}, {"to": 3, "amount": 5, "key": "k-2"}]}
 *   {"id": 10, "ok": true, "result": [{"type": "transfer", "ok": true, ...}, {"type": "transfer", ...}]}
 *
 * One request is not a call: `subscribe` is answered at once, and from then on the connection
 * also carries the client's live stream, each line a StreamFrame with the subscription's id:
 *
 *   {"id": 9, "type": "subscribe"}
 *   {"id": 9, "ok": true, "result": {"subscribed": true, "self": 1, "nodes": [1, 2, 3]}}
 *   {"id": 9, "stream": {"type": "trace", "events": [{"v": 1, "node": 1, "kind": "send", ...}]}}
 *   {"id": 9, "stream": {"type": "status", "status": {...}}}
 */
import path from 'node:path';
import type { NodeStatus } from '../../core/api.js';
import { TX_ID_PATTERN, TX_ID_RULE } from '../../core/limits.js';
import type { TraceEvent } from '../../core/trace-events.js';
import type { Cents, NodeId } from '../../core/types.js';
import { didYouMean } from '../../base/suggest.js';
import { MAX_DELAY_MS } from '../../net/link.js';
import type { BalancesView, LedgerApi, LinkView, MessageDelay, TransferOrder } from '../api.js';
import type { SnapshotRecord } from '../snapshot-record.js';
import type { DaemonErrorKind } from '../errors.js';

export const CONTROL_SOCKET = 'control.sock';
export const controlSocketPath = (dataDir: string): string => path.join(dataDir, CONTROL_SOCKET);

/** A request line longer than this is refused and its connection closed. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Transfers one `transfers` request may carry (a block's worth). */
export const MAX_TRANSFERS_PER_REQUEST = 1000;

export type ControlRequest =
  | { readonly type: 'identity' }
  /** Without a key, the client makes one; the answer carries it (`txId`). */
  | { readonly type: 'transfer'; readonly to: NodeId; readonly amount: Cents; readonly key?: string }
  /** Many transfers at once, each as `transfer` takes it; answered with every result, in order. */
  | { readonly type: 'transfers'; readonly transfers: readonly TransferOrder[] }
  | { readonly type: 'tx'; readonly key: string }
  | { readonly type: 'withdraw'; readonly key: string }
  | { readonly type: 'snapshot' }
  | { readonly type: 'balances' }
  | { readonly type: 'chain'; readonly last?: number }
  | { readonly type: 'peers' }
  | { readonly type: 'status' }
  | { readonly type: 'snapshots' }
  | { readonly type: 'savedSnapshot'; readonly snapshotId: string }
  | { readonly type: 'links' }
  /** Exactly one of `held` (hold or release) and `delay` (null: none). */
  | { readonly type: 'link'; readonly peer: NodeId; readonly held?: boolean; readonly delay?: MessageDelay | null }
  /**
   * `maxEventsPerSecond`: at most this many trace events in each second of the client's clock; the
   * rest of that second's are left out, counted (a page that cannot draw more asks for no more).
   */
  | { readonly type: 'subscribe'; readonly maxEventsPerSecond?: number };

export type RequestType = ControlRequest['type'];
/** The requests that are calls of the API. */
export type ApiRequestType = Exclude<RequestType, 'subscribe'>;

/** The answer to `subscribe`: who is watched. */
export interface Subscribed {
  readonly subscribed: true;
  readonly self: NodeId;
  readonly nodes: readonly NodeId[];
}

/** What each request is answered with: the result of the API method of the same name. */
export type ControlResults = { readonly [T in ApiRequestType]: Awaited<ReturnType<LedgerApi[T]>> } & { readonly subscribe: Subscribed };

/** A client's state as a subscriber sees it, sent when it changes (at most a few times a second). */
export interface LiveStatus {
  readonly node: NodeStatus;
  readonly balances: BalancesView;
  readonly links: readonly LinkView[];
  /** Messages sent to and received from each peer so far (rates per channel come from these, whatever was left out). */
  readonly traffic: readonly { readonly peer: NodeId; readonly sent: number; readonly received: number }[];
}

/** One item of a live stream. */
export type StreamItem =
  | { readonly type: 'trace'; readonly events: readonly TraceEvent[] }
  | { readonly type: 'status'; readonly status: LiveStatus }
  | { readonly type: 'snapshot'; readonly record: SnapshotRecord }
  /** Trace events left out since it subscribed (a running total): the subscriber fell behind, or asked for fewer. */
  | { readonly type: 'dropped'; readonly events: number };

/** A line of a live stream: the subscription's id (the subscribe request's) and one item. */
export interface StreamFrame {
  readonly id: number;
  readonly stream: StreamItem;
}

/** A request on the wire: the request and the id its answer carries back. */
export type RequestFrame = ControlRequest & { readonly id: number };

export const RefusalKind = {
  /** Not JSON, not a known request, or a field of the wrong type. */
  BadRequest: 'BAD_REQUEST',
  /** Longer than MAX_REQUEST_BYTES; the connection is closed after this answer. */
  TooLong: 'TOO_LONG',
  /** The daemon failed in a way it did not expect; its log says more. */
  Internal: 'INTERNAL',
} as const;
export type RefusalKind = (typeof RefusalKind)[keyof typeof RefusalKind] | DaemonErrorKind;

export interface Refusal {
  readonly kind: RefusalKind;
  readonly message: string;
}

export type AnswerFrame =
  | { readonly id: number; readonly ok: true; readonly result: ControlResults[RequestType] }
  /** `id` is null when the request had none that could be read. */
  | { readonly id: number | null; readonly ok: false; readonly error: Refusal };

/** The fields each request takes besides `id` and `type`, and whether each must be there. */
const FIELDS: { readonly [T in RequestType]: Readonly<Record<string, 'required' | 'optional'>> } = {
  identity: {},
  transfer: { to: 'required', amount: 'required', key: 'optional' },
  transfers: { transfers: 'required' },
  tx: { key: 'required' },
  withdraw: { key: 'required' },
  snapshot: {},
  balances: {},
  chain: { last: 'optional' },
  peers: {},
  status: {},
  snapshots: {},
  savedSnapshot: { snapshotId: 'required' },
  links: {},
  link: { peer: 'required', held: 'optional', delay: 'optional' },
  subscribe: { maxEventsPerSecond: 'optional' },
};
const TYPES = Object.keys(FIELDS) as RequestType[];

const SNAPSHOT_ID = /^[0-9]+\.[0-9]+$/;

const isRequestType = (t: unknown): t is RequestType => typeof t === 'string' && Object.hasOwn(FIELDS, t);
const positiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isKey = (v: unknown): boolean => typeof v === 'string' && TX_ID_PATTERN.test(v);
const KEY_PROBLEM = `"key" must be a transfer key (${TX_ID_RULE})`;

export type ParsedRequest = { readonly ok: true; readonly frame: RequestFrame } | { readonly ok: false; readonly id: number | null; readonly error: string };

/** Reads one request line; anything that is not a well-formed request is a one-line error, never a throw. */
export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, id: null, error: 'a request is one JSON object per line, e.g. {"id": 1, "type": "status"}' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, id: null, error: 'a request is a JSON object, e.g. {"id": 1, "type": "status"}' };
  const r = value as Readonly<Record<string, unknown>>;
  const id = r.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { ok: false, id: null, error: '"id" must be a whole number (it comes back with the answer)' };
  const type = r.type;
  if (!isRequestType(type)) {
    const guess = typeof type === 'string' ? didYouMean(type, TYPES) : null;
    const known = `the types are ${TYPES.join(', ')}`;
    return { ok: false, id, error: typeof type === 'string' ? `unknown request type "${type}"${guess === null ? '' : ` — did you mean "${guess}"?`} (${known})` : `"type" is missing (${known})` };
  }
  const fields = FIELDS[type];
  for (const key of Object.keys(r)) {
    if (key !== 'id' && key !== 'type' && !Object.hasOwn(fields, key)) return { ok: false, id, error: `${type}: unknown field "${key}"` };
  }
  for (const [key, need] of Object.entries(fields)) if (need === 'required' && !(key in r)) return { ok: false, id, error: `${type}: "${key}" is missing` };
  const problem = fieldProblem(type, r);
  return problem === null ? { ok: true, frame: r as unknown as RequestFrame } : { ok: false, id, error: `${type}: ${problem}` };
}

/** What is wrong with the fields of a request of a known type, or null. */
function fieldProblem(type: RequestType, r: Readonly<Record<string, unknown>>): string | null {
  switch (type) {
    case 'transfer':
      return transferProblem(r);
    case 'transfers': {
      const list = r.transfers;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TRANSFERS_PER_REQUEST) {
        return `"transfers" must be a list of 1 to ${MAX_TRANSFERS_PER_REQUEST} transfers, each {"to": ..., "amount": ..., "key": ... (optional)}`;
      }
      for (let i = 0; i < list.length; i++) {
        const t: unknown = list[i];
        if (typeof t !== 'object' || t === null || Array.isArray(t)) return `transfers[${i}] must be {"to": ..., "amount": ..., "key": ... (optional)}`;
        const order = t as Readonly<Record<string, unknown>>;
        for (const key in order) if (!Object.hasOwn(FIELDS.transfer, key)) return `transfers[${i}]: unknown field "${key}"`;
        const problem = transferProblem(order);
        if (problem !== null) return `transfers[${i}]: ${problem}`;
      }
      return null;
    }
    case 'tx':
    case 'withdraw':
      return isKey(r.key) ? null : KEY_PROBLEM;
    case 'chain':
      return r.last === undefined || positiveInteger(r.last) ? null : '"last" must be a positive whole number of blocks';
    case 'savedSnapshot':
      return typeof r.snapshotId === 'string' && SNAPSHOT_ID.test(r.snapshotId) ? null : '"snapshotId" must be a snapshot id like "1.3"';
    case 'link':
      if (!positiveInteger(r.peer)) return '"peer" must be a client id (a positive whole number)';
      if (('held' in r) === ('delay' in r)) return 'give exactly one of "held" (true or false) and "delay" ({"minMs": ..., "maxMs": ...} or null)';
      if ('held' in r) return typeof r.held === 'boolean' ? null : '"held" must be true or false';
      return r.delay === null || isDelay(r.delay) ? null : `"delay" must be {"minMs": a, "maxMs": b} with 0 <= a <= b <= ${MAX_DELAY_MS}, or null`;
    case 'identity':
    case 'snapshot':
    case 'balances':
    case 'peers':
    case 'status':
    case 'subscribe':
      return r.maxEventsPerSecond === undefined || positiveInteger(r.maxEventsPerSecond) ? null : '"maxEventsPerSecond" must be a positive whole number';
    case 'snapshots':
    case 'links':
      return null;
  }
}

/** What is wrong with one transfer's fields (`transfer`, or one of `transfers`), or null. */
function transferProblem(r: Readonly<Record<string, unknown>>): string | null {
  if (!positiveInteger(r.to)) return '"to" must be a client id (a positive whole number)';
  if (!positiveInteger(r.amount)) return '"amount" must be a positive whole number of cents';
  return r.key === undefined || isKey(r.key) ? null : KEY_PROBLEM;
}

function isDelay(v: unknown): v is MessageDelay {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const d = v as Readonly<Record<string, unknown>>;
  const whole = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return Object.keys(d).every((k) => k === 'minMs' || k === 'maxMs') && whole(d.minMs) && whole(d.maxMs) && d.minMs <= d.maxMs && d.maxMs <= MAX_DELAY_MS;
}
