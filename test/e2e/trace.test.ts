/**
 * The protocol trace of real clients: each appends its events to <data-dir>/trace.bin, `client
 * trace` merges a cluster's traces and draws the cut of a snapshot, `snapshot show <id> --html`
 * draws one from a client, `trace on` prints messages live at a prompt, and `status` says what a
 * waiting request waits for.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTrace } from '../../src/daemon/trace-decode.js';
import { TRACE_MAGIC, TraceEncoder } from '../../src/daemon/trace-format.js';
import { clustersPerTest, freePorts, makeTempDir, runClientCli, waitFor } from './harness.js';

const { start: cluster } = clustersPerTest();

describe('the protocol trace of real clients', () => {
  it('every client traces its messages; client trace merges them and the snapshot\'s cut agrees with what it recorded', async () => {
    const c = await cluster({ n: 3, args: { 1: ['--delay', '300'] } });
    for (const [from, to] of [[1, 2], [2, 3], [3, 1]] as const) {
      const r = await c.raw(from, `transfer ${to} 1`, 30_000);
      expect(r.ok, r.text).toBe(true);
    }
    // A snapshot while client1's RELEASE is held: something is in flight at the cut.
    const pending = c.raw(1, 'transfer 2 2', 30_000);
    await waitFor('client1 to commit', async () => (await c.raw(1, 'status')).json.height === 4, 15_000, 20);
    const snap = await c.raw(2, 'snapshot', 30_000);
    expect(snap.ok, snap.text).toBe(true);
    await pending;
    const id = snap.json.id as string;

    for (const n of c.ids) {
      const read = decodeTrace(readFileSync(path.join(c.dataDir(n), 'trace.bin')));
      const events = read.events;
      expect(events[0]).toMatchObject({ kind: 'start', node: n });
      expect(events.filter((e) => e.kind === 'send').length).toBeGreaterThan(5);
      expect(events.some((e) => e.kind === 'record')).toBe(true);
    }

    const out = makeTempDir();
    const html = path.join(out, 'run.html');
    const r = await runClientCli(['trace', ...c.ids.map((n) => c.dataDir(n)), '--snapshot', id, '--html', html, '--shiviz', path.join(out, 'run.log')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3 clients, \d+ events, \d+ messages matched/);
    expect(r.stdout).toContain(`snapshot ${id}: `);
    expect(r.stdout).toMatch(/records the same channel states/);
    expect(readFileSync(html, 'utf8')).toContain('<svg');

    // The same diagram from one client's own data dir, its peers' found beside it.
    const page = path.join(out, 'show.html');
    const shown = await c.ctl(2, 'snapshot', 'show', id, '--html', page);
    expect(shown.code, shown.stdout + shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`wrote ${page.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 3 clients`));
    expect(shown.stdout).toMatch(/records the same channel states/);
    expect(existsSync(page)).toBe(true);
  });

  it('client trace with no sources reads the data dirs where the config keeps them (its dataDir)', async () => {
    const dir = makeTempDir();
    const [a, b] = await freePorts(2);
    const config = path.join(dir, 'config.json');
    const dataDir = path.join(dir, 'kept-apart');
    writeFileSync(config, JSON.stringify({ cluster: `trace-${path.basename(dir)}`, dataDir, clients: [{ id: 1, host: '127.0.0.1', port: a, balanceCents: 1000 }, { id: 2, host: '127.0.0.1', port: b, balanceCents: 1000 }] }));
    const ran = await runClientCli(['cluster', '--config', config, '--no-web'], { input: '1 transfer 2 1\n', timeoutMs: 60_000 });
    expect(ran.code, ran.stderr).toBe(0);
    expect(existsSync(path.join(dataDir, 'client-1', 'trace.bin'))).toBe(true);

    // Run from an empty directory, so that no data/ of another config is found instead.
    const elsewhere = makeTempDir();
    const byFlag = await runClientCli(['trace', '--config', config], { cwd: elsewhere });
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.stdout).toMatch(/^2 clients, \d+ events, 3 messages matched/);
    const byEnv = await runClientCli(['trace'], { cwd: elsewhere, env: { LAMPORT_LEDGER_CONFIG: config } });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(byEnv.stdout).toMatch(/^2 clients, \d+ events, 3 messages matched/);
  });

  it('client trace reads damaged files without crashing: a time out of range is skipped, and a torn write hides nothing written after it', async () => {
    const c = await cluster({ n: 2 });
    expect((await c.raw(1, 'transfer 2 1', 30_000)).ok).toBe(true);
    await c.stop(1);
    await c.stop(2);
    const file = path.join(c.dataDir(1), 'trace.bin');
    const good = readFileSync(file);
    const events = decodeTrace(good).events.length;
    // A chunk whose wall-clock time no Date can show (2^53 - 1 ms), then half a chunk and zeros (a
    // torn write), then the same file's chunks again, as a later run would append them.
    const enc = new TraceEncoder();
    enc.begin({ node: 1, run: 'damaged', next: 0, sessions: [] });
    enc.start(0, Number.MAX_SAFE_INTEGER, [1, 2], 0, 0);
    const badWall = enc.take();
    const chunk = good.subarray(TRACE_MAGIC.length);
    writeFileSync(file, Buffer.concat([good, badWall, chunk.subarray(0, Math.floor(chunk.length / 2)), Buffer.alloc(512), chunk]));
    const out = makeTempDir();
    const r = await runClientCli(['trace', c.dataDir(1), c.dataDir(2), '--html', path.join(out, 'run.html'), '--svg', path.join(out, 'run.svg')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/RangeError|at .*\.js:\d+/);
    expect(r.stderr).toMatch(/a wall-clock time out of range \(9007199254740991\) \(reading went on at the next chunk, byte \d+\)/);
    // Every event of the first copy and of the copy after the tear is read.
    expect(decodeTrace(readFileSync(file)).events.length).toBeGreaterThanOrEqual(2 * events);

    // The same time in an earlier version's JSON lines: that line is skipped, said, not a crash.
    const jsonl = path.join(out, 'trace.jsonl');
    writeFileSync(jsonl, `${JSON.stringify({ v: 1, node: 1, run: 'r', i: 0, wall: Number.MAX_SAFE_INTEGER, kind: 'start', nodes: [1, 2], clock: 0, height: 0 })}\n`);
    const j = await runClientCli(['trace', jsonl, '--html', path.join(out, 'j.html')]);
    expect(j.stderr).not.toMatch(/RangeError|at .*\.js:\d+/);
    expect(j.stderr).toMatch(/^client trace: empty trace: .*trace\.jsonl hold 1 line\(s\), none of them a valid trace event$/m);
    expect(j.code).toBe(1);
  });

  it('an idle client writes nothing to its trace: its ticks trace no event', async () => {
    const c = await cluster({ n: 2 });
    expect((await c.raw(1, 'transfer 2 1', 30_000)).ok).toBe(true);
    const file = path.join(c.dataDir(1), 'trace.bin');
    // Let the transfer's events reach the file (written every 10 ms), then watch a second of ticks.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = statSync(file).size;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(statSync(file).size).toBe(before);
  });

  it('with --no-trace a client writes no trace file', async () => {
    const c = await cluster({ n: 2, allArgs: ['--no-trace'] });
    expect((await c.raw(1, 'transfer 2 1', 30_000)).ok).toBe(true);
    for (const n of c.ids) expect(existsSync(path.join(c.dataDir(n), 'trace.bin'))).toBe(false);
  });

  it('trace on prints each message sent and received, with the clock, until trace off', async () => {
    const c = await cluster({ n: 2 });
    await c.stop(1);
    const proc = c.spawnClient(1, { repl: true });
    proc.child.stdin!.end('trace on\ntransfer 2 1\ntrace off\ntransfer 2 1\n');
    const exit = await proc.exit;
    expect(exit.code, proc.stderr).toBe(0);
    const out = proc.stdout;
    expect(out).toContain('tracing messages: -> sent, <- received (trace off to stop)');
    expect(out).toMatch(/^ {2}-> REQUEST ts=\d+ at #0 to client2$/m);
    expect(out).toMatch(/^ {2}<- REPLY ts=(\d+) at #0 from client2, clock \d+ -> \d+$/m);
    expect(out).toMatch(/^ {2}== entered the critical section at ts=\d+ on #0$/m);
    expect(out).toMatch(/^ {2}-> RELEASE ts=\d+ block #1 /m);
    // After trace off, the second transfer commits without a line of trace.
    const after = out.slice(out.indexOf('tracing is off'));
    expect(after).toMatch(/SUCCESS {2}block #2/);
    expect(after).not.toMatch(/^ {2}(->|<-) /m);
  });

  it('status says what a waiting request waits for, and the latest timestamp from each peer', async () => {
    const c = await cluster({ n: 3, transferTimeoutMs: 20_000 });
    c.child(3).kill('SIGSTOP');
    try {
      const waiting = c.raw(1, 'transfer 2 1', 30_000);
      await waitFor('client1 to have asked for the lock', async () => (await c.raw(1, 'status')).json.requesting !== null, 5_000, 20);
      const st = await c.ctl(1, 'status');
      const own = /own request {4}ts (\d+)/.exec(st.stdout)?.[1];
      expect(own, st.stdout).toBeDefined();
      expect(st.stdout).toContain(`waiting for    a message from client3 later than ts ${own} (none yet)`);
      expect(st.stdout).toMatch(/^latest from    client2 ts \d+/m);
      void waiting.catch(() => {});
    } finally {
      c.child(3).kill('SIGCONT');
    }
  });
});
