/**
 * What typos and first tries get from `client` itself: a pasted page in an error is
 * quoted by a bounded excerpt, a mistyped subcommand is named, `ctl` to a client the config does
 * not have says so, --delay and TLS are said in the banner and in status, piped input's exit
 * status and what it says while its peers are down, --version, and a start that fails leaves
 * no data dir behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, closeAllClusters, freePorts, makeTempDir, runClientCli, track, waitFor } from './harness.js';

afterAll(closeAllClusters);

/** A config of `n` clients on free ports. */
async function configFile(dir: string, n: number, name = 'config.json', extra: Record<string, unknown> = {}): Promise<string> {
  const ports = await freePorts(n);
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ cluster: `first-${path.basename(dir)}`, clients: ports.map((port, i) => ({ id: i + 1, host: '127.0.0.1', port, balanceCents: 1000 })), ...extra }));
  return file;
}

describe('a pasted page of text', () => {
  it('is quoted in the error by its first 40 characters and its length, and exits 1', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 2);
    const page = 'x'.repeat(100_000);
    const amount = '9'.repeat(100_000);
    const r = await runClientCli(['1', '--config', config, '--data-dir', path.join(dir, 'd1')], { input: `${page}\ntransfer 2 ${amount}\nbalance\n` });
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `error: unknown command "${'x'.repeat(40)}…" (100000 characters) (type help)`,
      `error: transfer: amount "${'9'.repeat(40)}…" (100000 characters) is too large (at most $90,071,992,547,409.91)`,
      'client1: $10.00  (this replica at block #0)',
    ]);
    expect(r.stdout.length).toBeLessThan(500);
  });
});

describe('piped input to one client', () => {
  it('exits 0 when every line succeeded', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 2);
    const r = await runClientCli(['1', '--config', config, '--data-dir', path.join(dir, 'd1')], { input: 'balance\nhelp\n' });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('piped input to one client whose peers are down', () => {
  it('says soon that they are down, what it waits for and until when, while the transfer still waits', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 3);
    // client2 and client3 never start: the transfer waits for them until the config's 30 s timeout.
    const child = spawn(process.execPath, [BIN, '1', '--config', config, '--data-dir', path.join(dir, 'd1')], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.end('transfer 2 1\nbalance all\n');
    try {
      await waitFor('client1 to say its peers are down, and until when it waits', () => /client2, client3 are down[^]*fails with nothing moved\n/.test(err), 15_000);
      // Said while the transfer still waits, not with its FAILED answer.
      expect(out).toBe('');
      expect(err).toMatch(/^ {2}· client2, client3 are down \(connection refused: not running\?\); start them \(client 2, client 3, with --config .*config\.json\)$/m);
      expect(err).toMatch(/^ {2}· the transfer waits for them until 30 s after it was asked \(--transfer-timeout\), then fails with nothing moved$/m);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('a config with its own dataDir', () => {
  it('gives client n the data dir <dataDir>/client-<n>, where client ctl finds it', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 2, 'own.json', { dataDir: 'kept/own' });
    const r = await runClientCli(['1', '--config', config], { cwd: dir, input: 'balance\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/, data in kept\/own\/client-1; /);
    expect(existsSync(path.join(dir, 'kept', 'own', 'client-1', 'chain.log'))).toBe(true);
    const daemon = spawn(process.execPath, [BIN, '2', '--no-repl', '--config', config], { cwd: dir, stdio: 'ignore' });
    track(daemon);
    try {
      const answer = await waitFor('client ctl to reach client2', async () => {
        const ctl = await runClientCli(['ctl', '2', 'balance', '--config', config], { cwd: dir });
        return ctl.code === 0 ? ctl.stdout : null;
      });
      expect(answer).toBe('client2: $10.00  (this replica at block #0)\n');
    } finally {
      daemon.kill('SIGKILL');
    }
  });
});

describe('client --version', () => {
  it('prints the version of the package', async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runClientCli(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});

describe('whether the channels are TLS', () => {
  it('shows in the banner, in status and in peers', async () => {
    const dir = makeTempDir();
    const secret = await configFile(dir, 2, 'secret.json', { secret: 'a-secret-of-this-cluster' });
    const tls = await runClientCli(['1', '--config', secret, '--data-dir', path.join(dir, 's1')], { input: 'status\npeers\n' });
    expect(tls.code, tls.stderr).toBe(0);
    expect(tls.stderr.split('\n')[0]).toMatch(/^client1 listening on 127\.0\.0\.1:\d+, data in .*s1; peers: client2; channels TLS \(cluster secret\)$/);
    expect(tls.stdout).toMatch(/^channels {7}TLS 1\.2, a pre-shared key from the cluster secret$/m);
    expect(tls.stdout).toMatch(/^client1's connections \(TLS\)$/m);
    const plain = await runClientCli(['1', '--config', await configFile(dir, 2), '--data-dir', path.join(dir, 'p1')], { input: 'status\npeers\n' });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr.split('\n')[0]).not.toContain('TLS');
    expect(plain.stdout).toMatch(/^channels {7}plain TCP \(no cluster secret\)$/m);
    expect(plain.stdout).toMatch(/^client1's connections \(plain TCP\)$/m);
  });
});

describe('a start that fails', () => {
  it('on a port in use leaves no data dir behind, and an existing one as it was', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 2);
    const { clients } = JSON.parse(readFileSync(config, 'utf8')) as { clients: { port: number }[] };
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(clients[0]!.port, '127.0.0.1', resolve));
    try {
      const fresh = path.join(dir, 'fresh');
      const r = await runClientCli(['1', '--no-repl', '--config', config, '--data-dir', path.join(fresh, 'client-1')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('port in use');
      // Neither the data dir nor the parent it made for it.
      expect(existsSync(fresh)).toBe(false);
      const kept = path.join(dir, 'kept');
      mkdirSync(kept);
      writeFileSync(path.join(kept, 'note'), 'mine');
      const again = await runClientCli(['1', '--no-repl', '--config', config, '--data-dir', kept]);
      expect(again.code).toBe(1);
      expect(readdirSync(kept)).toContain('note');
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});

describe('a mistyped subcommand', () => {
  it('client ctrl 1 status: names the command meant, not "too many arguments"', async () => {
    const r = await runClientCli(['ctrl', '1', 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('client: unknown command "ctrl" — did you mean "ctl"? (client --help lists the commands)');
  });

  it('client clster: the same, with no other arguments', async () => {
    const r = await runClientCli(['clster']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('client: unknown command "clster" — did you mean "cluster"? (client --help lists the commands)');
  });

  it('client 1 status: says that the command words belong to client ctl', async () => {
    const r = await runClientCli(['1', 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('client: client 1 takes no command words (got "status"); to send a command to a running client: client ctl 1 status');
  });
});

describe('client ctl <n> for a client the config in use does not have', () => {
  it('says so and lists its clients, whichever way the config was found', async () => {
    const dir = makeTempDir();
    const three = await configFile(dir, 3);
    // LAMPORT_LEDGER_CONFIG
    const env = await runClientCli(['ctl', '4', 'status'], { cwd: dir, env: { LAMPORT_LEDGER_CONFIG: three } });
    expect(env.code).toBe(2);
    expect(env.stderr.trim()).toBe(`client: unknown client 4: ${three} defines clients 1, 2, 3`);
    // ./config/default.json in the working directory
    const work = path.join(dir, 'work');
    await configFile(work, 2, path.join('config', 'default.json'));
    const local = await runClientCli(['ctl', '4', 'status'], { cwd: work, env: { LAMPORT_LEDGER_CONFIG: '' } });
    expect(local.code).toBe(2);
    expect(local.stderr.trim()).toBe('client: unknown client 4: config/default.json defines clients 1, 2');
    // the built-in one, where there is no ./config/default.json
    const bare = path.join(dir, 'bare');
    mkdirSync(bare);
    const builtIn = await runClientCli(['ctl', '4', 'status'], { cwd: bare, env: { LAMPORT_LEDGER_CONFIG: '' } });
    expect(builtIn.code).toBe(2);
    expect(builtIn.stderr.trim()).toMatch(/^client: unknown client 4: .*config\/default\.json defines clients 1, 2, 3$/);
    // A client the config has, not running: that is what is said.
    const absent = await runClientCli(['ctl', '2', 'status'], { cwd: bare, env: { LAMPORT_LEDGER_CONFIG: '' } });
    expect(absent.code).toBe(2);
    expect(absent.stderr.trim()).toBe('client: client2 is not running (no control socket answers at data/client-2/control.sock)');
  });
});

describe('--delay on one client', () => {
  it('is said in the banner and in status', async () => {
    const dir = makeTempDir();
    const config = await configFile(dir, 2);
    const r = await runClientCli(['1', '--config', config, '--data-dir', path.join(dir, 'd1'), '--delay', '100-300'], { input: 'status\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/^client1 listening on 127\.0\.0\.1:\d+, data in .*d1; peers: client2; each outgoing message held 100-300 ms \(--delay\)$/);
    expect(r.stdout).toMatch(/^delay {10}each outgoing message held 100-300 ms \(--delay\)$/m);
    const plain = await runClientCli(['1', '--config', config, '--data-dir', path.join(dir, 'd1')], { input: 'status\n' });
    expect(plain.stdout).not.toContain('delay');
  });
});
