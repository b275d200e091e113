/**
 * The cluster language documented once: the prompt's `help` and the table in docs/CLUSTER.md are both
 * made here from the definitions in language.ts (a test holds that table to them).
 */
import type { NodeId } from '../../core/types.js';
import { COMMANDS, type CommandName } from '../parse.js';
import { ADDRESSING, CLUSTER_COMMANDS, type ClusterCommandName, SHADOWED } from './language.js';

/** The usage column's least width, as in a client's help. */
const USAGE_WIDTH = 28;

/** `help`: the cluster's commands, then the client commands they carry; or one command of either kind. */
export function renderClusterHelp(topic: ClusterCommandName | CommandName | null, current: NodeId): string {
  if (topic !== null) {
    const own = CLUSTER_COMMANDS.find((c) => c.name === topic);
    const spec = own ?? COMMANDS.find((c) => c.name === topic);
    if (spec === undefined) return '';
    const aliases = spec.aliases.length > 0 ? `\n  aliases: ${spec.aliases.join(', ')}` : '';
    const where = own !== undefined ? '' : `\n  a client command: alone it runs on client${current} (see use), after <n> on client n, after all on every client`;
    const limits = [
      ...(own?.notInFile === undefined ? [] : [`\n  not in a command file: ${own.notInFile}`]),
      ...(own?.notTyped === undefined ? [] : [`\n  typed at the prompt: ${own.notTyped}`]),
    ].join('');
    return `${spec.usage}\n  ${spec.description}${aliases}${where}${limits}\n  e.g. ${spec.examples.join(' | ')}`;
  }
  // A usage too long for its column has its description on the next line, in the column.
  const line = (usageText: string, description: string): string =>
    usageText.length > USAGE_WIDTH ? `  ${usageText}\n  ${''.padEnd(USAGE_WIDTH)} ${description}` : `  ${usageText.padEnd(USAGE_WIDTH)} ${description}`;
  const addressing = ADDRESSING.map((a) => line(a.usage, a.usage === '<command>' ? `a client command on the current client (client${current}; see use)` : a.description));
  const promptOnly = CLUSTER_COMMANDS.filter((c) => c.notInFile !== undefined).map((c) => c.name);
  return [
    `cluster commands (the same piped and in command files, but for ${promptOnly.join(' and ')}):`,
    ...addressing,
    ...CLUSTER_COMMANDS.filter((c) => c.name !== 'all').map((c) => line(c.usage, c.description)),
    'client commands:',
    ...COMMANDS.filter((c) => !SHADOWED.includes(c.name)).map((c) => line(c.usage, c.description)),
    'Tab completes, history is kept; Ctrl-C cancels the line being typed.',
  ].join('\n');
}

/** Table text: a `|` escaped, and placeholders (`<n>`) in code, where markdown cannot take them for tags. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/<[^<>\s]+>/g, (p) => `\`${p}\``);

/** The table of the language in docs/CLUSTER.md: each line's form, what it does, and where it does not apply. */
export function renderLanguageTable(): string {
  const rows = [
    ...ADDRESSING.map((a) => [a.usage, cell(a.description)]),
    ...CLUSTER_COMMANDS.filter((c) => c.name !== 'all').map((c) => [
      [c.usage, ...c.aliases.map((a) => (c.usage.startsWith(`${c.name} `) ? c.usage.replace(c.name, a) : a))].join('` / `'),
      `${cell(c.description)}${c.notInFile === undefined ? '' : '; at the prompt only'}${c.notTyped === undefined ? '' : '; piped or in a file only'}`,
    ]),
  ];
  return ['| line | what it does |', '| --- | --- |', ...rows.map(([usage = '', what = '']) => `| \`${usage.replace(/\|/g, '\\|')}\` | ${what} |`)].join('\n');
}
