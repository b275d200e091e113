/**
 * The validating guard for everything that arrives from a peer. Anything malformed is rejected as
 * a value (never an uncaught throw): the connection that sent it is closed, the client goes on.
 */
import { MAX_HEIGHT, MAX_RECORDED_MESSAGES, MAX_REPORT_ERROR_LENGTH, MAX_TIMESTAMP, MAX_TXS_PER_BLOCK, MAX_VIEW, TX_ID_PATTERN, TX_ID_RULE } from './limits.js';
import { isDigest } from './digest.js';
import type { Block, ChannelRecord, LocalSnapshot, Message, NodeId, QueueEntry, RecordedState, SnapshotId, Tx } from './types.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Blocks in one BLOCKS message. The frame size is what really bounds a message; this only caps
 * the work a frame of tiny blocks can cause.
 */
export const MAX_BLOCKS_PER_MESSAGE = 65_536;

/** Thrown only inside this module and turned into a `Validated` error at its boundary. */
class Invalid {
  constructor(readonly error: string) {}
}

function fail(path: string, what: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value === 'object' ? (value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object') : String(value);
  throw new Invalid(`${path}: expected ${what}, got ${shown}`);
}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  return v as Obj;
}

function int(v: unknown, path: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(path, `an integer >= ${min}`, v);
  return v;
}

/** Timestamps and heights have a ceiling far above any real run (see limits.ts). */
function bounded(v: unknown, path: string, max: number, min = 0): number {
  const n = int(v, path, min);
  if (n > max) fail(path, `at most ${max}`, n);
  return n;
}

function node(v: unknown, path: string, nodes: ReadonlySet<NodeId>): NodeId {
  if (typeof v !== 'number' || !nodes.has(v)) fail(path, 'a known client id', v);
  return v;
}

function hash(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) fail(path, 'a 64-digit hex hash', v);
  return v;
}

function arr(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(path, 'an array', v);
  if (v.length > max) fail(path, `at most ${max} items`, `${v.length} items`);
  return v;
}

function tx(v: unknown, path: string, nodes: ReadonlySet<NodeId>): Tx {
  const o = obj(v, path);
  if (typeof o.id !== 'string' || !TX_ID_PATTERN.test(o.id)) fail(`${path}.id`, `a transfer key (${TX_ID_RULE})`, o.id);
  const amount = int(o.amount, `${path}.amount`, 1);
  return { id: o.id, from: node(o.from, `${path}.from`, nodes), to: node(o.to, `${path}.to`, nodes), amount };
}

function block(v: unknown, path: string, nodes: ReadonlySet<NodeId>): Block {
  const o = obj(v, path);
  const txs = arr(o.txs, `${path}.txs`, MAX_TXS_PER_BLOCK).map((t, i) => tx(t, `${path}.txs[${i}]`, nodes));
  return {
    height: bounded(o.height, `${path}.height`, MAX_HEIGHT, 1),
    prevHash: hash(o.prevHash, `${path}.prevHash`),
    ts: bounded(o.ts, `${path}.ts`, MAX_TIMESTAMP),
    creator: node(o.creator, `${path}.creator`, nodes),
    txs,
    hash: hash(o.hash, `${path}.hash`),
  };
}

function snapshotId(v: unknown, path: string, nodes: ReadonlySet<NodeId>): SnapshotId {
  const o = obj(v, path);
  return { initiator: node(o.initiator, `${path}.initiator`, nodes), seq: int(o.seq, `${path}.seq`, 1) };
}

function queueEntry(v: unknown, path: string, nodes: ReadonlySet<NodeId>): QueueEntry {
  const o = obj(v, path);
  return { ts: bounded(o.ts, `${path}.ts`, MAX_TIMESTAMP), node: node(o.node, `${path}.node`, nodes) };
}

function digest(v: unknown, path: string): string {
  if (!isDigest(v)) fail(path, 'a 16-digit hex channel digest', v);
  return v;
}

function channelRecord(v: unknown, path: string, nodes: ReadonlySet<NodeId>): ChannelRecord {
  const o = obj(v, path);
  return {
    peer: node(o.peer, `${path}.peer`, nodes), sent: int(o.sent, `${path}.sent`), received: int(o.received, `${path}.received`),
    sentDigest: digest(o.sentDigest, `${path}.sentDigest`), receivedDigest: digest(o.receivedDigest, `${path}.receivedDigest`),
    lastReceivedTs: bounded(o.lastReceivedTs, `${path}.lastReceivedTs`, MAX_TIMESTAMP),
  };
}

function recordedState(v: unknown, path: string, nodes: ReadonlySet<NodeId>): RecordedState {
  const o = obj(v, path);
  const b = obj(o.balances, `${path}.balances`);
  const balances: Record<string, number> = {};
  for (const [k, amount] of Object.entries(b)) {
    node(Number(k), `${path}.balances key`, nodes);
    // Negative values are representable on purpose: a broken replica must be reportable.
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) fail(`${path}.balances.${k}`, 'an integer', amount);
    balances[k] = amount;
  }
  if (typeof o.head !== 'string' || !/^[0-9a-f]{64}$/.test(o.head)) fail(`${path}.head`, 'a 64-digit hex hash', o.head);
  const self = node(o.node, `${path}.node`, nodes);
  const channels = arr(o.channels, `${path}.channels`, nodes.size).map((x, i) => channelRecord(x, `${path}.channels[${i}]`, nodes));
  // A client records every channel, used or not: one left out would read as "nothing sent or received".
  const others = [...nodes].filter((n) => n !== self).sort((a, b) => a - b);
  const peers = channels.map((c) => c.peer);
  if (peers.length !== others.length || !others.every((n) => peers.includes(n))) {
    const named = (ids: readonly NodeId[]): string => ids.map((n) => `client${n}`).join(', ') || 'none';
    fail(`${path}.channels`, `one record for each other client (${named(others)})`, named(peers));
  }
  return {
    node: self,
    clock: bounded(o.clock, `${path}.clock`, MAX_TIMESTAMP),
    height: bounded(o.height, `${path}.height`, MAX_HEIGHT),
    head: o.head,
    balances,
    pendingBlocks: arr(o.pendingBlocks, `${path}.pendingBlocks`, MAX_RECORDED_MESSAGES).map((x, i) => block(x, `${path}.pendingBlocks[${i}]`, nodes)),
    queue: arr(o.queue, `${path}.queue`, nodes.size).map((x, i) => queueEntry(x, `${path}.queue[${i}]`, nodes)),
    channels,
  };
}

function localSnapshot(v: unknown, path: string, nodes: ReadonlySet<NodeId>): LocalSnapshot {
  const o = obj(v, path);
  const channels = arr(o.channels, `${path}.channels`, nodes.size).map((c, i) => {
    const co = obj(c, `${path}.channels[${i}]`);
    const messages = arr(co.messages, `${path}.channels[${i}].messages`, MAX_RECORDED_MESSAGES).map((m, j) => {
      const inner = message(m, `${path}.channels[${i}].messages[${j}]`, nodes);
      // Channel states hold application messages only; a nested report would be unbounded.
      if (inner.type === 'REPORT' || inner.type === 'MARKER') fail(`${path}.channels[${i}].messages[${j}].type`, 'an application message', inner.type);
      return inner;
    });
    return { from: node(co.from, `${path}.channels[${i}].from`, nodes), messages };
  });
  return { state: recordedState(o.state, `${path}.state`, nodes), channels };
}

/**
 * A message as it arrives (`received`) moves the receiver's clock past its timestamp: one at the
 * bound would take the clock beyond what any peer accepts. A message recorded in a snapshot's
 * channel state moves no clock.
 */
function message(v: unknown, path: string, nodes: ReadonlySet<NodeId>, received = false): Message {
  const o = obj(v, path);
  const ts = bounded(o.ts, `${path}.ts`, MAX_TIMESTAMP);
  if (received && ts === MAX_TIMESTAMP) fail(`${path}.ts`, `below ${MAX_TIMESTAMP} (a timestamp at the bound would push this client's clock past it)`, ts);
  switch (o.type) {
    case 'REQUEST':
    case 'REPLY':
      return { type: o.type, ts, height: bounded(o.height, `${path}.height`, MAX_HEIGHT), view: bounded(o.view, `${path}.view`, MAX_VIEW) };
    case 'RELEASE':
      return {
        type: 'RELEASE', ts, height: bounded(o.height, `${path}.height`, MAX_HEIGHT), view: bounded(o.view, `${path}.view`, MAX_VIEW),
        block: o.block === null ? null : block(o.block, `${path}.block`, nodes),
      };
    case 'MARKER':
      return { type: 'MARKER', ts, snapshot: snapshotId(o.snapshot, `${path}.snapshot`, nodes) };
    case 'REPORT': {
      const snapshot = snapshotId(o.snapshot, `${path}.snapshot`, nodes);
      if (o.local === null) {
        if (typeof o.error !== 'string' || o.error.length === 0 || o.error.length > MAX_REPORT_ERROR_LENGTH) fail(`${path}.error`, 'a reason for the missing report', o.error);
        return { type: 'REPORT', ts, snapshot, local: null, error: o.error };
      }
      return { type: 'REPORT', ts, snapshot, local: localSnapshot(o.local, `${path}.local`, nodes) };
    }
    case 'FETCH':
      return { type: 'FETCH', ts, from: bounded(o.from, `${path}.from`, MAX_HEIGHT, 1) };
    case 'BLOCKS': {
      if (typeof o.last !== 'boolean') fail(`${path}.last`, 'a boolean', o.last);
      const blocks = arr(o.blocks, `${path}.blocks`, MAX_BLOCKS_PER_MESSAGE).map((b, i) => block(b, `${path}.blocks[${i}]`, nodes));
      return { type: 'BLOCKS', ts, blocks, last: o.last };
    }
    default:
      return fail(`${path}.type`, 'a message type', o.type);
  }
}

/** Validates an untrusted decoded value as a `Message` between the given nodes. */
export function validateMessage(value: unknown, nodes: ReadonlySet<NodeId>): Validated<Message> {
  try {
    return { ok: true, value: message(value, 'message', nodes, true) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.error };
    // Anything else (a stack overflow on absurd nesting, say) is still just bad input.
    return { ok: false, error: `message: unreadable (${e instanceof Error ? e.message : String(e)})` };
  }
}
