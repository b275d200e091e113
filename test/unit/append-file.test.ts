/**
 * The append-only files beside the chain (the log, the trace): lines reach the file, a file that
 * grows past its limit is rotated to `.1` without losing a line, and a file that cannot be written
 * is said once and dropped, never stopping or hanging the client.
 */
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppendFile } from '../../src/daemon/append-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'll-append-'));
  dirs.push(d);
  return d;
};

describe('an append-only line file', () => {
  it('every line written before close is in the file, in order', async () => {
    const file = path.join(tempDir(), 'x.log');
    const f = new AppendFile(file, openSync(file, 'a'), { onFailure: () => {} });
    for (let k = 0; k < 1000; k++) f.write(`line ${k}\n`);
    await f.close();
    expect(readFileSync(file, 'utf8').split('\n').slice(0, -1)).toEqual(Array.from({ length: 1000 }, (_, k) => `line ${k}`));
  });

  it('past its size limit it rotates to .1 and goes on, losing no line', async () => {
    const file = path.join(tempDir(), 'trace.jsonl');
    const f = new AppendFile(file, openSync(file, 'a'), { rotateBytes: 2000, onFailure: () => {} });
    const lines = Array.from({ length: 300 }, (_, k) => `{"k":${k}}\n`);
    for (const l of lines) {
      f.write(l);
      if (Number(l.slice(5, -2)) % 37 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await f.close();
    expect(existsSync(`${file}.1`)).toBe(true);
    const older = readFileSync(`${file}.1`, 'utf8');
    const newer = readFileSync(file, 'utf8');
    expect(newer.length).toBeLessThanOrEqual(2000);
    // The newest lines, in order, end both files' contents; only rotations before the last are gone.
    const kept = (older + newer).split('\n').slice(0, -1);
    expect(kept).toEqual(lines.slice(lines.length - kept.length).map((l) => l.slice(0, -1)));
    expect(kept.at(-1)).toBe('{"k":299}');
  });

  it('on a full disk it says so once and drops the lines, never throwing', async () => {
    const file = path.join(tempDir(), 'full.log');
    symlinkSync('/dev/full', file);
    const said: string[] = [];
    const f = new AppendFile(file, openSync(file, 'a'), { onFailure: (l) => said.push(l) });
    for (let k = 0; k < 100; k++) {
      expect(() => f.write(`line ${k}\n`)).not.toThrow();
      await new Promise((r) => setImmediate(r));
    }
    await f.close();
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^cannot write .*full\.log \(ENOSPC: no space left on device, write\); going on without it$/);
    expect(f.failed).toBe(true);
  });
});
