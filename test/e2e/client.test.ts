/**
 * End-to-end tests of the client daemon (issue 3): real `bin/client.js` processes on ephemeral
 * loopback ports, driven through `client ctl` and piped stdin, checked by their output.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, clustersPerTest, freePorts, makeTempDir, runClientCli, sleep, waitFor } from './harness.js';

const { start: cluster, track } = clustersPerTest();

// ---- helpers -------------------------------------------------------------------------------------

interface ChainJson {
  height: number;
  head: string;
  blocks: { height: number; hash: string; prevHash: string; creator: number; txs: { id: string; from: number; to: number; amount: number }[] }[];
}

/** `chain 1000 --json`, through a real `client ctl` process or (viaCtl false) the control socket directly. */
async function chainOf(c: Cluster, id: number, viaCtl = false): Promise<ChainJson> {
  if (!viaCtl) return (await c.raw(id, 'chain 1000')).json as ChainJson;
  const r = await c.ctl(id, 'chain', '1000', '--json');
  expect(r.code, `ctl ${id} chain --json: ${r.stderr}`).toBe(0);
  return r.json as ChainJson;
}

/** `balance all --json`, through a real `client ctl` process or the control socket directly. */
async function balancesOf(c: Cluster, id: number, viaCtl = false): Promise<Record<string, number>> {
  if (!viaCtl) return (await c.raw(id, 'balance all')).json.balances as Record<string, number>;
  const r = await c.ctl(id, 'balance', 'all', '--json');
  expect(r.code, `ctl ${id} balance all --json: ${r.stderr}`).toBe(0);
  return (r.json as { balances: Record<string, number> }).balances;
}

async function heights(c: Cluster, ids = c.ids): Promise<number[]> {
  return Promise.all(ids.map(async (id) => (await c.raw(id, 'status')).json.height as number));
}

/** Waits until every listed client has the same height and head; returns that chain. */
async function converged(c: Cluster, ids = c.ids): Promise<{ height: number; head: string }> {
  return waitFor(`chains of clients ${ids.join(', ')} to converge`, async () => {
    const s = await Promise.all(ids.map(async (id) => (await c.raw(id, 'status')).json as { height: number; head: string }));
    return s.every((x) => x.height === s[0]!.height && x.head === s[0]!.head) ? { height: s[0]!.height, head: s[0]!.head } : null;
  });
}

/** Checks identical chains (via `ctl chain --json`) and conserved, agreeing balances on every client. */
async function expectConsistent(c: Cluster, ids = c.ids, viaCtl = false): Promise<ChainJson> {
  await converged(c, ids);
  const chains = await Promise.all(ids.map((id) => chainOf(c, id, viaCtl)));
  for (const ch of chains) {
    expect(ch.height).toBe(chains[0]!.height);
    expect(ch.head).toBe(chains[0]!.head);
    expect(ch.blocks.map((b) => b.hash)).toEqual(chains[0]!.blocks.map((b) => b.hash));
  }
  // the hash chain links up
  const blocks = chains[0]!.blocks;
  for (let i = 1; i < blocks.length; i++) expect(blocks[i]!.prevHash).toBe(blocks[i - 1]!.hash);
  const tables = await Promise.all(ids.map((id) => balancesOf(c, id, viaCtl)));
  for (const t of tables) {
    expect(Object.values(t).reduce((a, b) => a + b, 0)).toBe(c.total);
    expect(Object.values(t).every((v) => v >= 0)).toBe(true);
    expect(t).toEqual(tables[0]);
  }
  return chains[0]!;
}

const rand = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));
const dollars = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

/**
 * Every client issues `perClient` transfers at once (random recipients and amounts). `viaCtl` of
 * each client's transfers go through real `client ctl` processes, the rest through the same control
 * socket protocol directly (spawning 100 Node processes would dominate the runtime on 2 cores).
 */
async function concurrentTransfers(c: Cluster, perClient: number, viaCtl: number): Promise<void> {
  const expected: Record<string, number> = Object.fromEntries(c.ids.map((id) => [String(id), c.config.clients[id - 1]!.balanceCents]));
  const jobs: Promise<{ from: number; to: number; amount: number; json: any }>[] = [];
  for (const from of c.ids) {
    for (let k = 0; k < perClient; k++) {
      const others = c.ids.filter((x) => x !== from);
      const to = others[rand(0, others.length - 1)]!;
      const amount = rand(1, 90);
      const words = ['transfer', String(to), dollars(amount)];
      jobs.push(
        (k < viaCtl
          ? c.ctl(from, ...words, '--json').then((r) => {
              expect([0, 1], r.stderr).toContain(r.code);
              return r.json;
            })
          : c.raw(from, words.join(' '), 60_000).then((r) => r.json)
        ).then((json) => ({ from, to, amount, json })),
      );
    }
  }
  const results = await Promise.all(jobs);
  let ok = 0;
  const txIds = new Set<string>();
  for (const r of results) {
    if (r.json.status === 'SUCCESS') {
      ok++;
      txIds.add(r.json.txId);
    } else {
      // the only acceptable failure: not enough money at that moment
      expect(r.json, JSON.stringify(r.json)).toMatchObject({ status: 'FAILED', reason: 'insufficient' });
    }
  }
  expect(ok).toBeGreaterThan(results.length / 2);
  const chain = await expectConsistent(c, c.ids, true);
  // every committed transfer is in the chain exactly once, nothing else is
  const inChain = chain.blocks.filter((b) => b.height > 0).flatMap((b) => b.txs);
  expect(inChain.length).toBe(ok);
  expect(new Set(inChain.map((t) => t.id))).toEqual(txIds);
  for (const t of inChain) {
    expected[String(t.from)]! -= t.amount;
    expected[String(t.to)]! += t.amount;
  }
  expect(await balancesOf(c, 1)).toEqual(expected);
}

// ---- tests ---------------------------------------------------------------------------------------

describe('a shared 3-client cluster', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.start({ n: 3 });
  });
  afterAll(async () => {
    await c?.close();
  });

  it('3 clients: concurrent transfers from every client give identical chains and conserved balances everywhere', async () => {
    await concurrentTransfers(c, 20, 2);
  });

  it('insufficient funds: FAILED with the balance shown, exit code 1, nothing appended', async () => {
    await converged(c);
    const bal = (await balancesOf(c, 1))['1']!;
    const before = await heights(c);
    const r = await c.ctl(1, 'transfer', '2', dollars(bal + 1));
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(new RegExp(`^FAILED  insufficient balance: client1 has \\$${dollars(bal)}, needs \\$${dollars(bal + 1)}  \\(key [A-Za-z0-9_-]{16}\\)$`));
    const j = await c.ctl(1, 'transfer', '3', dollars(bal + 1), '--json');
    expect(j.code).toBe(1);
    expect(j.json).toMatchObject({ ok: false, status: 'FAILED', reason: 'insufficient', balance: bal, amount: bal + 1 });
    await sleep(200);
    expect(await heights(c)).toEqual(before);
    // the lock was released: the next transfer goes through
    const ok = await c.ctl(1, 'transfer', '2', '0.01');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^SUCCESS {2}block #\d+ {2}client1 -> client2 {2}\$0\.01 {2}key [A-Za-z0-9_-]{16} {2}\(clock \d+, 6 msgs/);
  });

  it('every bad input is a one-line error with nothing sent', async () => {
    await converged(c);
    const before = await heights(c);
    const peersBefore = (await c.raw(1, 'peers')).json.peers.map((p: { id: number; sent: number }) => [p.id, p.sent]);
    const clockBefore = (await c.raw(1, 'status')).json.clock;
    // one of each kind through a real `client ctl` process (exit code and printed line) ...
    const viaCtl: [string[], RegExp][] = [
      [['tranfser', '2', '1'], /^error: unknown command "tranfser" — did you mean "transfer"\?/],
      [['transfer', '2'], /^error: transfer: missing amount — usage: transfer <to> <amount> \[--id <key>\]$/],
      [['transfer', '2', 'abc'], /^error: transfer: invalid amount "abc"/],
      [['transfer', '2', '-5'], /^error: transfer: amount must be positive/],
      [['transfer', '2', '0'], /^error: transfer: amount must be more than zero/],
      [['transfer', '2', '1.234'], /^error: transfer: amount "1.234" has more than 2 decimal places$/],
      [['transfer', '2', '90071992547409.92'], /^error: transfer: amount "90071992547409.92" is too large/],
      [['transfer', '9', '1'], /^error: transfer: unknown recipient "9" — the clients are 1, 2, 3$/],
      [['transfer', '1', '1'], /^error: transfer: cannot transfer to yourself/],
    ];
    // ... and more variants over the same control socket, directly (cheaper than a process each)
    const viaSocket: [string, RegExp][] = [
      ['balanse', /^error: unknown command "balanse" — did you mean "balance"\?/],
      ['xyzzy', /^error: unknown command "xyzzy"/],
      ['transfer', /^error: transfer: missing recipient and amount/],
      ['transfer 2 1 3', /^error: transfer: too many arguments/],
      ['balance 1 2', /^error: balance: too many arguments/],
      ['peers now', /^error: peers: takes no arguments/],
      ['transfer 2 1e3', /^error: transfer: invalid amount "1e3"/],
      ['transfer 2 0x10', /^error: transfer: invalid amount "0x10"/],
      ['transfer 2 NaN', /^error: transfer: invalid amount "NaN"/],
      ['transfer 2 Infinity', /^error: transfer: invalid amount "Infinity"/],
      ['transfer 2 1,000', /^error: transfer: invalid amount "1,000"/],
      ['transfer 2 -0.01', /^error: transfer: amount must be positive/],
      ['transfer 2 $-3', /^error: transfer: amount must be positive/],
      ['transfer 2 0.00', /^error: transfer: amount must be more than zero/],
      ['transfer 2 .001', /^error: transfer: amount ".001" has more than 2 decimal places/],
      ['transfer 2 99999999999999999999', /^error: transfer: amount "99999999999999999999" is too large/],
      ['transfer client7 1', /^error: transfer: unknown recipient "client7"/],
      ['transfer bob 1', /^error: transfer: invalid recipient "bob"/],
      ['transfer 0 1', /^error: transfer: unknown recipient "0"/],
      ['transfer client1 1', /^error: transfer: cannot transfer to yourself/],
    ];
    const results = await Promise.all(viaCtl.map(([words]) => c.ctl(1, ...words)));
    results.forEach((r, i) => {
      const [words, re] = viaCtl[i]!;
      const what = `ctl 1 ${words.join(' ')} -> code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
      expect(r.code, what).toBe(1);
      expect(r.stderr, what).toBe('');
      expect(r.stdout.endsWith('\n') && r.stdout.trimEnd().split('\n').length === 1, what).toBe(true);
      expect(r.stdout.trimEnd(), what).toMatch(re);
    });
    for (const [line, re] of viaSocket) {
      const r = await c.raw(1, line);
      const what = `${line} -> ${JSON.stringify(r)}`;
      expect(r.ok, what).toBe(false);
      expect(r.text.split('\n'), what).toHaveLength(1);
      expect(r.text, what).toMatch(re);
    }
    // --json gives {ok:false,error}
    const j = await c.ctl(1, 'transfer', '2', '1.234', '--json');
    expect(j.code).toBe(1);
    expect(j.json).toMatchObject({ ok: false, error: expect.stringMatching(/more than 2 decimal places/) });
    // nothing was sent: no new block, no message to any peer, the Lamport clock did not move
    await sleep(200);
    expect(await heights(c)).toEqual(before);
    expect((await c.raw(1, 'peers')).json.peers.map((p: { id: number; sent: number }) => [p.id, p.sent])).toEqual(peersBefore);
    expect((await c.raw(1, 'status')).json.clock).toBe(clockBefore);
  });

  it('a second process for a running client is refused with a clear message and the first keeps running', async () => {
    // same data dir: its control socket answers
    const r = await runClientCli(['2', '--no-repl', '--config', c.configPath, '--data-dir', c.dataDir(2)], { timeoutMs: 15_000 });
    expect(r.code).not.toBe(0);
    expect.soft(r.stderr.trim()).toMatch(/^client: .*control\.sock: another client is already running with this data dir/);
    // another data dir: the port is taken
    const dir = makeTempDir();
    const p = await runClientCli(['2', '--no-repl', '--config', c.configPath, '--data-dir', path.join(dir, 'd')], { timeoutMs: 15_000 });
    expect(p.code).not.toBe(0);
    expect.soft(p.stderr.trim()).toMatch(/^client: port in use: .*is client2 already running\?/);
    expect(c.running(2)).toBe(true);
    expect((await c.raw(2, 'status')).json.peersUp).toEqual([1, 3]);
  });

  it('garbage on a peer socket closes that connection; the client keeps running and a transfer still succeeds', async () => {
    const port = c.config.clients[0]!.port;
    const closedWithin = (payload: Buffer): Promise<number> =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const s = net.connect(port, '127.0.0.1', () => s.write(payload));
        s.on('error', () => {});
        s.on('close', () => resolve(Date.now() - started));
        setTimeout(() => {
          s.destroy();
          reject(new Error('client1 kept a garbage connection open for 8 s'));
        }, 8000);
      });
    // random bytes (likely an absurd frame length), and a well-framed body of random bytes
    const body = randomBytes(200);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]);
    await Promise.all([closedWithin(randomBytes(4096)), closedWithin(framed), closedWithin(Buffer.from('GET / HTTP/1.1\r\n\r\n'))]);
    expect(c.running(1)).toBe(true);
    const st = await c.ctl(1, 'status', '--json');
    expect(st.json.peersUp).toEqual([2, 3]);
    const r = await c.ctl(1, 'transfer', '3', '0.02');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SUCCESS/);
    await expectConsistent(c);
  });
});

describe('5 clients', () => {
  it('concurrent transfers from every client give identical chains and conserved balances everywhere', async () => {
    const c = await cluster({ n: 5 });
    await concurrentTransfers(c, 10, 1);
  });
});

describe('start order', () => {
  it('every start order of 3 clients reaches all-peers-up and a transfer succeeds', async () => {
    const orders = [
      [1, 2, 3],
      [1, 3, 2],
      [2, 1, 3],
      [2, 3, 1],
      [3, 1, 2],
      [3, 2, 1],
    ];
    const runOrder = async (order: number[]): Promise<void> => {
      const c = new Cluster({ n: 3 });
      track(c);
      // each client is started only once the previous one answers on its control socket; then
      // every client must report both peers up
      await c.startAll(order);
      // confirmed through a real `client ctl <n> status --json` for the client that started first
      // (it has been redialing longest); startAll already saw both peers up on every client
      const first = await c.ctl(order[0]!, 'status', '--json');
      expect(first.code).toBe(0);
      expect(first.json.peersUp, `order ${order.join(',')}`).toHaveLength(2);
      const from = order[0]!;
      const to = order[2]!;
      const r = await c.raw(from, `transfer ${to} 1.25`, 30_000);
      expect(r.ok, `order ${order.join(',')}: ${r.text}`).toBe(true);
      expect(r.text).toMatch(new RegExp(`^SUCCESS {2}block #1 {2}client${from} -> client${to} {2}\\$1\\.25`));
      expect((await converged(c)).height).toBe(1);
      await c.close();
    };
    // three clusters at a time: most of each start is waiting for redials, not CPU
    await Promise.all([0, 1, 2].map(async (k) => {
      for (const order of [orders[k]!, orders[k + 3]!]) await runOrder(order);
    }));
  });
});

describe('stop and restart', () => {
  /** The height a client reported in client.log when it last started, i.e. what it loaded from disk. */
  const startedAt = (c: Cluster, id: number): number | undefined =>
    c.logRecords(id).filter((r) => r.msg === `client${id} started`).at(-1)?.height as number | undefined;

  it('a stopped (SIGTERM) or killed (SIGKILL) client comes back with its chain from disk and catches up', async () => {
    const c = await cluster({ n: 3 });
    for (const [from, to] of [[1, 2], [2, 3], [3, 1]] as const) {
      const r = await c.ctl(from, 'transfer', String(to), '1');
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    expect((await converged(c)).height).toBe(3);

    // SIGTERM: a clean exit, then the chain comes back from disk
    expect(await c.stop(3)).toEqual({ code: 0, signal: null });
    expect(c.logRecords(3).some((r) => r.msg === 'client3 stopped')).toBe(true);
    await c.start(3);
    expect(startedAt(c, 3)).toBe(3);
    expect((await c.raw(3, 'status')).json.height).toBe(3);
    for (const [from, to] of [[3, 2], [1, 3]] as const) {
      const r = await c.raw(from, `transfer ${to} 0.50`, 30_000);
      expect(r.ok, r.text).toBe(true);
    }
    await expectConsistent(c);

    // SIGKILL: what was written synchronously before the RELEASE went out is there
    await c.kill(2);
    await c.start(2);
    expect(startedAt(c, 2)).toBe(5);
    const r = await c.ctl(2, 'transfer', '1', '0.25');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SUCCESS {2}block #6 /);
    await expectConsistent(c);

    // SIGKILL with a torn last record: the tail is reported and cut, and the block comes back from a peer
    await c.kill(2);
    const chainFile = path.join(c.dataDir(2), 'chain.log');
    truncateSync(chainFile, statSync(chainFile).size - 3);
    await c.start(2);
    expect(startedAt(c, 2)).toBe(5);
    expect(c.logRecords(2).some((x) => /chain file repaired/.test(x.msg)), 'repair logged in client.log').toBe(true);
    expect((await converged(c)).height).toBe(6);
    // the person at the terminal is told too (the daemon emits a notice for it)
    expect.soft(c.output(2), 'the "chain file repaired" notice on the daemon\'s stdout').toMatch(/chain file repaired/);

    // a client whose data dir is gone entirely fetches every block from its peers
    await c.stop(3);
    rmSync(c.dataDir(3), { recursive: true, force: true });
    await c.start(3);
    expect(startedAt(c, 3)).toBe(0);
    const chain = await expectConsistent(c);
    expect(chain.height).toBe(6);
    const bal = await balancesOf(c, 3, true);
    expect(bal).toEqual({ '1': 1000 - 100 + 100 - 50 + 25, '2': 1000 + 100 - 100 + 50 - 25, '3': 1000 + 100 - 100 - 50 + 50 });
    const more = await c.ctl(3, 'transfer', '1', '0.01');
    expect(more.code, more.stdout + more.stderr).toBe(0);
    expect(more.stdout).toMatch(/^SUCCESS {2}block #7 /);
    await expectConsistent(c);
  });
});

describe('a peer that is down', () => {
  it('a transfer issued while a peer is down waits and succeeds when it is back; with --transfer-timeout 2 it fails naming the missing client', async () => {
    const c = await cluster({ n: 3, args: { 1: ['--transfer-timeout', '2'] } });
    await c.stop(3);
    await waitFor('clients 1 and 2 to see client3 down', async () => {
      const s = await Promise.all([1, 2].map(async (id) => (await c.raw(id, 'status')).json.peersUp as number[]));
      return s.every((p) => !p.includes(3));
    });

    // client2 (default timeout 30 s) waits
    const waiting = c.ctl(2, 'transfer', '1', '2.00');
    let settled = false;
    void waiting.then(() => (settled = true));

    // client1 (--transfer-timeout 2) gives up after 2 s, naming client3
    const t0 = Date.now();
    const [r, j] = await Promise.all([c.ctl(1, 'transfer', '2', '1.00'), c.ctl(1, 'transfer', '3', '1.00', '--json')]);
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(/^FAILED {2}timed out after 2 s waiting for client3 to connect/);
    expect(j.code).toBe(1);
    expect(j.json).toMatchObject({ ok: false, status: 'FAILED', reason: 'timeout', error: expect.stringMatching(/waiting for client3/) });
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(10_000);
    // the daemon said whom it waits for
    expect(c.output(2)).toMatch(/waiting for client3 to connect/);
    expect(c.output(1)).toMatch(/waiting for client3 to connect/);

    const st2 = await c.raw(2, 'status');
    expect(st2.json.pendingTransfers).toBe(1);
    expect(settled).toBe(false);
    expect((await heights(c, [1, 2]))).toEqual([0, 0]);

    await c.start(3);
    const w = await waiting;
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).toMatch(/^SUCCESS {2}block #1 {2}client2 -> client1 {2}\$2\.00/);
    // the withdrawn request of client1 left nothing behind: it can transfer again
    const again = await c.ctl(1, 'transfer', '3', '1.00');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^SUCCESS {2}block #2 /);
    const chain = await expectConsistent(c);
    expect(chain.height).toBe(2);
  });
});

describe('piped stdin', () => {
  it('runs the commands in order, prints the results in order and exits 1 at the end of input, as two lines failed', async () => {
    const c = new Cluster({ n: 3 });
    track(c);
    c.writeConfig(await freePorts(3));
    await c.start(2, { waitPeers: false });
    await c.start(3, { waitPeers: false });
    const proc = c.spawnClient(1, { repl: true });
    const stdin = proc.child.stdin!;
    stdin.write('transfer 2 1.50\n');
    stdin.write('tranfer 3 1\n');
    stdin.write('balance all\n');
    stdin.write('t client3 $0.25\n');
    stdin.write('transfer 2 abc\n');
    stdin.end('balance\n');
    const exit = await Promise.race([c.exitOf(1), sleep(30_000).then(() => 'timeout' as const)]);
    expect(exit, c.output(1)).toEqual({ code: 1, signal: null });
    const lines = proc.stdout.trimEnd().split('\n');
    const expected: RegExp[] = [
      /^SUCCESS {2}block #1 {2}client1 -> client2 {2}\$1\.50 {2}key [A-Za-z0-9_-]{16} {2}\(clock \d+, 6 msgs/,
      /^error: unknown command "tranfer" — did you mean "transfer"\?/,
      /^client1 +\$8\.50$/,
      /^client2 +\$11\.50$/,
      /^client3 +\$10\.00$/,
      /^total +\$30\.00$/,
      /^\(this replica at block #1 [0-9a-f]+\)$/,
      /^SUCCESS {2}block #2 {2}client1 -> client3 {2}\$0\.25/,
      /^error: transfer: invalid amount "abc"/,
      /^client1: \$8\.25 {2}\(this replica at block #2\)$/,
    ];
    expect(lines.length, proc.stdout).toBe(expected.length);
    lines.forEach((l, i) => expect(l, `line ${i + 1} of:\n${proc.stdout}`).toMatch(expected[i]!));
    // the others have the blocks too
    const h = await heights(c, [2, 3]);
    expect(h).toEqual([2, 2]);
  });
});

describe('config mismatch', () => {
  it('a client started with different balances (same ports) is refused by the others, and both sides log why', async () => {
    const c = new Cluster({ n: 3, transferTimeoutMs: 1000 });
    track(c);
    const ports = await freePorts(3);
    c.writeConfig(ports);
    const otherConfig = path.join(c.dir, 'other.json');
    const other = JSON.parse(JSON.stringify(c.config));
    other.clients[2].balanceCents = 5000;
    writeFileSync(otherConfig, JSON.stringify(other));
    await c.start(1, { waitPeers: false });
    await c.start(2, { waitPeers: false });
    await c.start(3, { waitPeers: false, config: otherConfig });
    await waitFor('1 and 2 to be up with each other', async () => {
      const [a, b] = await Promise.all([c.raw(1, 'status'), c.raw(2, 'status')]);
      return a.json.peersUp.includes(2) && b.json.peersUp.includes(1);
    });
    const refusalIn = (id: number): boolean =>
      c.logRecords(id).some((r) => /different config/.test(r.msg) && /genesis|cluster/.test(r.msg));
    await waitFor('refusals in every client.log', () => [1, 2, 3].every(refusalIn), 15_000);
    // give client3 a few more redial rounds: it must stay refused
    await sleep(1000);
    const s = await Promise.all([1, 2, 3].map(async (id) => (await c.raw(id, 'status')).json.peersUp as number[]));
    expect(s[0]).toEqual([2]);
    expect(s[1]).toEqual([1]);
    expect(s[2]).toEqual([]);
    // the refusal names client3 on the accepting side and comes back as a refusal on client3's dialing side
    const lines1 = c.logRecords(1).filter((r) => /different config/.test(r.msg)).map((r) => r.msg);
    expect(lines1.some((m) => /client3/.test(m)), lines1.join('\n')).toBe(true);
    const lines3 = c.logRecords(3).filter((r) => /different config/.test(r.msg)).map((r) => r.msg);
    expect(lines3.some((m) => /refused/.test(m)), lines3.join('\n')).toBe(true);
    // no transfer is requested from a subset: each side waits for the missing peers, then times out
    const [r1, r3] = await Promise.all([c.ctl(1, 'transfer', '2', '1', '--json'), c.ctl(3, 'transfer', '1', '1', '--json')]);
    expect(r1.code).toBe(1);
    expect(r1.json).toMatchObject({ status: 'FAILED', reason: 'timeout', error: expect.stringMatching(/client3/) });
    expect(r3.code).toBe(1);
    expect(r3.json).toMatchObject({ status: 'FAILED', reason: 'timeout', error: expect.stringMatching(/client1, client2/) });
    expect(await heights(c)).toEqual([0, 0, 0]);
  }, 40_000);
});

describe('command line', () => {
  /** Each option's help entry of `client --help`, whitespace collapsed, keyed by its long flag. */
  async function helpEntries(): Promise<Map<string, string>> {
    const r = await runClientCli(['--help']);
    expect(r.code).toBe(0);
    const options = r.stdout.split(/\n(?=Options:|Commands:)/).find((x) => x.startsWith('Options:')) ?? '';
    const entries = new Map<string, string>();
    for (const entry of options.split(/\n(?= {2}-)/).slice(1)) {
      const flat = entry.replace(/\s+/g, ' ').trim();
      const long = /--[a-z-]+/.exec(flat)?.[0];
      if (long) entries.set(long, flat);
    }
    return entries;
  }

  it('--help lists every option, with the defaults of --config, --data-dir, --log-level and --transfer-timeout', async () => {
    const entries = await helpEntries();
    for (const opt of ['--config', '--data-dir', '--log-level', '--no-repl', '--json', '--delay', '--snapshot-every', '--transfer-timeout', '--listen', '--no-fsync', '--help']) {
      expect(entries.has(opt), `${opt} in ${[...entries.keys()].join(' ')}`).toBe(true);
    }
    // wording and quoting are the product's choice; the default must be there
    expect(entries.get('--config')).toMatch(/default.*config\/default\.json/);
    expect(entries.get('--data-dir')).toMatch(/default.*data\/client-<n>/);
    expect(entries.get('--log-level')).toMatch(/default: "?info"?/);
    expect(entries.get('--transfer-timeout')).toMatch(/default.*30/);
    expect(entries.get('--listen')).toMatch(/default|instead of the config's host/);
    const ctl = await runClientCli(['ctl', '--help']);
    expect(ctl.code).toBe(0);
    expect(ctl.stdout.replace(/\s+/g, ' ')).toMatch(/--timeout <seconds> .*default: 60/);
  });

  it('--help states the default of --delay and --snapshot-every too (issue 3: "shows every option with its default")', async () => {
    const entries = await helpEntries();
    for (const opt of ['--delay', '--snapshot-every']) {
      expect.soft(entries.get(opt), `client --help: ${opt}`).toMatch(/default|\b(none|off)\b/);
    }
  });

  it('an unknown client number exits non-zero with a clear message', async () => {
    const dir = makeTempDir();
    const cfg = path.join(dir, 'c.json');
    writeFileSync(
      cfg,
      JSON.stringify({ cluster: 'x', clients: [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', port: 1, balanceCents: 100 })).map((x, i) => ({ ...x, port: 40000 + i })) }),
    );
    const r = await runClientCli(['9', '--no-repl', '--config', cfg, '--data-dir', path.join(dir, 'd')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe(`client: unknown client "9": ${cfg} defines clients 1, 2, 3`);
    const ctl = await runClientCli(['ctl', '9', 'status', '--config', cfg]);
    expect(ctl.code).not.toBe(0);
    expect(ctl.stderr).toMatch(/unknown client 9/);
    // no number and no terminal to ask in
    const none = await runClientCli(['--no-repl', '--config', cfg, '--data-dir', path.join(dir, 'd')]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/which client\?/);
    // ctl to a client that is not running
    const down = await runClientCli(['ctl', '1', 'status', '--data-dir', path.join(dir, 'nobody')]);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/client1 is not running/);
  });

  it('a broken config exits non-zero naming the file and the field', async () => {
    const dir = makeTempDir();
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"cluster": "x",\n  "clients": [ // comment\n]}');
    const r1 = await runClientCli(['1', '--no-repl', '--config', bad, '--data-dir', path.join(dir, 'd1')]);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain(bad);
    expect(r1.stderr).toMatch(/invalid JSON at line 2/);

    const port = path.join(dir, 'port.json');
    writeFileSync(
      port,
      JSON.stringify({
        cluster: 'x',
        clients: [
          { id: 1, host: '127.0.0.1', port: 40001, balanceCents: 100 },
          { id: 2, host: '127.0.0.1', port: 'abc', balanceCents: 100 },
        ],
      }),
    );
    const r2 = await runClientCli(['1', '--no-repl', '--config', port, '--data-dir', path.join(dir, 'd2')]);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr.trim()).toBe(`client: ${port}: clients[1].port: must be an integer 1-65535, got "abc"`);

    const missing = path.join(dir, 'nope.json');
    const r3 = await runClientCli(['1', '--no-repl', '--config', missing, '--data-dir', path.join(dir, 'd3')]);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toContain(`${missing}: config file not found`);
  });
});
