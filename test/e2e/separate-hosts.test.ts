// Clients on separate hosts, without a container engine: each client runs in a network namespace
// of its own with its own address, the namespaces joined by a bridge (in a namespace of its own
// too, so nothing of the machine's own network changes). The config names the peers by host name,
// as a StatefulSet's does (ledger-0.ledger ...), resolved by each host's /etc/hosts to the hosts'
// addresses; each client takes its number from its host name (--id-from-hostname) and its cluster
// secret from a file (protected mode: the addresses are not loopback).
//
//   switch namespace: bridge llb<run>          host namespaces: one client each
//        |-- veth --- ll<run>-1  198.18.0.1   ledger-0.ledger   client1
//        |-- veth --- ll<run>-2  198.18.0.2   ledger-1.ledger   client2
//        '-- veth --- ll<run>-3  198.18.0.3   ledger-2.ledger   client3
//
// 198.18.0.0/15 is the range set aside for testing network devices (RFC 2544); nothing outside
// these namespaces is ever addressed. A partition is iptables DROP rules inside one host.
//
// Needs root, `ip netns`, iptables and unshare. Outside CI it is skipped with the reason when one
// is missing; under CI=true that fails it. Every name carries the run's id, so parallel runs do not
// collide; namespaces (with their links, bridge and rules) and processes go at the end whatever
// happened, and on exit if the run is cut short.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, controlRequest, killAndWait, makeTempDir, sleep, waitFor } from './harness.js';

const RUN = randomBytes(3).toString('hex');
const SWITCH = `ll${RUN}-sw`;
const BRIDGE = `llb${RUN}`;
const IDS = [1, 2, 3] as const;
const hostNs = (id: number): string => `ll${RUN}-${id}`;
/** The pod-like host name of client n, and the name its peers know it by. */
const hostName = (id: number): string => `ledger-${id - 1}`;
const dnsName = (id: number): string => `${hostName(id)}.ledger`;
const PORT = 7100;
const addressOf = new Map<number, string>(IDS.map((id) => [id, `198.18.0.${id}`]));

function underCI(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return { ok: !r.error && r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/** Runs a command that must work; throws with its output when it does not. */
function must(cmd: string, ...args: string[]): string {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.out}`);
  return r.out;
}

/** Why this machine cannot run the test, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network namespaces and iptables need root)';
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['iptables', ['--version']], ['unshare', ['--version']]] as const) {
    const r = run(cmd, [...args]);
    if (!r.ok) return `${cmd} ${args.join(' ')} does not work here (${r.out.split('\n')[0] || 'not found'})`;
  }
  // Making a namespace is the real test: some sandboxes refuse it even to root.
  const probe = `ll${RUN}-probe`;
  const r = run('ip', ['netns', 'add', probe]);
  run('ip', ['netns', 'del', probe]);
  return r.ok ? null : `ip netns add fails here (${r.out.split('\n')[0]})`;
}

const CI = underCI();
const problem = missing();
const skipReason = CI ? null : problem === null ? null : `${problem}; run it as root on Linux with iproute2, iptables and util-linux`;
if (skipReason !== null) console.warn(`separate-hosts test skipped: ${skipReason}`);

// ---- the hosts ---------------------------------------------------------------------------------

const dir = problem === null ? makeTempDir('llhosts-') : '';
const hostsFile = (id: number): string => path.join(dir, `hosts-${id}`);
const resolvFile = path.join(dir, 'resolv.conf');
const configFile = path.join(dir, 'cluster.json');
const secretFile = path.join(dir, 'secret');
const dataDir = (id: number): string => path.join(dir, `data-${id}`);
const namespaces: string[] = [];

/** Every host's /etc/hosts: the names of the clients that have an address now. */
function writeHosts(): void {
  const lines = ['127.0.0.1 localhost', ...IDS.flatMap((id) => (addressOf.has(id) ? [`${addressOf.get(id)} ${dnsName(id)}`] : []))];
  // Written in place: each client sees its file through a bind mount, which a rename would break.
  for (const id of IDS) writeFileSync(hostsFile(id), `${lines.join('\n')}\n`);
}

function removeNamespaces(): void {
  for (const ns of namespaces.splice(0).reverse()) run('ip', ['netns', 'del', ns]);
}

function buildHosts(): void {
  process.on('exit', removeNamespaces); // a cut-short run still leaves nothing behind
  for (const ns of [SWITCH, ...IDS.map(hostNs)]) {
    must('ip', 'netns', 'add', ns);
    namespaces.push(ns);
    must('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  must('ip', '-n', SWITCH, 'link', 'add', BRIDGE, 'type', 'bridge');
  must('ip', '-n', SWITCH, 'link', 'set', BRIDGE, 'up');
  for (const id of IDS) {
    // Made inside the host's namespace (no name can collide there), its far end moved to the switch.
    const far = `${BRIDGE}p${id}`;
    must('ip', '-n', hostNs(id), 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', far);
    must('ip', '-n', hostNs(id), 'link', 'set', far, 'netns', SWITCH);
    must('ip', '-n', SWITCH, 'link', 'set', far, 'master', BRIDGE, 'up');
    must('ip', '-n', hostNs(id), 'addr', 'add', `${addressOf.get(id)}/24`, 'dev', 'eth0');
    must('ip', '-n', hostNs(id), 'link', 'set', 'eth0', 'up');
  }
  writeHosts();
  // No DNS server: a name missing from /etc/hosts fails at once, and no query leaves the host.
  writeFileSync(resolvFile, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  writeFileSync(configFile, JSON.stringify({
    cluster: `hosts-${RUN}`,
    transferTimeoutMs: 60_000,
    clients: IDS.map((id) => ({ id, host: dnsName(id), port: PORT, balanceCents: 1000 })),
  }, null, 2));
  writeFileSync(secretFile, `${randomBytes(24).toString('hex')}\n`);
}

/**
 * A command on host `id`, as its pod would run it: in the host's network namespace, under the
 * host's name, with the host's /etc/hosts. Returns the argv for spawn.
 */
function onHost(id: number, command: string[]): string[] {
  const script = [
    `echo ${hostName(id)} > /proc/sys/kernel/hostname`,
    `mount --bind "${hostsFile(id)}" /etc/hosts`,
    `mount --bind "${resolvFile}" /etc/resolv.conf`,
    'exec "$@"',
  ].join(' && ');
  return ['ip', 'netns', 'exec', hostNs(id), 'unshare', '--uts', '--mount', 'sh', '-c', script, 'sh', ...command];
}

const clients = new Map<number, ChildProcess>();
const output = new Map<number, string>();

function startClient(id: number): void {
  const [cmd, ...args] = onHost(id, [process.execPath, BIN, '--id-from-hostname', '--no-repl', '--config', configFile, '--data-dir', dataDir(id), '--secret-file', secretFile]);
  const child = spawn(cmd!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  output.set(id, '');
  const keep = (d: Buffer): void => void output.set(id, (output.get(id)! + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  clients.set(id, child);
}

async function stopClient(id: number): Promise<void> {
  const child = clients.get(id);
  clients.delete(id);
  if (child) await killAndWait(child, 'SIGTERM');
}

const ctl = (id: number, line: string, timeoutMs = 5000) => controlRequest(dataDir(id), line, timeoutMs);

async function allUp(ms = 20_000): Promise<void> {
  for (const id of IDS) {
    await waitFor(`client${id} with both peers up`, async () => (await ctl(id, 'status', 2000)).json.peersUp?.length === 2, ms, 100);
  }
}

async function converged(balances: Record<string, number>): Promise<number> {
  return waitFor('every replica at one head with the same balances', async () => {
    const views = await Promise.all(IDS.map((id) => ctl(id, 'balance all')));
    const heads = new Set(views.map((v) => `${v.json.height}:${v.json.head}`));
    if (heads.size !== 1) return false;
    return views.every((v) => JSON.stringify(v.json.balances) === JSON.stringify(balances)) ? views[0]!.json.height as number : false;
  }, 15_000, 100);
}

/** Drops everything between hosts a and b, both ways, with rules inside host a. */
function partition(a: number, b: number, on: boolean): void {
  const flag = on ? '-I' : '-D';
  must('ip', 'netns', 'exec', hostNs(a), 'iptables', flag, 'INPUT', '-s', addressOf.get(b)!, '-j', 'DROP');
  must('ip', 'netns', 'exec', hostNs(a), 'iptables', flag, 'OUTPUT', '-d', addressOf.get(b)!, '-j', 'DROP');
}

/** `client ctl --id-from-hostname <words>` run on host `id`, as a probe in its pod would. */
function ctlOnHost(id: number, words: string[]): { code: number | null; out: string } {
  const [cmd, ...args] = onHost(id, [process.execPath, BIN, 'ctl', '--id-from-hostname', ...words, '--data-dir', dataDir(id)]);
  const r = spawnSync(cmd!, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

// ---- the test ------------------------------------------------------------------------------------

describe('clients on separate hosts: a network namespace each, joined by a bridge', () => {
  beforeAll(async () => {
    if (problem !== null) return;
    buildHosts();
    for (const id of IDS) startClient(id);
    await allUp();
  }, 60_000);

  beforeEach((ctx) => {
    if (skipReason !== null) ctx.skip(skipReason);
    if (problem !== null) throw new Error(`separate-hosts test: ${problem} (CI=true: .ci/run must provide root, iproute2, iptables and util-linux)`);
  });

  afterAll(async () => {
    await Promise.all([...clients.keys()].map((id) => stopClient(id)));
    removeNamespaces();
    process.off('exit', removeNamespaces);
  }, 30_000);

  it('each client runs on its host\'s address under the name its pod would have, protected by the secret from a file', async () => {
    for (const id of IDS) {
      const st = await ctl(id, 'status');
      expect(st.json.id).toBe(id);
      expect(st.text).toMatch(new RegExp(`^client${id} {2}listening on ${addressOf.get(id)!.replaceAll('.', '\\.')}:${PORT}, `, 'm'));
      const peers = await ctl(id, 'peers');
      expect(peers.json.peers.map((p: { outgoing: string; incoming: string }) => `${p.outgoing}/${p.incoming}`)).toEqual(['up/up', 'up/up']);
    }
    // A probe in the pod: the client of this host, found from the host name alone.
    const probe = ctlOnHost(2, ['status', '--json']);
    expect(probe.code, probe.out).toBe(0);
    expect(JSON.parse(probe.out)).toMatchObject({ id: 2, peersUp: [1, 3] });
  });

  it('commits a transfer from every host and verifies a snapshot across them', async () => {
    const moves: [number, number, number][] = [[1, 2, 100], [2, 3, 200], [3, 1, 300]];
    const results = await Promise.all(moves.map(([from, to, cents]) => ctl(from, `transfer ${to} ${(cents / 100).toFixed(2)}`, 30_000)));
    for (const r of results) expect(r.json).toMatchObject({ ok: true, status: 'SUCCESS' });
    expect(await converged({ 1: 1200, 2: 900, 3: 900 })).toBe(3);
    const snap = await ctl(2, 'snapshot', 30_000);
    expect(snap.json.verified, snap.text).toBe(true);
  }, 60_000);

  it('a partition between two hosts stops every commit, each status says whom it waits for, and after it heals every transfer commits, none lost', async () => {
    partition(2, 3, true);
    let healed = false;
    try {
      // Heartbeat silence (3 s) ends the sessions across the cut.
      await waitFor('client2 and client3 see each other down', async () => {
        const [s2, s3] = await Promise.all([ctl(2, 'status'), ctl(3, 'status')]);
        return !s2.json.peersUp.includes(3) && !s3.json.peersUp.includes(2);
      }, 15_000, 100);
      const sent = Date.now();
      // Settled whatever happens, so that a failing assertion below leaves no unhandled rejection.
      const pending = ([[1, 3, 10], [2, 1, 20], [3, 2, 30]] as const).map(([from, to, cents]) =>
        ctl(from, `transfer ${to} 0.${cents}`, 90_000).then(
          (r) => ({ ...r, at: Date.now() }),
          (e: unknown) => ({ ok: false, text: String(e), json: null, at: Date.now() }),
        ));
      await sleep(5000);
      // Lamport's mutex needs a message from every peer: nobody commits, and everyone says why.
      const heights = await Promise.all(IDS.map(async (id) => (await ctl(id, 'status')).json.height as number));
      expect(heights).toEqual([3, 3, 3]);
      const waits = await Promise.all(IDS.map(async (id) => (await ctl(id, 'status')).json.waitingFor));
      expect(waits[1]).toEqual({ kind: 'peersDown', peers: [3] });
      expect(waits[2]).toEqual({ kind: 'peersDown', peers: [2] });
      expect(waits[0], 'client1 waits too, naming whom').not.toBeNull();
      const text = (await ctl(2, 'status')).text;
      expect(text).toMatch(/^waiting for {4}client3 to connect$/m);
      console.log(`partition 2|3: statuses wait for ${waits.map((w, i) => `client${i + 1}: ${JSON.stringify(w)}`).join('; ')}`);

      partition(2, 3, false);
      healed = true;
      const healedAt = Date.now();
      const done = await Promise.all(pending);
      for (const r of done) expect(r.json, r.text).toMatchObject({ ok: true, status: 'SUCCESS' });
      const first = Math.min(...done.map((r) => r.at)) - healedAt;
      const last = Math.max(...done.map((r) => r.at)) - healedAt;
      console.log(`partition 2|3 held ${((healedAt - sent) / 1000).toFixed(1)} s after the transfers were sent; after it healed the first commit came in ${first} ms, the last in ${last} ms`);
      expect(first).toBeGreaterThan(0);
      // Nothing lost: all three moved money exactly once.
      expect(await converged({ 1: 1200 - 10 + 20, 2: 900 - 20 + 30, 3: 900 - 30 + 10 })).toBe(6);
    } finally {
      if (!healed) partition(2, 3, false);
    }
  }, 90_000);

  it('a client that comes back at a new address under its name is found there: its name is looked up again at every redial, and said once while it does not resolve', async () => {
    await stopClient(3);
    // Its pod is gone and its name with it, as DNS drops a pod's record.
    addressOf.delete(3);
    writeHosts();
    await waitFor('client1 sees client3 down', async () => !(await ctl(1, 'status')).json.peersUp.includes(3), 15_000, 100);
    await sleep(3000); // several redials while the name does not resolve
    // Rescheduled: the same host name and volume, another address.
    must('ip', '-n', hostNs(3), 'addr', 'flush', 'dev', 'eth0');
    addressOf.set(3, '198.18.0.13');
    must('ip', '-n', hostNs(3), 'addr', 'add', '198.18.0.13/24', 'dev', 'eth0');
    writeHosts();
    startClient(3);
    await allUp();
    const r = await ctl(3, 'transfer 1 1.00', 30_000);
    expect(r.json).toMatchObject({ ok: true, status: 'SUCCESS' });
    expect(await converged({ 1: 1210 + 100, 2: 910, 3: 880 - 100 })).toBe(7);

    const log = readFileSync(path.join(dataDir(1), 'client.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; kind?: string });
    const unresolved = log.filter((l) => l.kind === 'UNRESOLVED' && l.level === 40).map((l) => l.msg);
    // EAI_AGAIN here: the name is in no /etc/hosts and the resolver's server (127.0.0.1) refuses.
    expect(unresolved).toHaveLength(1);
    expect(unresolved[0]).toMatch(new RegExp(`^client3's host name ${dnsName(3).replaceAll('.', '\\.')} does not resolve \\((EAI_AGAIN|ENOTFOUND)\\); looking it up again at every redial$`));
    expect(log.map((l) => l.msg)).toContain(`client3's host name ${dnsName(3)} resolves now, to 198.18.0.13`);
  }, 60_000);
});
