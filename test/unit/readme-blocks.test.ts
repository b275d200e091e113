/** The README block markers and what the drift test masks (test/readme/blocks.ts). */
import { describe, expect, it } from 'vitest';
import { comparable, readBlocks, replaceBlocks } from '../readme/blocks.js';

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

  it('compares the lines a cluster\'s clients print on their own whatever their order', () => {
    const a = 'x> 1 transfer 2 5\n[client2] block #1\nSUCCESS\n[client3] block #1';
    const b = 'x> 1 transfer 2 5\nSUCCESS\n[client3] block #1\n[client2] block #1';
    expect(comparable(a)).toBe(comparable(b));
    expect(comparable(a)).not.toBe(comparable(b.replace('[client2] block #1', '[client2] block #2')));
  });

  it('masks every number only when asked (a random workload)', () => {
    expect(comparable('committed 252, failed 48')).not.toBe(comparable('committed 253, failed 47'));
    expect(comparable('committed 252, failed 48', { numbers: true })).toBe(comparable('committed 253, failed 47', { numbers: true }));
  });
});
