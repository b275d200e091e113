/**
 * Command files are checked whole before anything starts: every bad line is named, with a
 * suggestion; the language is the prompt's, but for what has no meaning in a file.
 */
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/cli/cluster/script.js';

const ids = [1, 2, 3];

function errors(content: string): string[] {
  const r = parseScript('f.txt', content, ids);
  if (r.ok) throw new Error(`expected errors, got ${JSON.stringify(r.script)}`);
  return r.errors.map((e) => e.message);
}

describe('parseScript', () => {
  it('reads every instruction, skipping blank lines and comments', () => {
    const r = parseScript('f.txt', '# setup\n1 transfer 2 4.50\n\n2 transfer 3 1 &  # in the background\nwait 100\nsettle\nexpect ok\nexpect failed\nexpect snapshot verified\nexpect converged\nexpect all height 2\nexpect 3 balance client2 13.25\nexpect all balance 1 0\nall snapshot\n', ids);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.script.steps.map((s) => [s.no, s.line])).toEqual([
      [2, { type: 'send', clients: [1], line: 'transfer 2 4.50', addressed: true, background: false }],
      [4, { type: 'send', clients: [2], line: 'transfer 3 1', addressed: true, background: true }],
      [5, { type: 'sleep', ms: 100 }],
      [6, { type: 'settle' }],
      [7, { type: 'expect', expectation: { type: 'result', ok: true } }],
      [8, { type: 'expect', expectation: { type: 'result', ok: false } }],
      [9, { type: 'expect', expectation: { type: 'snapshotVerified' } }],
      [10, { type: 'expect', expectation: { type: 'converged' } }],
      [11, { type: 'expect', expectation: { type: 'height', clients: [1, 2, 3], height: 2 } }],
      [12, { type: 'expect', expectation: { type: 'balance', clients: [3], of: 2, cents: 1325 } }],
      [13, { type: 'expect', expectation: { type: 'balance', clients: [1, 2, 3], of: 1, cents: 0 } }],
      [14, { type: 'send', clients: [1, 2, 3], line: 'snapshot', addressed: true, background: false }],
    ]);
    expect(r.script.steps[1]!.text).toBe('2 transfer 3 1 &');
  });

  it('takes the prompt\'s commands too: use, bare commands where use says, ps, stop, start, restart, sleep, exit', () => {
    const r = parseScript('f.txt', 'balance\nuse 3\ntransfer 1 2\nps\nstop 2\nstart all\nrestart 1 3\nsleep 5\nexit\n', ids);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.script.steps.map((s) => s.line)).toEqual([
      { type: 'send', clients: [1], line: 'balance', addressed: false, background: false },
      { type: 'use', client: 3 },
      { type: 'send', clients: [3], line: 'transfer 1 2', addressed: false, background: false },
      { type: 'ps' },
      { type: 'lifecycle', action: 'stop', clients: [2] },
      { type: 'lifecycle', action: 'start', clients: [1, 2, 3] },
      { type: 'lifecycle', action: 'restart', clients: [1, 3] },
      { type: 'sleep', ms: 5 },
      { type: 'exit' },
    ]);
  });

  it('says in one line why help and clear are not for a file', () => {
    expect(errors('help\nclear\nhelp transfer\n')).toEqual([
      'f.txt:1: help lists the commands at the prompt; a command file has no one to read it (client cluster --help, or docs/CLUSTER.md)',
      "f.txt:2: clear clears the prompt's screen; a command file has none",
      'f.txt:3: help lists the commands at the prompt; a command file has no one to read it (client cluster --help, or docs/CLUSTER.md)',
    ]);
  });

  it('checks a bare command as the client that use chose would read it', () => {
    expect(errors('use 2\ntransfer 2 1\n')).toEqual(['f.txt:2: transfer: cannot transfer to yourself (client2)']);
  });

  it('names every bad line with its number and a suggestion', () => {
    expect(errors('waitt 100\nsetle\nexpekt ok\n1 tranfer 2 1\n4 balance\nwait soon\nexpect convereged\nexpect 2 hieght 3\nsettle &\nfoo\n1\n1 exit\n')).toEqual([
      'f.txt:1: unknown command "waitt" — did you mean "wait"? (type help)',
      'f.txt:2: unknown command "setle" — did you mean "settle"? (type help)',
      'f.txt:3: unknown command "expekt" — did you mean "expect"? (type help)',
      'f.txt:4: unknown command "tranfer" — did you mean "transfer"? (type help)',
      'f.txt:5: unknown client "4" — the clients are 1, 2, 3',
      'f.txt:6: wait takes milliseconds, e.g. wait 500',
      'f.txt:7: expect: unknown expectation "convereged" — did you mean "converged"? (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)',
      'f.txt:8: expect: unknown expectation "hieght" — did you mean "height"? (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)',
      "f.txt:9: & sends a client command without waiting for its answer; settle is the cluster's own",
      'f.txt:10: unknown command "foo" (type help)',
      'f.txt:11: what should client1 do? e.g. 1 balance all (type help)',
      'f.txt:12: exit would leave the prompt; to stop client1, type stop 1',
    ]);
  });

  it('takes transfer keys and tx lines as a client\'s prompt does, and names a bad key', () => {
    const r = parseScript('f.txt', '1 transfer 2 1 --id rent-2026-11\n1 transfer 2 1 --id rent-2026-11\nexpect ok\n1 tx rent-2026-11\n', ids);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.script.steps.map((s) => s.line)).toContainEqual({ type: 'send', clients: [1], line: 'tx rent-2026-11', addressed: true, background: false });
    expect(errors('1 transfer 2 1 --id a/b\n1 tx\n')).toEqual([
      'f.txt:1: transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -',
      'f.txt:2: tx: missing key — usage: tx <key>',
    ]);
  });

  it('checks a line sent to every client as each of them would read it', () => {
    expect(errors('all transfer 3 1\n')).toEqual(['f.txt:1: client3: transfer: cannot transfer to yourself (client3)']);
  });
});
