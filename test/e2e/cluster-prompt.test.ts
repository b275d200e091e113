/**
 * The one-terminal cluster as a newcomer meets it: lines piped into `client cluster` (what
 * `npm start` runs), the prompt's own commands (help, use, ps, stop, start, restart), answers in
 * client order, a cluster started while the clients of its config already run (refused, or
 * --attach), --fresh, and command files checked before anything starts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, Cluster, ROOT, clustersPerTest, controlRequest, freePorts, killProcessesMentioning, makeTempDir, runClientCli, waitFor } from './harness.js';

const clusters = clustersPerTest();

/** `client <args>` with `input` piped in, to the end. */
async function piped(args: readonly string[], input: string, timeoutMs = 90_000): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runClientCli(args, { input, timeoutMs });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** A config of `n` clients on free loopback ports, as config/default.json is for `npm start`. */
async function configFile(dir: string, n = 3): Promise<string> {
  const ports = await freePorts(n);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ cluster: `prompt-${path.basename(dir)}`, clients: ports.map((port, i) => ({ id: i + 1, host: '127.0.0.1', port, balanceCents: 1000 })) }));
  return file;
}

describe('piped input to the cluster (npm start, client cluster)', () => {
  it('runs every line in order, waits for each answer, and exits 0 when all succeeded', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir);
    // What `npm start` runs, on a config of free ports and a temporary data root.
    const r = await piped(['cluster', '--config', config, '--data-dir', dir], '1 transfer 2 5\n2 transfer 3 1\nall balance\n');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    // Every answer names the client that gave it, once.
    expect(lines[0]).toMatch(/^client1: SUCCESS {2}block #1 {2}client1 -> client2 {2}\$5\.00/);
    expect(lines[1]).toMatch(/^client2: SUCCESS {2}block #2 {2}client2 -> client3 {2}\$1\.00/);
    expect(lines.slice(2)).toEqual([
      'client1: $5.00  (this replica at block #2)',
      'client2: $14.00  (this replica at block #2)',
      'client3: $11.00  (this replica at block #2)',
    ]);
    // What the cluster and its clients say goes to stderr, apart from the answers.
    expect(r.err).toContain('cluster of 3 clients is up');
    expect(r.err).not.toMatch(/ECONNRESET|cannot be reached|closed the control connection/);
  });

  it('starts in at most 3 lines, without the daemon-mode hint of a client started alone', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '3', '--data-dir', dir], 'balance\n');
    expect(r.code, r.err).toBe(0);
    const lines = r.err.split('\n');
    const up = lines.findIndex((l) => l.startsWith('cluster of 3 clients is up'));
    expect(up, r.err).toBeGreaterThanOrEqual(0);
    expect(up, r.err).toBeLessThanOrEqual(2);
    expect(r.err).not.toContain('daemon mode');
    expect(r.err).not.toContain('client ctl');
  });

  it('goes on after a failed line and exits 1; exit ends the input early', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '3', '--data-dir', dir], '1 tranfer 2 5\n9 balance\n1 transfer 2 100\n1 transfer 2 1\nexit\n2 balance\n');
    expect(r.code, r.err).toBe(1);
    expect(r.out.trimEnd().split('\n')).toEqual([
      'error: unknown command "tranfer" — did you mean "transfer"? (type help)',
      'error: unknown client "9" — the clients are 1, 2, 3',
      expect.stringMatching(/^client1: FAILED {2}insufficient balance: client1 has \$10\.00, needs \$100\.00 {2}\(key [A-Za-z0-9_-]{16}\)$/),
      expect.stringMatching(/^client1: SUCCESS {2}block #1 {2}client1 -> client2 {2}\$1\.00/),
    ]);
  });

  it('prints one line per client for a snapshot with nothing in flight that verified; one client\'s in full', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '3', '--data-dir', dir], 'all snapshot\n2 snapshot\n');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([1, 2, 3].map((id) => expect.stringMatching(new RegExp(`^client${id}: snapshot ${id}\\.1: nothing in flight; verified: .*replicas at #0 [0-9a-f]{8}$`))));
    // Asked of one client, the snapshot comes whole: its tables, its channels, its checks.
    expect(lines[3]).toMatch(/^client2: snapshot 2\.2 \(started by client2 at /);
    expect(lines.length).toBeGreaterThan(10);
  });
});

describe('one language at the prompt and in command files', () => {
  it('piped: & runs a line without waiting; settle, sleep and expect as in a file; a failed expect is a failed line', async () => {
    const dir = makeTempDir();
    const input = ['1 transfer 2 1 &', '2 transfer 3 1 &', '3 transfer 1 1 &', 'settle', 'expect converged', 'sleep 10', 'wait 10', 'expect all height 3', 'expect all balance 2 10', 'expect 1 height 9', 'all balance', ''].join('\n');
    const r = await piped(['cluster', '3', '--data-dir', dir], input);
    expect(r.code, r.err).toBe(1);
    const out = r.out;
    expect(out.match(/^client\d: SUCCESS /gm)).toHaveLength(3);
    expect(out).toMatch(/^settled: nothing pending, every chain at #3 [0-9a-f]{8}$/m);
    expect(out).toMatch(/^ok: every chain at #3 [0-9a-f]{8}$/m);
    expect(out).toContain('ok: height 3');
    expect(out).toContain('ok: client2 has $10.00');
    expect(out).toContain('expect failed: client1 is at height 3, expected 9');
    // It went on after the failed expect.
    expect(out).toContain('client3: $10.00  (this replica at block #3)');
  });

  it('a command file takes use, bare commands, ps, stop and start; help and clear say why they are not for a file', async () => {
    const dir = makeTempDir();
    const good = path.join(dir, 'good.txt');
    writeFileSync(good, ['use 2', 'transfer 3 1', 'expect ok', 'stop 3', 'ps', '1 transfer 2 1 &', 'start 3', 'settle', 'expect 3 height 2', 'expect all balance 3 11', ''].join('\n'));
    const r = await runClientCli(['cluster', 'run', good], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}client2: SUCCESS {2}block #1 {2}client2 -> client3/m);
    expect(r.stdout).toMatch(/^ {2}client3 stopped \(its data stays in /m);
    expect(r.stdout).toMatch(/^ {2}client3 +stopped \d+ s ago/m);
    expect(r.stdout).toMatch(/^ {2}client3 started \(pid \d+\); it catches up from its peers$/m);
    expect(r.stdout).toContain('every line ran, every expect held');

    const bad = path.join(dir, 'bad.txt');
    writeFileSync(bad, 'help\nclear\n1 exit\n');
    const refused = await runClientCli(['cluster', 'run', bad], { timeoutMs: 30_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toEqual([
      `client cluster: ${bad}:1: help lists the commands at the prompt; a command file has no one to read it (client cluster --help, or docs/CLUSTER.md)`,
      `client cluster: ${bad}:2: clear clears the prompt's screen; a command file has none`,
      `client cluster: ${bad}:3: exit would leave the prompt; to stop client1, type stop 1`,
      `client: 3 problems in ${bad}; nothing was started`,
    ]);
  });
});

describe('two configs in one directory', () => {
  it('keep their data apart: one with its own dataDir, then one without, both start and commit', async () => {
    const dir = makeTempDir();
    const ports = await freePorts(6);
    const config = (name: string, at: number[], extra: Record<string, unknown>): string => {
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify({ cluster: name, ...extra, clients: at.map((port, i) => ({ id: i + 1, host: '127.0.0.1', port, balanceCents: 1000 })) }));
      return file;
    };
    const five = config('five', ports.slice(0, 3), { dataDir: 'data/five' });
    const plain = config('plain', ports.slice(3), {});
    const first = await runClientCli(['cluster', '--config', five], { cwd: dir, input: '1 transfer 2 1\n', timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`starting 3 clients (config ${five}, data in data/five)...`);
    expect(existsSync(path.join(dir, 'data', 'five', 'client-1', 'chain.log'))).toBe(true);
    const second = await runClientCli(['cluster', '--config', plain], { cwd: dir, input: '1 transfer 2 2\n', timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(existsSync(path.join(dir, 'data', 'client-1', 'chain.log'))).toBe(true);
    const again = await runClientCli(['cluster', '--config', five], { cwd: dir, input: 'balance\n', timeoutMs: 60_000 });
    expect(again.stdout).toBe('client1: $9.00  (this replica at block #1)\n');
  });
});

describe('trace on at the cluster prompt', () => {
  it('piped: prints every client\'s messages, each after its client, before the answer of the line that caused them; trace off stops them', async () => {
    const dir = makeTempDir();
    // What `printf 'trace on\n1 transfer 2 1\nsettle\nall balance\n' | npm start` runs, on a config of free ports.
    const config = await configFile(dir);
    const r = await piped(['cluster', '--config', config, '--data-dir', dir], 'trace on\n1 transfer 2 1\nsettle\nall balance\ntrace off\n2 transfer 3 1\n');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe('tracing messages of every client, each line after its client: -> sent, <- received (trace off to stop)');
    // The lines a client's own `trace on` prints, after the client's name.
    for (const line of [
      '[client1] -> REQUEST ts=1 at #0 to client2',
      '[client1] -> REQUEST ts=1 at #0 to client3',
      '[client2] <- REQUEST ts=1 at #0 from client1, clock 0 -> 2',
      '[client3] -> REPLY ts=3 at #0 to client1',
      '[client1] == entered the critical section at ts=6 on #0',
      '[client1] == left the critical section, block #1 committed',
    ]) {
      expect(lines, r.out).toContain(line);
    }
    expect(lines.filter((l) => /^\[client[23]\] <- RELEASE ts=6 block #1 [0-9a-f]{8} by 1 \(1->2 \$1\.00\) from client1, clock 3 -> 7$/.test(l)), r.out).toHaveLength(2);
    const success = lines.findIndex((l) => /^client1: SUCCESS {2}block #1 /.test(l));
    expect(success, r.out).toBeGreaterThan(lines.indexOf('[client1] == left the critical section, block #1 committed'));
    expect(lines.slice(success + 2, success + 5)).toEqual(['client1: $9.00  (this replica at block #1)', 'client2: $11.00  (this replica at block #1)', 'client3: $10.00  (this replica at block #1)']);
    // After trace off, the next transfer prints its answer alone.
    const off = lines.indexOf('tracing is off');
    expect(off, r.out).toBeGreaterThan(success);
    expect(lines.slice(off + 1)).toEqual([expect.stringMatching(/^client2: SUCCESS {2}block #2 {2}client2 -> client3 {2}\$1\.00/)]);
    // The clients' own lines still go to stderr, apart from the answers and the trace.
    expect(r.err).toContain('cluster of 3 clients is up');
    expect(r.err).not.toContain('-> REQUEST');
  });

  it('traces one client with <n> trace on; a command file takes trace on too', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '3', '--data-dir', dir], '2 trace on\n1 transfer 3 1\n');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('tracing messages of client2, each line after its client');
    expect(r.out).toContain('[client2] <- REQUEST ts=1 at #0 from client1, clock 0 -> 2');
    expect(r.out).not.toContain('[client1]');
    expect(r.out).not.toContain('[client3]');

    const file = path.join(dir, 'traced.txt');
    writeFileSync(file, 'trace on\n3 transfer 1 1\nexpect ok\n');
    const run = await runClientCli(['cluster', 'run', file], { timeoutMs: 90_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}\[client3\] -> REQUEST ts=1 at #0 to client1$/m);
    expect(run.stdout).toMatch(/^ {2}\[client1\] <- REQUEST ts=1 at #0 from client3, clock 0 -> 2$/m);
  });

  it('with --json every line is JSON: answers, traced events, errors, and what the cluster says', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '3', '--data-dir', dir, '--json'], 'trace on\n1 transfer 2 1\n1 tranfer 2 1\nexpect 1 height 9\nstop 3\n3 balance\nsettle\n');
    expect(r.code).toBe(1);
    const values = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(values[0]).toEqual({ ok: true, said: expect.stringMatching(/^tracing messages of every client/) });
    expect(values).toContainEqual({ client: 1, trace: expect.objectContaining({ kind: 'send', to: 2, type: 'REQUEST', desc: 'REQUEST ts=1 at #0' }) });
    expect(values).toContainEqual({ client: 1, answer: expect.objectContaining({ type: 'transfer', ok: true, block: 1 }) });
    expect(values).toContainEqual({ ok: false, error: 'unknown command "tranfer" — did you mean "transfer"? (type help)' });
    expect(values).toContainEqual({ ok: false, error: 'expect failed: client1 is at height 1, expected 9' });
    expect(values).toContainEqual({ ok: true, said: `client3 stopped (its data stays in ${dir}/client-3)` });
    expect(values).toContainEqual({ client: 3, ok: false, error: 'client3 is not running (stopped); start 3 starts it' });
    expect(values).toContainEqual({ ok: false, error: expect.stringMatching(/^settle failed: client3 is not running/) });
  });
});

describe('the cluster prompt\'s own commands', () => {
  it('help lists them, help use explains one, bare use says where commands go', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '2', '--data-dir', dir], 'help\nhelp use\nhelp transfer\nuse\nuse 2\nuse\nbalance\nhelp pss\n');
    expect(r.code, r.err).toBe(1);
    for (const usage of ['<n> <command>', 'all <command>', 'use [<n>]', 'ps', 'stop <n>... | all', 'start <n>... | all', 'restart <n>... | all', 'exit', 'transfer <to> <amount>']) {
      expect(r.out).toContain(`\n  ${usage}`);
    }
    expect(r.out).toMatch(/^use \[<n>\]\n {2}the client a bare command goes to/m);
    expect(r.out).toMatch(/^transfer <to> <amount> \[--id <key>\]\n {2}move money/m);
    expect(r.out).toContain('bare commands go to client1 (use <n> sends them to client n)');
    expect(r.out).toContain('bare commands go to client2 (use <n> sends them to client n)');
    expect(r.out).toContain('client2: $10.00  (this replica at block #0)');
    expect(r.out).toContain('error: help: no command "pss" — did you mean "ps"? (type help)');
    expect(r.out).not.toContain('unknown command "use"');
  });

  it('ps, stop, start and restart a client, its data kept; a stopped client says so', async () => {
    const dir = makeTempDir();
    const input = ['1 transfer 2 2', 'ps', 'stop 2', 'ps', '2 balance', 'start 2', '2 balance all', 'restart 3', 'ps', '3 balance 1', 'stop 9', ''].join('\n');
    const r = await piped(['cluster', '3', '--data-dir', dir], input);
    expect(r.code, r.err).toBe(1);
    const out = r.out;
    expect(out).toMatch(/^client {3}status +pid +address +data dir$/m);
    expect(out).toMatch(new RegExp(`^client2 +up \\d+ s +\\d+ +127\\.0\\.0\\.1:\\d+ +${dir.replace(/[.]/g, '\\.')}/client-2$`, 'm'));
    expect(out).toContain(`client2 stopped (its data stays in ${dir}/client-2)`);
    expect(out).toMatch(/^client2 +stopped \d+ s ago +- /m);
    expect(out).toContain('client2 is not running (stopped); start 2 starts it');
    expect(out).not.toContain('error: is not running');
    expect(out).toMatch(/^client2 started \(pid \d+\); it catches up from its peers$/m);
    // Its chain survived the stop: the transfer made before is still in its replica.
    expect(out).toMatch(/^client2: client1 +\$8\.00$/m);
    expect(out).toMatch(/^client3 restarted \(pid \d+\)$/m);
    expect(out).toContain('client3: client1: $8.00  (this replica at block #1)');
    expect(out).toContain('error: stop: unknown client "9" — the clients are 1, 2, 3');
    expect(existsSync(path.join(dir, 'client-2', 'chain.log'))).toBe(true);
  });

  it('answers `all ...` in client order, not in the order the answers arrive', async () => {
    const dir = makeTempDir();
    const child = spawn(process.execPath, [BIN, 'cluster', '3', '--data-dir', dir], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let paused: number | null = null;
    try {
      child.stdin.write('ps\n');
      const row = await waitFor('ps to list client1', () => /^client1 +up \d+ s +(\d+) /m.exec(out));
      // client1 answers last: it is paused until client2 and client3 have had time to answer.
      paused = Number(row[1]);
      // Every client the cluster starts runs with a young generation of 8 MiB a semi-space.
      expect(readFileSync(`/proc/${paused}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=8');
      process.kill(paused, 'SIGSTOP');
      out = '';
      child.stdin.write('all balance\n');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(out).toBe('');
      process.kill(paused, 'SIGCONT');
      paused = null;
      child.stdin.end();
      expect(await exit).toBe(0);
      expect(out.trimEnd().split('\n')).toEqual(['client1: $10.00  (this replica at block #0)', 'client2: $10.00  (this replica at block #0)', 'client3: $10.00  (this replica at block #0)']);
    } finally {
      if (paused !== null) process.kill(paused, 'SIGCONT');
      killQuietly(child);
    }
  });

  it('says when a client died, and start brings it back', async () => {
    const dir = makeTempDir();
    const child = spawn(process.execPath, [BIN, 'cluster', '3', '--data-dir', dir], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      child.stdin.write('ps\n');
      const row = await waitFor('ps to list client2', () => /^client2 +up \d+ s +(\d+) /m.exec(out));
      process.kill(Number(row[1]), 'SIGKILL');
      await waitFor('the cluster to say client2 exited', () => err.includes('[client2] exited (SIGKILL); start 2 starts it again'));
      child.stdin.write('2 balance\nall balance 1\nstart 2\n2 balance\n');
      child.stdin.end();
      expect(await exit, err).toBe(1);
      // After the 4 lines of ps:
      const after = out.trimEnd().split('\n').slice(4);
      expect(after).toEqual([
        'client2 is not running (it exited: SIGKILL); start 2 starts it',
        'client1: $10.00  (this replica at block #0)',
        'client2 is not running (it exited: SIGKILL); start 2 starts it',
        'client3: client1: $10.00  (this replica at block #0)',
        expect.stringMatching(/^client2 started \(pid \d+\); it catches up from its peers$/),
        'client2: $10.00  (this replica at block #0)',
      ]);
    } finally {
      killQuietly(child);
    }
  });
});

function killQuietly(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

describe('a cluster started while the clients of its config already run', () => {
  it('refuses, starting nothing, and says how to attach; --attach drives them and leaves them running', async () => {
    const c = await clusters.start({ n: 3, layout: 'cluster' });
    const refused = await piped(['cluster', '--config', c.configPath, '--data-dir', c.dir], 'all balance\n');
    expect(refused.code).toBe(1);
    expect(refused.err.trim()).toBe(
      `client: the clients of ${c.configPath} (client1, client2, client3) are already running with data in ${c.dir}, started elsewhere; nothing was started. ` +
        'Stop them first, or drive them from here with --attach (npm start -- --attach).',
    );
    expect(refused.out).toBe('');
    expect(c.ids.map((id) => c.running(id))).toEqual([true, true, true]);

    const attached = await piped(['cluster', '--config', c.configPath, '--data-dir', c.dir, '--attach'], '1 transfer 2 3\nall balance 2\nps\nstop 1\n');
    expect(attached.code, attached.err).toBe(1);
    expect(attached.err).toContain('attaching to client1, client2, client3 (already running, started elsewhere: exit leaves them running)');
    expect(attached.err).toContain('left running: client1, client2, client3 (started elsewhere)');
    expect(attached.out).toMatch(/^client1: SUCCESS {2}block #1 {2}client1 -> client2 {2}\$3\.00/m);
    expect(attached.out).toContain('client1: client2: $13.00  (this replica at block #1)\nclient2: $13.00  (this replica at block #1)\nclient3: client2: $13.00  (this replica at block #1)');
    expect(attached.out).toMatch(/^client1 +up \(started elsewhere\) +- /m);
    expect(attached.out).toContain('error: client1 was started elsewhere: stop it where it runs');
    // Still running, and still answering, after the attached prompt left.
    expect(c.ids.map((id) => c.running(id))).toEqual([true, true, true]);
    expect((await c.raw(3, 'balance 2')).text).toBe('client2: $13.00  (this replica at block #1)');
  });

  it('with some of them running: refuses naming them; --attach starts only the others, and stops only those', async () => {
    const c = clusters.track(new Cluster({ n: 3, layout: 'cluster' }));
    c.writeConfig(await freePorts(3));
    await c.start(1, { waitPeers: false });
    await c.start(2, { waitPeers: false });
    const refused = await piped(['cluster', '--config', c.configPath, '--data-dir', c.dir], 'all balance\n');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/client1, client2 of .* are already running .*nothing was started\. .*--attach \(npm start -- --attach\), which starts the others\./);
    // client3 was never started: its data dir (made by the harness) is still empty.
    expect(readdirSync(c.dataDir(3))).toEqual([]);

    const attached = await piped(['cluster', '--config', c.configPath, '--data-dir', c.dir, '--attach'], 'ps\n3 transfer 1 1\n');
    expect(attached.code, attached.err).toBe(0);
    expect(attached.out).toMatch(/^client3 +up \d+ s +\d+ /m);
    expect(attached.out).toMatch(/^client3: SUCCESS {2}block #1 {2}client3 -> client1/m);
    expect(attached.err).toContain('left running: client1, client2 (started elsewhere)');
    // client3 was this prompt's: it was stopped at exit; 1 and 2 still run.
    expect([c.running(1), c.running(2)]).toEqual([true, true]);
    await expect(c.raw(3, 'status', 1000)).rejects.toThrow(/is not running/);
  });
});

describe('--fresh', () => {
  it('deletes the clients\' data first: the next run starts from the genesis block', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir);
    const first = await piped(['cluster', '--config', config, '--data-dir', dir], '1 transfer 2 5\n');
    expect(first.code, first.err).toBe(0);
    const kept = await piped(['cluster', '--config', config, '--data-dir', dir], 'balance\n');
    expect(kept.out.trim()).toBe('client1: $5.00  (this replica at block #1)');
    const fresh = await piped(['cluster', '--config', config, '--data-dir', dir, '--fresh'], 'balance\n');
    expect(fresh.code, fresh.err).toBe(0);
    expect(fresh.err).toContain(`--fresh: deleted ${dir}/client-1, ${dir}/client-2, ${dir}/client-3`);
    expect(fresh.out.trim()).toBe('client1: $10.00  (this replica at block #0)');
  });
});

describe('--auto and --delay in what the cluster prints', () => {
  it('--auto in a temporary dir says the data is deleted at the end, and names no path that will not exist', async () => {
    const r = await runClientCli(['cluster', '2', '--auto', '20', '--duration', '0.5'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const first = r.stdout.split('\n')[0]!;
    expect(first).toBe('starting 2 clients (data in a temporary dir, deleted when the run ends; --data-dir <dir> keeps it)...');
    expect(r.stdout).not.toContain(os.tmpdir());
  });

  it('--auto with --data-dir names the dir, which is still there afterwards', async () => {
    const dir = makeTempDir();
    const r = await runClientCli(['cluster', '2', '--auto', '20', '--duration', '0.5', '--data-dir', dir], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`starting 2 clients (config ${dir}/config.json, data in ${dir})...`);
    expect(readdirSync(dir).sort()).toEqual(['client-1', 'client-2', 'config.json']);
  });

  it('the cluster says --delay is on when it starts, and so does every client\'s status', async () => {
    const dir = makeTempDir();
    const r = await piped(['cluster', '2', '--data-dir', dir, '--delay', '50'], '2 status\n');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`starting 2 clients (config ${dir}/config.json, data in ${dir}; every message held 50 ms (--delay))...`);
    expect(r.out).toMatch(/^ {2}delay {10}each outgoing message held 50 ms \(--delay\)$/m);
  });
});

describe('a cluster whose output nobody reads any more (| head)', () => {
  it('stops its clients before it exits, instead of leaving them running', async () => {
    const dir = makeTempDir();
    const child = spawn(process.execPath, [BIN, 'cluster', 'run', path.join('examples', 'basic.txt'), '--data-dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      await new Promise<void>((resolve) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          // The reader goes away once the first transfer is answered, as head -3 would.
          if (out.includes('SUCCESS')) {
            child.stdout.destroy();
            resolve();
          }
        });
      });
      expect(await exit).not.toBe(0);
      for (const id of [1, 2, 3]) await expect(controlRequest(path.join(dir, `client-${id}`), 'status', 1000)).rejects.toThrow(/is not running/);
    } finally {
      killQuietly(child);
      // Had it left its clients running, they are no child of this test's: found by their data dir.
      killProcessesMentioning(dir);
    }
  });
});

describe('client cluster run FILE...', () => {
  const write = (dir: string, name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('checks every file before starting anything: one error per bad line, with file, line and a suggestion', async () => {
    const dir = makeTempDir();
    const good = write(dir, 'good.txt', '1 transfer 2 1\nexpect ok\n');
    const bad = write(dir, 'typos.txt', '# a comment\n1 transfer 2 1\nwaitt 100\n1 tranfer 2 1\nexpect convereged\nall transfer 2 1\ntransfer 2 1\nexpect 1 balance 2 abc\n');
    const r = await runClientCli(['cluster', 'run', good, bad], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `client cluster: ${bad}:3: unknown command "waitt" — did you mean "wait"? (type help)`,
      `client cluster: ${bad}:4: unknown command "tranfer" — did you mean "transfer"? (type help)`,
      `client cluster: ${bad}:5: expect: unknown expectation "convereged" — did you mean "converged"? (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)`,
      `client cluster: ${bad}:6: client2: transfer: cannot transfer to yourself (client2)`,
      // Line 7, a bare `transfer 2 1`, goes to client1, as at the prompt.
      `client cluster: ${bad}:8: expect: invalid amount "abc" — use dollars with up to 2 decimals, e.g. 4.50 (expect ok | failed | snapshot verified | snapshot in flight [at least] <n> | converged | <n|all> height <h> | <n|all> balance <client> <amount>)`,
      'client: 5 problems in the command files; nothing was started',
    ]);
  });

  it('runs several files, each against a fresh cluster, and exits 1 if any failed', async () => {
    const dir = makeTempDir();
    const a = write(dir, 'a.txt', '1 transfer 2 1\nexpect all balance 2 11.00\n');
    const wrong = write(dir, 'wrong.txt', '1 transfer 2 1\nexpect all balance 2 99.00\n');
    // A fresh cluster each: b sees the genesis balances, not a's transfer.
    const b = write(dir, 'b.txt', 'expect all height 0\nexpect 2 balance 2 10\n');
    const r = await runClientCli(['cluster', 'run', a, wrong, b], { timeoutMs: 90_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`script ${a}: every line ran, every expect held`);
    expect(r.stdout).toContain(`script ${b}: every line ran, every expect held`);
    expect(r.stderr).toMatch(/wrong\.txt:2: expect failed: client\d sees client2 at \$11\.00, expected \$99\.00/);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe(`3 command files: 2 passed, 1 failed (${wrong})`);
    expect(r.stdout.match(/^starting 3 clients/gm)).toHaveLength(3);
  });

  it('accepts the examples together, as the shell expands examples/*.txt', async () => {
    const examples = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.txt')).map((f) => path.join('examples', f));
    const r = await runClientCli(['cluster', 'run', ...examples], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe(`${examples.length} command files: ${examples.length} passed`);
    expect(readFileSync(path.join(ROOT, 'examples', 'basic.txt'), 'utf8')).toContain('expect');
  });
});
