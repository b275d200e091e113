import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonError, DaemonErrorKind, StorageError } from '../../src/daemon/errors.js';
import { SEQ_RESERVE_AHEAD, SnapshotFiles } from '../../src/daemon/snapshot-files.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-files-test-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('snapshots', () => {
  it('saves, lists and loads snapshots by id', () => {
    const store = new SnapshotFiles(dir);
    expect(store.list()).toEqual([]);
    const file = store.save('1.3', { id: '1.3', balances: { 1: 500 } });
    expect(file).toBe(path.join(dir, 'snapshots', '1.3.json'));
    store.save('2.1', [1, 2, 3]);

    const list = store.list();
    expect(list.map((s) => s.id).sort()).toEqual(['1.3', '2.1']);
    for (const s of list) {
      expect(fs.existsSync(s.file)).toBe(true);
      expect(s.mtimeMs).toBeGreaterThan(0);
    }
    expect(store.load('1.3')).toEqual({ id: '1.3', balances: { 1: 500 } });
    expect(store.load('2.1')).toEqual([1, 2, 3]);
    expect(store.load('9.9')).toBeNull();
  });

  it('replaces a snapshot atomically and leaves no temporary files', () => {
    const store = new SnapshotFiles(dir);
    store.save('1.1', { v: 1 });
    store.save('1.1', { v: 2 });
    expect(store.load('1.1')).toEqual({ v: 2 });
    expect(fs.readdirSync(path.join(dir, 'snapshots'))).toEqual(['1.1.json']);
  });

  it('lists in time order, ignoring files that are not snapshots', () => {
    const store = new SnapshotFiles(dir);
    store.save('1.10', {});
    store.save('1.2', {});
    const snapDir = path.join(dir, 'snapshots');
    fs.utimesSync(path.join(snapDir, '1.10.json'), 1000, 1000);
    fs.utimesSync(path.join(snapDir, '1.2.json'), 2000, 2000);
    fs.writeFileSync(path.join(snapDir, 'notes.txt'), 'x');
    fs.writeFileSync(path.join(snapDir, '1.5.json.123.1.tmp'), '{');
    expect(store.list().map((s) => s.id)).toEqual(['1.10', '1.2']);
  });

  it('refuses ids that could escape the snapshot directory', () => {
    const store = new SnapshotFiles(dir);
    for (const id of ['../x', '', '.hidden', 'a/b', 'a\\b']) {
      for (const attempt of [() => store.save(id, {}), () => store.load(id)]) {
        expect(attempt).toThrow(DaemonError);
        expect(attempt).toThrow(expect.objectContaining({ kind: DaemonErrorKind.BadArgument }));
      }
    }
    expect(fs.existsSync(path.join(dir, 'x.json'))).toBe(false);
  });

  it('reports a damaged snapshot file by name', () => {
    const store = new SnapshotFiles(dir);
    const file = store.save('3.1', {});
    fs.writeFileSync(file, '{"truncated": ');
    expect(() => store.load('3.1')).toThrow(StorageError);
    expect(() => store.load('3.1')).toThrow(file);
  });
});

describe('snapshot sequence numbers', () => {
  it('a reserved sequence number is never handed out again, even if its snapshot was never saved', () => {
    const store = new SnapshotFiles(dir);
    expect(store.nextSeq(1)).toBe(1);
    store.reserveSeq(1);
    store.reserveSeq(2);
    // Reserved SEQ_RESERVE_AHEAD at a time: a restart skips what was reserved and not used.
    expect(store.nextSeq(1)).toBe(1 + SEQ_RESERVE_AHEAD);
    const again = new SnapshotFiles(dir);
    const next = again.nextSeq(1);
    expect(next).toBe(1 + SEQ_RESERVE_AHEAD);
    again.reserveSeq(next);
    expect(new SnapshotFiles(dir).nextSeq(1)).toBe(next + SEQ_RESERVE_AHEAD);
  });

  it('writes the sequence file once per SEQ_RESERVE_AHEAD snapshots, not once each', () => {
    const store = new SnapshotFiles(dir);
    const file = path.join(dir, 'snapshot-seq');
    store.reserveSeq(1);
    const first = fs.statSync(file).mtimeMs;
    fs.utimesSync(file, 0, 0);
    for (let seq = 2; seq < 1 + SEQ_RESERVE_AHEAD; seq++) store.reserveSeq(seq);
    expect(fs.statSync(file).mtimeMs).toBe(0);
    store.reserveSeq(1 + SEQ_RESERVE_AHEAD);
    expect(fs.statSync(file).mtimeMs).toBeGreaterThanOrEqual(first);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${1 + 2 * SEQ_RESERVE_AHEAD}\n`);
  });

  it('counts only its own saved snapshots and ignores files that are not snapshot ids', () => {
    const store = new SnapshotFiles(dir);
    store.save('1.7', { id: '1.7' });
    store.save('2.40', { id: '2.40' });
    store.save('1.1-old', { id: 'junk' });
    store.save('1', { id: 'junk' });
    expect(store.nextSeq(1)).toBe(8);
    expect(store.nextSeq(2)).toBe(41);
    expect(store.nextSeq(3)).toBe(1);
  });
});
