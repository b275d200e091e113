/**
 * The cluster's language, at the prompt and in command files: lines addressed to one client,
 * every client or the current one, with & or without; the cluster's own commands (use, settle,
 * sleep, expect, trace, ps, stop, start, restart, clear, help, exit) with their errors; what a file
 * refuses and why; Tab completion; the help list, and the docs' table made from the same
 * definitions.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderClusterHelp, renderLanguageTable } from '../../src/cli/cluster/help.js';
import { ADDRESSING, CLUSTER_COMMANDS, type ClusterLine, completeClusterLine, parseClusterLine } from '../../src/cli/cluster/language.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
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
    expect(line('2 transfer 3 1.50')).toEqual({ type: 'send', clients: [2], line: 'transfer 3 1.50', addressed: true, background: false });
    expect(line('client3 balance')).toEqual({ type: 'send', clients: [3], line: 'balance', addressed: true, background: false });
    expect(line('all balance 2')).toEqual({ type: 'send', clients: [1, 2, 3], line: 'balance 2', addressed: true, background: false });
    expect(line('  balance all ')).toEqual({ type: 'send', clients: [1], line: 'balance all', addressed: false, background: false });
    expect(line('t 2 1')).toEqual({ type: 'send', clients: [1], line: 't 2 1', addressed: false, background: false });
  });

  it('sends a line ending in & without waiting, and drops a comment', () => {
    expect(line('2 transfer 3 1 &')).toEqual({ type: 'send', clients: [2], line: 'transfer 3 1', addressed: true, background: true });
    expect(line('transfer 3 1& # in the background')).toEqual({ type: 'send', clients: [1], line: 'transfer 3 1', addressed: false, background: true });
  });

  it('takes transfer keys and tx, addressed, bare and in the background, and names a bad key', () => {
    expect(line('2 transfer 3 1.50 --id rent-2026-11')).toEqual({ type: 'send', clients: [2], line: 'transfer 3 1.50 --id rent-2026-11', addressed: true, background: false });
    expect(line('transfer --id a.b:c-d_e 2 1 &')).toEqual({ type: 'send', clients: [1], line: 'transfer --id a.b:c-d_e 2 1', addressed: false, background: true });
    expect(line('all tx rent-2026-11')).toEqual({ type: 'send', clients: [1, 2, 3], line: 'tx rent-2026-11', addressed: true, background: false });
    expect(line('tx rent-2026-11')).toEqual({ type: 'send', clients: [1], line: 'tx rent-2026-11', addressed: false, background: false });
    expect(error('2 transfer 3 1 --id a/b')).toBe('transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -');
    expect(error('tx')).toBe('tx: missing key — usage: tx <key>');
    expect(line('help tx')).toEqual({ type: 'help', topic: 'tx' });
  });

  it('checks a client command as each client it goes to would read it, before sending it to any', () => {
    expect(error('all transfer 3 1')).toBe('client3: transfer: cannot transfer to yourself (client3)');
    expect(error('1 transfer 2 abc')).toBe('transfer: invalid amount "abc" — use dollars with up to 2 decimals, e.g. 4.50');
    expect(error('balance 9')).toBe('balance: unknown client "9" — the clients are 1, 2, 3');
  });

  it('reads settle, sleep, expect and clear, the same at the prompt and in a file', () => {
    for (const where of ['prompt', 'file'] as const) {
      const at = (text: string): ClusterLine => {
        const r = parseClusterLine(text, { ...ctx, where });
        if (!r.ok) throw new Error(r.error);
        return r.line;
      };
      expect(at('settle')).toEqual({ type: 'settle' });
      expect(at('sleep 250')).toEqual({ type: 'sleep', ms: 250 });
      expect(at('wait 250')).toEqual({ type: 'sleep', ms: 250 });
      expect(at('expect all balance 2 13.25')).toEqual({ type: 'expect', expectation: { type: 'balance', clients: [1, 2, 3], of: 2, cents: 1325 } });
      expect(at('use 3')).toEqual({ type: 'use', client: 3 });
      expect(at('stop 2')).toEqual({ type: 'lifecycle', action: 'stop', clients: [2] });
      expect(at('exit')).toEqual({ type: 'exit' });
    }
    expect(line('clear')).toEqual({ type: 'clear' });
  });

  it('traces every client with trace on|off, one client or all of them after <n> or all, at the prompt and in a file', () => {
    for (const where of ['prompt', 'file'] as const) {
      const at = (text: string): ClusterLine => {
        const r = parseClusterLine(text, { ...ctx, where });
        if (!r.ok) throw new Error(r.error);
        return r.line;
      };
      expect(at('trace on')).toEqual({ type: 'trace', on: true, clients: [1, 2, 3] });
      expect(at('TRACE Off')).toEqual({ type: 'trace', on: false, clients: [1, 2, 3] });
      expect(at('2 trace on')).toEqual({ type: 'trace', on: true, clients: [2] });
      expect(at('client3 trace off')).toEqual({ type: 'trace', on: false, clients: [3] });
      expect(at('all trace on')).toEqual({ type: 'trace', on: true, clients: [1, 2, 3] });
    }
  });

  it('reads what the last snapshot had in flight, exactly or at least', () => {
    expect(line('expect snapshot in flight 2')).toEqual({ type: 'expect', expectation: { type: 'snapshotInFlight', count: 2, atLeast: false } });
    expect(line('expect snapshot In Flight at least 1')).toEqual({ type: 'expect', expectation: { type: 'snapshotInFlight', count: 1, atLeast: true } });
    expect(line('expect snapshot in flight 0')).toEqual({ type: 'expect', expectation: { type: 'snapshotInFlight', count: 0, atLeast: false } });
    expect(line('expect snapshot verified')).toEqual({ type: 'expect', expectation: { type: 'snapshotVerified' } });
  });

    it('refuses in a file, in one line saying why, what only the prompt can do', () => {
    const inFile = (text: string): string => {
      const r = parseClusterLine(text, { ...ctx, where: 'file' });
      if (r.ok) throw new Error(`expected "${text}" to fail in a file`);
      return r.error;
    };
    expect(inFile('clear')).toBe("clear clears the prompt's screen; a command file has none");
    expect(inFile('help use')).toMatch(/^help lists the commands at the prompt; a command file has no one to read it/);
    for (const c of CLUSTER_COMMANDS.filter((x) => x.notInFile !== undefined)) expect(inFile(c.name)).not.toContain('\n');
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
    ['setle', 'unknown command "setle" — did you mean "settle"? (type help)'],
    ['sleep', 'sleep takes milliseconds, e.g. sleep 500'],
    ['settle now', 'settle: takes no arguments, got 1 — usage: settle'],
    ['clear 2', 'clear: takes no arguments, got 1 — usage: clear'],
    ['expect', 'expect: expect what? (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)'],
    ['ps &', "& sends a client command without waiting for its answer; ps is the cluster's own"],
    ['trace', 'trace: on or off? — usage: trace on|off'],
    ['trace maybe', 'trace: expected on or off, got "maybe" — usage: trace on|off'],
    ['trace on 2', 'trace: expected on or off, got "on 2" — usage: trace on|off'],
    ['trace on &', "& sends a client command without waiting for its answer; trace is the cluster's own"],
    ['2 trace on &', "& sends a client command without waiting for its answer; trace is the cluster's own"],
    ['2 trace', 'trace: expected at least 1 argument, got 0 — usage: trace on|off'],
    ['2 clear', "clear clears this prompt's screen: type clear alone"],
    ['expect snapshot in flight', 'expect: the forms are "expect snapshot verified" and "expect snapshot in flight [at least] <n>" (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)'],
    ['expect snapshot in flight at most 2', 'expect: the forms are "expect snapshot verified" and "expect snapshot in flight [at least] <n>" (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)'],
    ['expect snapshot in flight -1', 'expect: the forms are "expect snapshot verified" and "expect snapshot in flight [at least] <n>" (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)'],
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
    expect(complete('s')).toEqual(['settle', 'sleep', 'stop', 'start', 'snapshot', 'snapshots', 'status']);
    expect(complete('cle')).toEqual(['clear']);
    expect(complete('2')).toEqual(['2']);
    expect(complete('cl')).toEqual(['clear', 'client1', 'client2', 'client3']);
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
    expect(complete('trace o')).toEqual(['on', 'off']);
    expect(complete('2 trace of')).toEqual(['off']);
    expect(complete('expect co')).toEqual(['converged']);
    expect(complete('expect ')).toEqual(['ok', 'failed', 'snapshot', 'converged', 'all', '1', '2', '3']);
  });
});

describe('renderClusterHelp', () => {
  it('lists the cluster\'s commands, then the client commands, and no client command twice', () => {
    const help = renderClusterHelp(null, 2);
    for (const usage of [...ADDRESSING.map((a) => a.usage), ...CLUSTER_COMMANDS.map((c) => c.usage), 'transfer <to> <amount>', 'balance [all | <client>]']) {
      expect(help).toMatch(new RegExp(`^  ${usage.replace(/[[\]|.<>]/g, '\\$&')} `, 'm'));
    }
    expect(help).toContain('(client2; see use)');
    expect(help.match(/^ {2}help /gm)).toHaveLength(1);
    expect(help.match(/^ {2}exit /gm)).toHaveLength(1);
    expect(help.match(/^ {2}trace /gm)).toHaveLength(1);
    expect(help.match(/^ {2}clear /gm)).toHaveLength(1);
    expect(help.match(/^ {2}all /gm)).toHaveLength(1);
  });

  it('explains one command of either kind, and says where the cluster\'s do not apply', () => {
    expect(renderClusterHelp('stop', 1)).toBe('stop <n>... | all\n  stop clients (SIGTERM: they close cleanly); their data dirs stay, and transfers wait until they are back\n  e.g. stop 2 | stop 2 3');
    expect(renderClusterHelp('transfer', 1)).toMatch(/^transfer <to> <amount> \[--id <key>\]\n {2}move money .*\n {2}aliases: t\n {2}a client command: alone it runs on client1 \(see use\), after <n> on client n, after all on every client\n {2}e\.g\. transfer 2 4\.50/);
    expect(renderClusterHelp('clear', 1)).toContain("\n  not in a command file: clear clears the prompt's screen; a command file has none\n");
  });
});

/** Every markdown file of the repository that documents the language (the README, or docs/). */
function documents(): string[] {
  const docs = path.join(ROOT, 'docs');
  const files = [path.join(ROOT, 'README.md'), ...readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join(docs, f))];
  return files.filter((f) => readFileSync(f, 'utf8').includes(TABLE_MARKER));
}

const TABLE_MARKER = '<!-- cluster-language -->';

describe('the documented language', () => {
  it('is the table the definitions make, in the one document that has it', () => {
    const [doc, ...more] = documents();
    expect(doc, `no markdown file has ${TABLE_MARKER} before the language's table`).toBeDefined();
    expect(more).toEqual([]);
    const text = readFileSync(doc!, 'utf8');
    const after = text.slice(text.indexOf(TABLE_MARKER) + TABLE_MARKER.length).replace(/^\n+/, '');
    const table = after.slice(0, after.search(/\n(?!\|)/));
    expect(table, `${path.relative(ROOT, doc!)}: the table after ${TABLE_MARKER} should read:\n${renderLanguageTable()}\n`).toBe(renderLanguageTable());
  });
});
