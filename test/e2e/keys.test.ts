/**
 * Exactly-once transfers from outside: real clients driven by `client ctl`, a prompt and piped
 * stdin. A transfer key commits at most once, across retries, kill -9 and restarts; a caller that
 * gives up (--timeout, Ctrl-C, SIGTERM, leaving a prompt) withdraws the transfer and is told what
 * became of it, by key.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, type Cluster, Terminal, clustersPerTest, noTerminal, sleep, track, waitFor } from './harness.js';

const { start: cluster } = clustersPerTest();

interface ChainJson {
  blocks: { height: number; txs: { id: string; from: number; to: number; amount: number }[] }[];
}

/** How many times `key` is in client `id`'s chain, read with `client ctl <id> chain 1000 --json`. */
async function timesInChain(c: Cluster, id: number, key: string): Promise<number> {
  const r = await c.ctl(id, 'chain', '1000', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (r.json as ChainJson).blocks.reduce((n, b) => n + b.txs.filter((t) => t.id === key).length, 0);
}

describe('a transfer key commits at most once', () => {
  it('client ctl 1 transfer 2 1 --id K --json, repeated (also after kill -9 and a restart of client 1), answers the same block every time, and K is once in the chain', async () => {
    const c = await cluster({ n: 3 });
    const first = await c.ctlJson(1, 'transfer', '2', '1', '--id', 'K');
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ status: 'SUCCESS', txId: 'K', repeat: false, from: 1, to: 2, amount: 100 });
    const block = first.json.block as number;

    const again = await c.ctlJson(1, 'transfer', '2', '1', '--id', 'K');
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ status: 'SUCCESS', txId: 'K', repeat: true, block });
    // --id=K is the same key.
    const joined = await c.ctlJson(1, 'transfer', '2', '1', '--id=K');
    expect(joined.json).toMatchObject({ status: 'SUCCESS', txId: 'K', repeat: true, block });

    // Other transfers in between: the key's block is not simply the head.
    expect((await c.ctlJson(1, 'transfer', '3', '1')).code).toBe(0);
    await c.kill(1);
    await c.start(1);
    const afterKill = await c.ctlJson(1, 'transfer', '2', '1', '--id', 'K');
    expect(afterKill.code).toBe(0);
    expect(afterKill.json).toMatchObject({ status: 'SUCCESS', txId: 'K', repeat: true, block });
    const text = await c.ctl(1, 'transfer', '2', '1', '--id', 'K');
    expect(text.stdout).toMatch(new RegExp(`^SUCCESS \\(repeat\\)  block #${block}  client1 -> client2  \\$1\\.00  key K  `));

    expect(await timesInChain(c, 1, 'K')).toBe(1);
    expect((await c.ctlJson(1, 'balance', 'all')).json.balances).toEqual({ 1: 800, 2: 1100, 3: 1100 });
    // Asked of another client, the key is another sender's: refused, naming the first.
    const elsewhere = await c.ctlJson(2, 'transfer', '1', '1', '--id', 'K');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.json).toMatchObject({ status: 'FAILED', reason: 'conflict', first: { block, from: 1, to: 2, amount: 100 } });
  });

  it('the same key with another amount exits non-zero, naming the first transfer, and moves nothing', async () => {
    const c = await cluster({ n: 3 });
    expect((await c.ctl(1, 'transfer', '2', '1', '--id', 'rent')).code).toBe(0);
    const other = await c.ctl(1, 'transfer', '2', '2', '--id', 'rent');
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^FAILED  conflict: this key was committed in block #1 as client1 -> client2 \$1\.00; .*\(key rent\)\n$/);
    expect((await c.ctlJson(1, 'balance', 'all')).json.balances).toEqual({ 1: 900, 2: 1100, 3: 1000 });
  });

  it('a key that is not one is refused before anything is sent', async () => {
    const c = await cluster({ n: 2 });
    const r = await c.ctl(1, 'transfer', '2', '1', '--id', 'a/b');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('error: transfer: invalid key "a/b" — a key is 1-64 characters of A-Z a-z 0-9 . _ : -\n');
  });
});

describe('giving up is explicit', () => {
  const stopped: number[] = [];
  afterEach(() => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  });

  it('with client2 stopped (SIGSTOP), ctl --timeout 2 exits non-zero printing the key; after SIGCONT, tx --json says committed or withdrawn, and the chain agrees', async () => {
    const c = await cluster({ n: 3 });
    const pid = c.child(2).pid!;
    process.kill(pid, 'SIGSTOP');
    stopped.push(pid);
    const r = await c.ctl(1, 'transfer', '3', '1', '--id', 'K2', '--timeout', '2');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('K2');
    expect(r.stdout).toMatch(/^WITHDRAWN  client1 -> client3  \$1\.00  key K2  \(nothing moved\)\n$/);
    expect(r.stderr).toMatch(/^client: no answer from client1 within 2 s while in a lock round, waiting for the lock: [^;]*client2[^;]*; the transfer was withdrawn, nothing moved; ask again with: client ctl 1 tx K2\n$/);
    process.kill(pid, 'SIGCONT');
    stopped.pop();
    // The lock round it had started ends; the cluster commits again.
    await waitFor('client 2 to answer again', async () => (await c.raw(2, 'status')).ok);
    expect((await c.ctlJson(2, 'transfer', '3', '1')).json).toMatchObject({ status: 'SUCCESS' });
    await sleep(300);
    const tx = await c.ctlJson(1, 'tx', 'K2');
    expect(tx.code).toBe(0);
    expect(['committed', 'withdrawn']).toContain(tx.json.state);
    expect(await timesInChain(c, 1, 'K2')).toBe(tx.json.state === 'committed' ? 1 : 0);
    expect(await timesInChain(c, 3, 'K2')).toBe(tx.json.state === 'committed' ? 1 : 0);
  });

  it('Ctrl-C (SIGINT) on ctl waiting for a transfer withdraws it: WITHDRAWN with the key, exit 130, and it never commits later', async () => {
    const c = await cluster({ n: 3 });
    await c.stop(3);
    const child = spawn(process.execPath, [BIN, 'ctl', '1', 'transfer', '2', '1', '--id', 'K3', '--data-dir', c.dataDir(1)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the transfer to be queued on client 1', async () => (await c.raw(1, 'tx K3')).json.state === 'pending');
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(stdout).toBe('WITHDRAWN  client1 -> client2  $1.00  key K3  (nothing moved)\n');
    expect(stderr).toBe('client: interrupted (Ctrl-C) while queued, waiting for client3 to connect; the transfer was withdrawn, nothing moved; ask again with: client ctl 1 tx K3\n');
    await c.start(3);
    expect((await c.ctlJson(1, 'transfer', '2', '1', '--id', 'other')).json).toMatchObject({ status: 'SUCCESS', block: 1 });
    expect(await timesInChain(c, 1, 'K3')).toBe(0);
    expect((await c.ctlJson(1, 'tx', 'K3')).json).toEqual({ state: 'withdrawn', txId: 'K3', from: 1, to: 2, amount: 100 });
  });

  it('a client stopped (SIGTERM) while a ctl transfer waits answers it WITHDRAWN, with the key, instead of dropping the connection', async () => {
    const c = await cluster({ n: 3 });
    await c.stop(3);
    const waiting = c.ctl(1, 'transfer', '2', '1', '--id', 'K4');
    await waitFor('the transfer to be queued on client 1', async () => (await c.raw(1, 'tx K4')).json.state === 'pending');
    await c.stop(1);
    const r = await waiting;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('WITHDRAWN  client1 -> client2  $1.00  key K4  (nothing moved)\n');
  });

  it('piped input ended by SIGTERM with a transfer pending says WITHDRAWN with its key, not that the client shut down before an answer', async () => {
    const c = await cluster({ n: 2 });
    await c.stop(1);
    await c.stop(2);
    const proc = c.spawnClient(1, { repl: true });
    proc.child.stdin!.write('transfer 2 1 --id K5\n');
    await waitFor('the transfer to be queued on client 1', async () => (await c.raw(1, 'tx K5').catch(() => ({ json: {} }))).json.state === 'pending');
    proc.child.kill('SIGTERM');
    await proc.exit;
    expect(proc.stdout).toContain('WITHDRAWN  client1 -> client2  $1.00  key K5  (nothing moved)');
    expect(proc.stdout + proc.stderr).not.toContain('shut down before an answer came');
  });
});

const missing = noTerminal();

describe.skipIf(missing !== null)('leaving a prompt with transfers pending', () => {
  const terminals: Terminal[] = [];
  afterEach(async () => {
    await Promise.all(terminals.splice(0).map((t) => t.close()));
  });

  it.each([
    ['exit', 'exit\r'],
    ['Ctrl-D', '\u0004'],
  ])('%s withdraws each pending transfer and says so, with its key', async (_how, keys) => {
    const c = await cluster({ n: 2 });
    await c.stop(1);
    await c.stop(2);
    const t = Terminal.start(['1', '--config', c.configPath, '--data-dir', c.dataDir(1)]);
    terminals.push(t);
    let at = await t.waitFor('client1> ');
    t.type('transfer 2 1 --id A\r');
    at = await t.waitFor('waiting for client2 to connect', at);
    t.type('transfer 2 2 --id B\r');
    at = await t.waitFor('client1> ', at);
    await sleep(200);
    t.type(keys);
    at = await t.waitFor('WITHDRAWN  client1 -> client2  $1.00  key A  (nothing moved)', at - 10);
    await t.waitFor('WITHDRAWN  client1 -> client2  $2.00  key B  (nothing moved)');
    expect(await t.exit).toEqual({ code: 0, signal: null });
    expect(t.screen).not.toContain('shut down before an answer came');
  });
});
