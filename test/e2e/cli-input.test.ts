/**
 * What typos and first tries get from `client` itself: a pasted page in an error is
 * quoted by a bounded excerpt, a mistyped subcommand is named, `ctl` to a client the config does
 * not have says so, --delay is said in the banner and in status, and piped input's exit status.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllClusters, freePorts, makeTempDir, runClientCli } from './harness.js';

afterAll(closeAllClusters);

/** A config of `n` clients on free ports. */
async function configFile(dir: string, n: number, name = 'config.json'): Promise<string> {
  const ports = await freePorts(n);
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ cluster: `first-${path.basename(dir)}`, clients: ports.map((port, i) => ({ id: i + 1, host: '127.0.0.1', port, balanceCents: 1000 })) }));
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
