// Builds the project's image and runs the top-level docker-compose.yml against a real Docker
// engine: three clients, one per container, driven through `client ctl` inside each container.
//
// Needs a Docker engine with compose (.ci/docker-setup.sh provides both here) and node_modules/
// from `npm ci` (the image is built from it). Without an engine the test is skipped, saying why;
// under CI (CI=true, where .ci/run starts an engine) a missing engine fails it instead.
// SKIP_DOCKER=1 skips it outside CI.
//
// What it runs is what docs/DOCKER.md shows: with UPDATE_DOCS=1 the commands and their output are
// written there (the project and image names shown as the docs name them); without, a run that
// prints something else than the document shows fails, times, hashes and ids aside.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerUnavailableError, ROOT, type Run, docker, dockerProblem, eventually, exec, skipReasonFor, underCI } from './engine.js';
import { Transcript, drift, updatingDocs, writeRun } from './transcript.js';

const COMPOSE_FILE = `${ROOT}/docker-compose.yml`;
const PROJECT = `ll-test-${randomBytes(4).toString('hex')}`;
// The image tag this run builds (the compose file reads it) and removes at the end.
const IMAGE = `${PROJECT}:latest`;
const SECRET = randomBytes(24).toString('hex');
const IDS = [1, 2, 3] as const;
const DOCKER_DOC = `${ROOT}/docs/DOCKER.md`;
const RUN_BLOCK = 'compose-run';

// Bounds, so that a hung engine fails the run instead of eating CI's time. A healthy run on two
// shared cores took 27-43 s with nothing cached, 15-20 s with the build cached.
const BUILD_AND_UP_MS = 300_000;
const DOWN_MS = 60_000;

/** Compose v1 (`docker-compose`, Debian's) where installed, else the v2 plugin (`docker compose`), else null. */
function composeCommand(): string[] | null {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8', timeout: 15_000 });
    if (!r.error && r.status === 0) return cmd;
  }
  return null;
}

const CI = underCI();
const engineProblem = dockerProblem();
const COMPOSE = engineProblem === null ? composeCommand() : null;
const problem = engineProblem ?? (COMPOSE === null ? 'neither docker-compose nor docker compose runs' : null);
/** Outside CI an unusable docker (or SKIP_DOCKER=1) skips the test; in CI nothing skips it. */
const skipReason = skipReasonFor('docker compose test', problem);

/** `docker-compose -f docker-compose.yml -p <project> <args>`, building and running this run's image tag. */
function run(args: string[], timeoutMs: number): Promise<Run> {
  const [cmd, ...pre] = COMPOSE as [string, ...string[]];
  const env = { ...process.env, LAMPORT_LEDGER_IMAGE: IMAGE, LAMPORT_LEDGER_SECRET: SECRET };
  return exec(cmd, [...pre, '-f', COMPOSE_FILE, '-p', PROJECT, ...args], timeoutMs, { env });
}

async function compose(args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await run(args, timeoutMs);
  if (r.code !== 0) throw new Error(`${COMPOSE!.join(' ')} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- what the run shows (docs/DOCKER.md) ---------------------------------------------------------

/** Compose v1 names containers <project>_client1_1; the docs show the checkout's project name. */
const transcript = new Transcript([[IMAGE, 'lamport-ledger:latest'], [PROJECT, 'lamport-ledger']]);

/**
 * `docker-compose exec -T client<n> client ctl <n> <words>` (shown without -T, as a person types
 * it at a terminal): no --config, no --data-dir, the image's environment supplies them. Its
 * output, and its exit code.
 */
async function shownCtl(container: number, words: string[], o: { client?: number; note?: string } = {}): Promise<{ code: number; out: string }> {
  const n = o.client ?? container;
  const r = await run(['exec', '-T', `client${container}`, 'client', 'ctl', String(n), ...words], 60_000);
  const out = r.stdout + r.stderr;
  transcript.show(`docker-compose exec client${container} client ctl ${n} ${words.join(' ')}`, out, o.note);
  return { code: r.code, out };
}

/** A transfer shown in the transcript; it must commit. */
async function shownTransfer(from: number, to: number, amount: string): Promise<void> {
  const r = await shownCtl(from, ['transfer', String(to), amount]);
  expect(r.code, r.out).toBe(0);
  expect(r.out).toMatch(new RegExp(`^SUCCESS  block #\\d+  client${from} -> client${to}  \\$${amount.replace('.', '\\.')}`));
}

/** `docker-compose up -d --build` as shown: compose's own lines and the end of the build. */
function shownUp(r: Run): string {
  const compose = r.stderr.split('\n').filter((l) => /^(Creating|Building|Starting)\b/.test(l));
  const built = r.stdout.trim().split('\n').filter((l) => /^Successfully (built|tagged)\b/.test(l));
  return [...compose.filter((l) => !/^Creating .*_client\d+_1\b/.test(l)), '...', ...built.slice(-2), ...compose.filter((l) => /^Creating .*_client\d+_1\b/.test(l)).sort()].join('\n');
}

/** Container id of each service, from `compose ps -q` (the same container across stop/start). */
const containers = new Map<number, string>();

async function containerIds(): Promise<void> {
  for (const n of IDS) {
    const id = (await compose(['ps', '-q', `client${n}`], 30_000)).trim();
    if (!/^[0-9a-f]{12,64}$/.test(id)) throw new Error(`no container for client${n}: ${JSON.stringify(id)}`);
    containers.set(n, id);
  }
}

/**
 * `client ctl <n> <words...> --json` inside container n, with no --config and no --data-dir: the
 * image's environment supplies them. Plain `docker exec` by id is what `docker-compose exec -T`
 * does, without compose v1's second of start-up per call. Rejects when ctl exits non-zero.
 */
async function ctl(n: number, words: string[], timeoutMs = 30_000): Promise<any> {
  const out = await docker(['exec', containers.get(n)!, 'client', 'ctl', String(n), ...words, '--json'], timeoutMs);
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(`ctl ${n} ${words.join(' ')}: not one JSON value:\n${out}`);
  }
}

async function allAnswer(ms: number): Promise<void> {
  await eventually('every client answers ctl status', ms, async () => {
    await Promise.all(IDS.map((n) => ctl(n, ['status'], 10_000)));
  });
}

/**
 * Every client answers, sees both peers up, and all are in one membership view: what a command
 * typed next meets is then the same in every run (the clocks in the document).
 */
async function formed(ms: number): Promise<void> {
  await eventually('one membership view on every client', ms, async () => {
    const views = await Promise.all(IDS.map((n) => ctl(n, ['status'], 10_000)));
    if (!views.every((v) => v.peersUp.length === 2 && v.view === views[0].view)) throw new Error(`views ${JSON.stringify(views.map((v) => [v.peersUp, v.view]))}`);
  }, 250);
  // The confirmations of the view, and the catch-up asked 1 s after the sessions last changed.
  await new Promise((r) => setTimeout(r, 1500));
}

/** Every replica has the same chain (height and head) and the expected balances. */
async function converged(minHeight: number, balances: Record<string, number>, ms: number): Promise<{ height: number; head: string }> {
  return eventually('all chains converge', ms, async () => {
    const chains = await Promise.all(IDS.map((n) => ctl(n, ['chain'], 10_000)));
    const heads = chains.map((c) => `${c.height}:${c.head}`);
    if (new Set(heads).size !== 1) throw new Error(`chains differ: ${heads.join(' ')}`);
    if (chains[0].height < minHeight) throw new Error(`height ${chains[0].height} < ${minHeight}`);
    const tables = await Promise.all(IDS.map((n) => ctl(n, ['balance', 'all'], 10_000)));
    for (const [i, t] of tables.entries()) {
      const got = JSON.stringify(t.balances);
      if (got !== JSON.stringify(balances)) throw new Error(`client${IDS[i]} balances ${got}, expected ${JSON.stringify(balances)}`);
    }
    return { height: chains[0].height, head: chains[0].head };
  });
}

let upStarted = false;

describe('docker compose: the image built and run as three clients in containers', () => {
  beforeAll(async () => {
    if (skipReason !== null || problem !== null) return; // skipped, or every test fails below
    if (!existsSync(`${ROOT}/node_modules/typescript`)) throw new Error('node_modules/ is missing: run npm ci before this test (the image is built from it)');
    upStarted = true;
    const up = await run(['up', '-d', '--build'], BUILD_AND_UP_MS);
    if (up.code !== 0) throw new Error(`${COMPOSE!.join(' ')} up -d --build exited ${up.code}:\n${up.stderr}${up.stdout}`);
    transcript.show('docker-compose up -d --build', shownUp(up));
    await containerIds();
    await allAnswer(50_000);
    await formed(30_000);
  }, BUILD_AND_UP_MS + 80_000);

  beforeEach((ctx) => {
    if (skipReason !== null) ctx.skip(skipReason);
    // Under CI (or with an engine but no compose) a missing piece fails every test, loudly.
    if (problem !== null) throw new DockerUnavailableError(`docker compose test needs Docker: ${problem}${CI ? ' (CI=true: .ci/docker-setup.sh must run first)' : ''}`);
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && upStarted) {
      const r = await run(['logs', '--no-color', '--tail', '40'], 30_000);
      console.error(`--- ${PROJECT} container logs ---\n${r.stdout}${r.stderr}`);
    }
  });

  afterAll(async () => {
    if (!upStarted) return;
    if (updatingDocs()) writeRun(DOCKER_DOC, RUN_BLOCK, transcript.text);
    const down = await run(['down', '-v', '--remove-orphans', '-t', '5'], DOWN_MS);
    if (down.code !== 0) console.error(`compose down -v failed (${down.code}):\n${down.stderr}${down.stdout}`);
    const rmi = await exec('docker', ['image', 'rm', IMAGE], 30_000);
    if (rmi.code !== 0 && !/No such image/i.test(rmi.stderr)) console.error(`docker image rm ${IMAGE} failed (${rmi.code}):\n${rmi.stderr}`);
  }, DOWN_MS + 35_000);

  it('has a Docker engine and compose', () => {
    expect(problem).toBeNull();
  });

  it('runs the image with only production dependencies, nothing mounted from the host', async () => {
    const paths = ['dist/cli/main.js', 'bin/client.js', 'config/docker.json', 'package.json', 'node_modules/pino', 'node_modules/typescript', 'node_modules/vitest', 'src'];
    const script = `const fs=require('fs');console.log(JSON.stringify(${JSON.stringify(paths)}.filter((p)=>fs.existsSync('/app/'+p))))`;
    const present = JSON.parse(await docker(['exec', containers.get(1)!, 'node', '-e', script]));
    expect(present).toEqual(['dist/cli/main.js', 'bin/client.js', 'config/docker.json', 'package.json', 'node_modules/pino']);
    for (const n of IDS) {
      const mounts = JSON.parse(await docker(['inspect', '-f', '{{json .Mounts}}', containers.get(n)!])) as { Type: string; Destination: string }[];
      expect(mounts.map((m) => `${m.Type}:${m.Destination}`)).toEqual(['volume:/data']);
    }
  });

  it('transfers from every container through ctl with no flags, and all replicas agree', async () => {
    const genesis = await shownCtl(1, ['balance', 'all']);
    expect(genesis.out).toMatch(/^total\s+\$30\.00$/m);
    // 1 -> 2 $1.00, 2 -> 3 $2.00, 3 -> 1 $3.00, each from its own container.
    await shownTransfer(1, 2, '1.00');
    await shownTransfer(2, 3, '2.00');
    await shownTransfer(3, 1, '3.00');
    const { height } = await converged(3, { 1: 1200, 2: 900, 3: 900 }, 20_000);
    expect(height).toBe(3);
    const r = await shownCtl(1, ['balance', 'all']);
    expect(r.out).toMatch(/^client1\s+\$12\.00$/m);
    expect(r.out).toMatch(/^client2\s+\$9\.00$/m);
    expect(r.out).toMatch(/^client3\s+\$9\.00$/m);
    expect(r.out).toMatch(/^total\s+\$30\.00$/m);
  }, 90_000);

  it('takes a snapshot that verifies', async () => {
    const r = await shownCtl(2, ['snapshot']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^verified: 5 checks passed, \$30\.00 conserved, replicas at #3 /m);
  }, 60_000);

  it('a stopped and restarted container comes back with its chain and catches up', async () => {
    const before = await converged(3, { 1: 1200, 2: 900, 3: 900 }, 5_000);
    const stop = await run(['stop', '-t', '10', 'client3'], 15_000);
    expect(stop.code, stop.stderr).toBe(0);
    transcript.show('docker-compose stop client3', stop.stderr);
    const start = await run(['start', 'client3'], 15_000);
    expect(start.code, start.stderr).toBe(0);
    transcript.show('docker-compose start client3', start.stderr);
    await allAnswer(20_000);
    // The restarted client kept its data volume: it knows the blocks it had before stopping.
    const chain3 = await ctl(3, ['chain']);
    expect(chain3.height).toBeGreaterThanOrEqual(before.height);
    await formed(30_000);
    // Transfers from every client again, the restarted one included; then everyone converges.
    await shownTransfer(1, 3, '0.50');
    await shownTransfer(2, 1, '0.25');
    await shownTransfer(3, 2, '1.25');
    const after = await converged(before.height + 3, { 1: 1200 - 50 + 25, 2: 900 - 25 + 125, 3: 900 + 50 - 125 }, 15_000);
    expect(after.height).toBe(6);
    const r = await shownCtl(3, ['chain', '4']);
    expect(r.out).toMatch(/^height 6$/m);
  }, 90_000);

  it('names an unknown client, with the config the image sets', async () => {
    const r = await shownCtl(1, ['status'], { client: 4 });
    expect(r.code).toBe(2);
    expect(r.out).toBe('client: unknown client 4: /app/config/docker.json defines clients 1, 2, 3\n');
  }, 30_000);

  it('printed what docs/DOCKER.md shows', () => {
    if (updatingDocs()) return;
    expect(drift(DOCKER_DOC, RUN_BLOCK, transcript.text)).toBeNull();
  });
});
