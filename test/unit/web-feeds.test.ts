/**
 * The live view's feeds (src/web/feeds.ts) against a control socket from the outside: what
 * answers in client n's data dir must be client n. One that answers as another client is not
 * taken (not even what came in the same read as its answer), not tried again every half second,
 * and the page is told why.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '../../src/core/types.js';
import { controlSocketPath } from '../../src/daemon/control/protocol.js';
import { SseReader } from '../../src/base/sse.js';
import { ClientFeeds } from '../../src/web/feeds.js';
import type { PageItem } from '../../src/web/items.js';
import { WebServer } from '../../src/web/server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A control socket in `dir` that answers `subscribe` as client `self`, writing the answer, a trace
 * event and its state in one write, as a busy client may.
 */
async function answeringAs(dir: string, self: NodeId): Promise<{ server: net.Server; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        const r = JSON.parse(text.slice(0, nl)) as { id: number; type: string };
        text = text.slice(nl + 1);
        if (r.type !== 'subscribe') continue;
        const event = { v: 1, node: self, run: 'r', i: 1, wall: 0, kind: 'peerDown', peer: 3 };
        socket.write(
          `${JSON.stringify({ id: r.id, ok: true, result: { subscribed: true, self, nodes: [1, 2, 3] } })}\n` +
            `${JSON.stringify({ id: r.id, stream: { type: 'trace', events: [event] } })}\n` +
            `${JSON.stringify({ id: r.id, stream: { type: 'dropped', events: 5 } })}\n`,
        );
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(controlSocketPath(dir), resolve));
  return { server, connections: () => connections };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the live view\'s feed of a client', () => {
  it('refuses a control socket in client1\'s data dir that answers as client2: takes nothing from it, tries it no more, and says why', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llfeed-'));
    dirs.push(dir);
    const fake = await answeringAs(dir, 2);
    const events: NodeId[] = [];
    const dropped: NodeId[] = [];
    const reasons: (string | null)[] = [];
    const feeds = new ClientFeeds([1], () => dir, {
      events: (node) => events.push(node),
      status: (_node, _status, reason) => reasons.push(reason ?? null),
      snapshot: () => undefined,
      dropped: (node) => dropped.push(node),
    }, 10);
    try {
      await feeds.start();
      await sleep(300);
      expect(events).toEqual([]);
      expect(dropped).toEqual([]);
      expect(fake.connections()).toBe(1);
      expect(reasons.at(-1)).toBe(`the control socket in client1's data dir (${controlSocketPath(dir)}) answers as client2: its events are not client1's, so it is not watched (give client web the --data-dir or config its clients run with)`);
      expect(feeds.client(1)).toBeNull();
    } finally {
      feeds.close();
      await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    }
  });

  it('the page is told why in client1\'s status, and a control aimed at client1 says it too', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llfeed-'));
    dirs.push(dir);
    const fake = await answeringAs(dir, 2);
    const web = await WebServer.start({ nodes: [1], dataDir: () => dir, title: 't', port: 0 });
    try {
      await sleep(200);
      const items: PageItem[] = [];
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${web.url}events`, (res) => {
          const reader = new SseReader();
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            for (const f of reader.push(d)) items.push(JSON.parse(f.data) as PageItem);
          });
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 200);
        });
        req.on('error', reject);
      });
      const status = items.find((i) => i.t === 'status');
      expect(status).toMatchObject({ t: 'status', node: 1, connected: false, reason: expect.stringMatching(/^the control socket in client1's data dir .* answers as client2/) });
      expect(items.some((i) => i.t === 'ev')).toBe(false);
      const answer = await new Promise<string>((resolve, reject) => {
        const req = http.request(`${web.url}api/action`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end('{"action":"snapshot","from":1}');
      });
      expect(JSON.parse(answer)).toMatchObject({ ok: false, text: expect.stringMatching(/answers as client2: its events are not client1's/) });
    } finally {
      await web.close();
      await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    }
  });

  it('takes what came in the same read as the answer once the answer is client1\'s own', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llfeed-'));
    dirs.push(dir);
    const fake = await answeringAs(dir, 1);
    const events: NodeId[] = [];
    const dropped: NodeId[] = [];
    const feeds = new ClientFeeds([1], () => dir, { events: (node) => events.push(node), status: () => undefined, snapshot: () => undefined, dropped: (node) => dropped.push(node) }, 10);
    try {
      await feeds.start();
      await sleep(50);
      expect(events).toEqual([1]);
      expect(dropped).toEqual([1]);
      expect(feeds.client(1)).not.toBeNull();
    } finally {
      feeds.close();
      await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    }
  });
});
