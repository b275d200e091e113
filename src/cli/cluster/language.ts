/**
 * The cluster prompt's language (`npm start`, `client cluster`): a line addressed to one client,
 * to every client, or to the current one, and the prompt's own commands (use, ps, stop, start,
 * restart, help, exit). Pure, like parse.ts: one line in, one typed line or a one-line error out;
 * completion and help from the same table.
 */
import type { NodeId } from '../../core/types.js';
import { didYouMean } from '../../base/suggest.js';
import { COMMANDS, type CommandName, completeLine, findCommand, quote } from '../parse.js';

export type ClusterCommandName = 'use' | 'all' | 'ps' | 'stop' | 'start' | 'restart' | 'help' | 'exit';

export type Lifecycle = 'stop' | 'start' | 'restart';

export interface ClusterCommandSpec {
  readonly name: ClusterCommandName;
  readonly aliases: readonly string[];
  readonly usage: string;
  /** One line, for the `help` list. */
  readonly description: string;
  readonly examples: readonly string[];
}

export const CLUSTER_COMMANDS: readonly ClusterCommandSpec[] = [
  {
    name: 'all',
    aliases: [],
    usage: 'all <command>',
    description: 'a client command on every client; answers in client order',
    examples: ['all balance', 'all chain 3'],
  },
  {
    name: 'use',
    aliases: [],
    usage: 'use [<n>]',
    description: 'the client a bare command goes to (the prompt shows it); alone, say which',
    examples: ['use 2', 'use'],
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
    name: 'help',
    aliases: ['?'],
    usage: 'help [<command>]',
    description: "this list, or one command (the prompt's or a client's) with examples",
    examples: ['help', 'help use', 'help transfer'],
  },
  {
    name: 'exit',
    aliases: ['quit'],
    usage: 'exit',
    description: 'stop the clients started here and leave (also Ctrl-D, or Ctrl-C on an empty line twice)',
    examples: ['exit'],
  },
];

export type ClusterLine =
  | { readonly type: 'empty' }
  | { readonly type: 'exit' }
  /** `topic`: one of the prompt's commands, or a client command (aliases resolved); null for the list. */
  | { readonly type: 'help'; readonly topic: ClusterCommandName | CommandName | null }
  /** `client` null: say which client bare commands go to. */
  | { readonly type: 'use'; readonly client: NodeId | null }
  | { readonly type: 'ps' }
  | { readonly type: 'lifecycle'; readonly action: Lifecycle; readonly clients: readonly NodeId[] }
  /** A client command line for `clients`; `addressed` when the line named them (`2 ...`, `all ...`). */
  | { readonly type: 'send'; readonly clients: readonly NodeId[]; readonly line: string; readonly addressed: boolean };

export type ClusterParse = { readonly ok: true; readonly line: ClusterLine } | { readonly ok: false; readonly error: string };

export interface ClusterContext {
  /** Every client of the cluster. */
  readonly ids: readonly NodeId[];
  /** Where a bare command goes. */
  readonly current: NodeId;
}

function findClusterCommand(word: string): ClusterCommandSpec | undefined {
  const w = word.toLowerCase();
  return CLUSTER_COMMANDS.find((c) => c.name === w || c.aliases.includes(w));
}

const CLUSTER_WORDS: readonly string[] = [...CLUSTER_COMMANDS.map((c) => c.name), ...CLUSTER_COMMANDS.flatMap((c) => c.aliases)];
const CLIENT_WORDS: readonly string[] = [...COMMANDS.map((c) => c.name), ...COMMANDS.flatMap((c) => c.aliases)];
/** Client commands the prompt's own ones stand in for at the prompt. */
const SHADOWED: readonly CommandName[] = ['help', 'exit'];

const CLIENT_RE = /^(?:client)?([0-9]{1,9})$/i;

/** `2` or `client2` as a client of the cluster, or an error naming the clients. */
export function parseClientId(text: string, ids: readonly NodeId[], role = 'client'): { ok: true; id: NodeId } | { ok: false; error: string } {
  const m = CLIENT_RE.exec(text);
  if (m === null) return { ok: false, error: `invalid ${role} ${quote(text)} — write a client number like 2 or client2` };
  const id = Number(m[1]);
  if (!ids.includes(id)) return { ok: false, error: `unknown ${role} ${quote(text)} — the clients are ${[...ids].sort((a, b) => a - b).join(', ')}` };
  return { ok: true, id };
}

const isClientWord = (word: string): boolean => CLIENT_RE.test(word);

function usage(spec: ClusterCommandSpec, problem: string): ClusterParse {
  return { ok: false, error: `${spec.name}: ${problem} — usage: ${spec.usage}` };
}

/** A client command for `clients`, refusing the one that means something else here. */
function send(clients: readonly NodeId[], words: readonly string[], addressed: boolean): ClusterParse {
  const spec = findCommand(words[0] ?? '');
  if (spec?.name === 'exit') {
    const which = clients.length === 1 ? String(clients[0]) : 'all';
    return { ok: false, error: `exit would leave the prompt; to stop ${clients.length === 1 ? `client${clients[0]}` : 'every client'}, type stop ${which}` };
  }
  return { ok: true, line: { type: 'send', clients, line: words.join(' '), addressed } };
}

/**
 * Parses one line of the cluster prompt. The prompt's own commands come first; a line starting
 * with a client (`2`, `client2`) or `all` goes to those clients; any other client command goes to
 * the current client; anything else is an error with the closest command of either kind.
 */
export function parseClusterLine(text: string, ctx: ClusterContext): ClusterParse {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return { ok: true, line: { type: 'empty' } };
  const [first = '', ...args] = trimmed.split(/\s+/);
  if (isClientWord(first)) {
    const who = parseClientId(first, ctx.ids);
    if (!who.ok) return who;
    if (args.length === 0) return { ok: false, error: `what should client${who.id} do? e.g. ${who.id} balance all (type help)` };
    return send([who.id], args, true);
  }
  const spec = findClusterCommand(first);
  if (spec === undefined) {
    if (findCommand(first) !== undefined) return send([ctx.current], [first, ...args], false);
    const guess = didYouMean(first, [...CLUSTER_WORDS, ...CLIENT_WORDS]);
    return { ok: false, error: `unknown command ${quote(first)}${guess === null ? '' : ` — did you mean "${guess}"?`} (type help)` };
  }
  switch (spec.name) {
    case 'all':
      return args.length === 0 ? usage(spec, 'all what?') : send([...ctx.ids], args, true);
    case 'use': {
      if (args.length === 0) return { ok: true, line: { type: 'use', client: null } };
      if (args.length > 1) return usage(spec, `too many arguments (at most 1, got ${args.length})`);
      const who = parseClientId(args[0]!, ctx.ids);
      return who.ok ? { ok: true, line: { type: 'use', client: who.id } } : { ok: false, error: `use: ${who.error}` };
    }
    case 'ps':
    case 'exit':
      return args.length === 0 ? { ok: true, line: { type: spec.name } } : usage(spec, `takes no arguments, got ${args.length}`);
    case 'stop':
    case 'start':
    case 'restart': {
      if (args.length === 0) return usage(spec, 'which client?');
      if (args.length === 1 && args[0]!.toLowerCase() === 'all') return { ok: true, line: { type: 'lifecycle', action: spec.name, clients: [...ctx.ids] } };
      const clients: NodeId[] = [];
      for (const arg of args) {
        const who = parseClientId(arg, ctx.ids);
        if (!who.ok) return { ok: false, error: `${spec.name}: ${who.error}` };
        if (!clients.includes(who.id)) clients.push(who.id);
      }
      return { ok: true, line: { type: 'lifecycle', action: spec.name, clients } };
    }
    case 'help': {
      if (args.length === 0) return { ok: true, line: { type: 'help', topic: null } };
      if (args.length > 1) return usage(spec, `too many arguments (at most 1, got ${args.length})`);
      const topic = args[0]!;
      const own = findClusterCommand(topic);
      if (own !== undefined) return { ok: true, line: { type: 'help', topic: own.name } };
      const theirs = findCommand(topic);
      if (theirs !== undefined && !SHADOWED.includes(theirs.name)) return { ok: true, line: { type: 'help', topic: theirs.name } };
      const guess = didYouMean(topic, [...CLUSTER_WORDS, ...CLIENT_WORDS]);
      return { ok: false, error: `help: no command ${quote(topic)}${guess === null ? '' : ` — did you mean "${guess}"?`} (type help)` };
    }
  }
}

/** Client ids as the user would type them: `2` for an empty or numeric prefix, `client2` otherwise. */
function idWords(ids: readonly NodeId[], partial: string): string[] {
  const sorted = [...ids].sort((a, b) => a - b);
  return /^[0-9]*$/.test(partial) ? sorted.map(String) : sorted.map((id) => `client${id}`);
}

/**
 * A node:readline completer for the cluster prompt: the prompt's commands, client ids and client
 * commands first; after `<n>` or `all`, what that client's own prompt would complete.
 */
export function completeClusterLine(line: string, ctx: ClusterContext): [string[], string] {
  const words = line.replace(/^\s+/, '').split(/\s+/);
  const partial = words[words.length - 1] ?? '';
  const [first = ''] = words;
  const prefix = partial.toLowerCase();
  const matching = (candidates: readonly string[]): [string[], string] => [candidates.filter((c) => c.toLowerCase().startsWith(prefix)), partial];
  if (words.length === 1) {
    const commands = [...CLUSTER_COMMANDS.map((c) => c.name), ...COMMANDS.map((c) => c.name).filter((n) => !SHADOWED.includes(n))];
    return matching(/^[0-9]+$/.test(partial) ? idWords(ctx.ids, partial) : [...commands, ...idWords(ctx.ids, 'client')]);
  }
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
      return words.length === 2 ? matching([...CLUSTER_COMMANDS.map((c) => c.name), ...COMMANDS.map((c) => c.name).filter((n) => !SHADOWED.includes(n))]) : [[], partial];
    case 'ps':
    case 'exit':
      return [[], partial];
  }
}

/** The usage column's least width, as in a client's help. */
const USAGE_WIDTH = 28;

/** `help`: the prompt's commands, then the client commands they carry; or one command of either kind. */
export function renderClusterHelp(topic: ClusterCommandName | CommandName | null, current: NodeId): string {
  if (topic !== null) {
    const spec = CLUSTER_COMMANDS.find((c) => c.name === topic) ?? COMMANDS.find((c) => c.name === topic);
    if (spec === undefined) return '';
    const aliases = spec.aliases.length > 0 ? `\n  aliases: ${spec.aliases.join(', ')}` : '';
    const where = CLUSTER_COMMANDS.some((c) => c.name === topic) ? '' : `\n  a client command: alone it runs on client${current} (see use), after <n> on client n, after all on every client`;
    return `${spec.usage}\n  ${spec.description}${aliases}${where}\n  e.g. ${spec.examples.join(' | ')}`;
  }
  const clientCommands = COMMANDS.filter((c) => !SHADOWED.includes(c.name));
  // A usage too long for its column has its description on the next line, in the column.
  const line = (usageText: string, description: string): string =>
    usageText.length > USAGE_WIDTH ? `  ${usageText}\n  ${''.padEnd(USAGE_WIDTH)} ${description}` : `  ${usageText.padEnd(USAGE_WIDTH)} ${description}`;
  return [
    'cluster commands:',
    line('<n> <command>', 'a client command on client n, e.g. 2 transfer 3 1.50'),
    ...CLUSTER_COMMANDS.filter((c) => c.name === 'all').map((c) => line(c.usage, c.description)),
    line('<command>', `a client command on the current client (client${current}; see use)`),
    ...CLUSTER_COMMANDS.filter((c) => c.name !== 'all').map((c) => line(c.usage, c.description)),
    'client commands:',
    ...clientCommands.map((c) => line(c.usage, c.description)),
    'Tab completes, history is kept; Ctrl-C cancels the line being typed.',
  ].join('\n');
}
