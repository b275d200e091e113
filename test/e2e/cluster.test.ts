/**
 * The one-terminal modes, run as a user would: command files (the examples, and one whose expect
 * fails), the random workload with its summary, and the cluster REPL fed through stdin.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts, runClientCli } from './harness.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** The CLI as a user runs it (the harness kills it if it hangs). */
async function run(args: string[], input?: string, timeoutMs = 60_000): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runClientCli(args, { timeoutMs, ...(input === undefined ? {} : { input }) });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('client cluster run FILE', () => {
  for (const example of readdirSync('examples').filter((f) => f.endsWith('.txt'))) {
    it(`runs examples/${example} and every expect holds`, async () => {
      const r = await run(['cluster', 'run', path.join('examples', example)]);
      expect(r.err).toBe('');
      expect(r.out).toContain('every expect held');
      expect(r.code).toBe(0);
    });
  }

  it('examples/snapshot-in-flight.txt prints the snapshot with the messages it caught in flight, and where its diagram is', async () => {
    const temporary = await run(['cluster', 'run', 'examples/snapshot-in-flight.txt']);
    expect(temporary.code, temporary.err).toBe(0);
    expect(temporary.out).toMatch(/^ {2}client1: snapshot 1\.1 \(started by client1 at /m);
    expect(temporary.out).toMatch(/^ {4}in flight:\n {6}\d -> \d {2}(REQUEST|REPLY) ts=\d+ at #0\n {6}\d -> \d {2}(REQUEST|REPLY) ts=\d+ at #0\n/m);
    expect(temporary.out).toMatch(/^ {2}ok: snapshot 1\.1 had 2 messages in flight \(/m);
    expect(temporary.out).toContain('diagram of snapshot 1.1: not kept, the data dir is temporary; client cluster run examples/snapshot-in-flight.txt --data-dir <dir> keeps the data and draws it there');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'll-in-flight-'));
    temps.push(dir);
    const kept = await run(['cluster', 'run', 'examples/snapshot-in-flight.txt', '--data-dir', dir]);
    expect(kept.code, kept.err).toBe(0);
    const html = path.join(dir, 'snapshot-1.1.html');
    expect(kept.out).toContain(`diagram of snapshot 1.1: ${html} (its cut, and the messages that cross it)`);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain('snapshot 1.1');
  });

  it('says which expectation about what was in flight did not hold, and what the snapshot had', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'll-script-'));
    temps.push(dir);
    const file = path.join(dir, 'quiet.txt');
    writeFileSync(file, '1 snapshot\nexpect snapshot in flight 0\nexpect snapshot in flight at least 1\n');
    const r = await run(['cluster', 'run', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('  ok: snapshot 1.1 had 0 messages in flight');
    expect(r.err).toContain('quiet.txt:3: expect failed: snapshot 1.1 had 0 messages in flight, expected at least 1 message');
  });

  it('fails with the line and the reason when an expect does not hold', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'll-script-'));
    temps.push(dir);
    const file = path.join(dir, 'wrong.txt');
    writeFileSync(file, '1 transfer 2 1.00\nexpect all balance 2 99.00\n2 transfer 1 1.00\n');
    const r = await run(['cluster', 'run', file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/wrong\.txt:2: expect failed: client\d sees client2 at \$11\.00, expected \$99\.00/);
    expect(r.out).not.toContain('> 2 transfer 1 1.00');
  });
});

describe('client cluster --auto', () => {
  it('runs a random workload with snapshots and prints a conserving summary', async () => {
    const r = await run(['cluster', '3', '--auto', '40', '--duration', '2', '--snapshot-every', '0.5', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(summary.conserved).toBe(true);
    expect(summary.chainsIdentical).toBe(true);
    expect(summary.committed as number).toBeGreaterThan(20);
    expect(summary.snapshots as number).toBeGreaterThan(0);
    expect(summary.snapshotsVerified).toBe(summary.snapshots);
    expect(r.out).toMatch(/conserved yes; chains identical yes/);
  });
});

describe('the cluster REPL', () => {
  it('addresses one client, all clients, and a default set with use', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'll-repl-'));
    temps.push(dir);
    const r = await run(['cluster', '3', '--data-dir', dir], ['1 transfer 2 5', 'all balance 2', 'use 3', 'balance', '9 balance', 'exit', ''].join('\n'));
    expect(r.out).toMatch(/SUCCESS\s+block #1\s+client1 -> client2\s+\$5\.00/);
    expect(r.out.match(/client2: \$15\.00/g)?.length).toBe(3);
    expect(r.out).toContain('client3: $10.00');
    expect(r.out).toContain('error: unknown client "9" — the clients are 1, 2, 3');
    // One line failed (client 9), so piped input ends with exit status 1.
    expect(r.code).toBe(1);
  });
});

describe('protected mode', () => {
  it('refuses to listen beyond loopback without a cluster secret, and says how to fix it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'll-protected-'));
    temps.push(dir);
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ cluster: 'p', clients: [{ id: 1, host: '127.0.0.1', port: 1, balanceCents: 0 }, { id: 2, host: '127.0.0.1', port: 2, balanceCents: 0 }] }));
    const r = await run(['1', '--no-repl', '--listen', '0.0.0.0', '--config', config, '--data-dir', path.join(dir, 'd1')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^client: client1 would listen on 0\.0\.0\.0, reachable from other machines, without a cluster secret\. Set "secret" in .* or LAMPORT_LEDGER_SECRET .* or pass --insecure/);
  });
});

/** A config of two clients where client 2 never comes (port 1), and client 1's data dir in a temp dir. */
async function aloneClient(prefix: string): Promise<{ config: string; data: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  const config = path.join(dir, 'config.json');
  const [port] = await freePorts(1);
  writeFileSync(config, JSON.stringify({ cluster: 'alone', clients: [{ id: 1, host: '127.0.0.1', port, balanceCents: 100 }, { id: 2, host: '127.0.0.1', port: 1, balanceCents: 0 }] }));
  return { config, data: path.join(dir, 'd1') };
}

describe('a client alone, driven through piped stdin', () => {
  it('lists a corrupt saved snapshot as unreadable and answers show with an error, without crashing', async () => {
    const { config, data } = await aloneClient('ll-alone-');
    mkdirSync(path.join(data, 'snapshots'), { recursive: true });
    writeFileSync(path.join(data, 'snapshots', '1.1.json'), '{not json');
    writeFileSync(path.join(data, 'snapshots', '1.2.json'), '{"id":"1.2"}');
    const r = await run(['1', '--config', config, '--data-dir', data], 'snapshots\nsnapshot show 1.2\nbalance\n');
    // `snapshot show 1.2` failed: piped input ends with exit status 1.
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^1\.1 .*\(unreadable file\)$/);
    expect(lines[1]).toMatch(/^1\.2 .*\(unreadable file\)$/);
    expect(lines[2]).toBe('no saved snapshot 1.2, or its file is unreadable (type snapshots to list them)');
    expect(lines[3]).toMatch(/^client1: \$1\.00/);
  });

  it('lists and prints a snapshot saved before channel digests, with the checks it was verified by then', async () => {
    const { config, data } = await aloneClient('ll-old-');
    mkdirSync(path.join(data, 'snapshots'), { recursive: true });
    // As the previous format saved it: channel counts without digests, the five checks of then.
    const head = 'ab'.repeat(32);
    const state = (node: number, peer: number) => ({ node, clock: 4, height: 0, head, balances: { '1': 100, '2': 0 }, pendingBlocks: [], queue: [], channels: [{ peer, sent: 1, received: 1 }] });
    const checks = [
      ['channel counts', 'every channel holds sent - received (0 in flight)'], ['sent before the cut', 'every message in flight was sent before its sender recorded'],
      ['lock queues', 'every queue agrees with the requests and releases in flight'], ['money', '$1.00 conserved on every replica, no negative balance'], ['one history', 'every replica reaches #0'],
    ].map(([name, detail]) => ({ name, ok: true, detail, problems: [] }));
    writeFileSync(path.join(data, 'snapshots', '1.3.json'), JSON.stringify({
      id: '1.3', initiator: 1, verified: true, verdict: 'verified: 5 checks passed, $1.00 conserved, replicas at #0 abababab', takenAt: '2026-11-27T09:46:45.051Z', elapsedMs: 3.2, markers: 2,
      nodes: [state(1, 2), state(2, 1)], channels: [{ from: 1, to: 2, messages: [] }, { from: 2, to: 1, messages: [] }],
      verification: { ok: true, total: 100, checks, problems: [], head: { height: 0, hash: head }, behind: [] },
    }));
    const r = await run(['1', '--config', config, '--data-dir', data], 'snapshots\nsnapshot show 1.3\n');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('1.3      2026-11-27T09:46:45.051Z  verified: 5 checks passed, $1.00 conserved, replicas at #0 abababab');
    expect(lines[1]).toBe('snapshot 1.3 (started by client1 at 2026-11-27T09:46:45.051Z, 3.2 ms, 2 markers)');
    expect(lines).toContain('  [ok]     channel counts       every channel holds sent - received (0 in flight)');
    expect(lines).toContain('  [ok]     lock queues          every queue agrees with the requests and releases in flight');
    expect(lines.at(-1)).toBe('verified: 5 checks passed, $1.00 conserved, replicas at #0 abababab');
  });

  it('takes client ids as 2 or client2, and nothing else', async () => {
    const bad = await run(['ctl', '0x2', 'status']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown client "0x2"');
    const named = await run(['ctl', 'client7', 'status', '--data-dir', path.join(os.tmpdir(), 'll-nothing-here')]);
    expect(named.code).toBe(2);
    expect(named.err).toContain('client7 is not running');
  });
});

