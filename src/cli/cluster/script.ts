/**
 * `client cluster run FILE...`: command files against a running local cluster. Lines:
 * `<n|all> <command>` (waits for the result; a trailing `&` does not), `wait MS`, `settle`,
 * `expect ...` (see the README), `# comments`. A whole file is checked before any client starts
 * (`parseScript`: one error per bad line, with a suggestion); a run stops at the first failed expect.
 */
import { formatCents } from '../../core/money.js';
import type { Cents, NodeId } from '../../core/types.js';
import { sleep } from '../../cluster/spawner.js';
import { KindedError } from '../../base/errors.js';
import { didYouMean } from '../../base/suggest.js';
import { succeeded } from '../interpret.js';
import { findCommand, parseAmount, parseCommandLine, quote } from '../parse.js';
import { renderAnswer } from '../render.js';
import { parseClientId } from './language.js';
import type { ClusterSession } from './session.js';

export const ScriptErrorKind = {
  /** A line that is not an instruction of the language. */
  BadLine: 'BAD_LINE',
  /** An `expect` that did not hold. */
  ExpectFailed: 'EXPECT_FAILED',
  /** The file cannot be read. */
  Unreadable: 'UNREADABLE',
} as const;
export type ScriptErrorKind = (typeof ScriptErrorKind)[keyof typeof ScriptErrorKind];

/** `wrong.txt:2: expect failed: client1 sees client2 at $11.00, expected $99.00` */
export class ScriptError extends KindedError<ScriptErrorKind> {
  constructor(
    kind: ScriptErrorKind,
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(kind, line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
  }
}

export type Expectation =
  | { readonly type: 'result'; readonly ok: boolean }
  | { readonly type: 'snapshotVerified' }
  | { readonly type: 'converged' }
  | { readonly type: 'height'; readonly clients: readonly NodeId[]; readonly height: number }
  | { readonly type: 'balance'; readonly clients: readonly NodeId[]; readonly of: NodeId; readonly cents: Cents };

export type Instruction =
  | { readonly type: 'send'; readonly clients: readonly NodeId[]; readonly command: string; readonly background: boolean }
  | { readonly type: 'wait'; readonly ms: number }
  | { readonly type: 'settle' }
  | { readonly type: 'expect'; readonly expectation: Expectation };

/** An instruction with the line it came from. */
export interface ScriptStep {
  readonly no: number;
  readonly text: string;
  readonly instruction: Instruction;
}

export interface Script {
  readonly file: string;
  readonly steps: readonly ScriptStep[];
}

export type ScriptParse = { readonly ok: true; readonly script: Script } | { readonly ok: false; readonly errors: readonly ScriptError[] };

const INSTRUCTION_WORDS = ['wait', 'settle', 'expect', 'all'] as const;
const EXPECT_FORMS = 'expect ok | failed | snapshot verified | converged | <n|all> height <h> | <n|all> balance <m> <amount>';

type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** `<n>` or `all` as the clients an instruction is about. */
function parseTargets(word: string, ids: readonly NodeId[]): Checked<readonly NodeId[]> {
  if (word.toLowerCase() === 'all') return { ok: true, value: [...ids] };
  const who = parseClientId(word, ids);
  return who.ok ? { ok: true, value: [who.id] } : { ok: false, error: who.error };
}

function parseExpectation(args: readonly string[], ids: readonly NodeId[]): Checked<Expectation> {
  const [a = '', b, c, d, ...more] = args;
  const bad = (why: string): Checked<Expectation> => ({ ok: false, error: `expect: ${why} (${EXPECT_FORMS})` });
  const word = a.toLowerCase();
  if (word === 'ok' || word === 'failed') return b === undefined ? { ok: true, value: { type: 'result', ok: word === 'ok' } } : bad(`"${word}" takes nothing after it`);
  if (word === 'converged') return b === undefined ? { ok: true, value: { type: 'converged' } } : bad('"converged" takes nothing after it');
  if (word === 'snapshot') return b?.toLowerCase() === 'verified' && c === undefined ? { ok: true, value: { type: 'snapshotVerified' } } : bad('the form is "expect snapshot verified"');
  if (word === '') return bad('expect what?');
  if (!/^(?:client)?[0-9]+$/i.test(word) && word !== 'all') {
    const guess = didYouMean(word, ['ok', 'failed', 'snapshot', 'converged', 'all']);
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

/** One line of a command file; null for a blank line or a comment. */
function parseStep(text: string, ids: readonly NodeId[]): Checked<Instruction> | null {
  if (text === '') return null;
  const [word = '', ...args] = text.split(/\s+/);
  const lower = word.toLowerCase();
  if (lower === 'wait') {
    const [ms, ...more] = args;
    if (ms === undefined || !/^[0-9]{1,9}$/.test(ms) || more.length > 0) return { ok: false, error: 'wait takes milliseconds, e.g. wait 500' };
    return { ok: true, value: { type: 'wait', ms: Number(ms) } };
  }
  if (lower === 'settle') return args.length === 0 ? { ok: true, value: { type: 'settle' } } : { ok: false, error: 'settle takes no arguments' };
  if (lower === 'expect') {
    const e = parseExpectation(args, ids);
    return e.ok ? { ok: true, value: { type: 'expect', expectation: e.value } } : e;
  }
  if (lower === 'all' || /^(?:client)?[0-9]+$/i.test(word)) {
    const targets = parseTargets(word, ids);
    if (!targets.ok) return targets;
    const background = text.endsWith('&');
    const command = args.join(' ').replace(/\s*&$/, '').trim();
    if (command === '') return { ok: false, error: `what should ${word === 'all' ? 'every client' : `client${targets.value[0]}`} do? e.g. ${word} balance all` };
    // Each client parses it as its own REPL would: a recipient may be fine for one and not another.
    for (const id of targets.value) {
      const parsed = parseCommandLine(command, { self: id, nodes: ids });
      if (!parsed.ok) return { ok: false, error: targets.value.length > 1 ? `client${id}: ${parsed.error}` : parsed.error };
      if (parsed.command.type === 'exit') return { ok: false, error: 'exit is for a REPL; a command file ends at its last line' };
    }
    return { ok: true, value: { type: 'send', clients: targets.value, command, background } };
  }
  const guess = didYouMean(word, INSTRUCTION_WORDS);
  if (guess !== null) return { ok: false, error: `unknown instruction ${quote(word)} — did you mean "${guess}"?` };
  if (findCommand(word) !== undefined) return { ok: false, error: `address a client first, e.g. "1 ${text}" or "all ${text}"` };
  return { ok: false, error: `unknown instruction ${quote(word)}: a line is "<n|all> <command>", "wait MS", "settle" or "expect ..."` };
}

/** Checks a whole command file for the clients `ids`: every instruction, or every bad line. */
export function parseScript(file: string, content: string, ids: readonly NodeId[]): ScriptParse {
  const steps: ScriptStep[] = [];
  const errors: ScriptError[] = [];
  content.split('\n').forEach((raw, i) => {
    const text = raw.replace(/#.*$/, '').trim();
    const step = parseStep(text, ids);
    if (step === null) return;
    if (step.ok) steps.push({ no: i + 1, text, instruction: step.value });
    else errors.push(new ScriptError(ScriptErrorKind.BadLine, file, i + 1, step.error));
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, script: { file, steps } };
}

/** What `expect ok|failed|snapshot verified` look at: the last command's outcome. */
interface Outcome {
  readonly ok: boolean;
  /** Its first line, to say what it was. */
  readonly said: string;
}

/** Runs a checked script on a running cluster; throws a ScriptError at the first failed expect. */
export async function runScript(cluster: ClusterSession, script: Script, log: (line: string) => void): Promise<void> {
  const background: Promise<unknown>[] = [];
  let last: Outcome | null = null;
  let lastSnapshot: Outcome | null = null;
  for (const { no, text, instruction } of script.steps) {
    log(`> ${text}`);
    switch (instruction.type) {
      case 'wait':
        await sleep(instruction.ms);
        break;
      case 'settle':
        await Promise.all(background.splice(0));
        await cluster.settle();
        break;
      case 'expect': {
        await Promise.all(background.splice(0));
        try {
          log(`  ok: ${await check(cluster, instruction.expectation, last, lastSnapshot)}`);
        } catch (e) {
          throw new ScriptError(ScriptErrorKind.ExpectFailed, script.file, no, `expect failed: ${e instanceof Error ? e.message : String(e)}`);
        }
        break;
      }
      case 'send': {
        const answers = instruction.clients.map((id) => cluster.run(id, instruction.command).then((answer) => ({ id, answer })));
        const run = (async (): Promise<void> => {
          // Logged in client order; `expect ok` holds when every client's command succeeded.
          let outcome: Outcome | null = null;
          for (const pending of answers) {
            const { id, answer } = await pending;
            log(`  client${id}: ${renderAnswer(answer).replace(/\n/g, '\n    ')}`);
            const ok = succeeded(answer);
            if (outcome === null || (outcome.ok && !ok)) outcome = { ok, said: renderAnswer(answer).split('\n')[0] ?? '' };
            if (answer.type === 'snapshot') {
              const s = answer.answer;
              lastSnapshot = s.ok ? { ok: s.record.verified, said: s.record.verdict } : { ok: false, said: renderAnswer(answer) };
            }
          }
          last = outcome;
        })();
        if (instruction.background) background.push(run);
        else await run;
        break;
      }
    }
  }
  await Promise.all(background);
}

/** Whether an expectation holds; throws saying what was found instead. */
async function check(cluster: ClusterSession, e: Expectation, last: Outcome | null, lastSnapshot: Outcome | null): Promise<string> {
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
    case 'converged': {
      const views = await Promise.all(cluster.ids.map((id) => cluster.client(id).chain(1)));
      if (!views.every((v) => v.head === views[0]!.head)) throw new Error(`chains differ: ${views.map((v, i) => `client${cluster.ids[i]} #${v.height} ${v.head.slice(0, 8)}`).join(', ')}`);
      return `every chain at #${views[0]!.height} ${views[0]!.head.slice(0, 8)}`;
    }
    case 'height':
      for (const id of e.clients) {
        const h = (await cluster.client(id).chain(1)).height;
        if (h !== e.height) throw new Error(`client${id} is at height ${h}, expected ${e.height}`);
      }
      return `height ${e.height}`;
    case 'balance':
      for (const id of e.clients) {
        const got = (await cluster.client(id).balances()).balances[String(e.of)] ?? 0;
        if (got !== e.cents) throw new Error(`client${id} sees client${e.of} at ${formatCents(got)}, expected ${formatCents(e.cents)}`);
      }
      return `client${e.of} has ${formatCents(e.cents)}`;
  }
}
