import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraceErrorKind, isTraceError } from '../../src/trace/errors.js';
import { defaultSources, describeMalformed, loadTrace, resolveSources } from '../../src/trace/load.js';
import { mergeTrace } from '../../src/trace/merge.js';
import { parseTraceLine } from '../../src/trace/parse-event.js';
import { EventSink, TeeSink, Tracer } from '../../src/core/tracer.js';
import { TRACE_MAGIC, TraceEncoder } from '../../src/daemon/trace-format.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';

let fx: TraceFixture;
let scratch: string;

beforeAll(() => {
  fx = writeTraceFixture();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'll-trace-load-'));
});
afterAll(() => {
  fx.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('loading trace sources', () => {
  it('reads every event of every data dir, a rotated file before the current one', async () => {
    const t = await loadTrace(fx.dirs);
    expect(t.events.length).toBe(fx.events.length);
    expect(t.files.map((f) => path.relative(fx.root, f.file))).toEqual([
      path.join('client-1', 'trace.jsonl.1'),
      path.join('client-1', 'trace.jsonl'),
      path.join('client-2', 'trace.jsonl'),
      path.join('client-3', 'trace.jsonl'),
    ]);
    expect(t.malformed.count).toBe(0);
    expect(describeMalformed(t)).toBeNull();
    expect(t.dataDirs).toEqual(fx.dirs);
    // client1's events come out in run order across the rotation.
    const c1 = t.events.filter((e) => e.node === 1).map((e) => e.i);
    expect(c1).toEqual([...c1].sort((a, b) => a - b));
  });

  it('reads a data dir\'s binary trace after the JSON lines an earlier version left there, and says where a binary file is cut short', async () => {
    const dir = path.join(scratch, 'both', 'client-2');
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(fx.dirs[1]!, 'trace.jsonl'), path.join(dir, 'trace.jsonl'));
    // A later run of client2, written as a client writes it now.
    const tracer = new Tracer(2, 'later', [1, 3], 7);
    const made = new EventSink(tracer);
    const enc = new TraceEncoder();
    enc.begin({ node: 2, run: 'later', next: 0, sessions: [] });
    const both = new TeeSink(made, enc);
    tracer.startInto(both, 40, 1000);
    tracer.peerUpInto(both, 1, { out: '2>1/ab', in: '1>2/cd' }, 1001);
    tracer.stepInto(both, { kind: 'command', id: 'c', command: { type: 'transfer', to: 1, amount: 5, key: 'k' } }, [{ kind: 'send', to: 1, message: { type: 'REQUEST', ts: 41, height: 7, view: 9 } }], 40, 1002);
    const bytes = Buffer.concat([TRACE_MAGIC, enc.take()]);
    writeFileSync(path.join(dir, 'trace.bin'), bytes.subarray(0, bytes.length - 1));
    const t = await loadTrace([dir]);
    expect(t.files.map((f) => path.basename(f.file))).toEqual(['trace.jsonl', 'trace.bin']);
    const own = fx.events.filter((e) => e.node === 2).length;
    // The last record is cut short: it is left out, and said.
    expect(t.events.slice(own)).toEqual(made.events.slice(0, 2));
    expect(describeMalformed(t)).toMatch(/^skipped 1 malformed line: .*trace\.bin:byte \d+ \(a record cut short at the end\)$/);
  });

  it('takes trace files on their own, and counts an event named twice once', async () => {
    const file = path.join(fx.dirs[1]!, 'trace.jsonl');
    const own = fx.events.filter((e) => e.node === 2).length;
    const t = await loadTrace([fx.dirs[1]!, file]);
    expect(t.events.length).toBe(own);
    expect(t.files).toHaveLength(1);
    expect(resolveSources([file]).dataDirs).toEqual([fx.dirs[1]]);
    // The same events in another file (a copy) are recognised by client, run and position.
    const copy = path.join(scratch, 'copy-of-client-2.jsonl');
    copyFileSync(file, copy);
    const twice = await loadTrace([fx.dirs[1]!, copy]);
    expect(twice.events.length).toBe(own);
    expect(twice.duplicates).toBe(own);
  });

  it('skips malformed lines and counts them, reporting them once', async () => {
    const dir = path.join(scratch, 'malformed', 'client-2');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'trace.jsonl');
    copyFileSync(path.join(fx.dirs[1]!, 'trace.jsonl'), file);
    const good = fx.events.filter((e) => e.node === 2).length;
    appendFileSync(
      file,
      [
        'this is not json',
        '{"v":1,"node":2,"run":"r2a","i":99', // a half-written last line
        JSON.stringify({ v: 1, node: 2, run: 'r2a', i: 100, wall: 1, kind: 'teleport' }),
        JSON.stringify({ v: 1, node: 2, run: 'r2a', i: 101, wall: 1, kind: 'send', to: 1, chan: 'x', seq: 0, type: 'REQUEST', ts: 1, desc: 'd', clock: 1 }),
        JSON.stringify({ v: 2, node: 2, run: 'r2a', i: 102, wall: 1, kind: 'peerDown', peer: 1 }),
        '   ',
        '[1,2,3]',
        '',
      ].join('\n'),
    );
    const t = await loadTrace([dir]);
    expect(t.events.length).toBe(good);
    expect(t.malformed.count).toBe(6);
    expect(t.files).toEqual([{ file, events: good, malformed: 6 }]);
    const report = describeMalformed(t);
    expect(report).not.toBeNull();
    expect(report!.split('\n')).toHaveLength(1);
    expect(report).toMatch(/^skipped 6 malformed lines: /);
    expect(report).toContain(`${file}:${good + 1} (not JSON)`);
    expect(report).toContain(`${file}:${good + 3} (unknown kind "teleport")`);
    expect(report).toMatch(/, \.\.\.$/);
    // The good lines still make a trace.
    expect(mergeTrace(t.events).ordered.length).toBe(good);
  });

  it('says which line is wrong and why', () => {
    expect(parseTraceLine(JSON.stringify(fx.events[0]))).toEqual({ ok: true, event: fx.events[0] });
    expect(parseTraceLine('{').ok).toBe(false);
    expect(parseTraceLine('null')).toEqual({ ok: false, reason: 'not a JSON object' });
    const send = fx.events.find((e) => e.kind === 'send')!;
    expect(parseTraceLine(JSON.stringify({ ...send, seq: 0 }))).toEqual({ ok: false, reason: 'send.seq: expected a sequence number from 1, got 0' });
    expect(parseTraceLine(JSON.stringify({ ...send, type: 'HELLO' })).ok).toBe(false);
    expect(parseTraceLine(JSON.stringify({ ...send, snapshot: 'x' })).ok).toBe(false);
    const { clock: _dropped, ...noClock } = send as typeof send & { clock: number };
    expect(parseTraceLine(JSON.stringify(noClock))).toEqual({ ok: false, reason: 'send.clock: expected a Lamport clock, got nothing' });
    expect(parseTraceLine(JSON.stringify({ ...send, node: 0 })).ok).toBe(false);
    expect(parseTraceLine(JSON.stringify({ ...send, v: 7 }))).toEqual({ ok: false, reason: 'trace format version 7, this viewer reads 1' });
    // An unknown extra field is let through: a newer writer may add some.
    expect(parseTraceLine(JSON.stringify({ ...send, extra: true })).ok).toBe(true);
  });
});

describe('bad sources give a typed error with one clear line', () => {
  it('a missing dir or file', async () => {
    const e = await errorOf(loadTrace([path.join(scratch, 'nope')]));
    expect(isTraceError(e, TraceErrorKind.MissingSource)).toBe(true);
    expect((e as Error).message).toBe(`no such data dir or trace file: ${path.join(scratch, 'nope')}`);
  });

  it('a data dir with no trace files', async () => {
    const dir = path.join(scratch, 'empty-dir');
    mkdirSync(dir, { recursive: true });
    const e = await errorOf(loadTrace([dir]));
    expect(isTraceError(e, TraceErrorKind.NoTraceFiles)).toBe(true);
    expect((e as Error).message).toContain(`${dir}: no trace.bin or trace.bin.1`);
    expect((e as Error).message).not.toContain('\n');
  });

  it('an empty trace, or one with no valid line', async () => {
    const empty = path.join(scratch, 'empty.jsonl');
    writeFileSync(empty, '');
    const e1 = await errorOf(loadTrace([empty]));
    expect(isTraceError(e1, TraceErrorKind.EmptyTrace)).toBe(true);
    expect((e1 as Error).message).toBe(`empty trace: ${empty} hold no events`);
    const junk = path.join(scratch, 'junk.jsonl');
    writeFileSync(junk, 'x\ny\n');
    const e2 = await errorOf(loadTrace([junk]));
    expect(isTraceError(e2, TraceErrorKind.EmptyTrace)).toBe(true);
    expect((e2 as Error).message).toContain('2 line(s), none of them a valid trace event');
  });

  it('no sources named and no data dirs', async () => {
    const root = path.join(scratch, 'no-data');
    mkdirSync(path.join(root, 'other'), { recursive: true });
    const e = await errorOf(() => defaultSources(root));
    expect(isTraceError(e, TraceErrorKind.NoSources)).toBe(true);
    expect((e as Error).message).toContain('client trace data/client-1');
  });

  it('finds data/client-* dirs in client order by default', () => {
    const root = path.join(scratch, 'data');
    for (const n of [10, 2, 1]) mkdirSync(path.join(root, `client-${n}`), { recursive: true });
    writeFileSync(path.join(root, 'client-7'), 'a file, not a data dir');
    mkdirSync(path.join(root, 'cluster-3'), { recursive: true });
    expect(defaultSources(root)).toEqual([1, 2, 10].map((n) => path.join(root, `client-${n}`)));
  });
});
