import { describe, expect, it } from 'vitest';
import { centsToInput } from '../../src/cli/format.js';
import { COMMANDS, completeLine, findCommand, parseAmount, parseCommandLine, type ParseResult, type ReplCommand } from '../../src/cli/parse.js';
import { didYouMean, editDistance } from '../../src/base/suggest.js';

const ctx = { self: 1, nodes: [1, 2, 3] } as const;

function command(line: string): ReplCommand {
  const r = parseCommandLine(line, ctx);
  if (!r.ok) throw new Error(`expected "${line}" to parse, got: ${r.error}`);
  return r.command;
}

function error(line: string): string {
  const r: ParseResult = parseCommandLine(line, ctx);
  if (r.ok) throw new Error(`expected "${line}" to fail, got ${JSON.stringify(r.command)}`);
  expect(r.error).not.toContain('\n');
  return r.error;
}

describe('parseAmount', () => {
  it.each([
    ['4', 400],
    ['4.5', 450],
    ['4.50', 450],
    ['$4.50', 450],
    ['0.01', 1],
    ['.5', 50],
    ['.05', 5],
    ['$.99', 99],
    ['10', 1000],
    ['007.10', 710],
    [' 4.50 ', 450],
    ['90071992547409.91', Number.MAX_SAFE_INTEGER],
  ])('reads %j as %i cents', (text, cents) => {
    expect(parseAmount(text)).toEqual({ ok: true, cents });
  });

  it('reads amounts exactly where floats would not (0.29 * 100 = 28.999...)', () => {
    expect(parseAmount('0.29')).toEqual({ ok: true, cents: 29 });
    expect(parseAmount('1.15')).toEqual({ ok: true, cents: 115 });
    expect(parseAmount('4.35')).toEqual({ ok: true, cents: 435 });
  });

  it.each(['-5', '-0.01', '-$5', '$-5'])('rejects the negative amount %j', (text) => {
    const r = parseAmount(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/must be positive/);
  });

  it.each(['0', '0.00', '$0', '.0', '000'])('rejects the zero amount %j', (text) => {
    const r = parseAmount(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/more than zero/);
  });

  it.each(['4.555', '0.001', '4.500', '.125'])('rejects %j for having more than 2 decimals', (text) => {
    const r = parseAmount(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/more than 2 decimal places/);
  });

  it.each(['90071992547409.92', '100000000000000', '99999999999999999999999999'])('rejects %j as beyond MAX_SAFE_INTEGER cents', (text) => {
    const r = parseAmount(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/too large/);
  });

  it.each(['abc', '1e5', '1E5', '0x10', 'Infinity', '-Infinity', 'NaN', ' 4.5.0', '4.5.0', '4.', '.', '$', '$$4', '+5', '1,000', '4 50', '٣', '４', '4$', '5USD', '0b1', '1_000'])(
    'rejects %j as not an amount',
    (text) => {
      const r = parseAmount(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/invalid amount/);
    },
  );

  it('says an amount is missing when there is none', () => {
    expect(parseAmount('')).toEqual({ ok: false, error: 'missing amount' });
    expect(parseAmount('   ')).toEqual({ ok: false, error: 'missing amount' });
  });

  it('reads back exactly what centsToInput writes', () => {
    for (const cents of [1, 5, 10, 99, 100, 101, 450, 1234567, Number.MAX_SAFE_INTEGER]) {
      expect(parseAmount(centsToInput(cents))).toEqual({ ok: true, cents });
    }
  });
});

describe('money formatting helpers', () => {
  it('writes plain decimals, signed changes and aligned columns', () => {
    expect(centsToInput(450)).toBe('4.50');
    expect(centsToInput(5)).toBe('0.05');
    expect(centsToInput(-1205)).toBe('-12.05');
  });

  it('refuses to write a fractional number of cents', () => {
    expect(() => centsToInput(4.5)).toThrow(RangeError);
  });
});

describe('parseCommandLine', () => {
  it('treats blank lines and # comments as empty', () => {
    expect(command('')).toEqual({ type: 'empty' });
    expect(command('   \t ')).toEqual({ type: 'empty' });
    expect(command('# a comment in a command file')).toEqual({ type: 'empty' });
  });

  describe('tx', () => {
    it('asks after one key, and refuses anything else', () => {
      expect(command('tx rent-2026-11')).toEqual({ type: 'tx', key: 'rent-2026-11' });
      expect(error('tx')).toBe('tx: missing key — usage: tx <key>');
      expect(error('tx a b')).toMatch(/^tx: too many arguments/);
      expect(error('tx a/b')).toBe('tx: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -');
    });
  });

  describe('transfer', () => {
    it('parses a recipient written as 2 or client2, and the t alias', () => {
      expect(command('transfer 2 4.50')).toEqual({ type: 'transfer', to: 2, amount: 450 });
      expect(command('t client3 $10')).toEqual({ type: 'transfer', to: 3, amount: 1000 });
      expect(command('  TRANSFER   Client2   .5  ')).toEqual({ type: 'transfer', to: 2, amount: 50 });
    });

    it('takes a key with --id, before or after the other arguments, and refuses one that is not a key', () => {
      expect(command('transfer 2 4.50 --id rent-2026-11')).toEqual({ type: 'transfer', to: 2, amount: 450, key: 'rent-2026-11' });
      expect(command('t --id a.b_c:d-e 3 1')).toEqual({ type: 'transfer', to: 3, amount: 100, key: 'a.b_c:d-e' });
      expect(command(`transfer 2 1 --id ${'k'.repeat(64)}`)).toMatchObject({ key: 'k'.repeat(64) });
      expect(error(`transfer 2 1 --id ${'k'.repeat(65)}`)).toMatch(/^transfer: invalid key "k{40}…" \(65 characters\) — a key is 1-64 characters of A-Z a-z 0-9 \. _ : -$/);
      expect(error('transfer 2 1 --id a/b')).toBe('transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -');
      expect(error('transfer 2 1 --id')).toBe('transfer: --id needs a key after it (--id <key> or --id=<key>) — usage: transfer <to> <amount> [--id <key>]');
      expect(error('transfer 2 1 --id a --id b')).toBe('transfer: --id given twice — usage: transfer <to> <amount> [--id <key>]');
    });

    it('takes --id=<key> as well, as option parsers do', () => {
      expect(command('transfer 2 1 --id=K')).toEqual({ type: 'transfer', to: 2, amount: 100, key: 'K' });
      expect(command('t --id=rent-2026-11 3 1')).toEqual({ type: 'transfer', to: 3, amount: 100, key: 'rent-2026-11' });
      expect(error('transfer 2 1 --id=')).toBe('transfer: --id needs a key after it (--id <key> or --id=<key>) — usage: transfer <to> <amount> [--id <key>]');
      expect(error('transfer 2 1 --id=a/b')).toBe('transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -');
      expect(error('transfer 2 1 --id=a --id b')).toBe('transfer: --id given twice — usage: transfer <to> <amount> [--id <key>]');
      expect(error('transfer 2 1 --id=a --id=a')).toBe('transfer: --id given twice — usage: transfer <to> <amount> [--id <key>]');
    });

    it('names what is missing, with usage', () => {
      expect(error('transfer')).toBe('transfer: missing recipient and amount — usage: transfer <to> <amount> [--id <key>]');
      expect(error('transfer 2')).toBe('transfer: missing amount — usage: transfer <to> <amount> [--id <key>]');
      expect(error('t 2 4 5')).toMatch(/^transfer: too many arguments .* usage: transfer <to> <amount> \[--id <key>\]$/);
    });

    it('refuses an unknown recipient, naming the clients', () => {
      expect(error('transfer 9 1')).toBe('transfer: unknown recipient "9" — the clients are 1, 2, 3');
      expect(error('transfer client0 1')).toMatch(/unknown recipient "client0"/);
    });

    it('refuses a recipient that is not a client number', () => {
      expect(error('transfer bob 1')).toMatch(/invalid recipient "bob"/);
      expect(error('transfer 2.0 1')).toMatch(/invalid recipient "2.0"/);
      expect(error('transfer -2 1')).toMatch(/invalid recipient "-2"/);
    });

    it('refuses oneself as recipient', () => {
      expect(error('transfer 1 4')).toBe('transfer: cannot transfer to yourself (client1)');
      expect(error('transfer client1 4')).toMatch(/yourself/);
    });

    it.each([
      ['abc', /invalid amount/],
      ['1e5', /invalid amount/],
      ['0x10', /invalid amount/],
      ['Infinity', /invalid amount/],
      ['NaN', /invalid amount/],
      ['4.5.0', /invalid amount/],
      ['-5', /must be positive/],
      ['0', /more than zero/],
      ['4.555', /more than 2 decimal/],
      ['90071992547409.92', /too large/],
    ])('refuses the amount %j', (amount, message) => {
      expect(error(`transfer 2 ${amount}`)).toMatch(message);
      expect(error(`transfer 2 ${amount}`)).toMatch(/^transfer: /);
    });
  });

  describe('balance', () => {
    it('defaults to self and accepts all, a client, and the b alias', () => {
      expect(command('balance')).toEqual({ type: 'balance', target: 'self' });
      expect(command('b')).toEqual({ type: 'balance', target: 'self' });
      expect(command('balance all')).toEqual({ type: 'balance', target: 'all' });
      expect(command('b ALL')).toEqual({ type: 'balance', target: 'all' });
      expect(command('balance 2')).toEqual({ type: 'balance', target: 2 });
      expect(command('balance client3')).toEqual({ type: 'balance', target: 3 });
    });

    it('normalises its own id to self', () => {
      expect(command('balance 1')).toEqual({ type: 'balance', target: 'self' });
    });

    it('refuses unknown clients and extra arguments', () => {
      expect(error('balance 7')).toMatch(/^balance: unknown client "7"/);
      expect(error('balance everyone')).toMatch(/^balance: invalid client "everyone"/);
      expect(error('balance 2 3')).toMatch(/^balance: too many arguments.*usage: balance \[all \| <client>\]$/);
    });
  });

  describe('snapshots', () => {
    it('parses snapshot, snapshots, snapshot list and snapshot show <id>', () => {
      expect(command('snapshot')).toEqual({ type: 'snapshot' });
      expect(command('snapshots')).toEqual({ type: 'snapshots' });
      expect(command('snapshot list')).toEqual({ type: 'snapshots' });
      expect(command('snapshot show 1.3')).toEqual({ type: 'snapshotShow', id: '1.3' });
      expect(command('snapshot SHOW 12.104')).toEqual({ type: 'snapshotShow', id: '12.104' });
    });

    it('show <id> --html <file> asks for the diagram too', () => {
      expect(command('snapshot show 1.3 --html out/1.3.html')).toEqual({ type: 'snapshotShow', id: '1.3', html: 'out/1.3.html' });
    });

    it('refuses a missing or malformed snapshot id', () => {
      expect(error('snapshot show')).toMatch(/missing snapshot id/);
      expect(error('snapshot show ../etc/passwd')).toMatch(/invalid snapshot id/);
      expect(error('snapshot show 1')).toMatch(/invalid snapshot id/);
      expect(error('snapshot show 1.3 2.4')).toMatch(/after the id, only --html <file>/);
      expect(error('snapshot show 1.3 --html')).toMatch(/after the id, only --html <file>/);
      expect(error('snapshot show 1.3 --html a.html b')).toMatch(/after the id, only --html <file>/);
      expect(error('snapshot now')).toMatch(/unknown subcommand "now"/);
      expect(error('snapshots 1')).toMatch(/^snapshots: takes no arguments/);
    });
  });

  describe('trace', () => {
    it('takes on or off, and nothing else', () => {
      expect(command('trace on')).toEqual({ type: 'trace', on: true });
      expect(command('TRACE Off')).toEqual({ type: 'trace', on: false });
      expect(error('trace')).toMatch(/^trace: expected at least 1 argument/);
      expect(error('trace maybe')).toBe('trace: expected on or off, got "maybe" — usage: trace on|off');
    });
  });

  describe('link', () => {
    it('shows the links, holds, releases and delays one, a delay of 0 taking it off', () => {
      expect(command('link')).toEqual({ type: 'links' });
      expect(command('link hold 3')).toEqual({ type: 'link', peer: 3, change: { held: true } });
      expect(command('LINK release client2')).toEqual({ type: 'link', peer: 2, change: { held: false } });
      expect(command('link delay 3 500')).toEqual({ type: 'link', peer: 3, change: { delay: { minMs: 500, maxMs: 500 } } });
      expect(command('link delay 3 100-300')).toEqual({ type: 'link', peer: 3, change: { delay: { minMs: 100, maxMs: 300 } } });
      expect(command('link delay 3 0')).toEqual({ type: 'link', peer: 3, change: { delay: null } });
    });

    it('refuses a missing or unknown peer, itself, a bad delay and a wrong subcommand', () => {
      expect(error('link hold')).toMatch(/^link: expected at least 2 arguments/);
      expect(error('link hold 7')).toBe('link: unknown peer "7" — the clients are 1, 2, 3');
      expect(error('link hold 1')).toBe('link: client1 has no link to itself');
      expect(error('link delay 3')).toMatch(/^link: expected at least 3 arguments/);
      expect(error('link delay 3 fast')).toMatch(/^link: delay must be milliseconds \(500\) or a range \(100-300\), at most 600000, got "fast"/);
      expect(error('link delay 3 300-100')).toMatch(/^link: delay must be/);
      expect(error('link delay 3 600001')).toMatch(/^link: delay must be/);
      expect(error('link cut 3')).toMatch(/^link: unknown subcommand "cut" \(hold, release or delay\)/);
      expect(error('link release 3 now')).toMatch(/^link: too many arguments/);
    });

    it('completes its subcommands and the peers', () => {
      const cctx = { self: 1, nodes: [1, 2, 3] };
      expect(completeLine('link ', cctx)).toEqual([['hold', 'release', 'delay'], '']);
      expect(completeLine('link hold ', cctx)).toEqual([['2', '3'], '']);
    });
  });

  describe('chain', () => {
    it('shows the default tail or the last N, with the blockchain alias', () => {
      expect(command('chain')).toEqual({ type: 'chain' });
      expect(command('blockchain 25')).toEqual({ type: 'chain', last: 25 });
    });

    it.each(['0', '-1', '2.5', 'x', '1e3', '99999999999999999999'])('refuses the count %j', (n) => {
      expect(error(`chain ${n}`)).toMatch(/^chain: count must be a positive whole number/);
    });
  });

  it('parses the argument-less commands and their aliases', () => {
    expect(command('peers')).toEqual({ type: 'peers' });
    expect(command('status')).toEqual({ type: 'status' });
    expect(command('exit')).toEqual({ type: 'exit' });
    expect(command('quit')).toEqual({ type: 'exit' });
    expect(error('peers now')).toBe('peers: takes no arguments, got 1 — usage: peers');
    expect(error('exit 0')).toMatch(/^exit: takes no arguments/);
  });

  it('parses help with an optional topic, resolving aliases', () => {
    expect(command('help')).toEqual({ type: 'help' });
    expect(command('?')).toEqual({ type: 'help' });
    expect(command('help transfer')).toEqual({ type: 'help', topic: 'transfer' });
    expect(command('help t')).toEqual({ type: 'help', topic: 'transfer' });
    expect(command('help quit')).toEqual({ type: 'help', topic: 'exit' });
    expect(error('help tranfer')).toBe('help: no command "tranfer" — did you mean "transfer"? (type help)');
    expect(error('help a b')).toMatch(/too many arguments/);
  });

  describe('unknown commands', () => {
    it.each([
      ['tranfer', 'transfer'],
      ['trasnfer', 'transfer'],
      ['balanse', 'balance'],
      ['snapshto', 'snapshot'],
      ['chian', 'chain'],
      ['staus', 'status'],
      ['exti', 'exit'],
      ['peer', 'peers'],
    ])('suggests the closest command for %j', (typo, suggestion) => {
      expect(error(`${typo} 2 4`)).toBe(`unknown command "${typo}" — did you mean "${suggestion}"? (type help)`);
    });

    it('suggests the command a truncated word starts', () => {
      expect(error('snap')).toBe('unknown command "snap" — did you mean "snapshot"? (type help)');
      expect(error('bal all')).toMatch(/did you mean "balance"/);
    });

    it('does not suggest anything far away', () => {
      expect(error('deposit 5')).toBe('unknown command "deposit" (type help)');
      expect(error('x')).toBe('unknown command "x" (type help)');
    });
  });

  describe('a pasted page', () => {
    const page = 'y'.repeat(100_000);
    it.each([
      [page, `unknown command "${'y'.repeat(40)}…" (100000 characters) (type help)`],
      [`transfer ${page} 1`, `transfer: invalid recipient "${'y'.repeat(40)}…" (100000 characters) — write a client number like 2 or client2`],
      [`transfer 2 ${page}`, `transfer: invalid amount "${'y'.repeat(40)}…" (100000 characters) — use dollars with up to 2 decimals, e.g. 4.50`],
      [`balance 9${'9'.repeat(99_999)}`, `balance: unknown client "${'9'.repeat(40)}…" (100000 characters) — the clients are 1, 2, 3`],
      [`help ${page}`, `help: no command "${'y'.repeat(40)}…" (100000 characters) (type help)`],
      [`chain ${page}`, `chain: count must be a positive whole number, got "${'y'.repeat(40)}…" (100000 characters) — usage: chain [<count>]`],
      [`snapshot ${page}`, `snapshot: unknown subcommand "${'y'.repeat(40)}…" (100000 characters) — usage: ${findCommand('snapshot')!.usage}`],
    ])('is quoted by its first 40 characters and its length (%#)', (line, message) => {
      expect(error(line)).toBe(message);
    });

    it('a word of 40 characters is quoted whole', () => {
      expect(error('z'.repeat(40))).toBe(`unknown command "${'z'.repeat(40)}" (type help)`);
    });
  });
});

describe('COMMANDS', () => {
  it('describes every command with a usage and a one-line description, no word claimed twice', () => {
    const words = COMMANDS.flatMap((c) => [c.name, ...c.aliases]);
    expect(new Set(words).size).toBe(words.length);
    for (const c of COMMANDS) {
      expect(c.usage.startsWith(c.name)).toBe(true);
      expect(c.description).not.toContain('\n');
      expect(findCommand(c.name)).toBe(c);
      for (const a of c.aliases) expect(findCommand(a.toUpperCase())).toBe(c);
      // Every example parses: the help text never teaches something the parser refuses.
      for (const example of c.examples) expect(parseCommandLine(example, ctx).ok).toBe(true);
    }
  });
});

describe('completeLine', () => {
  const cctx = { ...ctx, snapshotIds: ['1.1', '1.2', '2.1'] };

  it('completes command words and aliases', () => {
    expect(completeLine('tr', cctx)).toEqual([['trace', 'transfer'], 'tr']);
    expect(completeLine('trace o', cctx)).toEqual([['on', 'off'], 'o']);
    expect(completeLine('  sn', cctx)).toEqual([['snapshot', 'snapshots'], 'sn']);
    expect(completeLine('b', cctx)).toEqual([['b', 'balance', 'blockchain'], 'b']);
    expect(completeLine('zz', cctx)).toEqual([[], 'zz']);
    expect(completeLine('', cctx)[0]).toEqual(expect.arrayContaining(['transfer', 'balance', 'quit', 'exit']));
  });

  it('completes recipients other than oneself, as typed', () => {
    expect(completeLine('transfer ', cctx)).toEqual([['2', '3'], '']);
    expect(completeLine('t c', cctx)).toEqual([['client2', 'client3'], 'c']);
    expect(completeLine('transfer client3', cctx)).toEqual([['client3'], 'client3']);
    expect(completeLine('transfer 2 4', cctx)).toEqual([[], '4']);
  });

  it('completes balance targets, snapshot subcommands and ids, and help topics', () => {
    expect(completeLine('balance ', cctx)).toEqual([['all', '1', '2', '3'], '']);
    expect(completeLine('balance a', cctx)).toEqual([['all'], 'a']);
    expect(completeLine('snapshot ', cctx)).toEqual([['list', 'show'], '']);
    expect(completeLine('snapshot show 1.', cctx)).toEqual([['1.1', '1.2'], '1.']);
    expect(completeLine('snapshot show ', { ...ctx })).toEqual([[], '']);
    expect(completeLine('help st', cctx)).toEqual([['status'], 'st']);
  });

  it('offers nothing after an unknown command', () => {
    expect(completeLine('frobnicate 1', cctx)).toEqual([[], '1']);
  });
});

describe('didYouMean', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('trasnfer', 'transfer')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only plausible typos', () => {
    expect(didYouMean('clinets', ['cluster', 'clients'])).toBe('clients');
    expect(didYouMean('zzz', ['cluster', 'clients'])).toBeNull();
    expect(didYouMean('balance', ['id', 'balanceCents'])).toBe('balanceCents');
    expect(didYouMean('ba', ['balanceCents'])).toBeNull();
  });
});
