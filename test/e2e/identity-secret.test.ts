// A client that learns who it is and its cluster secret from where it runs, as under an
// orchestrator: LAMPORT_LEDGER_ID instead of a number, the secret from a mounted file
// (--secret-file or LAMPORT_LEDGER_SECRET_FILE) instead of the environment. Real processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV, DATA_DIR_ENV, ID_ENV, SECRET_ENV, SECRET_FILE_ENV } from '../../src/cli/env.js';
import { BIN, ROOT, controlRequest, freePorts, killAndWait, makeTempDir, runClientCli, track, waitFor } from './harness.js';

const children: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => killAndWait(c, 'SIGKILL')));
});

/** The environment of a test process, without any of the project's variables from outside. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of [CONFIG_ENV, DATA_DIR_ENV, ID_ENV, SECRET_ENV, SECRET_FILE_ENV]) delete env[k];
  return { ...env, ...extra };
}

describe('identity and secret from where the client runs', () => {
  it('three clients: one numbered by LAMPORT_LEDGER_ID, the secret from --secret-file, LAMPORT_LEDGER_SECRET_FILE and LAMPORT_LEDGER_SECRET: TLS on every channel, and a transfer commits', async () => {
    const dir = makeTempDir();
    const ports = await freePorts(3);
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ cluster: 'from-env', clients: ports.map((port, i) => ({ id: i + 1, host: '127.0.0.1', port, balanceCents: 1000 })) }));
    const secret = 'a-mounted-secret-of-31-chars-ok';
    const secretFile = path.join(dir, 'secret');
    writeFileSync(secretFile, `${secret}\n`);
    const data = (id: number): string => path.join(dir, `c${id}`);
    const start = (args: string[], env: Record<string, string>): void => {
      const child = spawn(process.execPath, [BIN, ...args, '--no-repl', '--config', config], { cwd: ROOT, env: cleanEnv(env), stdio: 'ignore' });
      track(child);
      children.push(child);
    };
    start(['1', '--secret-file', secretFile, '--data-dir', data(1)], {});
    start(['--data-dir', data(2)], { [ID_ENV]: '2', [SECRET_FILE_ENV]: secretFile });
    start(['3', '--data-dir', data(3)], { [SECRET_ENV]: secret });

    for (const id of [1, 2, 3]) {
      const st = await waitFor(`client${id} with both peers up`, async () => {
        const r = await controlRequest(data(id), 'status', 2000);
        return r.json.peersUp?.length === 2 ? r.json : null;
      }, 20_000, 100);
      // The process numbered by the environment is client 2.
      expect(st.id).toBe(id);
    }
    const r = await controlRequest(data(2), 'transfer 3 1.25', 20_000);
    expect(r.json).toMatchObject({ ok: true, status: 'SUCCESS', from: 2, to: 3, amount: 125 });
    // Each client says in its log that its listener is TLS keyed by the secret: the file's
    // content, since the peers got through each other's TLS handshakes with it.
    for (const id of [1, 2, 3]) {
      expect(readFileSync(path.join(data(id), 'client.log'), 'utf8')).toContain('(TLS with the cluster secret)');
    }
  }, 60_000);

  it('a secret file that is missing, short or doubled by the variable, and an unknown LAMPORT_LEDGER_ID, each stop the start with one line', async () => {
    const dir = makeTempDir();
    const short = path.join(dir, 'short');
    writeFileSync(short, 'replace-me\n');
    const good = path.join(dir, 'good');
    writeFileSync(good, 'a-secret-of-24-characters\n');
    const missing = path.join(dir, 'missing');
    const config = path.join(ROOT, 'config', 'default.json');
    const run = (args: string[], env: Record<string, string>) => runClientCli([...args, '--no-repl', '--config', config, '--data-dir', path.join(dir, 'd')], { env: cleanEnv(env) as Record<string, string> });

    const cases: [string[], Record<string, string>, string][] = [
      [['1', '--secret-file', missing], {}, `client: cannot read the cluster secret from ${missing} (--secret-file): no such file`],
      [['1'], { [SECRET_FILE_ENV]: short }, `client: the cluster secret file ${short} (LAMPORT_LEDGER_SECRET_FILE) has 10 characters; a cluster secret needs at least 16 (the same on every client)`],
      [['1'], { [SECRET_FILE_ENV]: good, [SECRET_ENV]: 'a-secret-of-24-characters' }, 'client: both LAMPORT_LEDGER_SECRET and LAMPORT_LEDGER_SECRET_FILE are set; set one of them'],
      [[], { [ID_ENV]: '4' }, 'client: LAMPORT_LEDGER_ID=4: unknown client 4: ' + config + ' defines clients 1, 2, 3'],
      [['2', '--id-from-hostname'], {}, 'client: give a client number or --id-from-hostname, not both (got "2" and --id-from-hostname)'],
    ];
    for (const [args, env, line] of cases) {
      const r = await run(args, env);
      expect({ args, code: r.code, stderr: r.stderr.trim() }).toEqual({ args, code: 1, stderr: line });
    }
  }, 60_000);
});
