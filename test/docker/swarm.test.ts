// deploy/swarm/stack.yml on a real Docker engine in swarm mode: the project's image deployed as a
// stack of three clients, one service each, driven through `client ctl` inside the containers.
//
// The swarm: when the engine is in none, this test makes a one-node swarm on loopback (`docker
// swarm init --advertise-addr 127.0.0.1`), labels the node so that .ci/docker-teardown.sh can tell
// it made it, and leaves it at the end. An engine already in a swarm is used as it is and left in
// it. Everything the test creates carries its run's name (ll-test-<hex>: the stack, its services,
// volumes and network, the secret, the image tag) and is removed at the end, whatever happened.
//
// With UPDATE_DOCS=1 the commands and their output are written into docs/DEPLOY.md (the stack,
// image and secret names shown as the docs name them).
//
// Skipped, saying why, when no engine answers, except under CI (CI=true), where that fails it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerUnavailableError, ROOT, docker, dockerProblem, eventually, exec, skipReasonFor, underCI } from './engine.js';
import { Transcript, updatingDocs, writeRun } from './transcript.js';

const STACK = `ll-test-${randomBytes(4).toString('hex')}`;
const IMAGE = `${STACK}:latest`;
const SECRET_NAME = `${STACK}-secret`;
const STACK_FILE = 'deploy/swarm/stack.yml';
const IDS = [1, 2, 3] as const;
/** Set on the node of a swarm this test made, for .ci/docker-teardown.sh. */
const MADE_LABEL = 'org.lamport-ledger.test-swarm';
const GWBRIDGE_LABEL = 'org.lamport-ledger.test-gwbridge';
const DEPLOY_DOC = `${ROOT}/docs/DEPLOY.md`;

// Bounds, so that a hung engine fails the run instead of eating CI's time.
const BUILD_MS = 300_000;
const UP_MS = 90_000;
const DOWN_MS = 90_000;

const CI = underCI();
const problem = dockerProblem();
const skipReason = skipReasonFor('docker swarm test', problem);

// ---- what the run shows (docs/DEPLOY.md) ---------------------------------------------------------

/** The commands a person would type, with what they printed, names as the docs give them. */
const transcript = new Transcript([[IMAGE, 'lamport-ledger:latest'], [SECRET_NAME, 'lamport-ledger-secret'], [STACK, 'ledger']]);
const show = (command: string, output = '', note = ''): void => transcript.show(command, output, note);

// ---- the stack -----------------------------------------------------------------------------------

const stackEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LAMPORT_LEDGER_IMAGE: IMAGE, LAMPORT_LEDGER_SECRET_NAME: SECRET_NAME });

/** The running container of client n in this stack, found by its label, as a person would. */
async function containerOf(n: number): Promise<string> {
  const ids = (await docker(['ps', '-q', '-f', `label=org.lamport-ledger.client=${n}`, '-f', `label=com.docker.stack.namespace=${STACK}`])).trim().split('\n').filter(Boolean);
  if (ids.length !== 1) throw new Error(`client${n}: ${ids.length} running containers labelled org.lamport-ledger.client=${n}`);
  return ids[0]!;
}

/** `docker exec <container of n> client ctl <n> <words>`: no --config, no --data-dir, no secret. */
async function ctlText(n: number, words: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
  const r = await exec('docker', ['exec', await containerOf(n), 'client', 'ctl', String(n), ...words], timeoutMs);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function ctl(n: number, words: string[], timeoutMs = 60_000): Promise<any> {
  const r = await ctlText(n, [...words, '--json'], timeoutMs);
  if (r.code !== 0) throw new Error(`client ctl ${n} ${words.join(' ')} exited ${r.code}: ${r.out}`);
  return JSON.parse(r.out);
}

/** Every client answers and sees both peers up; its container is healthy. */
async function allUp(ms: number): Promise<void> {
  await eventually('every client up with both peers, its container healthy', ms, async () => {
    for (const n of IDS) {
      const st = await ctl(n, ['status'], 10_000);
      if (st.id !== n) throw new Error(`the container labelled ${n} runs client${st.id}`);
      if (st.peersUp.length !== 2) throw new Error(`client${n} has peers ${JSON.stringify(st.peersUp)} up`);
      const health = (await docker(['inspect', '-f', '{{.State.Health.Status}}', await containerOf(n)])).trim();
      if (health !== 'healthy') throw new Error(`client${n}'s container is ${health}`);
    }
  });
}

/** Every replica at one head, with these balances. */
async function converged(balances: Record<string, number>, ms: number): Promise<{ height: number; head: string }> {
  return eventually('all chains converge', ms, async () => {
    const chains = await Promise.all(IDS.map((n) => ctl(n, ['chain'], 10_000)));
    const heads = chains.map((c) => `${c.height}:${c.head}`);
    if (new Set(heads).size !== 1) throw new Error(`chains differ: ${heads.join(' ')}`);
    for (const n of IDS) {
      const t = await ctl(n, ['balance', 'all'], 10_000);
      if (JSON.stringify(t.balances) !== JSON.stringify(balances)) throw new Error(`client${n} sees ${JSON.stringify(t.balances)}`);
    }
    return { height: chains[0].height, head: chains[0].head };
  });
}

// ---- set-up and clean-up -------------------------------------------------------------------------

/** What this run made, so that afterAll undoes exactly that. */
const made = { swarm: false, gwbridge: false, image: false, secret: false, stack: false };

async function swarmState(): Promise<string> {
  return (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
}

async function joinOrMakeSwarm(): Promise<void> {
  const state = await swarmState();
  if (state === 'active') return; // someone's swarm: used as it is, and left in it
  if (state !== 'inactive') throw new Error(`this engine's swarm is ${state}; run docker swarm leave --force`);
  const gwbridgeBefore = (await exec('docker', ['network', 'inspect', 'docker_gwbridge'], 15_000)).code === 0;
  // On loopback: a swarm of this one node, which no other machine can join or reach.
  const init = ['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377'];
  const initialized = await docker(init, 60_000);
  made.swarm = true;
  made.gwbridge = !gwbridgeBefore;
  const node = (await docker(['info', '--format', '{{.Swarm.NodeID}}'])).trim();
  await docker(['node', 'update', '--label-add', `${MADE_LABEL}=${STACK}`, ...(made.gwbridge ? ['--label-add', `${GWBRIDGE_LABEL}=1`] : []), node]);
  show(`docker ${init.join(' ')}`, initialized.split('\n')[0]);
}

async function undo(): Promise<void> {
  const problems: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    try { await f(); } catch (e) { problems.push(`${what}: ${e instanceof Error ? e.message : String(e)}`); }
  };
  if (made.stack) {
    await attempt('stack rm', async () => show(`docker stack rm ${STACK}`, await docker(['stack', 'rm', STACK], 60_000)));
    // The volumes can go only once their containers have: stack rm does not wait for them.
    await attempt('containers gone', () => eventually('the stack\'s containers are gone', DOWN_MS / 2, async () => {
      const left = (await docker(['ps', '-aq', '-f', `label=com.docker.stack.namespace=${STACK}`])).trim();
      if (left !== '') throw new Error(`still there: ${left.split('\n').join(' ')}`);
    }, 500));
    for (const n of IDS) await attempt(`volume ${STACK}_client${n}-data`, () => docker(['volume', 'rm', `${STACK}_client${n}-data`]));
    await attempt('network gone', () => eventually('the stack\'s network is gone', 20_000, async () => {
      const left = (await docker(['network', 'ls', '-q', '-f', `label=com.docker.stack.namespace=${STACK}`])).trim();
      if (left !== '') throw new Error(`still there: ${left}`);
    }, 500));
  }
  if (made.secret) await attempt('secret rm', () => docker(['secret', 'rm', SECRET_NAME]));
  if (made.image) await attempt('image rm', () => docker(['image', 'rm', IMAGE]));
  if (made.swarm) {
    // Another run's stack on the same swarm (a parallel run) keeps the swarm for that run to leave.
    const others = (await exec('docker', ['stack', 'ls', '--format', '{{.Name}}'], 15_000)).stdout.split('\n').filter((s) => s.startsWith('ll-test-') && s !== STACK);
    if (others.length === 0) {
      await attempt('swarm leave', async () => show('docker swarm leave --force', await docker(['swarm', 'leave', '--force'], 60_000)));
      if (made.gwbridge) await attempt('docker_gwbridge', () => docker(['network', 'rm', 'docker_gwbridge']));
    }
  }
  if (problems.length > 0) throw new Error(`cleaning up the swarm test left something behind:\n${problems.join('\n')}`);
}

function writeDocs(): void {
  if (updatingDocs()) writeRun(DEPLOY_DOC, 'swarm-run', transcript.text);
}

// ---- the test ------------------------------------------------------------------------------------

let started = 0;

describe('docker swarm: deploy/swarm/stack.yml as three services, one client each', () => {
  beforeAll(async () => {
    if (skipReason !== null || problem !== null) return;
    if (!existsSync(`${ROOT}/node_modules/typescript`)) throw new Error('node_modules/ is missing: run npm ci before this test (the image is built from it)');
    started = Date.now();
    await joinOrMakeSwarm();
    made.image = true;
    const build = await exec('docker', ['build', '-t', IMAGE, '.'], BUILD_MS);
    if (build.code !== 0) throw new Error(`docker build exited ${build.code}:\n${build.stderr}${build.stdout}`);
    show(`docker build -t ${IMAGE} .`, `...\n${build.stdout.trim().split('\n').slice(-2).join('\n')}`);
    made.secret = true;
    const secretId = await docker(['secret', 'create', SECRET_NAME, '-'], 30_000, { input: randomBytes(24).toString('hex') });
    show(`docker secret create ${SECRET_NAME} -`, secretId, 'the secret on stdin: 48 random hex digits');
    made.stack = true;
    const deploy = ['stack', 'deploy', '--resolve-image', 'never', '-c', STACK_FILE, STACK];
    const out = await exec('docker', deploy, 60_000, { env: stackEnv() });
    if (out.code !== 0) throw new Error(`docker ${deploy.join(' ')} exited ${out.code}:\n${out.stderr}${out.stdout}`);
    show(`docker ${deploy.join(' ')}`, `${out.stdout}${out.stderr.split('\n').filter((l) => !/--detach/.test(l)).join('\n')}`);
    await allUp(UP_MS);
    console.log(`docker swarm test: stack up ${((Date.now() - started) / 1000).toFixed(1)} s after the start (swarm, build, secret, deploy)`);
    show('docker service ls --format "table {{.Name}}\\t{{.Mode}}\\t{{.Replicas}}\\t{{.Image}}"',
      await docker(['service', 'ls', '-f', `label=com.docker.stack.namespace=${STACK}`, '--format', 'table {{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}']));
    show('docker ps --format "table {{.Names}}\\t{{.Status}}\\t{{.Label \\"org.lamport-ledger.client\\"}}"',
      await docker(['ps', '-f', `label=com.docker.stack.namespace=${STACK}`, '--format', 'table {{.Names}}\t{{.Status}}\t{{.Label "org.lamport-ledger.client"}}']));
  }, BUILD_MS + UP_MS + 120_000);

  beforeEach((ctx) => {
    if (skipReason !== null) ctx.skip(skipReason);
    if (problem !== null) throw new DockerUnavailableError(`docker swarm test needs Docker: ${problem}${CI ? ' (CI=true: .ci/docker-setup.sh must run first)' : ''}`);
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && made.stack) {
      for (const n of IDS) {
        const r = await exec('docker', ['service', 'logs', '--tail', '30', `${STACK}_client${n}`], 30_000);
        console.error(`--- ${STACK}_client${n} ---\n${r.stdout}${r.stderr}`);
      }
    }
  });

  afterAll(async () => {
    try {
      await undo();
      if (started > 0) console.log(`docker swarm test: ${((Date.now() - started) / 1000).toFixed(1)} s from swarm init to swarm leave`);
    } finally {
      writeDocs();
    }
  }, DOWN_MS + 120_000);

  it('has a Docker engine', () => {
    expect(problem).toBeNull();
  });

  it('runs each client in a container labelled with its number, healthy, its chain in a volume, the secret a file and not in the environment', async () => {
    for (const n of IDS) {
      const c = await containerOf(n);
      const inspect = JSON.parse(await docker(['inspect', c]))[0];
      expect(inspect.Config.Labels['org.lamport-ledger.client']).toBe(String(n));
      expect(inspect.State.Health.Status).toBe('healthy');
      expect(inspect.Config.Env.filter((e: string) => /SECRET/.test(e))).toEqual([]);
      expect(inspect.Config.Env).toContain(`LAMPORT_LEDGER_ID=${n}`);
      expect(inspect.Mounts.map((m: { Type: string; Destination: string; Name?: string }) => `${m.Type}:${m.Name}:${m.Destination}`)).toEqual([`volume:${STACK}_client${n}-data:/data`]);
      const mode = await docker(['exec', c, 'node', '-e', "process.stdout.write((require('fs').statSync('/run/secrets/cluster-secret').mode & 0o777).toString(8))"]);
      expect(mode).toBe('400');
    }
    // No flags: the image's environment gives the config and the data dir.
    const status = await ctlText(1, ['status']);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^client1 {2}listening on 0\.0\.0\.0:7100, data in \/data$/m);
    expect(status.out).toMatch(/^peers up {7}client2, client3$/m);
    show('C1=$(docker ps -q -f label=org.lamport-ledger.client=1)');
    show('docker exec $C1 client ctl 1 status', status.out);
  }, 60_000);

  it('commits a transfer from every client, and every replica agrees', async () => {
    const moves: [number, number, string][] = [[1, 2, '1.00'], [2, 3, '2.00'], [3, 1, '3.00']];
    for (const [from, to, amount] of moves) {
      const r = await ctlText(from, ['transfer', String(to), amount]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`^SUCCESS  block #\\d+  client${from} -> client${to}  \\$${amount.replace('.', '\\.')}`));
      if (from > 1) show(`C${from}=$(docker ps -q -f label=org.lamport-ledger.client=${from})`);
      show(`docker exec $C${from} client ctl ${from} transfer ${to} ${amount}`, r.out);
    }
    const { height } = await converged({ 1: 1200, 2: 900, 3: 900 }, 20_000);
    expect(height).toBe(3);
    const balances = await ctlText(3, ['balance', 'all']);
    expect(balances.out).toMatch(/^total +\$30\.00$/m);
    show('docker exec $C3 client ctl 3 balance all', balances.out);
  }, 90_000);

  it('takes a snapshot that verifies', async () => {
    const r = await ctlText(2, ['snapshot']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^verified: /m);
    show('docker exec $C2 client ctl 2 snapshot', r.out);
  }, 60_000);

  it('a killed container is replaced by the swarm: the new one has its chain, a transfer waiting for it commits, and every replica has the same head', async () => {
    const before = await converged({ 1: 1200, 2: 900, 3: 900 }, 10_000);
    const old = await containerOf(3);
    const killedAt = Date.now();
    await docker(['kill', old]);
    show('docker kill $C3', old.slice(0, 12));
    // Commits stop while client3 is away (Lamport's mutex needs every peer); this one waits for it.
    const waiting = ctlText(1, ['transfer', '3', '0.25'], 90_000);
    const peers = await eventually('client1 sees client3 gone', 20_000, async () => {
      const r = await ctlText(1, ['peers'], 10_000);
      if (!/^client3 +down/m.test(r.out)) throw new Error(r.out);
      return r.out;
    }, 250);
    show('docker exec $C1 client ctl 1 peers', peers, 'meanwhile: the transfer below was sent right after the kill');
    const replacement = await eventually('a new container for client3', 60_000, async () => {
      const c = await containerOf(3);
      if (c === old) throw new Error('still the old one');
      return c;
    }, 500);
    const committed = await waiting;
    const tookMs = Date.now() - killedAt;
    expect(committed.code, committed.out).toBe(0);
    expect(committed.out).toMatch(/^SUCCESS  block #4  client1 -> client3  \$0\.25/);
    show('docker exec $C1 client ctl 1 transfer 3 0.25', committed.out, 'sent right after the kill, it waited while the swarm replaced client3');
    console.log(`docker swarm test: client3 killed; a transfer waiting for it committed ${(tookMs / 1000).toFixed(1)} s later`);
    const tasks = await docker(['service', 'ps', `${STACK}_client3`, '--format', 'table {{.Name}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}']);
    expect(tasks).toMatch(/Shutdown +Failed .*non-zero exit \(137\)/);
    show('docker service ps ledger_client3 --format "table {{.Name}}\\t{{.DesiredState}}\\t{{.CurrentState}}\\t{{.Error}}"', tasks);

    // The replacement's volume is client3's: its log holds both starts, and the second began
    // with the chain the first had built.
    const log = await docker(['exec', replacement, 'node', '-e', "process.stdout.write(require('fs').readFileSync('/data/client.log','utf8'))"]);
    const starts = log.split('\n').filter((l) => l.includes('"msg":"client3 started"')).map((l) => JSON.parse(l) as { height: number });
    expect(starts.map((s) => s.height)).toEqual([0, before.height]);
    const after = await converged({ 1: 1200 - 25, 2: 900, 3: 900 + 25 }, 30_000);
    expect(after.height).toBe(before.height + 1);
    // And it takes part again: a transfer from the replacement commits.
    const again = await ctlText(3, ['transfer', '2', '0.50']);
    expect(again.code, again.out).toBe(0);
    show(`C3=$(docker ps -q -f label=org.lamport-ledger.client=3)`, '', 'the replacement');
    show('docker exec $C3 client ctl 3 transfer 2 0.50', again.out);
    const last = await converged({ 1: 1175, 2: 950, 3: 875 }, 20_000);
    expect(last.height).toBe(before.height + 2);
    const chain = await ctlText(3, ['chain']);
    show('docker exec $C3 client ctl 3 chain', chain.out);
  }, 150_000);
});
