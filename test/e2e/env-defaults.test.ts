// LAMPORT_LEDGER_CONFIG and LAMPORT_LEDGER_DATA_DIR reach `client <n>` and `client ctl <n>`: a real
// client started and driven with no --config and no --data-dir, as inside the docker image.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV, DATA_DIR_ENV } from '../../src/cli/env.js';
import { BIN, ROOT, closeAllClusters, freePorts, makeTempDir, waitFor } from './harness.js';

interface Result { code: number; stdout: string; stderr: string }

/** `node bin/client.js <args>` in the repo (where config/default.json exists) with `env` added. */
function cli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the environment as defaults of --config and --data-dir', () => {
  let daemon: ChildProcess | null = null;
  afterAll(async () => {
    daemon?.kill('SIGTERM');
    await closeAllClusters();
  });

  it('a client runs and answers ctl from the config and data dir the environment names; flags still win', async () => {
    const dir = makeTempDir();
    const [port] = await freePorts(1);
    const config = path.join(dir, 'env.json');
    // $7.00, not config/default.json's $10.00: the balance tells which config the client read.
    writeFileSync(config, JSON.stringify({ cluster: 'env', clients: [{ id: 1, host: '127.0.0.1', port, balanceCents: 700 }] }));
    const dataDir = path.join(dir, 'd');
    const env = { [CONFIG_ENV]: config, [DATA_DIR_ENV]: dataDir };

    daemon = spawn(process.execPath, [BIN, '1', '--no-repl'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    await waitFor('client 1 answers ctl status', async () => (await cli(['ctl', '1', 'status'], env)).code === 0, 20_000, 200);
    expect(existsSync(path.join(dataDir, 'control.sock'))).toBe(true);

    const balance = await cli(['ctl', '1', 'balance', 'all', '--json'], env);
    expect(balance.code).toBe(0);
    expect(JSON.parse(balance.stdout)).toMatchObject({ balances: { 1: 700 }, height: 0 });

    // ctl checks the client number against the environment's config.
    const unknown = await cli(['ctl', '7', 'status'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(`client: unknown client 7: ${config} defines clients 1`);

    // --data-dir beats LAMPORT_LEDGER_DATA_DIR: nobody answers there.
    const elsewhere = path.join(dir, 'nobody');
    const flagged = await cli(['ctl', '1', 'status', '--data-dir', elsewhere], env);
    expect(flagged.code).toBe(2);
    expect(flagged.stderr).toContain(path.join(elsewhere, 'control.sock'));
  }, 40_000);
});
