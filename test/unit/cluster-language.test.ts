/**
 * The cluster prompt's language: lines addressed to one client, every client or the current one;
 * the prompt's own commands (use, ps, stop, start, restart, help, exit) with their errors; Tab
 * completion; the help list.
 */
import { describe, expect, it } from 'vitest';
import { type ClusterLine, completeClusterLine, parseClusterLine, renderClusterHelp } from '../../src/cli/cluster/language.js';

const ctx = { ids: [1, 2, 3], current: 1 } as const;

function line(text: string): ClusterLine {
  const r = parseClusterLine(text, ctx);
  if (!r.ok) throw new Error(`expected "${text}" to parse, got: ${r.error}`);
  return r.line;
}

function error(text: string): string {
  const r = parseClusterLine(text, ctx);
  if (r.ok) throw new Error(`expected "${text}" to fail, got ${JSON.stringify(r.line)}`);
  expect(r.error).not.toContain('\n');
  return r.error;
}

describe('parseClusterLine', () => {
  it('sends a line to one client, every client, or the current one', () => {
    expect(line('2 transfer 3 1.50')).toEqual({ type: 'send', clients: [2], line: 'transfer 3 1.50', addressed: true });
    expect(line('client3 balance')).toEqual({ type: 'send', clients: [3], line: 'balance', addressed: true });
    expect(line('all balance 2')).toEqual({ type: 'send', clients: [1, 2, 3], line: 'balance 2', addressed: true });
    expect(line('  balance all ')).toEqual({ type: 'send', clients: [1], line: 'balance all', addressed: false });
    expect(line('t 2 1')).toEqual({ type: 'send', clients: [1], line: 't 2 1', addressed: false });
  });

  it('reads the prompt\'s own commands', () => {
    expect(line('use 2')).toEqual({ type: 'use', client: 2 });
    expect(line('use client3')).toEqual({ type: 'use', client: 3 });
    expect(line('use')).toEqual({ type: 'use', client: null });
    expect(line('ps')).toEqual({ type: 'ps' });
    expect(line('stop 2')).toEqual({ type: 'lifecycle', action: 'stop', clients: [2] });
    expect(line('start 3 2 3')).toEqual({ type: 'lifecycle', action: 'start', clients: [3, 2] });
    expect(line('restart all')).toEqual({ type: 'lifecycle', action: 'restart', clients: [1, 2, 3] });
    expect(line('help')).toEqual({ type: 'help', topic: null });
    expect(line('help use')).toEqual({ type: 'help', topic: 'use' });
    expect(line('? t')).toEqual({ type: 'help', topic: 'transfer' });
    expect(line('exit')).toEqual({ type: 'exit' });
    expect(line('quit')).toEqual({ type: 'exit' });
    expect(line('')).toEqual({ type: 'empty' });
    expect(line('# a note')).toEqual({ type: 'empty' });
  });

  it.each([
    ['9 balance', 'unknown client "9" — the clients are 1, 2, 3'],
    ['2', 'what should client2 do? e.g. 2 balance all (type help)'],
    ['all', 'all: all what? — usage: all <command>'],
    ['use 9', 'use: unknown client "9" — the clients are 1, 2, 3'],
    ['use two', 'use: invalid client "two" — write a client number like 2 or client2'],
    ['use 1 2', 'use: too many arguments (at most 1, got 2) — usage: use [<n>]'],
    ['stop', 'stop: which client? — usage: stop <n>... | all'],
    ['restart 2 x', 'restart: invalid client "x" — write a client number like 2 or client2'],
    ['ps -a', 'ps: takes no arguments, got 1 — usage: ps'],
    ['pss', 'unknown command "pss" — did you mean "ps"? (type help)'],
    ['tranfer 2 1', 'unknown command "tranfer" — did you mean "transfer"? (type help)'],
    ['restrat 2', 'unknown command "restrat" — did you mean "restart"? (type help)'],
    ['help pss', 'help: no command "pss" — did you mean "ps"? (type help)'],
    ['2 exit', 'exit would leave the prompt; to stop client2, type stop 2'],
    ['all quit', 'exit would leave the prompt; to stop every client, type stop all'],
    [`${'q'.repeat(100_000)}`, `unknown command "${'q'.repeat(40)}…" (100000 characters) (type help)`],
  ].map(([text = '', message = '']) => ({ text, message })))('refuses with: $message', ({ text, message }) => {
    expect(error(text)).toBe(message);
  });
});

describe('completeClusterLine', () => {
  const complete = (text: string): string[] => completeClusterLine(text, ctx)[0];

  it('completes the prompt\'s commands and client commands first, client ids for a digit', () => {
    expect(complete('he')).toEqual(['help']);
    expect(complete('re')).toEqual(['restart']);
    expect(complete('s')).toEqual(['stop', 'start', 'snapshot', 'snapshots', 'status']);
    expect(complete('2')).toEqual(['2']);
    expect(complete('cl')).toEqual(['client1', 'client2', 'client3']);
  });

  it('after <n> or all, completes what that client\'s prompt would', () => {
    expect(complete('2 tran')).toEqual(['transfer']);
    expect(complete('2 transfer ')).toEqual(['1', '3']);
    expect(complete('all bal')).toEqual(['balance']);
    expect(complete('transfer ')).toEqual(['2', '3']);
  });

  it('completes clients after use, stop, start and restart, and topics after help', () => {
    expect(complete('use ')).toEqual(['1', '2', '3']);
    expect(complete('stop ')).toEqual(['all', '1', '2', '3']);
    expect(complete('restart a')).toEqual(['all']);
    expect(complete('help u')).toEqual(['use']);
    expect(complete('help tran')).toEqual(['transfer']);
    expect(complete('ps ')).toEqual([]);
  });
});

describe('renderClusterHelp', () => {
  it('lists the prompt\'s commands, then the client commands, and no client command twice', () => {
    const help = renderClusterHelp(null, 2);
    for (const usage of ['<n> <command>', 'all <command>', '<command>', 'use [<n>]', 'ps', 'stop <n>... | all', 'start <n>... | all', 'restart <n>... | all', 'help [<command>]', 'exit', 'transfer <to> <amount>', 'balance [all | <client>]']) {
      expect(help).toMatch(new RegExp(`^  ${usage.replace(/[[\]|.<>]/g, '\\$&')} `, 'm'));
    }
    expect(help).toContain('(client2; see use)');
    expect(help.match(/^ {2}help /gm)).toHaveLength(1);
    expect(help.match(/^ {2}exit /gm)).toHaveLength(1);
  });

  it('explains one command of either kind', () => {
    expect(renderClusterHelp('stop', 1)).toBe('stop <n>... | all\n  stop clients (SIGTERM: they close cleanly); their data dirs stay, and transfers wait until they are back\n  e.g. stop 2 | stop 2 3');
    expect(renderClusterHelp('transfer', 1)).toMatch(/^transfer <to> <amount> \[--id <key>\]\n {2}move money .*\n {2}aliases: t\n {2}a client command: alone it runs on client1 \(see use\), after <n> on client n, after all on every client\n {2}e\.g\. transfer 2 4\.50/);
  });
});
