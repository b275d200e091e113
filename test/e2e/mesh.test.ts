import net from 'node:net';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../../src/core/types.js';
import { type HandshakeFrame, PROTOCOL_VERSION, decodeHandshake, encodeHandshake, encodeMessage } from '../../src/net/codec.js';
import { NetErrorKind } from '../../src/net/errors.js';
import { FrameDecoder, encodeFrame } from '../../src/net/framing.js';
import { Mesh, type MeshOptions } from '../../src/net/mesh.js';

const HOST = '127.0.0.1';
const GENESIS = 'a1'.repeat(32);
const OTHER_GENESIS = 'b2'.repeat(32);
const FAST_BACKOFF = { initialMs: 20, maxMs: 200 };

// ---- helpers (everything created is registered and torn down in afterEach) ----------------------

const meshes: Mesh[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => {
    const gone = closed(s);
    s.destroy();
    return gone;
  }));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  await Promise.all(meshes.splice(0).map((m) => m.close()));
});

/** Ports the OS just handed out; the servers are closed again before the meshes listen on them. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, HOST, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

interface Capture {
  logger: Logger;
  lines: string[];
  /** Parsed log records. */
  records(): { level: number; msg: string; kind?: string }[];
}

function capture(level: pino.Level = 'info'): Capture {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(s) });
  return {
    logger,
    lines,
    records: () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; kind?: string }),
  };
}

const WARN = 40;

interface Node {
  mesh: Mesh;
  log: Capture;
  up: Set<NodeId>;
  /** The height each peerUp carried, in order, per peer. */
  heights: Map<NodeId, number[]>;
  events: string[];
  received: Map<NodeId, Message[]>;
}

function makeNode(self: NodeId, ports: readonly number[], extra: Partial<MeshOptions> = {}, log = capture()): Node {
  const ids = ports.map((_, i) => i + 1);
  const port = ports[self - 1];
  if (port === undefined) throw new Error(`no port for ${self}`);
  const mesh = new Mesh({
    self,
    cluster: 'test',
    genesis: GENESIS,
    peers: ids.filter((id) => id !== self).map((id) => ({ id, host: HOST, port: ports[id - 1] ?? 0 })),
    listen: { host: HOST, port },
    nodes: new Set(ids),
    logger: log.logger,
    backoff: FAST_BACKOFF,
    height: () => 0,
    incarnation: self,
    ...extra,
  });
  meshes.push(mesh);
  const node: Node = { mesh, log, up: new Set(), heights: new Map(), events: [], received: new Map() };
  mesh.on('peerUp', (p, height) => {
    node.up.add(p);
    node.heights.set(p, [...(node.heights.get(p) ?? []), height]);
    node.events.push(`up ${p}`);
  });
  mesh.on('peerDown', (p) => {
    node.up.delete(p);
    node.events.push(`down ${p}`);
  });
  mesh.on('message', (from, m) => {
    node.events.push(`msg ${from} ${m.ts}`);
    const list = node.received.get(from) ?? [];
    list.push(m);
    node.received.set(from, list);
  });
  return node;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function allUp(nodes: readonly Node[]): boolean {
  return nodes.every((n) => n.up.size === nodes.length - 1);
}

function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port });
    sockets.push(s);
    s.once('error', reject);
    // Resets from the mesh are expected; without a listener they would be uncaught.
    s.on('error', () => {});
    // Keep reading, or the FIN that follows a refusal would never surface as 'close'.
    s.resume();
    s.once('connect', () => resolve(s));
  });
}

const closed = (s: net.Socket): Promise<void> => new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));

/** A raw connection to `port` that collects the handshake frames it gets back. */
async function rawHandshake(port: number, hello: Record<string, unknown>): Promise<{ socket: net.Socket; answers: Buffer[] }> {
  const socket = await connectRaw(port);
  const decoder = new FrameDecoder();
  const answers: Buffer[] = [];
  socket.on('data', (c: Buffer) => answers.push(...decoder.push(c)));
  socket.write(encodeFrame(encodeHandshake(hello as never)));
  return { socket, answers };
}

const hello2 = (height: unknown): Record<string, unknown> => ({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'test', node: 2, to: 1, genesis: GENESIS, height, incarnation: 2, conn: 'c0ffee' });

/**
 * Plays client2's listener on `port`: takes client1's HELLO and answers only when the test says
 * so. Resolves once it listens.
 */
async function fakeListener(port: number): Promise<{ hellos: HandshakeFrame[]; answer(frame: Record<string, unknown>): void }> {
  const hellos: HandshakeFrame[] = [];
  let acceptor: net.Socket | null = null;
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    acceptor = s;
    const d = new FrameDecoder();
    s.on('data', (c: Buffer) => {
      for (const body of d.push(c)) {
        const decoded = decodeHandshake(body);
        if (decoded.ok) hellos.push(decoded.value);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, HOST, () => resolve()));
  return {
    hellos,
    answer: (frame) => {
      if (acceptor === null) throw new Error('client1 has not dialed');
      acceptor.write(encodeFrame(encodeHandshake(frame as never)));
    },
  };
}

// ---- tests --------------------------------------------------------------------------------------

describe('Mesh', () => {
  it('fires peerUp for every pair whatever the start order', async () => {
    for (const order of [[3, 1, 2], [2, 3, 1]]) {
      const ports = await freePorts(3);
      const nodes = [1, 2, 3].map((id) => makeNode(id, ports));
      for (const id of order) {
        await nodes[id - 1]?.mesh.start();
        await sleep(50 + Math.random() * 150);
      }
      await waitFor(() => allUp(nodes), 'all peers up');
      for (const n of nodes) {
        // Exactly one peerUp per peer: no flapping during the staggered start.
        expect(n.events.sort()).toEqual([1, 2, 3].filter((id) => id !== n.mesh.self).map((id) => `up ${id}`));
        for (const s of n.mesh.status()) {
          expect(s).toMatchObject({ outgoing: 'up', incoming: 'up' });
        }
      }
      await Promise.all(nodes.map((n) => n.mesh.close()));
    }
  });

  it('keeps FIFO order of 1000 messages per channel with delay injection', async () => {
    const ports = await freePorts(3);
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports, { delay: { minMs: 0, maxMs: 5 } }));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b, c] = nodes as [Node, Node, Node];
    const N = 1000;
    for (let i = 1; i <= N; i++) {
      expect(a.mesh.send(2, { type: 'REQUEST', ts: i, height: 0, view: 0 })).toBe(true);
      expect(a.mesh.send(3, { type: 'REPLY', ts: i, height: 0, view: 0 })).toBe(true);
      expect(b.mesh.send(1, { type: 'RELEASE', ts: i, height: 0, view: 0, block: null })).toBe(true);
      // Spread the sends over many ticks so the per-channel timer is re-armed mid-stream.
      if (i % 50 === 0) await sleep(Math.random() * 4);
    }
    const expected = Array.from({ length: N }, (_, k) => k + 1);
    await waitFor(() => (b.received.get(1)?.length ?? 0) === N && (c.received.get(1)?.length ?? 0) === N && (a.received.get(2)?.length ?? 0) === N, '3 x 1000 messages');
    expect(b.received.get(1)?.map((m) => m.ts)).toEqual(expected);
    expect(b.received.get(1)?.every((m) => m.type === 'REQUEST')).toBe(true);
    expect(c.received.get(1)?.map((m) => m.ts)).toEqual(expected);
    expect(a.received.get(2)?.map((m) => m.ts)).toEqual(expected);
    expect(a.mesh.status().find((s) => s.id === 2)).toMatchObject({ sent: N, received: N });
  });

  it('delays messages by at most about maxMs and still delivers them all', async () => {
    const ports = await freePorts(2);
    const nodes = [1, 2].map((id) => makeNode(id, ports, { delay: { minMs: 30, maxMs: 40 } }));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b] = nodes as [Node, Node];
    const t0 = Date.now();
    a.mesh.send(2, { type: 'REQUEST', ts: 1, height: 0, view: 0 });
    await waitFor(() => (b.received.get(1)?.length ?? 0) === 1, 'delayed message');
    // Timers may fire a millisecond early; the point is that the message was held at all.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(29);
  });

  it('holds a link past the 3 s heartbeat silence without losing the session or a message, then delivers them all in order', async () => {
    const ports = await freePorts(3);
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b, c] = nodes as [Node, Node, Node];
    expect(a.mesh.setLink(2, { held: true })).toEqual({ peer: 2, held: true, delay: null, waiting: 0, up: true });
    for (let i = 1; i <= 100; i++) {
      a.mesh.send(2, { type: 'REQUEST', ts: i, height: 0, view: 0 });
      a.mesh.send(3, { type: 'REQUEST', ts: i, height: 0, view: 0 });
    }
    await waitFor(() => (c.received.get(1)?.length ?? 0) === 100, 'the open link delivers');
    expect(a.mesh.links().find((l) => l.peer === 2)).toMatchObject({ held: true, waiting: 100 });
    // Longer than the 3 s of silence that closes a session: the heartbeats do not wait on the hold.
    await sleep(3500);
    expect(b.received.get(1) ?? []).toEqual([]);
    expect(b.events.filter((e) => e.startsWith('down'))).toEqual([]);
    expect(a.events.filter((e) => e.startsWith('down'))).toEqual([]);
    expect(a.mesh.setLink(2, { held: false })).toMatchObject({ held: false });
    await waitFor(() => (b.received.get(1)?.length ?? 0) === 100, 'the released link delivers');
    expect(b.received.get(1)?.map((m) => m.ts)).toEqual(Array.from({ length: 100 }, (_, k) => k + 1));
    expect(a.mesh.links().find((l) => l.peer === 2)).toMatchObject({ held: false, waiting: 0, up: true });
  });

  it('delays one link at run time and leaves the others as they are', async () => {
    const ports = await freePorts(3);
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b, c] = nodes as [Node, Node, Node];
    a.mesh.setLink(2, { delay: { minMs: 300, maxMs: 300 } });
    const t0 = Date.now();
    a.mesh.send(2, { type: 'REQUEST', ts: 1, height: 0, view: 0 });
    a.mesh.send(3, { type: 'REQUEST', ts: 1, height: 0, view: 0 });
    await waitFor(() => (c.received.get(1)?.length ?? 0) === 1, 'the open link');
    expect(Date.now() - t0).toBeLessThan(250);
    await waitFor(() => (b.received.get(1)?.length ?? 0) === 1, 'the delayed link');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(295);
    a.mesh.setLink(2, { delay: null });
    const t1 = Date.now();
    a.mesh.send(2, { type: 'REQUEST', ts: 2, height: 0, view: 0 });
    await waitFor(() => (b.received.get(1)?.length ?? 0) === 2, 'the link without its delay');
    expect(Date.now() - t1).toBeLessThan(250);
    expect(() => a.mesh.setLink(1, { held: true })).toThrow(/client1 is not a peer of client1/);
  });

  it('refuses a client with a different genesis on both sides, logging the reason once', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    const b = makeNode(2, ports, { genesis: OTHER_GENESIS });
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    const reason = /has a different config: genesis (a1a1a1a1 != b2b2b2b2|b2b2b2b2 != a1a1a1a1); start every client with the same config/;
    const warned = (c: Capture, re: RegExp): string[] => c.records().filter((r) => r.level === WARN && re.test(r.msg)).map((r) => r.msg);
    await waitFor(() => warned(a.log, /refused/).length > 0 && warned(b.log, /refused/).length > 0, 'refusals logged on both sides');
    // Let both keep retrying for a while (backoff 20..200 ms): still refused, still logged once.
    await sleep(800);
    expect(a.up.size + b.up.size).toBe(0);
    for (const c of [a.log, b.log]) {
      const lines = warned(c, /refused/);
      for (const l of lines) expect(l).toMatch(reason);
      // One line as acceptor ("refused connection from client N") and one as dialer ("refused the connection").
      expect(warned(c, /refused connection from/)).toHaveLength(1);
      expect(warned(c, /refused the connection/)).toHaveLength(1);
    }
    expect(warned(b.log, /refused the connection/)[0]).toMatch(/client1 \(127\.0\.0\.1:\d+\) refused the connection: client2 has a different config: genesis b2b2b2b2 != a1a1a1a1/);
    expect(a.mesh.status()[0]?.lastError).toMatch(reason);
    expect(a.mesh.status()[0]).toMatchObject({ outgoing: expect.stringMatching(/down|connecting/), incoming: 'down' });
  });

  it('refuses a client with a different cluster name', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    const b = makeNode(2, ports, { cluster: 'other' });
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.log.lines.some((l) => l.includes('cluster \\"other\\" != \\"test\\"')), 'cluster refusal');
    expect(a.up.size + b.up.size).toBe(0);
  });

  it('closes a raw connection that sends garbage and keeps working', async () => {
    const ports = await freePorts(3);
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b] = nodes as [Node, Node];
    const port = a.mesh.address().port;

    // Plain text: its first 4 bytes read as a ~1.2 GB length, refused before any buffering.
    const http = await connectRaw(port);
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    // A well-framed body that is not msgpack at all.
    const junk = await connectRaw(port);
    junk.write(encodeFrame(Buffer.from([0x92, 0x01])));
    // A valid msgpack map that is not a handshake.
    const notHello = await connectRaw(port);
    notHello.write(encodeFrame(encodeMessage({ type: 'REQUEST', ts: 1, height: 0, view: 0 })));
    await Promise.all([closed(http), closed(junk), closed(notHello)]);

    const warns = a.log.records().filter((r) => r.level === WARN).map((r) => r.msg);
    expect(warns.some((m) => /exceeds the maximum/.test(m))).toBe(true);
    expect(warns.some((m) => /undecodable frame/.test(m))).toBe(true);
    expect(warns.some((m) => /invalid handshake: expected HELLO, WELCOME or REFUSE, got "REQUEST"/.test(m))).toBe(true);

    // The mesh is unaffected: the existing channels still carry messages both ways.
    expect(allUp(nodes)).toBe(true);
    expect(b.mesh.send(1, { type: 'REQUEST', ts: 42, height: 0, view: 0 })).toBe(true);
    expect(a.mesh.send(2, { type: 'REPLY', ts: 43, height: 0, view: 0 })).toBe(true);
    await waitFor(() => (a.received.get(2)?.length ?? 0) === 1 && (b.received.get(1)?.length ?? 0) === 1, 'messages after garbage');
    expect(a.received.get(2)).toEqual([{ type: 'REQUEST', ts: 42, height: 0, view: 0 }]);
  });

  it('drops a handshaken peer that sends an invalid message, with a warning, and takes it back after', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    await a.mesh.start();
    // Play client2 by hand: HELLO, WELCOME, then a message that fails validation.
    const raw = await connectRaw(a.mesh.address().port);
    const decoder = new FrameDecoder();
    const answers: Buffer[] = [];
    raw.on('data', (c: Buffer) => answers.push(...decoder.push(c)));
    raw.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'test', node: 2, to: 1, genesis: GENESIS, height: 0, incarnation: 2, conn: 'c0ffee' })));
    await waitFor(() => answers.length === 1, 'WELCOME');
    expect(a.mesh.status()[0]?.incoming).toBe('up');
    // A second connection claiming to be client2 is refused while the first is live.
    const dup = await connectRaw(a.mesh.address().port);
    dup.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'test', node: 2, to: 1, genesis: GENESIS, height: 0, incarnation: 2, conn: 'c0ffee' })));
    await closed(dup);
    expect(a.log.lines.some((l) => l.includes('client2 is already connected'))).toBe(true);

    raw.write(encodeFrame(encodeMessage({ type: 'REQUEST', ts: -5, height: 0, view: 0 })));
    await closed(raw);
    const warn = a.log.records().find((r) => r.level === WARN && /closing incoming channel from client2/.test(r.msg));
    expect(warn?.msg).toMatch(/message\.ts: expected an integer >= 0, got -5/);
    // (lastError is not checked: client1's failing dials to client2 overwrite it concurrently.)
    expect(a.mesh.status()[0]?.incoming).toBe('down');
    expect(a.received.size).toBe(0);

    // Once that connection is gone, client2 is welcome again.
    const again = await connectRaw(a.mesh.address().port);
    const answers2: Buffer[] = [];
    const decoder2 = new FrameDecoder();
    again.on('data', (c: Buffer) => answers2.push(...decoder2.push(c)));
    again.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'test', node: 2, to: 1, genesis: GENESIS, height: 0, incarnation: 2, conn: 'c0ffee' })));
    await waitFor(() => answers2.length === 1, 'second WELCOME');
    expect(answers2[0]?.toString('latin1')).toMatch(/WELCOME/);
    expect(a.mesh.status()[0]?.incoming).toBe('up');
  });

  it('holds messages that arrive before peerUp and delivers them right after it, in order', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    // Play client2's listener: take client1's HELLO but hold back the WELCOME.
    const listener = await fakeListener(ports[1]!);
    await a.mesh.start();
    await waitFor(() => listener.hellos.length === 1, "client1's HELLO");
    expect(listener.hellos[0]?.type).toBe('HELLO');

    // Client 2 dials in and, seeing its session up, sends at once.
    const { socket: raw, answers } = await rawHandshake(a.mesh.address().port, hello2(0));
    await waitFor(() => answers.length === 1, 'WELCOME');
    for (let ts = 1; ts <= 3; ts++) raw.write(encodeFrame(encodeMessage({ type: 'REQUEST', ts, height: 0, view: 0 })));
    await sleep(100);
    expect(a.events).toEqual([]);
    expect(a.mesh.status()[0]).toMatchObject({ outgoing: 'connecting', incoming: 'up', received: 3 });

    listener.answer({ type: 'WELCOME', node: 2, height: 0, incarnation: 2 });
    await waitFor(() => a.events.length === 4, 'peerUp and 3 messages');
    expect(a.events).toEqual(['up 2', 'msg 2 1', 'msg 2 2', 'msg 2 3']);
  });

  it('leaves no sockets or timers behind after close', async () => {
    const counted = new Set(['TCPSocketWrap', 'TCPServerWrap', 'Timeout']);
    const handles = (): number => process.getActiveResourcesInfo().filter((r) => counted.has(r)).length;
    const ports = await freePorts(4);
    // Closed servers leave the handle list a moment after their close callback.
    await sleep(20);
    const before = handles();
    // Client 4 never starts: the others are mid-backoff towards it when they close.
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports, { delay: { minMs: 50, maxMs: 100 } }));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => nodes.every((n) => n.up.size === 2), 'clients 1-3 up');
    for (let ts = 1; ts <= 100; ts++) nodes[0]?.mesh.send(2, { type: 'REQUEST', ts, height: 0, view: 0 });
    const raw = await connectRaw(nodes[0]?.mesh.address().port ?? 0); // unidentified, mid-handshake
    await Promise.all(nodes.map((n) => n.mesh.close()));
    raw.destroy();
    await new Promise<void>((resolve) => raw.once('close', () => resolve()));
    expect(handles()).toBe(before);
  });

  it('refuses HELLOs from unknown ids, for the wrong target and of another protocol version', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    await a.mesh.start();
    const port = a.mesh.address().port;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ node: 7, to: 1 }, /unknown client7: this cluster has clients 1, 2/],
      [{ node: 2, to: 3 }, /client2 meant to dial client3 but reached client1/],
      [{ node: 2, to: 1, protocol: 99 }, /protocol version 99 is not supported/],
      // A version-1 client (no height in its HELLO) is told why, not just cut off as a bad handshake.
      [{ node: 2, to: 1, protocol: 1, height: undefined }, /protocol version 1 is not supported \(this client speaks version 5\)/],
    ];
    for (const [fields, re] of cases) {
      const raw = await connectRaw(port);
      const decoder = new FrameDecoder();
      const answers: Buffer[] = [];
      raw.on('data', (c: Buffer) => answers.push(...decoder.push(c)));
      raw.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'test', genesis: GENESIS, node: 0, to: 0, height: 0, incarnation: 0, conn: 'c0ffee', ...fields } as never)));
      await closed(raw);
      expect(answers).toHaveLength(1);
      expect(answers[0]?.toString('latin1')).toMatch(/REFUSE/);
      expect(a.log.lines.some((l) => re.test(l))).toBe(true);
    }
  });

  it('fires peerDown when a peer closes and peerUp again when it restarts on the same port', async () => {
    const ports = await freePorts(3);
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    const [a, b, c] = nodes as [Node, Node, Node];
    expect(a.mesh.send(3, { type: 'REQUEST', ts: 1, height: 0, view: 0 })).toBe(true);

    await c.mesh.close();
    await waitFor(() => !a.up.has(3) && !b.up.has(3), 'peerDown for client3');
    expect(a.events.filter((e) => e === 'down 3')).toHaveLength(1);
    expect(b.events.filter((e) => e === 'down 3')).toHaveLength(1);
    expect(a.mesh.send(3, { type: 'REQUEST', ts: 2, height: 0, view: 0 })).toBe(false);
    // 1 and 2 are unaffected.
    expect(a.up.has(2) && b.up.has(1)).toBe(true);

    const c2 = makeNode(3, ports);
    await c2.mesh.start();
    expect(c2.mesh.address().port).toBe(ports[2]);
    await waitFor(() => a.up.has(3) && b.up.has(3) && c2.up.size === 2, 'peerUp after restart');
    expect(a.events.filter((e) => e.endsWith(' 3'))).toEqual(['up 3', 'down 3', 'up 3']);
    expect(a.mesh.send(3, { type: 'REQUEST', ts: 3, height: 0, view: 0 })).toBe(true);
    await waitFor(() => (c2.received.get(1)?.length ?? 0) === 1, 'message to the restarted client');
    expect(c2.received.get(1)).toEqual([{ type: 'REQUEST', ts: 3, height: 0, view: 0 }]);
  });

  it('peerUp carries the chain height the peer announced in its handshake', async () => {
    const ports = await freePorts(3);
    const heights = [5, 9, 0];
    const nodes = [1, 2, 3].map((id) => makeNode(id, ports, { height: () => heights[id - 1]! }));
    await Promise.all(nodes.map((n) => n.mesh.start()));
    await waitFor(() => allUp(nodes), 'all peers up');
    for (const n of nodes) {
      for (const p of [1, 2, 3].filter((id) => id !== n.mesh.self)) expect(n.heights.get(p)).toEqual([heights[p - 1]]);
    }
  });

  it('announces its height as of each handshake, not as of construction', async () => {
    const ports = await freePorts(2);
    let heightOf1 = 2;
    const a = makeNode(1, ports, { height: () => heightOf1 });
    const b = makeNode(2, ports, { height: () => 4 });
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.up.has(2) && b.up.has(1), 'peers up');
    expect(b.heights.get(1)).toEqual([2]);
    expect(a.heights.get(2)).toEqual([4]);
    // Client 1 commits blocks; client2 restarts and meets it again.
    heightOf1 = 11;
    await b.mesh.close();
    await waitFor(() => !a.up.has(2), 'peerDown for client2');
    const b2 = makeNode(2, ports, { height: () => 6 });
    await b2.mesh.start();
    await waitFor(() => a.up.has(2) && b2.up.has(1), 'peers up again');
    expect(b2.heights.get(1)).toEqual([11]);
    expect(a.heights.get(2)).toEqual([4, 6]);
  });

  it.each([
    ['HELLO before WELCOME', 3, 7, 7],
    ['WELCOME before HELLO', 6, 4, 6],
  ])('the later of the peer\'s two handshakes gives the height peerUp carries (%s)', async (order, helloHeight, welcomeHeight, expected) => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports, { height: () => 13 });
    const fake = await fakeListener(ports[1]!);
    await a.mesh.start();
    await waitFor(() => fake.hellos.length === 1, "client1's HELLO");
    // Client 1 announces its own height in its HELLO...
    expect(fake.hellos[0]).toMatchObject({ type: 'HELLO', node: 1, to: 2, protocol: PROTOCOL_VERSION, height: 13 });
    const welcome = { type: 'WELCOME', node: 2, height: welcomeHeight, incarnation: 2 };
    if (order === 'WELCOME before HELLO') {
      fake.answer(welcome);
      await waitFor(() => a.mesh.status()[0]?.outgoing === 'up', 'outgoing channel up');
    }
    const raw = await rawHandshake(a.mesh.address().port, hello2(helloHeight));
    await waitFor(() => raw.answers.length === 1, 'WELCOME');
    // ...and in its WELCOME.
    const answer = decodeHandshake(raw.answers[0]!);
    expect(answer).toEqual({ ok: true, value: { type: 'WELCOME', node: 1, height: 13, incarnation: 1 } });
    if (order === 'HELLO before WELCOME') {
      expect(a.events).toEqual([]);
      fake.answer(welcome);
    }
    await waitFor(() => a.up.has(2), 'peerUp');
    expect(a.heights.get(2)).toEqual([expected]);
  });

  it.each([
    ['without a height', undefined],
    ['with a negative height', -1],
  ])('refuses a HELLO %s as a bad handshake: no WELCOME, connection closed, warning logged', async (_what, height) => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    await a.mesh.start();
    const hello = hello2(height);
    if (height === undefined) delete hello.height;
    const raw = await rawHandshake(a.mesh.address().port, hello);
    await closed(raw.socket);
    expect(raw.answers).toEqual([]);
    const warn = a.log.records().find((r) => r.level === WARN && /before handshake/.test(r.msg));
    expect(warn?.kind).toBe(NetErrorKind.BadHandshake);
    expect(warn?.msg).toMatch(/^closing connection from 127\.0\.0\.1:\d+ before handshake: invalid handshake: HELLO\.height: expected a chain height$/);
    expect(a.mesh.status()[0]?.incoming).toBe('down');
    expect(a.events).toEqual([]);
  });

  it('drops an outgoing connection whose WELCOME has no height, as a bad handshake answer', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    const fake = await fakeListener(ports[1]!);
    await a.mesh.start();
    await waitFor(() => fake.hellos.length === 1, "client1's HELLO");
    fake.answer({ type: 'WELCOME', node: 2 });
    const bad = /^bad handshake answer from client2 \(127\.0\.0\.1:\d+\): invalid handshake: WELCOME\.height: expected a chain height$/;
    await waitFor(() => a.log.records().some((r) => r.level === WARN && bad.test(r.msg)), 'bad WELCOME logged');
    expect(a.log.records().find((r) => bad.test(r.msg))?.kind).toBe(NetErrorKind.BadHandshake);
    expect(a.mesh.status()[0]?.outgoing).not.toBe('up');
    expect(a.events).toEqual([]);
  });

  it('reports a busy port as a ListenFailed error', async () => {
    const ports = await freePorts(2);
    const a = makeNode(1, ports);
    await a.mesh.start();
    const clash = makeNode(1, ports);
    await expect(clash.mesh.start()).rejects.toMatchObject({ kind: 'LISTEN_FAILED', message: expect.stringMatching(/EADDRINUSE/) });
  });

  it('drops sends to a peer whose outgoing channel is not up', async () => {
    const ports = await freePorts(2);
    const log = capture('debug');
    const a = makeNode(1, ports, {}, log);
    await a.mesh.start();
    expect(a.mesh.send(2, { type: 'REQUEST', ts: 1, height: 0, view: 0 })).toBe(false);
    expect(log.lines.some((l) => l.includes('dropped 1->2 REQUEST ts=1'))).toBe(true);
    expect(a.mesh.status()[0]).toMatchObject({ id: 2, incoming: 'down', sent: 0 });
  });
});
