/** Command files are checked whole before anything starts: every bad line is named, with a suggestion. */
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
    expect(r.script.steps.map((s) => [s.no, s.instruction])).toEqual([
      [2, { type: 'send', clients: [1], command: 'transfer 2 4.50', background: false }],
      [4, { type: 'send', clients: [2], command: 'transfer 3 1', background: true }],
      [5, { type: 'wait', ms: 100 }],
      [6, { type: 'settle' }],
      [7, { type: 'expect', expectation: { type: 'result', ok: true } }],
      [8, { type: 'expect', expectation: { type: 'result', ok: false } }],
      [9, { type: 'expect', expectation: { type: 'snapshotVerified' } }],
      [10, { type: 'expect', expectation: { type: 'converged' } }],
      [11, { type: 'expect', expectation: { type: 'height', clients: [1, 2, 3], height: 2 } }],
      [12, { type: 'expect', expectation: { type: 'balance', clients: [3], of: 2, cents: 1325 } }],
      [13, { type: 'expect', expectation: { type: 'balance', clients: [1, 2, 3], of: 1, cents: 0 } }],
      [14, { type: 'send', clients: [1, 2, 3], command: 'snapshot', background: false }],
    ]);
  });

  it('names every bad line with its number and a suggestion', () => {
    expect(errors('waitt 100\nsetle\nexpekt ok\n1 tranfer 2 1\n4 balance\nwait soon\nexpect convereged\nexpect 2 hieght 3\nbalance\nfoo\n1\n1 exit\n')).toEqual([
      'f.txt:1: unknown instruction "waitt" — did you mean "wait"?',
      'f.txt:2: unknown instruction "setle" — did you mean "settle"?',
      'f.txt:3: unknown instruction "expekt" — did you mean "expect"?',
      'f.txt:4: unknown command "tranfer" — did you mean "transfer"? (type help)',
      'f.txt:5: unknown client "4" — the clients are 1, 2, 3',
      'f.txt:6: wait takes milliseconds, e.g. wait 500',
      'f.txt:7: expect: unknown expectation "convereged" — did you mean "converged"? (expect ok | failed | snapshot verified | converged | <n|all> height <h> | <n|all> balance <m> <amount>)',
      'f.txt:8: expect: unknown expectation "hieght" — did you mean "height"? (expect ok | failed | snapshot verified | converged | <n|all> height <h> | <n|all> balance <m> <amount>)',
      'f.txt:9: address a client first, e.g. "1 balance" or "all balance"',
      'f.txt:10: unknown instruction "foo": a line is "<n|all> <command>", "wait MS", "settle" or "expect ..."',
      'f.txt:11: what should client1 do? e.g. 1 balance all',
      'f.txt:12: exit is for a REPL; a command file ends at its last line',
    ]);
  });

  it('takes transfer keys and tx lines as a client\'s prompt does, and names a bad key', () => {
    const r = parseScript('f.txt', '1 transfer 2 1 --id rent-2026-11\n1 transfer 2 1 --id rent-2026-11\nexpect ok\n1 tx rent-2026-11\n', ids);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.script.steps.map((s) => s.instruction)).toContainEqual({ type: 'send', clients: [1], command: 'tx rent-2026-11', background: false });
    expect(errors('1 transfer 2 1 --id a/b\n1 tx\n')).toEqual([
      'f.txt:1: transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -',
      'f.txt:2: tx: missing key — usage: tx <key>',
    ]);
  });

  it('checks a line sent to every client as each of them would read it', () => {
    expect(errors('all transfer 3 1\n')).toEqual(['f.txt:1: client3: transfer: cannot transfer to yourself (client3)']);
  });
});
