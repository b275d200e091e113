/**
 * `npm start` / `client cluster [N]`: a local cluster of separate client processes driven from one
 * terminal through their control sockets, with a random workload mode and a command-file mode.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatCents } from '../core/money.js';
import { centsToInput } from './format.js';
import { printAbovePrompt } from './repl.js';
import { type ClusterConfig, loadConfig, nodeIds } from '../daemon/config.js';
import type { Outcome } from '../daemon/daemon.js';
import { ControlError, sendControl } from '../daemon/control.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');
const COLORS = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92];

export interface ClusterOptions {
  readonly configPath: string;
  readonly dataRoot: string;
  readonly delay?: string;
  readonly snapshotEvery?: number;
  readonly transferTimeout?: number;
  readonly logLevel?: string;
  /** Where client output goes (prefixed); null to drop it. */
  readonly echo: ((line: string) => void) | null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Writes a config for `n` clients on free loopback ports with $10.00 each. */
export async function generateConfig(n: number, file: string, cluster: string): Promise<void> {
  const clients = [];
  for (let id = 1; id <= n; id++) clients.push({ id, host: '127.0.0.1', port: await freePort(), balanceCents: 1000 });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ cluster, clients }, null, 2)}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LocalCluster {
  /** Where echoed client lines go; the cluster REPL routes them above its prompt. */
  private say: ((line: string) => void) | null;
  readonly config: ClusterConfig;
  readonly ids: number[];
  private readonly children = new Map<number, ChildProcess>();
  /** Each client's last lines, shown if it dies while its output is not echoed. */
  private readonly recent = new Map<number, string[]>();
  private stopping = false;

  constructor(private readonly o: ClusterOptions) {
    this.say = o.echo;
    this.config = loadConfig(o.configPath);
    this.ids = nodeIds(this.config);
  }

  /** Sends echoed client lines to `print` instead (when echoing at all). */
  echoThrough(print: (line: string) => void): void {
    if (this.say !== null) this.say = print;
  }

  dataDir(id: number): string {
    return path.join(this.o.dataRoot, `client-${id}`);
  }

  private prefix(id: number): string {
    const color = COLORS[(id - 1) % COLORS.length]!;
    return process.stdout.isTTY ? `\x1b[${color}m[client${id}]\x1b[0m` : `[client${id}]`;
  }

  start(id: number): void {
    const args = [CLIENT_BIN, String(id), '--no-repl', '--config', this.o.configPath, '--data-dir', this.dataDir(id)];
    if (this.o.delay) args.push('--delay', this.o.delay);
    if (this.o.snapshotEvery) args.push('--snapshot-every', String(this.o.snapshotEvery));
    if (this.o.transferTimeout) args.push('--transfer-timeout', String(this.o.transferTimeout));
    if (this.o.logLevel) args.push('--log-level', this.o.logLevel);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.set(id, child);
    for (const stream of [child.stdout, child.stderr]) {
      const rl = readline.createInterface({ input: stream });
      rl.on('line', (line) => {
        this.say?.(`${this.prefix(id)} ${line}`);
        const recent = this.recent.get(id) ?? [];
        recent.push(line);
        if (recent.length > 20) recent.shift();
        this.recent.set(id, recent);
      });
    }
    child.on('exit', (code, signal) => {
      this.children.delete(id);
      if (!this.stopping) this.say?.(`${this.prefix(id)} exited (${signal ?? `code ${code}`})`);
    });
  }

  /** Starts every client and waits until each has all its peers connected. */
  async up(timeoutMs = 30_000): Promise<void> {
    for (const id of this.ids) this.start(id);
    const deadline = Date.now() + timeoutMs;
    for (const id of this.ids) {
      for (;;) {
        if (!this.children.has(id)) {
          const said = this.o.echo ? ' (see its lines above)' : `:\n${(this.recent.get(id) ?? ['(no output)']).map((l) => `  ${l}`).join('\n')}`;
          throw new ControlError(`client${id} exited during start-up${said}`);
        }
        try {
          const out = await sendControl(this.dataDir(id), 'status', 5_000);
          const s = out.json as { peersUp?: unknown[] };
          if ((s.peersUp?.length ?? 0) === this.ids.length - 1) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new ControlError(`client${id} did not connect to every peer within ${timeoutMs / 1000} s`);
        await sleep(100);
      }
    }
  }

  ctl(id: number, line: string, timeoutMs = 120_000): Promise<Outcome> {
    return sendControl(this.dataDir(id), line, timeoutMs);
  }

  /** Waits until no client has a transfer waiting or a lock request outstanding. */
  async settle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(this.ids.map((id) => this.ctl(id, 'status').then((o) => o.json as { pendingTransfers: number; requesting: unknown; height: number; head: string })));
      const idle = states.every((s) => s.pendingTransfers === 0 && s.requesting === null);
      const same = states.every((s) => s.height === states[0]!.height && s.head === states[0]!.head);
      if (idle && same) return;
      if (Date.now() > deadline) throw new ControlError(`the cluster did not settle within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }

  async down(): Promise<void> {
    this.stopping = true;
    const exits = [...this.children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          const killer = setTimeout(() => c.kill('SIGKILL'), 5_000);
          c.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }
}

/** A line addressed to the cluster: `2 transfer 3 1.50`, `all balance`, or a bare command. */
export function addressOf(line: string, ids: readonly number[], current: number): { targets: number[]; command: string } | { error: string } {
  const [first = '', ...rest] = line.trim().split(/\s+/);
  if (first === 'all') return rest.length ? { targets: [...ids], command: rest.join(' ') } : { error: 'all what? e.g. all balance' };
  const n = Number(first.replace(/^client/, ''));
  if (/^(client)?\d+$/.test(first)) {
    if (!ids.includes(n)) return { error: `unknown client ${first}: the cluster has ${ids.map((i) => `client${i}`).join(', ')}` };
    return rest.length ? { targets: [n], command: rest.join(' ') } : { error: `what should client${n} do? e.g. ${n} balance all` };
  }
  return { targets: [current], command: line.trim() };
}

/** The interactive cluster REPL. Resolves when the user leaves. */
export async function clusterRepl(cluster: LocalCluster, json: boolean): Promise<void> {
  let current = cluster.ids[0]!;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: `cluster(client${current})> `, historySize: 1000 });
  const print = (text: string): void => printAbovePrompt(rl, process.stdout, text);
  // The clients' own lines go above the prompt too from now on.
  cluster.echoThrough(print);
  process.stdout.write(`cluster of ${cluster.ids.length} clients is up. Address a client: "2 transfer 3 1.50", every client: "all balance", set the default: "use 2". exit or Ctrl-C stops them all.\n`);
  return new Promise((resolve) => {
    rl.on('line', (line) => {
      const t = line.trim();
      if (t === '') return rl.prompt();
      if (t === 'exit' || t === 'quit') return rl.close();
      const use = /^use\s+(?:client)?(\d+)$/.exec(t);
      if (use) {
        const n = Number(use[1]);
        if (!cluster.ids.includes(n)) print(`error: unknown client ${use[1]}`);
        else {
          current = n;
          rl.setPrompt(`cluster(client${current})> `);
        }
        return rl.prompt();
      }
      const a = addressOf(t, cluster.ids, current);
      if ('error' in a) return print(`error: ${a.error}`);
      for (const id of a.targets) {
        cluster.ctl(id, a.command).then(
          (o) => print(`${a.targets.length > 1 || id !== current ? `client${id}: ` : ''}${json ? JSON.stringify(o.json) : o.text.replace(/\n/g, `\n${a.targets.length > 1 ? '  ' : ''}`)}`),
          (e: unknown) => print(`client${id}: error: ${e instanceof Error ? e.message : String(e)}`),
        );
      }
      rl.prompt();
    });
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => resolve());
    rl.prompt();
  });
}

export interface AutoOptions {
  readonly rate: number;
  readonly durationS: number;
  readonly seed: number;
}

export interface AutoSummary {
  committed: number;
  failed: number;
  snapshots: number;
  snapshotsVerified: number;
  balances: Record<string, number>;
  total: number;
  expectedTotal: number;
  conserved: boolean;
  chainsIdentical: boolean;
}

/** Random transfers between random clients at `rate`/s for `durationS` seconds. */
export async function runAuto(cluster: LocalCluster, o: AutoOptions, log: (line: string) => void): Promise<AutoSummary> {
  // A seeded xorshift so a run's workload can be repeated (--seed).
  let x = o.seed >>> 0 || 1;
  const rand = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const ids = cluster.ids;
  const summary: AutoSummary = { committed: 0, failed: 0, snapshots: 0, snapshotsVerified: 0, balances: {}, total: 0, expectedTotal: 0, conserved: false, chainsIdentical: false };
  const inFlight: Promise<void>[] = [];
  const end = Date.now() + o.durationS * 1000;
  const interval = 1000 / o.rate;
  let next = Date.now();
  while (Date.now() < end) {
    const from = ids[Math.floor(rand() * ids.length)]!;
    const others = ids.filter((i) => i !== from);
    const to = others[Math.floor(rand() * others.length)]!;
    // One in ten beyond any balance, so refusals are exercised too.
    const cents = rand() < 0.1 ? 100_000 + Math.floor(rand() * 100_000) : 1 + Math.floor(rand() * 300);
    const amount = centsToInput(cents);
    inFlight.push(
      cluster.ctl(from, `transfer ${to} ${amount}`).then(
        (r) => {
          if (r.ok) summary.committed++;
          else summary.failed++;
        },
        () => {
          summary.failed++;
        },
      ),
    );
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(inFlight);
  await cluster.settle();
  for (const id of ids) {
    const list = (await cluster.ctl(id, 'snapshots')).json as { snapshots: { id: string; verified: boolean }[] };
    for (const s of list.snapshots) {
      if (!s.id.startsWith(`${id}.`)) continue;
      summary.snapshots++;
      if (s.verified) summary.snapshotsVerified++;
    }
  }
  const views = await Promise.all(ids.map((id) => cluster.ctl(id, 'balance all').then((r) => r.json as { balances: Record<string, number>; head: string })));
  summary.balances = views[0]!.balances;
  summary.total = Object.values(summary.balances).reduce((a, b) => a + b, 0);
  summary.expectedTotal = cluster.config.clients.reduce((a, c) => a + c.balanceCents, 0);
  summary.chainsIdentical = views.every((v) => v.head === views[0]!.head);
  summary.conserved = summary.total === summary.expectedTotal && views.every((v) => JSON.stringify(v.balances) === JSON.stringify(summary.balances));
  log(renderSummary(summary));
  return summary;
}

export function renderSummary(s: AutoSummary): string {
  return [
    `committed ${s.committed}, failed ${s.failed}`,
    `snapshots ${s.snapshots} taken, ${s.snapshotsVerified} verified`,
    `final balances: ${Object.entries(s.balances).map(([k, v]) => `client${k} ${formatCents(v)}`).join(', ')}`,
    `total ${formatCents(s.total)} of ${formatCents(s.expectedTotal)}: conserved ${s.conserved ? 'yes' : 'NO'}; chains identical ${s.chainsIdentical ? 'yes' : 'NO'}`,
  ].join('\n');
}

export class ScriptError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

/**
 * Runs a command file. Lines: `<n|all> <command>` (waits for the result; a trailing `&` does
 * not), `wait MS`, `settle`, `expect ...` (see the README), `# comments`. Stops at the first
 * failed expect.
 */
export async function runScript(cluster: LocalCluster, file: string, log: (line: string) => void): Promise<void> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const background: Promise<unknown>[] = [];
  let last: Outcome | null = null;
  let lastSnapshot: { verified: boolean; verdict: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const no = i + 1;
    const text = lines[i]!.replace(/#.*$/, '').trim();
    if (!text) continue;
    const fail = (why: string): never => {
      throw new ScriptError(file, no, why);
    };
    log(`> ${text}`);
    const [word = '', ...args] = text.split(/\s+/);
    if (word === 'wait') {
      const ms = Number(args[0]);
      if (!Number.isInteger(ms) || ms < 0) fail(`wait takes milliseconds, e.g. wait 500`);
      await sleep(ms);
      continue;
    }
    if (word === 'settle') {
      await Promise.all(background.splice(0));
      await cluster.settle();
      continue;
    }
    if (word === 'expect') {
      await Promise.all(background.splice(0));
      await expectLine(cluster, args, last, lastSnapshot).then(
        (msg) => log(`  ok: ${msg}`),
        (e: unknown) => fail(`expect failed: ${e instanceof Error ? e.message : String(e)}`),
      );
      continue;
    }
    const bg = text.endsWith('&');
    const a = addressOf(bg ? text.slice(0, -1) : text, cluster.ids, cluster.ids[0]!);
    if ('error' in a) return fail(a.error);
    if (!/^(\d+|client\d+|all)$/.test(word)) fail(`address a client first, e.g. "1 ${text}" or "all ${text}"`);
    const run = Promise.all(
      a.targets.map(async (id) => {
        const out = await cluster.ctl(id, a.command);
        log(`  client${id}: ${out.text.replace(/\n/g, '\n    ')}`);
        last = out;
        const j = out.json as { verified?: unknown; verdict?: unknown };
        if (a.command.trim() === 'snapshot') lastSnapshot = { verified: j.verified === true, verdict: typeof j.verdict === 'string' ? j.verdict : out.text };
      }),
    );
    if (bg) background.push(run);
    else await run;
  }
  await Promise.all(background);
}

/** `expect <n> balance <m> <amount>`, `expect <n|all> height <h>`, `expect ok|failed`, `expect snapshot verified`, `expect converged`. */
async function expectLine(cluster: LocalCluster, args: string[], last: Outcome | null, lastSnapshot: { verified: boolean; verdict: string } | null): Promise<string> {
  const [a = '', b = '', c = '', d = ''] = args;
  if (a === 'ok' || a === 'failed') {
    if (!last) throw new Error('no command has run yet');
    if (last.ok !== (a === 'ok')) throw new Error(`the last command ${last.ok ? 'succeeded' : 'failed'}: ${last.text.split('\n')[0]}`);
    return `last command ${a}`;
  }
  if (a === 'snapshot' && b === 'verified') {
    if (!lastSnapshot) throw new Error('no snapshot has been taken yet');
    if (!lastSnapshot.verified) throw new Error(lastSnapshot.verdict);
    return lastSnapshot.verdict;
  }
  if (a === 'converged') {
    const views = await Promise.all(cluster.ids.map((id) => cluster.ctl(id, 'chain 1').then((o) => o.json as { height: number; head: string })));
    if (!views.every((v) => v.head === views[0]!.head)) throw new Error(`chains differ: ${views.map((v, i) => `client${cluster.ids[i]} #${v.height} ${v.head.slice(0, 8)}`).join(', ')}`);
    return `every chain at #${views[0]!.height} ${views[0]!.head.slice(0, 8)}`;
  }
  const targets = a === 'all' ? cluster.ids : [Number(a.replace(/^client/, ''))];
  if (targets.some((t) => !cluster.ids.includes(t))) throw new Error(`unknown client ${a}`);
  if (b === 'height') {
    const want = Number(c);
    for (const id of targets) {
      const h = ((await cluster.ctl(id, 'chain 1')).json as { height: number }).height;
      if (h !== want) throw new Error(`client${id} is at height ${h}, expected ${want}`);
    }
    return `height ${want}`;
  }
  if (b === 'balance') {
    const who = c.replace(/^client/, '');
    const m = /^\$?(\d+)(?:\.(\d{1,2}))?$/.exec(d);
    if (!m) throw new Error(`expect ${a} balance ${c} <amount>: "${d}" is not an amount`);
    const want = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
    for (const id of targets) {
      const got = ((await cluster.ctl(id, 'balance all')).json as { balances: Record<string, number> }).balances[who];
      if (got === undefined) throw new Error(`no client ${c}`);
      if (got !== want) throw new Error(`client${id} sees client${who} at ${formatCents(got)}, expected ${formatCents(want)}`);
    }
    return `client${who} has ${formatCents(want)}`;
  }
  throw new Error(`unknown expectation "${args.join(' ')}" (see the README: expect <n> balance <m> <amount> | <n|all> height <h> | ok | failed | snapshot verified | converged)`);
}

/** A fresh temporary data root, removed by the returned function. */
export function tempDataRoot(): { root: string; remove: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'll-'));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}
