/** The documents' block markers and what the drift test masks (test/readme/blocks.ts). */
import { describe, expect, it } from 'vitest';
import { comparable, readAllBlocks, readBlocks, replaceBlocks } from '../readme/blocks.js';

const README = ['# t', '<!-- walkthrough: a -->', '```', 'old a', '```', 'text', '<!-- walkthrough: b -->', '```sh', 'old b', 'more b', '```', ''].join('\n');

describe('README walkthrough blocks', () => {
  it('finds each marked block and replaces its body, leaving the rest alone', () => {
    const blocks = readBlocks(README);
    expect([...blocks.keys()]).toEqual(['a', 'b']);
    expect(blocks.get('b')!.text).toBe('old b\nmore b');
    const out = replaceBlocks(README, new Map([['b', 'new b'], ['a', 'new a\nline 2']]));
    expect(out).toBe(['# t', '<!-- walkthrough: a -->', '```', 'new a', 'line 2', '```', 'text', '<!-- walkthrough: b -->', '```sh', 'new b', '```', ''].join('\n'));
  });

  it('refuses a marker without a block, a duplicate name, and an unknown name', () => {
    expect(() => readBlocks('<!-- walkthrough: x -->\ntext')).toThrow(/not followed by a fenced block/);
    expect(() => readBlocks(`${README}\n<!-- walkthrough: a -->\n\`\`\`\nx\n\`\`\``)).toThrow(/a second block named a/);
    expect(() => replaceBlocks(README, new Map([['c', 'x']]))).toThrow(/no block <!-- walkthrough: c -->/);
  });

  it('finds blocks across documents, each in its file, and refuses a name used in two of them', () => {
    const docs = new Map([['README.md', README], ['docs/X.md', '# x\n<!-- walkthrough: c -->\n```\nold c\n```\n']]);
    const all = readAllBlocks(docs);
    expect([...all.values()].map((b) => `${b.file}:${b.name}`)).toEqual(['README.md:a', 'README.md:b', 'docs/X.md:c']);
    const twice = new Map([...docs, ['docs/Y.md', '<!-- walkthrough: b -->\n```\nx\n```\n']]);
    expect(() => readAllBlocks(twice)).toThrow('docs/Y.md line 1: a second block named b (the first is in README.md line 7)');
    expect(() => readBlocks('<!-- walkthrough: x -->\ntext', 'docs/Z.md')).toThrow(/^docs\/Z\.md line 1: /);
  });

  it('masks durations, times, hashes and ids, but not clocks or queue timestamps', () => {
    const a = 'SUCCESS  block #1  client1 -> client2  $4.50  (clock 6, 6 msgs, 4.6 ms)\n#1  d7cfdb54  prev bc590b7b  ts 6\nat 2026-11-27T09:41:30.488Z';
    const b = 'SUCCESS  block #1  client1 -> client2  $4.50  (clock 6, 6 msgs, 31 ms)\n#1  12345678  prev 0fac58fb  ts 6\nat 2026-11-22T03:17:06.766Z';
    expect(comparable(a)).toBe(comparable(b));
    expect(comparable(a)).not.toBe(comparable(a.replace('clock 6', 'clock 12')));
    expect(comparable('client1  9  2@4')).not.toBe(comparable('client1  9  2@8'));
    expect(comparable('"txId":"92c9ddf8-1556-48ae-b6f4-c56520fdbd46","ms":2.27')).toBe(comparable('"txId":"f2cd8404-71aa-425d-98a2-7d7b73f9e2f4","ms":6.9'));
    // Keys the client makes, in text and JSON; a key the caller chose is compared.
    expect(comparable('$4.50  key Zq3-x_9Yw1LmN0pQ  (clock 6')).toBe(comparable('$4.50  key AAAAbbbbCCCCdd_-  (clock 6'));
    expect(comparable('{"txId":"Zq3-x_9Yw1LmN0pQ","repeat":false}')).toBe(comparable('{"txId":"AAAAbbbbCCCCdd_-","repeat":false}'));
    expect(comparable('key rent-2026-11')).not.toBe(comparable('key rent-2026-12'));
  });

  it('masks how many messages wait on an open link, not on a held one', () => {
    expect(comparable('  1 -> 3  open   none   1        up')).toBe(comparable('  1 -> 3  open   none   0        up'));
    expect(comparable('    3 -> 1  open   100-300 ms  2  up')).toBe(comparable('    3 -> 1  open   100-300 ms  0  up'));
    expect(comparable('  1 -> 3  held   none   1        up')).not.toBe(comparable('  1 -> 3  held   none   0        up'));
  });

  it('compares the lines a cluster\'s clients print on their own whatever their order', () => {
    const a = 'x> 1 transfer 2 5\n[client2] block #1\nSUCCESS\n[client3] block #1';
    const b = 'x> 1 transfer 2 5\nSUCCESS\n[client3] block #1\n[client2] block #1';
    expect(comparable(a)).toBe(comparable(b));
    expect(comparable(a)).not.toBe(comparable(b.replace('[client2] block #1', '[client2] block #2')));
    // Peers going as a cluster stops them all: who sees whom go depends on who stops first.
    const end = 'client1: $10.00\n[client2] 2026-12-03T11:42:00.935Z client1 disconnected';
    expect(comparable(end)).toBe(comparable('client1: $10.00'));
    expect(comparable(end)).not.toBe(comparable('client1: $11.00'));
  });

  it('compares lines in any order only when asked (answers to lines sent with &)', () => {
    const a = '> 3 link release 1\n  client1: SUCCESS  block #1\n  client3: released';
    const b = '> 3 link release 1\n  client3: released\n  client1: SUCCESS  block #1';
    expect(comparable(a)).not.toBe(comparable(b));
    expect(comparable(a, { anyOrder: true })).toBe(comparable(b, { anyOrder: true }));
    expect(comparable(a, { anyOrder: true })).not.toBe(comparable(b.replace('#1', '#2'), { anyOrder: true }));
  });

  it('masks every number only when asked (a random workload)', () => {
    expect(comparable('committed 252, failed 48')).not.toBe(comparable('committed 253, failed 47'));
    expect(comparable('committed 252, failed 48', { numbers: true })).toBe(comparable('committed 253, failed 47', { numbers: true }));
  });
});
