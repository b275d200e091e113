/**
 * Faults tried from outside, on real processes: a log file on a full disk, a link that silently
 * drops everything for a while, a peer that freezes, catch-up of full blocks through the smallest
 * frames the protocol allows, a frame limit too small for the protocol, a timestamp near 2^53,
 * and one at the bound from a fake peer in session.
 */
import { rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REQUIRED_FRAME_BYTES } from '../../src/core/limits.js';
import { MAX_TIMESTAMP } from '../../src/core/limits.js';
import { PROTOCOL_VERSION, decodeHandshake, encodeHandshake, encodeMessage } from '../../src/net/codec.js';
import { FrameDecoder, encodeFrame } from '../../src/net/framing.js';
import { configGenesis, loadConfig } from '../../src/daemon/config.js';
import { ControlClient } from '../../src/daemon/control/client.js';
import { Cluster, clustersPerTest, freePorts, makeTempDir, runClientCli, sleep, waitFor } from './harness.js';

const { start: cluster, track } = clustersPerTest();

/**
 * A TCP proxy that can go dark: while blackholed it keeps every connection open and drops every
 * byte both ways (no reset, no FIN), as a dead link or a stateful firewall does.
 */
class BlackholeProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  blackholed = false;

  private constructor(target: number) {
    this.server = net.createServer((inbound) => {
      const outbound = net.connect(target, '127.0.0.1');
      for (const [from, to] of [[inbound, outbound], [outbound, inbound]] as const) {
        this.sockets.add(from);
        from.on('data', (chunk) => {
          if (!this.blackholed) to.write(chunk);
        });
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.sockets.delete(from);
          to.destroy();
        });
      }
    });
  }

  static async listen(target: number): Promise<BlackholeProxy> {
    const p = new BlackholeProxy(target);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', () => resolve()));
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const proxies: BlackholeProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

describe('a broken log never stops the ledger', () => {
  it('with client.log on /dev/full a client says so once, goes on serving its peers and its control socket, and SIGTERM ends it', async () => {
    const c = await cluster({ n: 3 });
    await c.stop(2);
    rmSync(c.logPath(2));
    symlinkSync('/dev/full', c.logPath(2));
    await c.start(2);
    // Start-up and each committed block log at info: every one of those writes fails with ENOSPC.
    for (const [from, to] of [[1, 2], [2, 3], [3, 1]] as const) {
      const r = await c.raw(from, `transfer ${to} 1`, 30_000);
      expect(r.ok, r.text).toBe(true);
    }
    const st = await c.ctl(2, 'status', '--json');
    expect(st.code).toBe(0);
    expect(st.json.peersUp).toEqual([1, 3]);
    await waitFor('the one line about the log on stderr', () => /cannot write .*client\.log \(ENOSPC/.test(c.output(2)));
    expect(c.output(2).match(/cannot write .*client\.log/g)).toHaveLength(1);
    expect(await c.stop(2)).toEqual({ code: 0, signal: null });
  });
});

describe('a stalled link is noticed', () => {
  it('while the link from client1 to client2 drops every byte for 10 s commits stop, and they resume soon after it heals', async () => {
    const c = track(new Cluster({ n: 3, balanceCents: 100_000_000 }));
    const ports = await freePorts(3);
    c.writeConfig(ports);
    // client1 reaches client2 through the proxy, everyone else directly: the same cluster and
    // balances, so the same genesis; only an address differs.
    const proxy = await BlackholeProxy.listen(ports[1]!);
    proxies.push(proxy);
    const viaProxy = path.join(c.dir, 'config-1.json');
    c.writeConfig(ports.map((p, i) => (i === 1 ? proxy.port : p)), {}, viaProxy);
    await c.start(1, { waitPeers: false, config: viaProxy });
    await c.start(2, { waitPeers: false });
    await c.start(3, { waitPeers: false });
    await c.waitAllUp();

    const commits: number[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        const r = await c.raw(3, 'transfer 1 0.01', 60_000).catch(() => null);
        if (r?.ok) commits.push(Date.now());
      }
    })();
    await waitFor('commits before the fault', () => commits.length >= 5);
    proxy.blackholed = true;
    const darkAt = Date.now();
    await sleep(10_000);
    proxy.blackholed = false;
    const healedAt = Date.now();
    await waitFor('a commit after the link heals', () => commits.some((t) => t > healedAt), 20_000);
    running = false;
    await load;
    const firstAfter = commits.find((t) => t > healedAt)!;
    console.log(`blackhole of 10 s between client1 and client2: first commit ${firstAfter - healedAt} ms after it healed`);
    // The silent link stalled every commit (Lamport's rule needs every peer) ...
    expect(commits.filter((t) => t > darkAt + 5_000 && t <= healedAt)).toEqual([]);
    // ... because the silence was noticed and the session closed, then formed again.
    expect(c.logRecords(2).some((r) => /client1 has been silent for/.test(r.msg)), 'client2 noticed the silence').toBe(true);
    const peers = await c.raw(2, 'peers');
    expect(peers.json.peers.find((p: { id: number }) => p.id === 1)).toMatchObject({ outgoing: 'up', incoming: 'up' });
  }, 60_000);
});

describe('fault messages name the cause', () => {
  it('a transfer that times out while a connected peer does not answer names that peer', async () => {
    const c = await cluster({ n: 3, transferTimeoutMs: 2000 });
    // Frozen: its connections stay open (for a while), it answers nothing.
    c.child(3).kill('SIGSTOP');
    try {
      const r = await c.ctl(1, 'transfer', '2', '1');
      expect(r.code).toBe(1);
      expect(r.stdout.trim()).toMatch(/^FAILED {2}timed out after 2 s waiting for the lock: no reply yet from client3; nothing was transferred {2}\(key [A-Za-z0-9_-]{16}\)$/);
    } finally {
      c.child(3).kill('SIGCONT');
    }
  });
});

describe('limits that fit each other', () => {
  it('a maxFrameBytes below what the protocol needs is refused at start, naming the number it needs', async () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'small.json');
    const [port] = await freePorts(1);
    await import('node:fs').then((fs) => fs.writeFileSync(file, JSON.stringify({ cluster: 'small', maxFrameBytes: 65536, clients: [{ id: 1, host: '127.0.0.1', port, balanceCents: 100 }, { id: 2, host: '127.0.0.1', port: port! + 1, balanceCents: 100 }] })));
    const r = await runClientCli(['1', '--no-repl', '--config', file, '--data-dir', path.join(dir, 'd')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`client: ${file}: maxFrameBytes: 65536 is below what the protocol needs: ${REQUIRED_FRAME_BYTES} bytes (a RELEASE carrying a full block of 1000 transfers)`);
  });

  it('with the smallest frames the protocol allows, a client with an empty data dir catches up on full blocks of 1000 transfers', async () => {
    const c = track(new Cluster({ n: 3, balanceCents: 10_000_000 }));
    c.writeConfig(await freePorts(3), { maxFrameBytes: REQUIRED_FRAME_BYTES } as never);
    await Promise.all(c.ids.map((id) => c.start(id, { waitPeers: false })));
    await c.waitAllUp();
    // Three waves of 1000 transfers, all in flight at once on one control connection: while the
    // first lock round runs, the rest queue up and go into the next blocks, up to 1000 each.
    const control = await ControlClient.connect(c.dataDir(1));
    try {
      for (let wave = 0; wave < 3; wave++) {
        const answers = await Promise.all(Array.from({ length: 1000 }, () => control.transfer(2, 1)));
        expect(answers.filter((a) => !a.ok).map((a) => JSON.stringify(a)).slice(0, 3), `wave ${wave}`).toEqual([]);
      }
    } finally {
      control.close();
    }
    const chain = (await c.raw(2, 'chain 100')).json as { height: number; blocks: { txs: unknown[] }[] };
    const fullest = Math.max(...chain.blocks.map((b) => b.txs.length));
    expect(fullest, `transfers per block: ${chain.blocks.map((b) => b.txs.length).join(' ')}`).toBeGreaterThanOrEqual(900);
    // client3 loses everything and comes back: its peers send the chain in BLOCKS cut to the frame size.
    await c.kill(3);
    rmSync(c.dataDir(3), { recursive: true, force: true });
    await c.start(3);
    await waitFor('client3 to catch up', async () => (await c.raw(3, 'status')).json.height === chain.height, 30_000);
    const r = await c.raw(3, 'transfer 1 1', 30_000);
    expect(r.ok, r.text).toBe(true);
    for (const id of [1, 2]) expect(c.logRecords(id).filter((x) => /cannot send|exceeds the maximum/.test(x.msg)), `client${id}'s log`).toEqual([]);
  }, 90_000);

  it('a timestamp beyond 2^50 is rejected as malformed with a log line, and the clock stays sane', async () => {
    const c = track(new Cluster({ n: 2 }));
    c.writeConfig(await freePorts(2));
    await c.start(1, { waitPeers: false });
    const genesis = configGenesis(loadConfig(c.configPath)).hash;
    const socket = net.connect(c.config.clients[0]!.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: c.name, node: 2, to: 1, genesis, height: 0, incarnation: 7, conn: 'c0ffee' })));
    socket.write(encodeFrame(encodeMessage({ type: 'REQUEST', ts: Number.MAX_SAFE_INTEGER, height: 0, view: 0 })));
    socket.resume(); // the WELCOME is read and dropped, so that the close is seen
    await closed;
    await waitFor('the log line', () => c.logRecords(1).some((r) => /invalid message: message\.ts: expected at most 1125899906842624, got 9007199254740991/.test(r.msg)));
    expect((await c.raw(1, 'status')).json.clock).toBeLessThan(1000);
  });

  it('a message timestamped at 2^50, which would push its receiver\'s clock past the bound, is refused with a log line and its connection closed; the receiver goes on committing with its peers', async () => {
    const c = track(new Cluster({ n: 3 }));
    c.writeConfig(await freePorts(3));
    await c.start(1, { waitPeers: false });
    await c.start(2, { waitPeers: false });
    const genesis = configGenesis(loadConfig(c.configPath)).hash;
    // A fake client3 in session with client1: it answers client1's dial, and dials client1.
    const accepted = new Set<net.Socket>();
    const fake = net.createServer((socket) => {
      accepted.add(socket);
      const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
      socket.on('error', () => {});
      socket.once('data', (chunk) => {
        const hello = decoder.push(chunk).map((f) => decodeHandshake(f))[0];
        if (hello?.ok && hello.value.type === 'HELLO') socket.write(encodeFrame(encodeHandshake({ type: 'WELCOME', node: 3, height: 0, incarnation: 7 })));
        socket.resume();
      });
    });
    await new Promise<void>((resolve) => fake.listen(c.config.clients[2]!.port, '127.0.0.1', () => resolve()));
    const socket = net.connect(c.config.clients[0]!.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let closed = false;
      socket.once('close', () => (closed = true));
      socket.on('error', () => {});
      socket.write(encodeFrame(encodeHandshake({ type: 'HELLO', protocol: PROTOCOL_VERSION, cluster: c.name, node: 3, to: 1, genesis, height: 0, incarnation: 7, conn: 'c0ffee' })));
      socket.resume();
      await waitFor('client1 in session with the fake client3', async () => ((await c.raw(1, 'status')).json.peersUp as number[]).includes(3));
      socket.write(encodeFrame(encodeMessage({ type: 'REQUEST', ts: MAX_TIMESTAMP, height: 0, view: 0 })));
      await waitFor('client1 to close the fake client3\'s connection', () => closed, 10_000);
      await waitFor('the log line', () => c.logRecords(1).some((r) => r.msg.includes(`invalid message: message.ts: expected below ${MAX_TIMESTAMP} (a timestamp at the bound would push this client's clock past it), got ${MAX_TIMESTAMP}`)));
      expect((await c.raw(1, 'status')).json.clock).toBeLessThan(1000);
    } finally {
      socket.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    }
    await c.start(3, { waitPeers: false });
    await c.waitAllUp();
    for (const [from, to] of [[1, 2], [2, 3], [3, 1], [1, 3]] as const) {
      const r = await c.raw(from, `transfer ${to} 1`, 30_000);
      expect(r.ok, r.text).toBe(true);
    }
  }, 90_000);
});
