/**
 * The page's controls, carried out on the real processes: a transfer, a snapshot, a link held,
 * released or delayed (through the clients' control sockets), and stop, start and restart (through
 * the cluster that started the clients, when there is one). Each request body is checked here and
 * answered with one line, whatever was sent.
 */
import { describeCause } from '../base/errors.js';
import { formatCents } from '../core/money.js';
import { type NodeId, assertNever } from '../core/types.js';
import type { LinkChange } from '../daemon/api.js';
import type { ClientFeeds } from './feeds.js';

export type Action =
  | { readonly action: 'transfer'; readonly from: NodeId; readonly to: NodeId; readonly cents: number }
  | { readonly action: 'snapshot'; readonly from: NodeId }
  | { readonly action: 'stop' | 'start' | 'restart'; readonly client: NodeId }
  | { readonly action: 'hold' | 'release'; readonly from: NodeId; readonly to: NodeId }
  /** `ms` 0 takes the delay off. */
  | { readonly action: 'delay'; readonly from: NodeId; readonly to: NodeId; readonly ms: number }
  | { readonly action: 'demo' };

export type ActionName = Action['action'];

/** The processes of the clients, when the page's cluster started them. */
export interface Processes {
  /** How client `id`'s process is, in a few words (`running`, `stopped`, `exited (SIGKILL)`, ...). */
  state(id: NodeId): string;
  /** Each resolves with what happened, in one line; a refusal rejects with why. */
  stop(id: NodeId): Promise<string>;
  start(id: NodeId): Promise<string>;
  restart(id: NodeId): Promise<string>;
}

export interface ActionResult {
  readonly ok: boolean;
  readonly text: string;
}

/** The most a delay set from the page may be (a minute): longer is a mistake there. */
const MAX_PAGE_DELAY_MS = 60_000;
const MAX_CENTS = Number.MAX_SAFE_INTEGER;

type Parsed = { readonly ok: true; readonly action: Action } | { readonly ok: false; readonly error: string };

/** Reads one request body: an object naming its action and its clients, which must be the cluster's. */
export function parseAction(body: unknown, nodes: readonly NodeId[]): Parsed {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'an action is a JSON object, e.g. {"action": "snapshot", "from": 1}' };
  const b = body as Readonly<Record<string, unknown>>;
  const client = (key: string): NodeId | string => {
    const v = b[key];
    return typeof v === 'number' && nodes.includes(v) ? v : `"${key}" must be one of the clients ${nodes.join(', ')}`;
  };
  const pair = (): { from: NodeId; to: NodeId } | string => {
    const from = client('from');
    const to = client('to');
    if (typeof from === 'string') return from;
    if (typeof to === 'string') return to;
    return from === to ? `"from" and "to" must be two different clients, got ${from} twice` : { from, to };
  };
  switch (b.action) {
    case 'transfer': {
      const p = pair();
      if (typeof p === 'string') return { ok: false, error: `transfer: ${p}` };
      const cents = b.cents;
      if (typeof cents !== 'number' || !Number.isSafeInteger(cents) || cents <= 0 || cents > MAX_CENTS) return { ok: false, error: 'transfer: "cents" must be a positive whole number of cents' };
      return { ok: true, action: { action: 'transfer', ...p, cents } };
    }
    case 'snapshot': {
      const from = client('from');
      return typeof from === 'string' ? { ok: false, error: `snapshot: ${from}` } : { ok: true, action: { action: 'snapshot', from } };
    }
    case 'stop':
    case 'start':
    case 'restart': {
      const id = client('client');
      return typeof id === 'string' ? { ok: false, error: `${b.action}: ${id}` } : { ok: true, action: { action: b.action, client: id } };
    }
    case 'hold':
    case 'release': {
      const p = pair();
      return typeof p === 'string' ? { ok: false, error: `${b.action}: ${p}` } : { ok: true, action: { action: b.action, ...p } };
    }
    case 'delay': {
      const p = pair();
      if (typeof p === 'string') return { ok: false, error: `delay: ${p}` };
      const ms = b.ms;
      if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0 || ms > MAX_PAGE_DELAY_MS) return { ok: false, error: `delay: "ms" must be a whole number of milliseconds from 0 (none) to ${MAX_PAGE_DELAY_MS}` };
      return { ok: true, action: { action: 'delay', ...p, ms } };
    }
    case 'demo':
      return { ok: true, action: { action: 'demo' } };
    default:
      return { ok: false, error: `unknown action ${JSON.stringify(b.action)} (transfer, snapshot, stop, start, restart, hold, release, delay, demo)` };
  }
}

export interface ActionContext {
  readonly feeds: ClientFeeds;
  /** null: the clients were started elsewhere, and `noProcesses` says so. */
  readonly processes: Processes | null;
  readonly noProcesses: string;
  readonly demo: () => Promise<ActionResult>;
}

/** A short description of the action, for the page's log. */
export function describeAction(a: Action): string {
  switch (a.action) {
    case 'transfer':
      return `client${a.from} transfer ${formatCents(a.cents)} to client${a.to}`;
    case 'snapshot':
      return `snapshot from client${a.from}`;
    case 'stop':
    case 'start':
    case 'restart':
      return `${a.action} client${a.client}`;
    case 'hold':
    case 'release':
      return `${a.action} link ${a.from} -> ${a.to}`;
    case 'delay':
      return `delay link ${a.from} -> ${a.to} ${a.ms} ms`;
    case 'demo':
      return 'guided demo: a snapshot with messages in flight';
  }
}

export async function runAction(a: Action, ctx: ActionContext): Promise<ActionResult> {
  try {
    return await carryOut(a, ctx);
  } catch (e) {
    return { ok: false, text: describeCause(e) };
  }
}

async function carryOut(a: Action, ctx: ActionContext): Promise<ActionResult> {
  const reach = (id: NodeId) => {
    const c = ctx.feeds.client(id);
    if (c === null) throw new Error(ctx.feeds.absent(id));
    return c;
  };
  switch (a.action) {
    case 'transfer': {
      const r = await reach(a.from).transfer(a.to, a.cents);
      const what = `client${r.from} -> client${r.to}  ${formatCents(r.amount)}  key ${r.txId}`;
      switch (r.status) {
        case 'SUCCESS':
          return { ok: true, text: `SUCCESS  block #${r.block}  ${what}  (clock ${r.clock}, ${r.msgs} msgs)` };
        case 'FAILED':
          return { ok: false, text: `FAILED  ${r.error}  (key ${r.txId})` };
        case 'WITHDRAWN':
          return { ok: false, text: `WITHDRAWN  ${what}  (nothing moved)` };
        default:
          return assertNever(r);
      }
    }
    case 'snapshot': {
      const r = await reach(a.from).snapshot();
      return r.ok ? { ok: r.record.verified, text: `snapshot ${r.record.id}: ${r.record.verdict}` } : { ok: false, text: `FAILED  snapshot ${r.id}: ${r.error}` };
    }
    case 'hold':
    case 'release':
    case 'delay': {
      const change: LinkChange = a.action === 'delay' ? { delay: a.ms === 0 ? null : { minMs: a.ms, maxMs: a.ms } } : { held: a.action === 'hold' };
      const view = await reach(a.from).link(a.to, change);
      const link = view.links.find((l) => l.peer === a.to);
      const state = link === undefined ? '' : `${link.held ? 'held' : 'open'}${link.delay === null ? '' : `, ${link.delay.minMs} ms delay`}, ${link.waiting} waiting`;
      return { ok: true, text: `link ${a.from} -> ${a.to}: ${state}` };
    }
    case 'stop':
    case 'start':
    case 'restart': {
      if (ctx.processes === null) return { ok: false, text: `${a.action}: ${ctx.noProcesses}` };
      return { ok: true, text: await ctx.processes[a.action](a.client) };
    }
    case 'demo':
      return ctx.demo();
  }
}
