/**
 * The REPL command language: one line in, one typed command (or a one-line error) out.
 * Pure: no I/O, so the REPL, `ctl`, the cluster prompt and command files all share it and tests
 * need nothing but strings.
 */
import { TX_ID_PATTERN, TX_ID_RULE } from '../core/limits.js';
import { formatCents } from '../core/money.js';
import type { Cents, NodeId } from '../core/types.js';
import { DEFAULT_CHAIN_LAST, type LinkChange } from '../daemon/api.js';
import { didYouMean } from '../base/suggest.js';

export interface ParseContext {
  /** The client this REPL belongs to. */
  readonly self: NodeId;
  /** Every client id in the cluster, self included. */
  readonly nodes: readonly NodeId[];
}

export interface CompletionContext extends ParseContext {
  /** Saved snapshot ids, offered after `snapshot show`. */
  readonly snapshotIds?: readonly string[];
}

export type BalanceTarget = 'self' | 'all' | NodeId;

export type ReplCommand =
  | { readonly type: 'empty' }
  /** `key` absent: whoever carries it out makes one. */
  | { readonly type: 'transfer'; readonly to: NodeId; readonly amount: Cents; readonly key?: string }
  /** What became of the transfer with this key. */
  | { readonly type: 'tx'; readonly key: string }
  /** `balance <own id>` is normalised to 'self'. */
  | { readonly type: 'balance'; readonly target: BalanceTarget }
  | { readonly type: 'snapshot' }
  | { readonly type: 'snapshots' }
  /** `html`: also write the space-time diagram around the snapshot to this file. */
  | { readonly type: 'snapshotShow'; readonly id: string; readonly html?: string }
  /** Print every message this client sends and receives as it happens (a client's own prompt only). */
  | { readonly type: 'trace'; readonly on: boolean }
  /** `last` absent: show the last DEFAULT_CHAIN_LAST blocks. */
  | { readonly type: 'chain'; readonly last?: number }
  | { readonly type: 'peers' }
  | { readonly type: 'status' }
  /** Show this client's link to each peer. */
  | { readonly type: 'links' }
  /** Hold, release or delay this client's link to `peer`. */
  | { readonly type: 'link'; readonly peer: NodeId; readonly change: LinkChange }
  /** Clear the screen, as Ctrl-L does (a prompt's own). */
  | { readonly type: 'clear' }
  /** `topic` is the canonical command name, aliases resolved. */
  | { readonly type: 'help'; readonly topic?: CommandName }
  | { readonly type: 'exit' };

export type ReplCommandType = ReplCommand['type'];

export type ParseResult = { readonly ok: true; readonly command: ReplCommand } | { readonly ok: false; readonly error: string };

export type AmountResult = { readonly ok: true; readonly cents: Cents } | { readonly ok: false; readonly error: string };

export type CommandName = 'transfer' | 'tx' | 'balance' | 'snapshot' | 'snapshots' | 'chain' | 'peers' | 'status' | 'trace' | 'link' | 'clear' | 'help' | 'exit';

export interface CommandSpec {
  readonly name: CommandName;
  readonly aliases: readonly string[];
  readonly usage: string;
  /** One line, for the `help` list. */
  readonly description: string;
  readonly examples: readonly string[];
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'transfer',
    aliases: ['t'],
    usage: 'transfer <to> <amount> [--id <key>]',
    description: 'move money from your account to another client (amount in dollars, up to 2 decimals; a key commits at most once, so a retry with --id never pays twice)',
    examples: ['transfer 2 4.50', 't client3 $10', 'transfer 2 4.50 --id rent-2026-11'],
  },
  {
    name: 'tx',
    aliases: [],
    usage: 'tx <key>',
    description: 'what became of the transfer with this key: committed (in which block), pending (waiting for what), withdrawn, failed or unknown',
    examples: ['tx rent-2026-11'],
  },
  {
    name: 'balance',
    aliases: ['b'],
    usage: 'balance [all | <client>]',
    description: "show a balance from this client's replica (yours by default)",
    examples: ['balance', 'balance all', 'balance 2'],
  },
  {
    name: 'snapshot',
    aliases: [],
    usage: 'snapshot [show <id> [--html <file>] | list]',
    description: 'take a Chandy-Lamport snapshot of the whole system, or show a saved one (--html: its space-time diagram)',
    examples: ['snapshot', 'snapshot show 1.3', 'snapshot show 1.3 --html 1.3.html'],
  },
  {
    name: 'snapshots',
    aliases: [],
    usage: 'snapshots',
    description: 'list the snapshots saved by this client',
    examples: ['snapshots'],
  },
  {
    name: 'chain',
    aliases: ['blockchain'],
    usage: 'chain [<count>]',
    description: `show the last blocks of the local blockchain (default ${DEFAULT_CHAIN_LAST})`,
    examples: ['chain', 'chain 50'],
  },
  { name: 'peers', aliases: [], usage: 'peers', description: 'show the connection state of every peer', examples: ['peers'] },
  {
    name: 'status',
    aliases: [],
    usage: 'status',
    description: 'show the Lamport clock, lock queue, chain head and pending work',
    examples: ['status'],
  },
  {
    name: 'trace',
    aliases: [],
    usage: 'trace on|off',
    description: 'print each message this client sends and receives, with its clock, as it happens',
    examples: ['trace on', 'trace off'],
  },
  {
    name: 'link',
    aliases: [],
    usage: 'link [hold|release <to> | delay <to> <ms>]',
    description: 'your link to each peer; hold one (your messages to it wait, in order), release it, or delay each message (0: none)',
    examples: ['link', 'link hold 3', 'link release 3', 'link delay 3 500', 'link delay 3 100-300', 'link delay 3 0'],
  },
  { name: 'clear', aliases: [], usage: 'clear', description: 'clear the screen (also Ctrl-L)', examples: ['clear'] },
  { name: 'help', aliases: ['?'], usage: 'help [<command>]', description: 'list commands, or explain one', examples: ['help', 'help transfer'] },
  { name: 'exit', aliases: ['quit'], usage: 'exit', description: 'leave the REPL and stop this client', examples: ['exit'] },
];

/** The command a word names (case-insensitive, aliases included), if any. */
export function findCommand(word: string): CommandSpec | undefined {
  const w = word.toLowerCase();
  return COMMANDS.find((c) => c.name === w || c.aliases.includes(w));
}

/** Every word that starts a command: names then aliases. */
const COMMAND_WORDS: readonly string[] = [...COMMANDS.map((c) => c.name), ...COMMANDS.flatMap((c) => c.aliases)];

/** The most of a typed word an error repeats: a pasted page is quoted by its start and its length. */
export const QUOTE_MAX_CHARS = 40;

/** `"tranfer"`, or `"xxxx…" (100000 characters)` for a word longer than QUOTE_MAX_CHARS. */
export function quote(text: string): string {
  return text.length <= QUOTE_MAX_CHARS ? `"${text}"` : `"${text.slice(0, QUOTE_MAX_CHARS)}…" (${text.length} characters)`;
}

const MAX_CENTS = BigInt(Number.MAX_SAFE_INTEGER);

/** Dollars with at most 2 decimals, an optional `$`, and either side of the point optional but not both. */
const AMOUNT_RE = /^\$?(?:([0-9]+)(?:\.([0-9]{1,2}))?|\.([0-9]{1,2}))$/;

/**
 * `"4.50"` -> 450. Accepts `4`, `4.5`, `4.50`, `$4.50`, `0.01`, `.5`. Rejects signs, exponents,
 * hex, `Infinity`/`NaN`, separators, more than 2 decimals, zero, and anything above
 * Number.MAX_SAFE_INTEGER cents. Works on the digits (BigInt), never on a float.
 */
export function parseAmount(text: string): AmountResult {
  const s = text.trim();
  if (s === '') return { ok: false, error: 'missing amount' };
  if (/^\$?-|^-/.test(s) && AMOUNT_RE.test(s.replace('-', ''))) return { ok: false, error: `amount must be positive, got ${quote(s)}` };
  const m = AMOUNT_RE.exec(s);
  if (m === null) {
    if (/^\$?[0-9]*\.[0-9]{3,}$/.test(s)) return { ok: false, error: `amount ${quote(s)} has more than 2 decimal places` };
    return { ok: false, error: `invalid amount ${quote(s)} — use dollars with up to 2 decimals, e.g. 4.50` };
  }
  const whole = m[1] ?? '0';
  const frac = (m[2] ?? m[3] ?? '').padEnd(2, '0');
  const cents = BigInt(whole) * 100n + BigInt(frac);
  if (cents === 0n) return { ok: false, error: `amount must be more than zero, got ${quote(s)}` };
  if (cents > MAX_CENTS) return { ok: false, error: `amount ${quote(s)} is too large (at most ${formatCents(Number.MAX_SAFE_INTEGER)})` };
  return { ok: true, cents: Number(cents) };
}

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const CLIENT_RE = /^(?:client)?([0-9]+)$/i;

function listNodes(nodes: readonly NodeId[]): string {
  return [...nodes].sort((a, b) => a - b).join(', ');
}

/** `2` or `client2`, which must be a client of this cluster. */
function parseClient(text: string, ctx: ParseContext, role: string): Parsed<NodeId> {
  const m = CLIENT_RE.exec(text);
  if (m === null) return { ok: false, error: `invalid ${role} ${quote(text)} — write a client number like 2 or client2` };
  const id = Number(m[1]);
  if (!ctx.nodes.includes(id)) return { ok: false, error: `unknown ${role} ${quote(text)} — the clients are ${listNodes(ctx.nodes)}` };
  return { ok: true, value: id };
}

function usageError(spec: CommandSpec, problem: string): { ok: false; error: string } {
  return { ok: false, error: `${spec.name}: ${problem} — usage: ${spec.usage}` };
}

/** Checks the argument count; null when it is within [min, max]. */
function arity(spec: CommandSpec, args: readonly string[], min: number, max: number): { ok: false; error: string } | null {
  if (args.length >= min && args.length <= max) return null;
  if (max === 0) return usageError(spec, `takes no arguments, got ${args.length}`);
  if (args.length < min) return usageError(spec, `expected at least ${min} argument${min === 1 ? '' : 's'}, got ${args.length}`);
  return usageError(spec, `too many arguments (at most ${max}, got ${args.length})`);
}

const ok = (command: ReplCommand): ParseResult => ({ ok: true, command });

/** A transfer key as typed, or the error that refuses it. */
function parseKey(text: string, spec: CommandSpec): Parsed<string> {
  if (TX_ID_PATTERN.test(text)) return { ok: true, value: text };
  return { ok: false, error: `${spec.name}: invalid key ${quote(text)} — a key is ${TX_ID_RULE}` };
}

const isKeyOption = (arg: string): boolean => arg === '--id' || arg.startsWith('--id=');

/** `--id <key>` (or `--id=<key>`) taken out of a transfer's arguments, wherever it stands: the key and the rest. */
function takeKeyOption(spec: CommandSpec, args: readonly string[]): Parsed<{ key?: string; rest: string[] }> {
  const at = args.findIndex(isKeyOption);
  if (at < 0) return { ok: true, value: { rest: [...args] } };
  const joined = args[at] !== '--id';
  const text = joined ? args[at]!.slice('--id='.length) : args[at + 1];
  if (text === undefined || text === '' || text.startsWith('--')) return usageError(spec, '--id needs a key after it (--id <key> or --id=<key>)');
  const rest = [...args.slice(0, at), ...args.slice(at + (joined ? 1 : 2))];
  if (rest.some(isKeyOption)) return usageError(spec, '--id given twice');
  const key = parseKey(text, spec);
  return key.ok ? { ok: true, value: { key: key.value, rest } } : key;
}

/**
 * Parses one REPL line. Blank lines and `#` comments (for command files) are `empty`.
 * Command words are case-insensitive. Every failure is a single line fit to print as is.
 */
export function parseCommandLine(line: string, ctx: ParseContext): ParseResult {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return ok({ type: 'empty' });
  const [word = '', ...args] = trimmed.split(/\s+/);
  const spec = findCommand(word);
  if (spec === undefined) {
    const guess = didYouMean(word, COMMAND_WORDS);
    return {
      ok: false,
      error: guess === null ? `unknown command ${quote(word)} (type help)` : `unknown command ${quote(word)} — did you mean "${guess}"? (type help)`,
    };
  }

  switch (spec.name) {
    case 'transfer': {
      const taken = takeKeyOption(spec, args);
      if (!taken.ok) return taken;
      const { key, rest } = taken.value;
      return parseTransfer(spec, rest, ctx, key);
    }
    case 'tx': {
      if (args.length === 0) return usageError(spec, 'missing key');
      const bad = arity(spec, args, 1, 1);
      if (bad !== null) return bad;
      const key = parseKey(args[0]!, spec);
      return key.ok ? ok({ type: 'tx', key: key.value }) : key;
    }
    case 'balance': {
      const bad = arity(spec, args, 0, 1);
      if (bad !== null) return bad;
      const [arg] = args;
      if (arg === undefined || arg.toLowerCase() === 'self') return ok({ type: 'balance', target: 'self' });
      if (arg.toLowerCase() === 'all') return ok({ type: 'balance', target: 'all' });
      const who = parseClient(arg, ctx, 'client');
      if (!who.ok) return { ok: false, error: `balance: ${who.error}` };
      return ok({ type: 'balance', target: who.value === ctx.self ? 'self' : who.value });
    }
    case 'snapshot': {
      const [sub, id] = args;
      if (sub === undefined) return ok({ type: 'snapshot' });
      switch (sub.toLowerCase()) {
        case 'list':
          return args.length === 1 ? ok({ type: 'snapshots' }) : usageError(spec, '"list" takes no arguments');
        case 'show': {
          if (id === undefined) return usageError(spec, 'missing snapshot id (see snapshots)');
          if (!/^[0-9]+\.[0-9]+$/.test(id)) return { ok: false, error: `snapshot: invalid snapshot id ${quote(id)} — ids look like 1.3 (see snapshots)` };
          const [, , flag, file, ...more] = args;
          if (flag === undefined) return ok({ type: 'snapshotShow', id });
          if (flag !== '--html' || file === undefined || more.length > 0) return usageError(spec, `after the id, only --html <file>`);
          return ok({ type: 'snapshotShow', id, html: file });
        }
        default:
          return usageError(spec, `unknown subcommand ${quote(sub)}`);
      }
    }
    case 'chain': {
      const bad = arity(spec, args, 0, 1);
      if (bad !== null) return bad;
      const [arg] = args;
      if (arg === undefined) return ok({ type: 'chain' });
      const n = /^[0-9]+$/.test(arg) ? Number(arg) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) return usageError(spec, `count must be a positive whole number, got ${quote(arg)}`);
      return ok({ type: 'chain', last: n });
    }
    case 'trace': {
      const bad = arity(spec, args, 1, 1);
      if (bad !== null) return bad;
      const [arg = ''] = args;
      if (arg.toLowerCase() === 'on' || arg.toLowerCase() === 'off') return ok({ type: 'trace', on: arg.toLowerCase() === 'on' });
      return usageError(spec, `expected on or off, got ${quote(arg)}`);
    }
    case 'link':
      return parseLink(spec, args, ctx);
    case 'help': {
      const bad = arity(spec, args, 0, 1);
      if (bad !== null) return bad;
      const [topic] = args;
      if (topic === undefined) return ok({ type: 'help' });
      const about = findCommand(topic);
      if (about === undefined) {
        const guess = didYouMean(topic, COMMAND_WORDS);
        return { ok: false, error: `help: no command ${quote(topic)}${guess === null ? '' : ` — did you mean "${guess}"?`} (type help)` };
      }
      return ok({ type: 'help', topic: about.name });
    }
    case 'snapshots':
    case 'peers':
    case 'status':
    case 'clear':
    case 'exit':
      return arity(spec, args, 0, 0) ?? ok({ type: spec.name });
  }
}

/** `transfer <to> <amount>`, the key (if any) taken out already. */
function parseTransfer(spec: CommandSpec, args: readonly string[], ctx: ParseContext, key: string | undefined): ParseResult {
  if (args.length === 0) return usageError(spec, 'missing recipient and amount');
  if (args.length === 1) return usageError(spec, 'missing amount');
  const bad = arity(spec, args, 2, 2);
  if (bad !== null) return bad;
  const [toText = '', amountText = ''] = args;
  const to = parseClient(toText, ctx, 'recipient');
  if (!to.ok) return { ok: false, error: `transfer: ${to.error}` };
  if (to.value === ctx.self) return { ok: false, error: `transfer: cannot transfer to yourself (client${ctx.self})` };
  const amount = parseAmount(amountText);
  if (!amount.ok) return { ok: false, error: `transfer: ${amount.error}` };
  return ok({ type: 'transfer', to: to.value, amount: amount.cents, ...(key === undefined ? {} : { key }) });
}

/** The most a link's delay may be, in ms: ten minutes, as `--delay`. */
const MAX_LINK_DELAY_MS = 600_000;

/** `link`, `link hold 3`, `link release 3`, `link delay 3 500`, `link delay 3 100-300`, `link delay 3 0`. */
function parseLink(spec: CommandSpec, args: readonly string[], ctx: ParseContext): ParseResult {
  const [sub, toText, delayText] = args;
  if (sub === undefined) return ok({ type: 'links' });
  const action = sub.toLowerCase();
  if (action !== 'hold' && action !== 'release' && action !== 'delay') return usageError(spec, `unknown subcommand ${quote(sub)} (hold, release or delay)`);
  const bad = action === 'delay' ? arity(spec, args, 3, 3) : arity(spec, args, 2, 2);
  if (bad !== null) return bad;
  const to = parseClient(toText ?? '', ctx, 'peer');
  if (!to.ok) return { ok: false, error: `link: ${to.error}` };
  if (to.value === ctx.self) return { ok: false, error: `link: client${ctx.self} has no link to itself` };
  if (action !== 'delay') return ok({ type: 'link', peer: to.value, change: { held: action === 'hold' } });
  const m = /^(\d{1,7})(?:-(\d{1,7}))?$/.exec(delayText ?? '');
  const minMs = Number(m?.[1]);
  const maxMs = m?.[2] === undefined ? minMs : Number(m[2]);
  if (m === null || maxMs < minMs || maxMs > MAX_LINK_DELAY_MS) {
    return usageError(spec, `delay must be milliseconds (500) or a range (100-300), at most ${MAX_LINK_DELAY_MS}, got ${quote(delayText ?? '')}`);
  }
  return ok({ type: 'link', peer: to.value, change: { delay: maxMs === 0 ? null : { minMs, maxMs } } });
}

/** Client ids as the user would type them: `2` for an empty or numeric prefix, `client2` otherwise. */
function clientWords(ids: readonly NodeId[], partial: string): string[] {
  const sorted = [...ids].sort((a, b) => a - b);
  return /^[0-9]*$/.test(partial) ? sorted.map(String) : sorted.map((id) => `client${id}`);
}

function argumentCandidates(spec: CommandSpec, done: readonly string[], partial: string, ctx: CompletionContext): string[] {
  const index = done.length;
  switch (spec.name) {
    case 'transfer':
      if (index === 0) return clientWords(ctx.nodes.filter((n) => n !== ctx.self), partial);
      return index === 2 ? ['--id'] : [];
    case 'balance':
      return index === 0 ? ['all', ...clientWords(ctx.nodes, partial)] : [];
    case 'snapshot':
      if (index === 0) return ['list', 'show'];
      if (index === 1 && done[0]?.toLowerCase() === 'show') return [...(ctx.snapshotIds ?? [])];
      return [];
    case 'trace':
      return index === 0 ? ['on', 'off'] : [];
    case 'link':
      if (index === 0) return ['hold', 'release', 'delay'];
      return index === 1 ? clientWords(ctx.nodes.filter((n) => n !== ctx.self), partial) : [];
    case 'help':
      return index === 0 ? COMMANDS.map((c) => c.name) : [];
    default:
      return [];
  }
}

/**
 * A node:readline completer: `[candidates, the text they would replace]`. Completes command
 * words, then recipients, balance targets, `snapshot` subcommands and ids, and help topics.
 */
export function completeLine(line: string, ctx: CompletionContext): [string[], string] {
  const words = line.replace(/^\s+/, '').split(/\s+/);
  const partial = words[words.length - 1] ?? '';
  const done = words.slice(0, -1);
  let candidates: string[];
  if (done.length === 0) {
    candidates = [...COMMAND_WORDS].sort();
  } else {
    const spec = findCommand(done[0] ?? '');
    if (spec === undefined) return [[], partial];
    candidates = argumentCandidates(spec, done.slice(1), partial, ctx);
  }
  const prefix = partial.toLowerCase();
  return [candidates.filter((c) => c.toLowerCase().startsWith(prefix)), partial];
}
