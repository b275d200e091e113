/**
 * `expect ...` in the cluster's language: what a line may check (the last command's outcome, the
 * last snapshot's verdict, the chains, the balances) and the check itself, which says what it
 * found when the expectation does not hold.
 */
import { describeMessage } from '../../core/describe.js';
import { formatCents } from '../../core/money.js';
import type { Cents, NodeId } from '../../core/types.js';
import { didYouMean } from '../../base/suggest.js';
import type { SnapshotRecord } from '../../daemon/snapshot-record.js';
import { parseAmount, quote } from '../parse.js';
import { parseClientId } from './client-id.js';
import type { ClusterSession } from './session.js';

export type Expectation =
  | { readonly type: 'result'; readonly ok: boolean }
  | { readonly type: 'snapshotVerified' }
  /** The last snapshot's channels held exactly `count` messages (`atLeast`: `count` or more). */
  | { readonly type: 'snapshotInFlight'; readonly count: number; readonly atLeast: boolean }
  | { readonly type: 'converged' }
  | { readonly type: 'height'; readonly clients: readonly NodeId[]; readonly height: number }
  | { readonly type: 'balance'; readonly clients: readonly NodeId[]; readonly of: NodeId; readonly cents: Cents };

/** The words an expectation starts with, besides a client. */
export const EXPECT_WORDS = ['ok', 'failed', 'snapshot', 'converged', 'all'] as const;
const EXPECT_FORMS = 'expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>';

/** `in flight 2`, `in flight at least 1` (the words after `snapshot`), or null. */
function parseInFlight(words: readonly string[]): { count: number; atLeast: boolean } | null {
  const w = words.map((x) => x.toLowerCase());
  const atLeast = w[2] === 'at' && w[3] === 'least';
  const count = atLeast ? words[4] : words[2];
  if (w[0] !== 'in' || w[1] !== 'flight' || count === undefined || !/^[0-9]{1,9}$/.test(count) || words.length !== (atLeast ? 5 : 3)) return null;
  return { count: Number(count), atLeast };
}

type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** `2`, `client2` or `all` as clients of the cluster. */
function parseTargets(word: string, ids: readonly NodeId[]): Checked<readonly NodeId[]> {
  if (word.toLowerCase() === 'all') return { ok: true, value: [...ids] };
  const who = parseClientId(word, ids);
  return who.ok ? { ok: true, value: [who.id] } : { ok: false, error: who.error };
}

/** The words after `expect`. */
export function parseExpectation(args: readonly string[], ids: readonly NodeId[]): Checked<Expectation> {
  const [a = '', b, c, d, ...more] = args;
  const bad = (why: string): Checked<Expectation> => ({ ok: false, error: `expect: ${why} (${EXPECT_FORMS})` });
  const word = a.toLowerCase();
  if (word === 'ok' || word === 'failed') return b === undefined ? { ok: true, value: { type: 'result', ok: word === 'ok' } } : bad(`"${word}" takes nothing after it`);
  if (word === 'converged') return b === undefined ? { ok: true, value: { type: 'converged' } } : bad('"converged" takes nothing after it');
  if (word === 'snapshot') {
    if (b?.toLowerCase() === 'verified' && c === undefined) return { ok: true, value: { type: 'snapshotVerified' } };
    const inFlight = parseInFlight(args.slice(1));
    return inFlight !== null ? { ok: true, value: { type: 'snapshotInFlight', ...inFlight } } : bad('the forms are "expect snapshot verified" and "expect snapshot in flight [at least] <n>"');
  }
  if (word === '') return bad('expect what?');
  if (!/^(?:client)?[0-9]+$/i.test(word) && word !== 'all') {
    const guess = didYouMean(word, EXPECT_WORDS);
    return bad(`unknown expectation ${quote(a)}${guess === null ? '' : ` — did you mean "${guess}"?`}`);
  }
  const targets = parseTargets(a, ids);
  if (!targets.ok) return bad(targets.error);
  const what = (b ?? '').toLowerCase();
  if (what === 'height') {
    if (c === undefined || !/^[0-9]{1,15}$/.test(c) || d !== undefined) return bad(`"${a} height" takes a block height, e.g. expect ${a} height 3`);
    return { ok: true, value: { type: 'height', clients: targets.value, height: Number(c) } };
  }
  if (what === 'balance') {
    if (c === undefined || d === undefined || more.length > 0) return bad(`"${a} balance" takes a client and an amount, e.g. expect ${a} balance 2 13.25`);
    const of = parseClientId(c, ids);
    if (!of.ok) return bad(of.error);
    const amount = parseAmount(d);
    // Zero is a balance a client may well have, though parseAmount refuses it as a transfer.
    const zero = /^\$?(?:0+(?:\.0{1,2})?|\.0{1,2})$/.test(d);
    if (!amount.ok && !zero) return bad(amount.error);
    return { ok: true, value: { type: 'balance', clients: targets.value, of: of.id, cents: amount.ok ? amount.cents : 0 } };
  }
  const guess = didYouMean(what, ['height', 'balance']);
  return bad(b === undefined ? `expect ${a} what?` : `unknown expectation ${quote(b)}${guess === null ? '' : ` — did you mean "${guess}"?`}`);
}

/** What `expect ok|failed` looks at: a command's outcome. */
export interface Outcome {
  readonly ok: boolean;
  /** Its first line, to say what it was. */
  readonly said: string;
}

/** What `expect snapshot ...` looks at: the last snapshot's verdict, and its record when it completed. */
export interface SnapshotOutcome extends Outcome {
  readonly record: SnapshotRecord | null;
}

const messages = (n: number): string => `${n} message${n === 1 ? '' : 's'}`;

/** `2 messages in flight (2 -> 1 REPLY ts=3 at #0, 3 -> 1 REPLY ts=3 at #0)`. */
function inFlight(r: SnapshotRecord): string {
  const all = r.channels.flatMap((c) => c.messages.map((m) => `${c.from} -> ${c.to} ${describeMessage(m)}`));
  return `${messages(all.length)} in flight${all.length === 0 ? '' : ` (${all.join(', ')})`}`;
}

/** Whether an expectation holds: what was found when it does; throws saying what was found instead. */
export async function check(cluster: ClusterSession, e: Expectation, last: Outcome | null, lastSnapshot: SnapshotOutcome | null): Promise<string> {
  switch (e.type) {
    case 'result': {
      if (last === null) throw new Error('no command has run yet');
      if (last.ok !== e.ok) throw new Error(`the last command ${last.ok ? 'succeeded' : 'failed'}: ${last.said}`);
      return `last command ${e.ok ? 'ok' : 'failed'}`;
    }
    case 'snapshotVerified':
      if (lastSnapshot === null) throw new Error('no snapshot has been taken yet');
      if (!lastSnapshot.ok) throw new Error(lastSnapshot.said);
      return lastSnapshot.said;
    case 'snapshotInFlight': {
      if (lastSnapshot === null) throw new Error('no snapshot has been taken yet');
      const r = lastSnapshot.record;
      if (r === null) throw new Error(lastSnapshot.said);
      const n = r.channels.reduce((sum, c) => sum + c.messages.length, 0);
      const wanted = `${e.atLeast ? 'at least ' : ''}${messages(e.count)}`;
      if (e.atLeast ? n < e.count : n !== e.count) throw new Error(`snapshot ${r.id} had ${inFlight(r)}, expected ${wanted}`);
      return `snapshot ${r.id} had ${inFlight(r)}`;
    }
    case 'converged': {
      const views = await Promise.all(cluster.ids.map(async (id) => (await cluster.reach(id)).chain(1)));
      if (!views.every((v) => v.head === views[0]!.head)) throw new Error(`chains differ: ${views.map((v, i) => `client${cluster.ids[i]} #${v.height} ${v.head.slice(0, 8)}`).join(', ')}`);
      return `every chain at #${views[0]!.height} ${views[0]!.head.slice(0, 8)}`;
    }
    case 'height':
      for (const id of e.clients) {
        const h = (await (await cluster.reach(id)).chain(1)).height;
        if (h !== e.height) throw new Error(`client${id} is at height ${h}, expected ${e.height}`);
      }
      return `height ${e.height}`;
    case 'balance':
      for (const id of e.clients) {
        const got = (await (await cluster.reach(id)).balances()).balances[String(e.of)] ?? 0;
        if (got !== e.cents) throw new Error(`client${id} sees client${e.of} at ${formatCents(got)}, expected ${formatCents(e.cents)}`);
      }
      return `client${e.of} has ${formatCents(e.cents)}`;
  }
}
