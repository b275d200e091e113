/**
 * `client web` and `link` from the outside, without a browser: the address it prints, its event
 * stream read as EventSource reads it (and resumed after a given event id), its controls and
 * their refusals, protected mode beyond loopback (the cluster secret, then a token), and a link
 * held, listed and released through `client ctl`.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SseReader } from '../../src/base/sse.js';
import { ControlClient } from '../../src/daemon/control/client.js';
import type { StreamItem } from '../../src/daemon/control/protocol.js';
import type { SnapshotItem } from '../../src/web/items.js';
import { Cluster, closeAllClusters, makeTempDir, runClientCli, waitFor } from './harness.js';
import { type WebProcess, startWeb } from './web-harness.js';

interface Reply {
  status: number;
  body: string;
}

function request(url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

interface SseEvent {
  id: string | null;
  item: { t: string; [k: string]: unknown };
}

/** Reads `/events` as EventSource does, for `ms`, then hangs up. */
function readEvents(url: string, ms: number, headers: Record<string, string> = {}): Promise<{ status: number; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get(url, { headers }, (res) => {
      const reader = new SseReader();
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        for (const f of reader.push(d)) events.push({ id: f.id, item: JSON.parse(f.data) });
      });
      setTimeout(() => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, events });
      }, ms);
    });
    req.on('error', (e) => (events.length > 0 ? undefined : reject(e)));
  });
}

const json = { 'Content-Type': 'application/json' };

describe('client web, from the outside', () => {
  let cluster: Cluster;
  let web: WebProcess;

  beforeAll(async () => {
    cluster = await Cluster.start({ n: 3, layout: 'cluster' });
    web = await startWeb(['--port', '0', '--config', cluster.configPath, '--data-dir', cluster.dir]);
  }, 60_000);

  afterAll(async () => {
    await web?.stop();
    await closeAllClusters();
  });

  it('streams the hello, every client\'s state and the merged events, and resumes after a given event id', async () => {
    // The clients' sessions came up before the server subscribed: a transfer makes the first events.
    expect((await cluster.ctl(2, 'transfer', '3', '1')).code).toBe(0);
    const first = await readEvents(`${web.url}events`, 1500);
    expect(first.status).toBe(200);
    const hello = first.events.find((e) => e.item.t === 'hello')!.item;
    expect(hello).toMatchObject({ mode: 'live', nodes: [1, 2, 3], processes: { enabled: false } });
    const statuses = first.events.filter((e) => e.item.t === 'status' && e.item.connected === true).map((e) => e.item.node);
    expect(new Set(statuses)).toEqual(new Set([1, 2, 3]));
    const seen = first.events.filter((e) => e.id !== null);
    expect(seen.length).toBeGreaterThan(0);
    const last = seen.at(-1)!.id!;
    const r = await cluster.ctl(1, 'transfer', '2', '1');
    expect(r.code, r.stdout).toBe(0);
    const again = await readEvents(`${web.url}events`, 1500, { 'Last-Event-ID': last });
    const resumed = again.events.filter((e) => e.item.t === 'ev');
    // Only what came after the last event seen, starting with the transfer's REQUEST.
    const number = (id: string): number => Number(id.split('.')[1]);
    expect(resumed.every((e) => number(e.id!) > number(last))).toBe(true);
    expect(resumed.some((e) => (e.item.e as { type?: string }).type === 'REQUEST')).toBe(true);
    expect(again.events.some((e) => e.item.t === 'missed')).toBe(false);
  });

  it('carries out a control and answers with one line; refuses what it cannot, and strangers', async () => {
    const ok = await request(`${web.url}api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'hold', from: 2, to: 3 }) });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ ok: true, text: 'link 2 -> 3: held, 0 waiting' });
    const released = await request(`${web.url}api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'release', from: 2, to: 3 }) });
    expect(JSON.parse(released.body).text).toBe('link 2 -> 3: open, 0 waiting');
    const stop = await request(`${web.url}api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'stop', client: 3 }) });
    expect(JSON.parse(stop.body)).toMatchObject({ ok: false, text: expect.stringMatching(/^stop: these clients were started elsewhere/) });
    const bad = await request(`${web.url}api/action`, { method: 'POST', headers: json, body: '{"action": "transfer", "from": 1, "to": 1}' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).text).toBe('transfer: "from" and "to" must be two different clients, got 1 twice');
    const notJson = await request(`${web.url}api/action`, { method: 'POST', headers: json, body: 'transfer 2 1' });
    expect(notJson.status).toBe(400);
    const form = await request(`${web.url}api/action`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'action=demo' });
    expect(form.status).toBe(415);
    const elsewhere = await request(`${web.url}api/action`, { method: 'POST', headers: { ...json, Origin: 'https://example.com' }, body: '{"action":"demo"}' });
    expect(elsewhere.status).toBe(403);
    const rebound = await request(`${web.url}events`, { headers: { Host: `attacker.example:${new URL(web.url).port}` } });
    expect(rebound.status).toBe(421);
    expect((await request(`${web.url}../package.json`)).status).toBe(404);
    expect((await request(`${web.url}%2e%2e/package.json`)).status).toBe(404);
  });

  it('replays a saved run on its own, summed up as client trace sums it up, and says at once when a source is missing', async () => {
    const dirs = [1, 2, 3].map((id) => cluster.dataDir(id));
    const snap = await cluster.ctlJson(2, 'snapshot');
    expect(snap.code, JSON.stringify(snap.json)).toBe(0);
    const taken = snap.json as { id: string; verification: { checks: { name: string; detail: string }[] } };
    const traced = await runClientCli(['trace', ...dirs]);
    expect(traced.code, traced.stderr).toBe(0);
    const replay = await startWeb(['--replay', ...dirs, '--port', '0', '--config', cluster.configPath]);
    try {
      expect(replay.output()).toContain(`replay of ${dirs.join(', ')}: http://127.0.0.1:`);
      const hello = (await readEvents(`${replay.url}events`, 300)).events[0]!.item;
      expect(hello).toMatchObject({ t: 'hello', mode: 'replay' });
      const data = JSON.parse((await request(`${replay.url}api/replay`)).body) as { summary: string; events: unknown[]; snapshots: SnapshotItem[] };
      // The clients are idle now: the page's run is the one client trace read.
      expect(data.summary).toBe(traced.stdout.split('\n')[0]);
      expect(data.summary).toMatch(/^3 clients, \d+ events, \d+ messages matched/);
      expect(data.events.length).toBeGreaterThan(5);
      // A replayed verdict shows its checks, as the live one does.
      const replayed = data.snapshots.find((x) => x.id === taken.id);
      expect(replayed).toMatchObject({ verified: true, markers: 6 });
      expect(replayed!.checks).toEqual(taken.verification.checks.map((c) => ({ name: c.name, ok: true, detail: c.detail })));
    } finally {
      await replay.stop();
    }
    const missing = await runClientCli(['web', '--replay', `${cluster.dir}/client-9`, '--port', '0']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`client: client web --replay: no such data dir or trace file: ${cluster.dir}/client-9\n`);
  });

  it('holds, lists and releases a link through client ctl', async () => {
    const held = await cluster.ctl(1, 'link', 'hold', '3');
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toContain('client1 -> client3 held: messages to client3 wait, in order, until link release 3');
    expect(held.stdout).toMatch(/1 -> 3 +held +none +0 +up/);
    const delayed = await cluster.ctl(1, 'link', 'delay', '2', '250');
    expect(delayed.stdout).toMatch(/1 -> 2 +open +250 ms +0 +up/);
    const listed = await cluster.ctlJson(1, 'link');
    expect(listed.json).toEqual({ self: 1, links: [{ peer: 2, held: false, delay: { minMs: 250, maxMs: 250 }, waiting: 0, up: true }, { peer: 3, held: true, delay: null, waiting: 0, up: true }] });
    // A transfer from client1 now waits for client3, and commits once released.
    const transfer = cluster.ctl(1, 'transfer', '2', '1');
    await waitFor('the REQUEST to wait on the link', async () => (await cluster.raw(1, 'link')).json.links[1].waiting === 1, 10_000);
    // client2's REPLY comes after its link's 250 ms; client3 cannot answer a REQUEST it has not got.
    await waitFor('client1 to wait for client3 alone', async () => /^waiting for +a message from client3 later than ts \d+ \(none yet\)$/m.test((await cluster.raw(1, 'status')).text), 10_000);
    await cluster.ctl(1, 'link', 'release', '3');
    await cluster.ctl(1, 'link', 'delay', '2', '0');
    const done = await transfer;
    expect(done.code, done.stdout).toBe(0);
    expect(done.stdout).toMatch(/^SUCCESS/);
    expect((await cluster.ctl(1, 'link', 'hold', '1')).stdout).toContain('error: link: client1 has no link to itself');
  });
});

describe('a client run with --no-trace', () => {
  afterAll(closeAllClusters);

  it('writes no trace file, yet streams its trace events to a subscriber', async () => {
    const cluster = await Cluster.start({ n: 2, allArgs: ['--no-trace'] });
    const sub = await ControlClient.connect(cluster.dataDir(2));
    const items: StreamItem[] = [];
    try {
      await sub.subscribe((item) => items.push(item));
      expect((await cluster.ctl(1, 'transfer', '2', '1')).code).toBe(0);
      await waitFor('client2 to stream the transfer', () => items.some((i) => i.type === 'trace' && i.events.some((e) => e.kind === 'commit')), 5_000);
      const kinds = new Set(items.flatMap((i) => (i.type === 'trace' ? i.events.map((e) => e.kind) : [])));
      expect(kinds).toEqual(new Set(['receive', 'send', 'commit']));
      expect(existsSync(path.join(cluster.dataDir(2), 'trace.bin'))).toBe(false);
    } finally {
      sub.close();
    }
  });
});

describe('client web beyond loopback', () => {
  afterAll(closeAllClusters);

  it('refuses without the cluster secret, and with it asks every request for a token derived from it', async () => {
    const dir = makeTempDir('llwebl-');
    const refused = await runClientCli(['web', '--listen', '0.0.0.0', '--port', '0', '--data-dir', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^client: client web would listen on 0\.0\.0\.0, reachable from other machines, where its controls would move money and stop clients for anyone\. Set "secret" in .* or LAMPORT_LEDGER_SECRET/);
    const secret = 'the secret of this cluster, long enough';
    process.env.LAMPORT_LEDGER_SECRET = secret;
    let web: WebProcess;
    try {
      web = await startWeb(['--listen', '0.0.0.0', '--port', '0', '--data-dir', dir]);
    } finally {
      delete process.env.LAMPORT_LEDGER_SECRET;
    }
    try {
      const m = /^http:\/\/0\.0\.0\.0:(\d+)\/#token=([A-Za-z0-9_-]{32})$/.exec(web.url);
      expect(m, web.url).not.toBeNull();
      const [, port, token] = m!;
      const base = `http://127.0.0.1:${port}`;
      expect(web.output()).toContain('no client of');
      // The page itself is no secret; its events and controls are.
      expect((await request(`${base}/`)).status).toBe(200);
      expect((await request(`${base}/api/hello`)).status).toBe(401);
      expect((await request(`${base}/api/hello?token=${token!.slice(1)}x`)).status).toBe(401);
      expect((await request(`${base}/api/hello?token=${token}`)).status).toBe(200);
      const events = await readEvents(`${base}/events?token=${token}`, 500);
      expect(events.events[0]?.item.t).toBe('hello');
      const action = await request(`${base}/api/action`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${token}` }, body: '{"action":"snapshot","from":1}' });
      expect(JSON.parse(action.body)).toMatchObject({ ok: false, text: expect.stringMatching(/client1 is not running/) });
    } finally {
      await web.stop();
    }
  });

  it('reads the cluster secret where client does: --secret-file, LAMPORT_LEDGER_SECRET_FILE, and says what is wrong with a bad one', async () => {
    const dir = makeTempDir('llwebf-');
    const secret = 'the secret of this cluster, from a file';
    const file = path.join(dir, 'secret');
    writeFileSync(file, `${secret}\n`);
    const tokenOf = (url: string): string => /#token=([A-Za-z0-9_-]{32})$/.exec(url)?.[1] ?? `no token in ${url}`;
    const tokens: string[] = [];
    process.env.LAMPORT_LEDGER_SECRET = secret;
    try {
      const byEnv = await startWeb(['--listen', '0.0.0.0', '--port', '0', '--data-dir', dir]);
      tokens.push(tokenOf(byEnv.url));
      await byEnv.stop();
    } finally {
      delete process.env.LAMPORT_LEDGER_SECRET;
    }
    const byFlag = await startWeb(['--listen', '0.0.0.0', '--port', '0', '--data-dir', dir, '--secret-file', file]);
    tokens.push(tokenOf(byFlag.url));
    await byFlag.stop();
    process.env.LAMPORT_LEDGER_SECRET_FILE = file;
    try {
      const byFileEnv = await startWeb(['--listen', '0.0.0.0', '--port', '0', '--data-dir', dir]);
      tokens.push(tokenOf(byFileEnv.url));
      await byFileEnv.stop();
    } finally {
      delete process.env.LAMPORT_LEDGER_SECRET_FILE;
    }
    expect(tokens[0]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(tokens).toEqual([tokens[0], tokens[0], tokens[0]]);
    const missing = await runClientCli(['web', '--listen', '0.0.0.0', '--port', '0', '--data-dir', dir, '--secret-file', path.join(dir, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`client: cannot read the cluster secret from ${path.join(dir, 'nope')} (--secret-file): no such file\n`);
  });
});
