/**
 * Channels with a cluster secret are TLS 1.2 with a pre-shared key derived from it, tried from
 * outside: real meshes on loopback, proxies in between that record or flip bytes, and every way a
 * secret can be set wrong, each said in one line on both sides.
 */
import net from 'node:net';
import tls from 'node:tls';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../../src/core/types.js';
import { PROTOCOL_VERSION, encodeHandshake } from '../../src/net/codec.js';
import { FrameDecoder, encodeFrame } from '../../src/net/framing.js';
import { Mesh, type MeshOptions } from '../../src/net/mesh.js';
import { PSK_CIPHERS, channelPsk } from '../../src/net/transport.js';

const HOST = '127.0.0.1';
const GENESIS = 'c3'.repeat(32);
const SECRET = 'the-secret-of-this-cluster';

const meshes: Mesh[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await Promise.all(meshes.splice(0).map((m) => m.close()));
});

async function freePorts(n: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
    const s = net.createServer();
    s.listen(0, HOST, () => resolve(s));
  })));
  const ports = held.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Node {
  mesh: Mesh;
  lines: string[];
  problems: string[];
  up: Set<NodeId>;
  received: Message[];
}

/** Client `self` of a two-client cluster; `dialPort` is where it reaches the other (a proxy, say). */
function node(self: NodeId, listenPort: number, dialPort: number, secret: string | null, extra: Partial<MeshOptions> = {}): Node {
  const lines: string[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s).msg as string) });
  const other = self === 1 ? 2 : 1;
  const mesh = new Mesh({
    self, cluster: 'tls-test', genesis: GENESIS, peers: [{ id: other, host: HOST, port: dialPort }], listen: { host: HOST, port: listenPort },
    nodes: new Set([1, 2]), logger, backoff: { initialMs: 20, maxMs: 200 }, height: () => 0, incarnation: self, secret, ...extra,
  });
  meshes.push(mesh);
  const n: Node = { mesh, lines, problems: [], up: new Set(), received: [] };
  mesh.on('peerUp', (p) => n.up.add(p));
  mesh.on('peerDown', (p) => n.up.delete(p));
  mesh.on('message', (_from, m) => n.received.push(m));
  mesh.on('problem', (line) => n.problems.push(line));
  return n;
}

/** A TCP proxy to `target` that hands each chunk, both ways, through `edit` first. */
async function proxy(target: number, edit: (chunk: Buffer, towardsTarget: boolean) => Buffer): Promise<number> {
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target, HOST);
    sockets.push(inbound, outbound);
    inbound.on('data', (c: Buffer) => outbound.write(edit(c, true)));
    outbound.on('data', (c: Buffer) => inbound.write(edit(c, false)));
    for (const [a, b] of [[inbound, outbound], [outbound, inbound]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

const release = (ts: number): Message => ({ type: 'RELEASE', ts, height: 0, view: 0, block: null });

describe('a cluster secret makes every channel TLS', () => {
  it('with the same secret on both ends, the sessions come up and messages flow; on the wire there is no plaintext message', async () => {
    const [p1, p2] = await freePorts(2);
    const seen: Buffer[] = [];
    const via = await proxy(p2!, (c) => {
      seen.push(c);
      return c;
    });
    const a = node(1, p1!, via, SECRET);
    const b = node(2, p2!, p1!, SECRET);
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.up.has(2) && b.up.has(1), 'the session up');
    for (let ts = 1; ts <= 50; ts++) a.mesh.send(2, release(ts));
    await waitFor(() => b.received.length === 50, '50 messages');
    expect(b.received.map((m) => m.ts)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const wire = Buffer.concat(seen);
    // TLS records (content type 0x16 handshake, then 0x17 application data), nothing readable.
    expect(wire[0]).toBe(0x16);
    expect(wire.includes(0x17)).toBe(true);
    for (const word of ['RELEASE', 'HELLO', 'WELCOME', 'tls-test']) expect(wire.includes(Buffer.from(word)), word).toBe(false);
    expect(a.lines.some((l) => /listening on .* \(TLS with the cluster secret\)/.test(l))).toBe(true);
  });

  it('without a secret the same proxy reads every message: the control for the test above', async () => {
    const [p1, p2] = await freePorts(2);
    const seen: Buffer[] = [];
    const via = await proxy(p2!, (c) => {
      seen.push(c);
      return c;
    });
    const a = node(1, p1!, via, null);
    const b = node(2, p2!, p1!, null);
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.up.has(2) && b.up.has(1), 'the session up');
    a.mesh.send(2, release(1));
    await waitFor(() => b.received.length === 1, 'the message');
    await sleep(20);
    expect(Buffer.concat(seen).includes(Buffer.from('RELEASE'))).toBe(true);
  });

  it('a byte flipped on the way closes the connection and it forms again; no message is accepted altered', async () => {
    const [p1, p2] = await freePorts(2);
    let flipAfter = 2000;
    let passed = 0;
    const via = await proxy(p2!, (c, towardsTarget) => {
      if (!towardsTarget) return c;
      passed += c.length;
      if (flipAfter > 0 && passed > flipAfter) {
        flipAfter = 0;
        const copy = Buffer.from(c);
        copy[copy.length - 1]! ^= 0x01;
        return copy;
      }
      return c;
    });
    const a = node(1, p1!, via, SECRET);
    const b = node(2, p2!, p1!, SECRET);
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.up.has(2) && b.up.has(1), 'the session up');
    let downs = 0;
    b.mesh.on('peerDown', () => downs++);
    for (let ts = 1; flipAfter > 0 && ts <= 10_000; ts++) {
      a.mesh.send(2, release(ts));
      await sleep(1);
    }
    await waitFor(() => downs > 0, 'the session to break on the altered byte');
    await waitFor(() => a.up.has(2) && b.up.has(1), 'the session up again');
    a.mesh.send(2, release(99_999));
    await waitFor(() => b.received.some((m) => m.ts === 99_999), 'a message on the new session');
    // Everything received is what was sent, in order: a prefix of 1, 2, 3, ... then 99999.
    const got = b.received.map((m) => m.ts);
    expect(got.at(-1)).toBe(99_999);
    got.slice(0, -1).forEach((ts, i) => expect(ts).toBe(i + 1));
    expect(b.lines.some((l) => /closing incoming channel from client1 .*bad record mac|incoming channel from client1 closed/i.test(l))).toBe(true);
  });
});

describe('a secret set wrong is said in one line on both sides', () => {
  it('different secrets', async () => {
    const [p1, p2] = await freePorts(2);
    const a = node(1, p1!, p2!, SECRET);
    const b = node(2, p2!, p1!, 'another-secret-entirely');
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor(() => a.problems.length > 0 && b.problems.length > 0, 'both sides to say why');
    for (const n of [a, b]) {
      expect(n.problems.some((p) => /rejected the TLS handshake: its cluster secret differs from this client's; set the same secret on every client/.test(p)), n.problems.join('\n')).toBe(true);
      expect(n.problems.some((p) => /refused connection from .*: its cluster secret differs from this client's/.test(p)), n.problems.join('\n')).toBe(true);
    }
    expect(a.up.size + b.up.size).toBe(0);
    // Once, not on every redial.
    await sleep(500);
    expect(a.problems.filter((p) => /rejected the TLS handshake/.test(p))).toHaveLength(1);
  });

  it('a secret on the listening side only', async () => {
    const [p1, p2] = await freePorts(2);
    const withSecret = node(1, p1!, p2!, SECRET);
    const without = node(2, p2!, p1!, null);
    await Promise.all([withSecret.mesh.start(), without.mesh.start()]);
    await waitFor(() => withSecret.problems.length >= 2 && without.problems.length >= 2, 'both sides to say why');
    // client2 (no secret) dialing client1 (TLS), and client1 (TLS) dialing client2 (plain):
    expect(without.problems.some((p) => p === `client1 (${HOST}:${p1}) closed the connection before answering: does it require a cluster secret? then set the same secret here`), without.problems.join('\n')).toBe(true);
    expect(withSecret.problems.some((p) => /refused connection from .*: it does not speak TLS \(no cluster secret set on that client\?\); set the same secret on every client/.test(p)), withSecret.problems.join('\n')).toBe(true);
    expect(withSecret.problems.some((p) => p === `client2 (${HOST}:${p2}) does not speak TLS: it has no cluster secret; set the same secret on every client`), withSecret.problems.join('\n')).toBe(true);
    expect(without.problems.some((p) => /refused connection from .*: it speaks TLS \(it has a cluster secret\) but this client has none; set the same secret on every client/.test(p)), without.problems.join('\n')).toBe(true);
  });

  it('a TLS client presenting another client\'s identity is refused, naming both', async () => {
    const [p1] = await freePorts(1);
    const a = node(1, p1!, 1, SECRET);
    await a.mesh.start();
    // A member knows the secret; here one presents client1's TLS identity and claims to be client2.
    const socket = tls.connect({
      host: HOST, port: p1!, ciphers: PSK_CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: channelPsk(SECRET, 'tls-test'), identity: 'client1' }),
    });
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    const port = socket.localPort;
    const answers: Buffer[] = [];
    const decoder = new FrameDecoder();
    socket.on('data', (c: Buffer) => answers.push(...decoder.push(c)));
    socket.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: 'tls-test', node: 2, to: 1, genesis: GENESIS, height: 0, incarnation: 5, conn: 'ab' })));
    await waitFor(() => answers.length === 1, 'the answer');
    expect(answers[0]!.toString('latin1')).toContain('REFUSE');
    expect(a.problems).toContain(`refused connection from client2 (${HOST}:${port}): the connection presented TLS identity "client1" but claims to be client2: a client may only connect as itself`);
  });
});
