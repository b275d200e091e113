import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTrace, traceAction } from '../../src/trace/command.js';
import { LARGE_DIAGRAM, writeSnapshotPage } from '../../src/trace/run.js';
import { ScriptedCluster, type TraceFixture, writeTraceFixture } from './trace-fixtures.js';
import { byClass, readSvg } from './trace-svg-read.js';

let fx: TraceFixture;
let out: string;

beforeAll(() => {
  fx = writeTraceFixture();
  out = mkdtempSync(path.join(os.tmpdir(), 'll-trace-cmd-'));
});
afterAll(() => {
  fx.cleanup();
  rmSync(out, { recursive: true, force: true });
});

async function run(sources: readonly string[], options: Parameters<typeof traceAction>[1]): Promise<{ code: number; out: string[]; err: string[] }> {
  const o: string[] = [];
  const e: string[] = [];
  const code = await traceAction(sources, options, (l) => o.push(l), (l) => e.push(l));
  return { code, out: o, err: e };
}

const SUMMARY = '3 clients, 114 events (1 restart), 33 messages matched, 1 in flight, 1 lost, snapshots found: 1.1';

describe('client trace', () => {
  it('prints a one-line summary, the snapshot check and the files written', async () => {
    const files = { svg: path.join(out, 'a.svg'), html: path.join(out, 'a.html'), shiviz: path.join(out, 'a.log') };
    const r = await run(fx.dirs, { ...files, snapshot: '1.1' });
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out).toEqual([
      SUMMARY,
      `snapshot 1.1: 2 messages in flight across the cut; the saved snapshot ${fx.snapshotFile} records the same channel states`,
      `wrote ${files.svg} (svg)`,
      `wrote ${files.html} (html)`,
      `wrote ${files.shiviz} (shiviz)`,
    ]);
    const svg = readSvg(readFileSync(files.svg, 'utf8').replace(/^<\?xml[^>]*>\s*/, ''));
    expect(byClass(svg, 'msg', 'in-cut')).toHaveLength(2);
    const html = readFileSync(files.html, 'utf8');
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).toContain('How to read this');
    expect(html).toContain('data-agreement="agrees"');
    expect(readFileSync(files.shiviz, 'utf8').split('\n')[0]).toBe('(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})');
  });

  it('says how to get a file when none is asked for', async () => {
    const r = await run(fx.dirs, {});
    expect(r.code).toBe(0);
    expect(r.out).toEqual([SUMMARY, '(no output file asked for: add --html FILE, --svg FILE, --shiviz FILE or --jsonl FILE)']);
  });

  it('writes the events as JSON lines, one object each, in causal order', async () => {
    const jsonl = path.join(out, 'a.jsonl');
    const r = await run(fx.dirs, { jsonl });
    expect(r.out).toEqual([SUMMARY, `wrote ${jsonl} (jsonl)`]);
    const lines = readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { node: number; run: string; i: number });
    expect(lines).toHaveLength(114);
    const key = (e: { node: number; run: string; i: number }): string => `${e.node}/${e.run}/${e.i}`;
    expect(new Set(lines.map(key))).toEqual(new Set(fx.events.map(key)));
  });

  it('reports skipped lines once, on stderr', async () => {
    const root = path.join(out, 'with-junk');
    cpSync(fx.root, root, { recursive: true });
    appendFileSync(path.join(root, 'client-2', 'trace.jsonl'), 'junk\nmore junk\n');
    const r = await run(fx.dirs.map((d) => path.join(root, path.basename(d))), {});
    expect(r.code).toBe(0);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^note: skipped 2 malformed lines: .*client-2\/trace\.jsonl:\d+ \(not JSON\)/);
  });

  it('exits 1 with one clear line on bad input', async () => {
    const missing = path.join(out, 'no-such-client');
    const r = await run([missing], { html: path.join(out, 'never.html') });
    expect(r).toEqual({ code: 1, out: [], err: [`client trace: no such data dir or trace file: ${missing}`] });
    expect(existsSync(path.join(out, 'never.html'))).toBe(false);
    const bad = await run(fx.dirs, { snapshot: 'latest' });
    expect(bad).toEqual({ code: 1, out: [], err: ['client trace: --snapshot latest: a snapshot id is <initiator>.<number>, e.g. 1.2'] });
    const unwritable = await run(fx.dirs, { svg: path.join(out, 'no-dir', 'x.svg') });
    expect(unwritable.code).toBe(1);
    expect(unwritable.err).toHaveLength(1);
    expect(unwritable.err[0]).toMatch(/^client trace: cannot write .*x\.svg: ENOENT/);
    expect(await run(fx.dirs, { margin: 3 })).toMatchObject({ code: 1, err: ['client trace: --margin only applies to --around <id>'] });
  });

  it('registers `trace` with its flags on the program', async () => {
    const program = new Command('client').exitOverride();
    const errors: string[] = [];
    program.configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    registerTrace(program);
    const trace = program.commands.find((c) => c.name() === 'trace')!;
    expect(trace.options.map((o) => o.long)).toEqual(['--config', '--svg', '--html', '--shiviz', '--jsonl', '--snapshot', '--around', '--margin', '--last', '--from', '--to']);
    await expect(program.parseAsync(['node', 'client', 'trace', fx.dirs[0]!, '--last', '0'])).rejects.toThrow();
    expect(errors.join('')).toContain("option '--last <n>' argument '0' is invalid. expected a whole number from 1");
  });


  it('suggests a window when the diagram would be big', async () => {
    const s = new ScriptedCluster();
    for (const id of [1, 2, 3]) s.start(id);
    s.connect(1, 2);
    s.connect(1, 3);
    s.connect(2, 3);
    // Rounds of mutual exclusion, each client in turn: 17 events a round.
    for (let k = 0; k < 200; k++) {
      const id = (k % 3) + 1;
      const others = [1, 2, 3].filter((x) => x !== id);
      const ts = s.request(id);
      for (const o of others) s.deliver(id, o);
      for (const o of others) s.reply(o, id);
      for (const o of others) s.deliver(o, id);
      s.transfer(id, ts, others[0]!, 1);
      for (const o of others) s.deliver(id, o);
    }
    const file = path.join(out, 'big.jsonl');
    writeFileSync(file, s.events.map((e) => JSON.stringify(e)).join('\n'));
    expect(s.events.length).toBeGreaterThan(LARGE_DIAGRAM);
    const big = await run([file], { svg: path.join(out, 'big.svg') });
    expect(big.err).toEqual([`note: the diagram has ${s.events.length} events: narrow it with --around ID, --last N or --from/--to for something readable`]);
    const small = await run([file], { svg: path.join(out, 'small.svg'), last: 100 });
    expect(small.err).toEqual([]);
    expect(small.out[0]).toBe(`3 clients, ${s.events.length} events, 1200 messages matched, 0 in flight, 0 lost, no snapshots`);
  });
});

describe('the REPL helper', () => {
  it('writes the page around a snapshot', async () => {
    const file = path.join(out, 'snapshot-1.1.html');
    const report = await writeSnapshotPage(fx.dirs, '1.1', file, 2);
    expect(report.written).toEqual([{ kind: 'html', file }]);
    expect(report.view.window.whole).toBe(false);
    expect(report.view.cut?.agreement.kind).toBe('agrees');
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('<h2>Snapshot 1.1</h2>');
    expect(html).toContain('class="cut"');
    // The diagram's arrows carry a data-ref; the legend's sample arrow does not.
    expect(html.match(/class="msg [^"]*in-cut[^"]*" data-ref=/g)).toHaveLength(2);
  });
});
