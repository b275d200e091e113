/**
 * The cluster's command language, one for the prompt (`npm start`, `client cluster`, typed or
 * piped) and for command files (`client cluster run FILE`): a client command addressed to one
 * client, to every client or to the current one (with `&`, not waited for), and the cluster's
 * own commands (use, settle, sleep, expect, trace, ps, stop, start, restart, clear, help, exit). Pure,
 * like parse.ts: one line in, one typed line or a one-line error out. The help, Tab completion
 * and the table in docs/CLUSTER.md come from the same definitions.
 */
import type { NodeId } from '../../core/types.js';
import { didYouMean } from '../../base/suggest.js';
import { COMMANDS, type CommandName, completeLine, findCommand, parseCommandLine, quote } from '../parse.js';
import { isClientWord, parseClientId } from './client-id.js';
import { EXPECT_WORDS, type Expectation, parseExpectation } from './expect.js';

export type ClusterCommandName = 'all' | 'use' | 'settle' | 'sleep' | 'expect' | 'trace' | 'ps' | 'stop' | 'start' | 'restart' | 'clear' | 'help' | 'exit';

export type Lifecycle = 'stop' | 'start' | 'restart';

/** Where a line is read: at the prompt (typed or piped), or in a command file. */
export type Where = 'prompt' | 'file';

export interface ClusterCommandSpec {
  readonly name: ClusterCommandName;
  readonly aliases: readonly string[];
  readonly usage: string;
  /** One line, for the `help` list and the table in docs/CLUSTER.md. */
  readonly description: string;
  readonly examples: readonly string[];
  /** Why it means nothing in a command file, said instead of running it; absent when it works there. */
  readonly notInFile?: string;
  /** Why it means nothing at the interactive prompt, where each line runs as it is typed. */
  readonly notTyped?: string;
}

/** The forms a client command takes, before the cluster's own commands in the help and the table. */
export const ADDRESSING: readonly { readonly usage: string; readonly description: string }[] = [
  { usage: '<n> <command>', description: 'a client command on client n, e.g. 2 transfer 3 1.50' },
  { usage: 'all <command>', description: 'a client command on every client; answers in client order' },
  { usage: '<command>', description: 'a client command on the current client (see use)' },
  { usage: '<n> <command> &', description: 'the same, without waiting for the answer: the next line runs at once (settle and expect wait for it)' },
];

export const CLUSTER_COMMANDS: readonly ClusterCommandSpec[] = [
  {
    name: 'all',
    aliases: [],
    usage: 'all <command>',
    description: ADDRESSING[1]!.description,
    examples: ['all balance', 'all chain 3'],
  },
  {
    name: 'use',
    aliases: [],
    usage: 'use [<n>]',
    description: 'the client a bare command goes to (the prompt shows it; client1 at first); alone, say which',
    examples: ['use 2', 'use'],
  },
  {
    name: 'settle',
    aliases: [],
    usage: 'settle',
    description: 'wait for the commands sent with &, then until no transfer is pending anywhere and every chain has the same head',
    examples: ['settle'],
  },
  {
    name: 'sleep',
    aliases: ['wait'],
    usage: 'sleep <ms>',
    description: 'wait this many milliseconds before the next line',
    examples: ['sleep 500', 'wait 500'],
    notTyped: 'at this prompt each line runs as soon as it is typed; sleep spaces out piped lines and command files',
  },
  {
    name: 'expect',
    aliases: [],
    usage: 'expect <what>',
    description:
      'check, after the commands sent with &: ok or failed (the last command), snapshot verified, snapshot in flight [at least] <n> (messages in the last snapshot\'s channels), converged, <n|all> height <h>, <n|all> balance <client> <amount>; a file stops at the first that does not hold',
    examples: ['expect ok', 'expect converged', 'expect all balance 2 13.25', 'expect snapshot in flight 2'],
  },
  {
    name: 'trace',
    aliases: [],
    usage: 'trace on|off',
    description: "print every client's messages as they happen, each line after its client, as a client's own trace on does; <n> trace on|off for one client",
    examples: ['trace on', 'trace off', '2 trace on'],
  },
  {
    name: 'ps',
    aliases: [],
    usage: 'ps',
    description: "each client's process: running (pid, for how long), stopped, exited, or attached",
    examples: ['ps'],
  },
  {
    name: 'stop',
    aliases: [],
    usage: 'stop <n>... | all',
    description: 'stop clients (SIGTERM: they close cleanly); their data dirs stay, and transfers wait until they are back',
    examples: ['stop 2', 'stop 2 3'],
  },
  {
    name: 'start',
    aliases: [],
    usage: 'start <n>... | all',
    description: 'start stopped or exited clients again from their data dirs; they catch up from their peers',
    examples: ['start 2', 'start all'],
  },
  {
    name: 'restart',
    aliases: [],
    usage: 'restart <n>... | all',
    description: 'stop, then start',
    examples: ['restart 2'],
  },
  {
    name: 'clear',
    aliases: [],
    usage: 'clear',
    description: 'clear the screen (also Ctrl-L)',
    examples: ['clear'],
    notInFile: "clear clears the prompt's screen; a command file has none",
  },
  {
    name: 'help',
    aliases: ['?'],
    usage: 'help [<command>]',
    description: "this list, or one command (the cluster's or a client's) with examples",
    examples: ['help', 'help use', 'help transfer'],
    notInFile: 'help lists the commands at the prompt; a command file has no one to read it (client cluster --help, or docs/CLUSTER.md)',
  },
  {
    name: 'exit',
    aliases: ['quit'],
    usage: 'exit',
    description: 'stop the clients started here and leave (also Ctrl-D, or Ctrl-C on an empty line twice); piped or in a file, the lines after it do not run',
    examples: ['exit'],
  },
];

export type ClusterLine =
  | { readonly type: 'empty' }
  | { readonly type: 'exit' }
  /** `topic`: one of the cluster's commands, or a client command (aliases resolved); null for the list. */
  | { readonly type: 'help'; readonly topic: ClusterCommandName | CommandName | null }
  /** `client` null: say which client bare commands go to. */
  | { readonly type: 'use'; readonly client: NodeId | null }
  | { readonly type: 'ps' }
  | { readonly type: 'lifecycle'; readonly action: Lifecycle; readonly clients: readonly NodeId[] }
  | { readonly type: 'settle' }
  | { readonly type: 'sleep'; readonly ms: number }
  | { readonly type: 'expect'; readonly expectation: Expectation }
  | { readonly type: 'clear' }
  /** Print the messages of `clients` as they happen (`on`), or stop. */
  | { readonly type: 'trace'; readonly on: boolean; readonly clients: readonly NodeId[] }
  /**
   * A client command line for `clients`, checked as each of them would read it; `addressed` when
   * the line named them (`2 ...`, `all ...`); `background` when it ended with `&`.
   */
  | { readonly type: 'send'; readonly clients: readonly NodeId[]; readonly line: string; readonly addressed: boolean; readonly background: boolean };

export type ClusterParse = { readonly ok: true; readonly line: ClusterLine } | { readonly ok: false; readonly error: string };

export interface ClusterContext {
  /** Every client of the cluster. */
  readonly ids: readonly NodeId[];
  /** Where a bare command goes. */
  readonly current: NodeId;
  /** Where the line is read (default: the prompt). */
  readonly where?: Where;
}

export function findClusterCommand(word: string): ClusterCommandSpec | undefined {
  const w = word.toLowerCase();
  return CLUSTER_COMMANDS.find((c) => c.name === w || c.aliases.includes(w));
}

const CLUSTER_WORDS: readonly string[] = [...CLUSTER_COMMANDS.map((c) => c.name), ...CLUSTER_COMMANDS.flatMap((c) => c.aliases)];
const CLIENT_WORDS: readonly string[] = [...COMMANDS.map((c) => c.name), ...COMMANDS.flatMap((c) => c.aliases)];
/** Client commands the cluster's own ones stand in for. */
export const SHADOWED: readonly CommandName[] = ['trace', 'clear', 'help', 'exit'];

const fails = (error: string): ClusterParse => ({ ok: false, error });
const parsed = (line: ClusterLine): ClusterParse => ({ ok: true, line });

function usage(spec: ClusterCommandSpec, problem: string): ClusterParse {
  return fails(`${spec.name}: ${problem} — usage: ${spec.usage}`);
}

/**
 * A client command for `clients`, checked as each of them would read it: a recipient may suit
 * one and not another. What only a prompt does is the cluster's: `2 trace on` traces client2
 * here; exit and clear would act on this prompt, not on the client.
 */
function send(clients: readonly NodeId[], words: readonly string[], ctx: ClusterContext, addressed: boolean, background: boolean): ClusterParse {
  const line = words.join(' ');
  for (const id of clients) {
    const one = parseCommandLine(line, { self: id, nodes: ctx.ids });
    if (!one.ok) return fails(clients.length > 1 ? `client${id}: ${one.error}` : one.error);
    const command = one.command;
    if (command.type === 'exit') return fails(`exit would leave the prompt; to stop ${clients.length === 1 ? `client${id}, type stop ${id}` : 'every client, type stop all'}`);
    if (command.type === 'clear') return fails('clear clears this prompt\'s screen: type clear alone');
    if (command.type === 'trace') {
      if (background) return fails('& sends a client command without waiting for its answer; trace is the cluster\'s own');
      return parsed({ type: 'trace', on: command.on, clients });
    }
  }
  return parsed({ type: 'send', clients, line, addressed, background });
}

/** A word that starts nothing, with the closest command of either kind. */
function unknown(word: string): ClusterParse {
  const guess = didYouMean(word, [...CLUSTER_WORDS, ...CLIENT_WORDS]);
  return fails(`unknown command ${quote(word)}${guess === null ? '' : ` — did you mean "${guess}"?`} (type help)`);
}

/**
 * Parses one line. A line starting with a client (`2`, `client2`) or `all` goes to those clients;
 * then the cluster's own commands; any other client command goes to the current client; anything
 * else is an error with the closest command of either kind. `#` starts a comment; a trailing `&`
 * sends a client command without waiting for it.
 */
export function parseClusterLine(text: string, ctx: ClusterContext): ClusterParse {
  const where = ctx.where ?? 'prompt';
  let trimmed = text.replace(/(?:^|\s)#.*$/, '').trim();
  if (trimmed === '') return parsed({ type: 'empty' });
  const background = trimmed.endsWith('&');
  if (background) trimmed = trimmed.slice(0, -1).trimEnd();
  const [first = '', ...args] = trimmed.split(/\s+/);
  if (isClientWord(first)) {
    const who = parseClientId(first, ctx.ids);
    if (!who.ok) return who;
    if (args.length === 0) return fails(`what should client${who.id} do? e.g. ${who.id} balance all (type help)`);
    return send([who.id], args, ctx, true, background);
  }
  const spec = findClusterCommand(first);
  if (spec === undefined) return findCommand(first) === undefined ? unknown(first) : send([ctx.current], [first, ...args], ctx, false, background);
  if (spec.name === 'all') return args.length === 0 ? usage(spec, 'all what?') : send([...ctx.ids], args, ctx, true, background);
  if (background) return fails(`& sends a client command without waiting for its answer; ${spec.name} is the cluster's own`);
  if (where === 'file' && spec.notInFile !== undefined) return fails(spec.notInFile);
  switch (spec.name) {
    case 'use': {
      if (args.length === 0) return parsed({ type: 'use', client: null });
      if (args.length > 1) return usage(spec, `too many arguments (at most 1, got ${args.length})`);
      const who = parseClientId(args[0]!, ctx.ids);
      return who.ok ? parsed({ type: 'use', client: who.id }) : fails(`use: ${who.error}`);
    }
    case 'sleep': {
      const [ms, ...more] = args;
      if (ms === undefined || !/^[0-9]{1,9}$/.test(ms) || more.length > 0) return fails(`${first.toLowerCase()} takes milliseconds, e.g. ${first.toLowerCase()} 500`);
      return parsed({ type: 'sleep', ms: Number(ms) });
    }
    case 'expect': {
      const e = parseExpectation(args, ctx.ids);
      return e.ok ? parsed({ type: 'expect', expectation: e.value }) : fails(e.error);
    }
    case 'trace': {
      const [word = '', ...more] = args;
      const on = word.toLowerCase();
      if ((on !== 'on' && on !== 'off') || more.length > 0) return usage(spec, args.length === 0 ? 'on or off?' : `expected on or off, got ${quote(args.join(' '))}`);
      return parsed({ type: 'trace', on: on === 'on', clients: [...ctx.ids] });
    }
    case 'ps':
    case 'settle':
    case 'clear':
    case 'exit':
      return args.length === 0 ? parsed({ type: spec.name }) : usage(spec, `takes no arguments, got ${args.length}`);
    case 'stop':
    case 'start':
    case 'restart': {
      if (args.length === 0) return usage(spec, 'which client?');
      if (args.length === 1 && args[0]!.toLowerCase() === 'all') return parsed({ type: 'lifecycle', action: spec.name, clients: [...ctx.ids] });
      const clients: NodeId[] = [];
      for (const arg of args) {
        const who = parseClientId(arg, ctx.ids);
        if (!who.ok) return fails(`${spec.name}: ${who.error}`);
        if (!clients.includes(who.id)) clients.push(who.id);
      }
      return parsed({ type: 'lifecycle', action: spec.name, clients });
    }
    case 'help': {
      if (args.length === 0) return parsed({ type: 'help', topic: null });
      if (args.length > 1) return usage(spec, `too many arguments (at most 1, got ${args.length})`);
      const topic = args[0]!;
      const own = findClusterCommand(topic);
      if (own !== undefined) return parsed({ type: 'help', topic: own.name });
      const theirs = findCommand(topic);
      if (theirs !== undefined && !SHADOWED.includes(theirs.name)) return parsed({ type: 'help', topic: theirs.name });
      const guess = didYouMean(topic, [...CLUSTER_WORDS, ...CLIENT_WORDS]);
      return fails(`help: no command ${quote(topic)}${guess === null ? '' : ` — did you mean "${guess}"?`} (type help)`);
    }
  }
}

/** Client ids as the user would type them: `2` for an empty or numeric prefix, `client2` otherwise. */
function idWords(ids: readonly NodeId[], partial: string): string[] {
  const sorted = [...ids].sort((a, b) => a - b);
  return /^[0-9]*$/.test(partial) ? sorted.map(String) : sorted.map((id) => `client${id}`);
}

/** Every command name of either kind, the cluster's first, for Tab after nothing and after help. */
const COMMAND_NAMES: readonly string[] = [...CLUSTER_COMMANDS.map((c) => c.name), ...COMMANDS.map((c) => c.name).filter((n) => !SHADOWED.includes(n))];

/**
 * A node:readline completer for the cluster prompt: the cluster's commands, client ids and client
 * commands first; after `<n>` or `all`, what that client's own prompt would complete.
 */
export function completeClusterLine(line: string, ctx: ClusterContext): [string[], string] {
  const words = line.replace(/^\s+/, '').split(/\s+/);
  const partial = words[words.length - 1] ?? '';
  const [first = ''] = words;
  const prefix = partial.toLowerCase();
  const matching = (candidates: readonly string[]): [string[], string] => [candidates.filter((c) => c.toLowerCase().startsWith(prefix)), partial];
  if (words.length === 1) return matching(/^[0-9]+$/.test(partial) ? idWords(ctx.ids, partial) : [...COMMAND_NAMES, ...idWords(ctx.ids, 'client')]);
  const rest = line.replace(/^\s*\S+\s+/, '');
  if (isClientWord(first)) {
    const who = parseClientId(first, ctx.ids);
    return who.ok ? completeLine(rest, { self: who.id, nodes: ctx.ids }) : [[], partial];
  }
  const spec = findClusterCommand(first);
  if (spec === undefined) return completeLine(line, { self: ctx.current, nodes: ctx.ids });
  switch (spec.name) {
    case 'all':
      return completeLine(rest, { self: ctx.current, nodes: ctx.ids });
    case 'use':
      return words.length === 2 ? matching(idWords(ctx.ids, partial)) : [[], partial];
    case 'stop':
    case 'start':
    case 'restart':
      return matching(words.length === 2 ? ['all', ...idWords(ctx.ids, partial)] : idWords(ctx.ids, partial));
    case 'help':
      return words.length === 2 ? matching(COMMAND_NAMES) : [[], partial];
    case 'expect':
      return words.length === 2 ? matching([...EXPECT_WORDS, ...idWords(ctx.ids, partial)]) : [[], partial];
    case 'trace':
      return words.length === 2 ? matching(['on', 'off']) : [[], partial];
    case 'ps':
    case 'settle':
    case 'sleep':
    case 'clear':
    case 'exit':
      return [[], partial];
  }
}
