/** What the docker tests write into the docs, and what their drift check masks (test/docker/transcript.ts). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Transcript, comparableRun, drift, readRun, writeRun } from '../docker/transcript.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'll-transcript-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a docker test\'s transcript', () => {
  it('shows the run\'s names as the docs give them, keeping a table\'s columns, without terminal controls', () => {
    const t = new Transcript([['ll-test-0a1b2c3d:latest', 'lamport-ledger:latest'], ['ll-test-0a1b2c3d', 'lamport-ledger']]);
    t.show('docker-compose -p ll-test-0a1b2c3d up', 'Creating ll-test-0a1b2c3d_client1_1 ... \r\nCreating ll-test-0a1b2c3d_client1_1 ... \u001b[32mdone\u001b[0m\r\n\n');
    t.show('docker ps', 'NAMES                      STATUS\nll-test-0a1b2c3d_client1_1  Up 3 seconds', 'the containers');
    t.show('docker-compose stop');
    expect(t.text).toBe([
      '$ docker-compose -p lamport-ledger up',
      'Creating lamport-ledger_client1_1 ... ',
      'Creating lamport-ledger_client1_1 ... done',
      '$ docker ps    # the containers',
      'NAMES                      STATUS',
      'lamport-ledger_client1_1    Up 3 seconds',
      '$ docker-compose stop',
    ].join('\n'));
  });

  it('is written between its markers, read back, and compared with a fresh run', () => {
    const doc = path.join(dir, 'DOC.md');
    writeFileSync(doc, '# doc\n<!-- run: begin -->\n```\nold\n```\n<!-- run: end -->\nafter\n');
    writeRun(doc, 'run', '$ a\nSUCCESS  block #1  (clock 6, 6 msgs, 3.1 ms)');
    expect(readFileSync(doc, 'utf8')).toBe('# doc\n<!-- run: begin -->\n```\n$ a\nSUCCESS  block #1  (clock 6, 6 msgs, 3.1 ms)\n```\n<!-- run: end -->\nafter\n');
    expect(readRun(doc, 'run')).toBe('$ a\nSUCCESS  block #1  (clock 6, 6 msgs, 3.1 ms)');
    expect(drift(doc, 'run', '$ a\nSUCCESS  block #1  (clock 8, 6 msgs, 9 ms)')).toBeNull();
    expect(drift(doc, 'run', '$ a\nSUCCESS  block #2  (clock 6, 6 msgs, 3.1 ms)')).toMatch(/differs from this run/);
    expect(() => readRun(doc, 'other')).toThrow(/has no <!-- other: begin -->/);
  });

  it('masks ids, ages and clocks, not heights, amounts or words', () => {
    const a = 'Successfully built 7eca12aa9bfa\nUp 9 seconds (healthy)\nFailed 8 seconds ago\nclient3     23  #3 83f69f34  $12.00\n#4  16fbd297  prev 83f69f34  ts 49  by client1';
    const b = 'Successfully built 014f16603f43\nUp About a minute (healthy)\nFailed 2 minutes ago\nclient3     25  #3 8d5647f5  $12.00\n#4  12a7343f  prev 8d5647f5  ts 51  by client1';
    expect(comparableRun(a)).toBe(comparableRun(b));
    expect(comparableRun(a)).not.toBe(comparableRun(a.replace('#3', '#4')));
    expect(comparableRun(a)).not.toBe(comparableRun(a.replace('$12.00', '$11.00')));
    expect(comparableRun(a)).not.toBe(comparableRun(a.replace('healthy', 'unhealthy')));
  });
});
