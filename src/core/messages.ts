/**
 * The validating guard for everything that arrives from a peer. Anything malformed is rejected as
 * a value (never an uncaught throw): the connection that sent it is closed, the client goes on.
 */
import { MAX_TXS_PER_BLOCK } from './ledger.js';
import type { Block, LocalSnapshot, Message, NodeId, QueueEntry, RecordedState, SnapshotId, Tx } from './types.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; error: string };

export const MAX_BLOCKS_PER_MESSAGE = 64;
export const MAX_RECORDED_MESSAGES = 100_000;
const MAX_TX_ID_LENGTH = 128;

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
  if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > MAX_TX_ID_LENGTH) fail(`${path}.id`, 'a transfer id', o.id);
  const amount = int(o.amount, `${path}.amount`, 1);
  return { id: o.id, from: node(o.from, `${path}.from`, nodes), to: node(o.to, `${path}.to`, nodes), amount };
}

function block(v: unknown, path: string, nodes: ReadonlySet<NodeId>): Block {
  const o = obj(v, path);
  const txs = arr(o.txs, `${path}.txs`, MAX_TXS_PER_BLOCK).map((t, i) => tx(t, `${path}.txs[${i}]`, nodes));
  return {
    height: int(o.height, `${path}.height`, 1),
    prevHash: hash(o.prevHash, `${path}.prevHash`),
    ts: int(o.ts, `${path}.ts`),
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
  return { ts: int(o.ts, `${path}.ts`), node: node(o.node, `${path}.node`, nodes) };
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
  return {
    node: node(o.node, `${path}.node`, nodes),
    clock: int(o.clock, `${path}.clock`),
    height: int(o.height, `${path}.height`),
    head: o.head,
    balances,
    pendingBlocks: arr(o.pendingBlocks, `${path}.pendingBlocks`, MAX_RECORDED_MESSAGES).map((x, i) => block(x, `${path}.pendingBlocks[${i}]`, nodes)),
    queue: arr(o.queue, `${path}.queue`, nodes.size).map((x, i) => queueEntry(x, `${path}.queue[${i}]`, nodes)),
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

function message(v: unknown, path: string, nodes: ReadonlySet<NodeId>): Message {
  const o = obj(v, path);
  const ts = int(o.ts, `${path}.ts`);
  switch (o.type) {
    case 'REQUEST':
    case 'REPLY':
      return { type: o.type, ts };
    case 'RELEASE':
      return { type: 'RELEASE', ts, block: o.block === null ? null : block(o.block, `${path}.block`, nodes) };
    case 'MARKER':
      return { type: 'MARKER', ts, snapshot: snapshotId(o.snapshot, `${path}.snapshot`, nodes) };
    case 'REPORT':
      return { type: 'REPORT', ts, snapshot: snapshotId(o.snapshot, `${path}.snapshot`, nodes), local: localSnapshot(o.local, `${path}.local`, nodes) };
    case 'BLOCKS':
      return { type: 'BLOCKS', ts, blocks: arr(o.blocks, `${path}.blocks`, MAX_BLOCKS_PER_MESSAGE).map((b, i) => block(b, `${path}.blocks[${i}]`, nodes)) };
    default:
      return fail(`${path}.type`, 'a message type', o.type);
  }
}

/** Validates an untrusted decoded value as a `Message` between the given nodes. */
export function validateMessage(value: unknown, nodes: ReadonlySet<NodeId>): Validated<Message> {
  try {
    return { ok: true, value: message(value, 'message', nodes) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.error };
    // Anything else (a stack overflow on absurd nesting, say) is still just bad input.
    return { ok: false, error: `message: unreadable (${e instanceof Error ? e.message : String(e)})` };
  }
}
