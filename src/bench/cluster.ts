/**
 * The benchmark's cluster: N real client processes on loopback, started like `LocalCluster` does
 * (same executable, same flags, a config from `generateConfig` on free ports) but spawned here so
 * that the benchmark knows their pids (for VmRSS and CPU time from /proc) and can start them under
 * `node --cpu-prof`. Driven only through control-socket connections (`ControlClient`), several per
 * client, each with many requests in flight.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateConfig } from '../cli/cluster.js';
import { ControlClient, ControlError } from '../daemon/control.js';
import type { Outcome } from '../daemon/daemon.js';
import { sleep } from './stats.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');

/** Every client starts with this much, so no benchmark transfer ever fails for lack of money. */
export const BENCH_BALANCE_CENTS = 1_000_000_000_000;
/** Control connections opened per client; requests are spread over them. */
export const CONNECTIONS_PER_CLIENT = 4;

export interface BenchClusterOptions {
  readonly size: number;
  /** Root of the config and the clients' data dirs. */
  readonly root: string;
  /** When set, clients run under `node --cpu-prof` and write their profiles here. */
  readonly profileDir?: string;
  readonly logLevel?: string;
  /** Extra flags for every client (a variant of the defaults, like --no-fsync). */
  readonly clientArgs?: readonly string[];
  /** Extra environment for every client (a cluster secret, say). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface StatusJson {
  readonly pendingTransfers: number;
  readonly requesting: unknown;
  readonly height: number;
  readonly head: string;
  readonly peersUp: readonly number[];
}

export interface EndCheck {
  readonly passed: boolean;
  readonly settled: boolean;
  readonly chainsIdentical: boolean;
  readonly conserved: boolean;
  readonly height: number;
  readonly head: string;
  /** Sum of the genesis balances, in cents. */
  readonly expectedTotalCents: number;
  /** What each client's `balance all` sums to, in cents. */
  readonly totalsCents: Readonly<Record<string, number>>;
  readonly detail: string;
}

function asStatus(o: Outcome): StatusJson {
  const j = o.json as Partial<StatusJson> | null;
  if (!o.ok || j === null || typeof j !== 'object' || typeof j.height !== 'number' || typeof j.head !== 'string') {
    throw new ControlError(`unexpected status answer: ${o.text.slice(0, 200)}`);
  }
  return { pendingTransfers: j.pendingTransfers ?? 0, requesting: j.requesting ?? null, height: j.height, head: j.head, peersUp: j.peersUp ?? [] };
}

/** Resident set size of a process in MiB, from /proc (null where there is no /proc). */
export function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat (null without /proc). */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export class BenchCluster {
  readonly ids: number[];
  readonly configPath: string;
  private readonly children = new Map<number, ChildProcess>();
  private readonly stderrTail = new Map<number, string[]>();
  private readonly conns = new Map<number, ControlClient[]>();
  private expectedTotal = 0;

  constructor(private readonly o: BenchClusterOptions) {
    this.ids = Array.from({ length: o.size }, (_, i) => i + 1);
    this.configPath = path.join(o.root, 'config.json');
  }

  dataDir(id: number): string {
    return path.join(this.o.root, `client-${id}`);
  }

  get totalCents(): number {
    return this.expectedTotal;
  }

  /** The pid of every running client. */
  pids(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, c] of this.children) if (c.pid !== undefined) out.set(id, c.pid);
    return out;
  }

  /** Control connections of a client (CONNECTIONS_PER_CLIENT of them). */
  connections(id: number): ControlClient[] {
    const c = this.conns.get(id);
    if (!c) throw new Error(`bench: no control connections to client${id}`);
    return c;
  }

  ctl(id: number, line: string): Promise<Outcome> {
    return this.connections(id)[0]!.request(line);
  }

  /** Writes the config (free loopback ports, big balances), starts every client, waits for the mesh. */
  async up(timeoutMs = 30_000): Promise<void> {
    await generateConfig(this.o.size, this.configPath, `bench-${this.o.size}`);
    const config = JSON.parse(readFileSync(this.configPath, 'utf8')) as { cluster: string; clients: { balanceCents: number }[] };
    for (const c of config.clients) c.balanceCents = BENCH_BALANCE_CENTS;
    this.expectedTotal = BENCH_BALANCE_CENTS * config.clients.length;
    writeFileSync(this.configPath, `${JSON.stringify({ ...config, transferTimeoutMs: 120_000, snapshotTimeoutMs: 60_000 }, null, 2)}\n`);
    if (this.o.profileDir) mkdirSync(this.o.profileDir, { recursive: true });
    for (const id of this.ids) this.start(id);

    const deadline = Date.now() + timeoutMs;
    for (const id of this.ids) {
      for (;;) {
        this.assertAlive(id, 'during start-up');
        try {
          const conn = await ControlClient.connect(this.dataDir(id));
          try {
            const s = asStatus(await conn.request('status'));
            if (s.peersUp.length === this.ids.length - 1) break;
          } finally {
            conn.close();
          }
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new ControlError(`client${id} did not connect to every peer within ${timeoutMs / 1000} s${this.tail(id)}`);
        await sleep(50);
      }
    }
    for (const id of this.ids) {
      const list: ControlClient[] = [];
      for (let k = 0; k < CONNECTIONS_PER_CLIENT; k++) list.push(await ControlClient.connect(this.dataDir(id)));
      this.conns.set(id, list);
    }
  }

  private start(id: number): void {
    const nodeFlags = this.o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', this.o.profileDir, '--cpu-prof-name', `client${id}.cpuprofile`] : [];
    const args = [...nodeFlags, CLIENT_BIN, String(id), '--no-repl', '--config', this.configPath, '--data-dir', this.dataDir(id), '--log-level', this.o.logLevel ?? 'warn', ...(this.o.clientArgs ?? [])];
    // stdout carries per-block notices for a person; nobody reads them here, so they go nowhere.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(this.o.env ?? {}) } });
    this.children.set(id, child);
    const tail: string[] = [];
    this.stderrTail.set(id, tail);
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
    });
    child.on('exit', () => this.children.delete(id));
  }

  private tail(id: number): string {
    const t = this.stderrTail.get(id) ?? [];
    return t.length ? `; its last lines:\n  ${t.join('\n  ')}` : '';
  }

  assertAlive(id: number, when: string): void {
    if (!this.children.has(id)) throw new ControlError(`client${id} exited ${when}${this.tail(id)}`);
  }

  async statuses(): Promise<StatusJson[]> {
    return Promise.all(this.ids.map(async (id) => asStatus(await this.ctl(id, 'status'))));
  }

  /** Waits until no client has work queued or a lock request out and every chain has the same head. */
  async settle(timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await this.statuses();
      const idle = states.every((s) => s.pendingTransfers === 0 && s.requesting === null);
      const same = states.every((s) => s.height === states[0]!.height && s.head === states[0]!.head);
      if (idle && same) return true;
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
  }

  /** All chains identical (`chain 1`: height + head) and money conserved (`balance all` on every client). */
  async endCheck(): Promise<EndCheck> {
    const settled = await this.settle();
    const chains = await Promise.all(this.ids.map(async (id) => (await this.ctl(id, 'chain 1')).json as { height: number; head: string }));
    const views = await Promise.all(this.ids.map(async (id) => (await this.ctl(id, 'balance all')).json as { balances: Record<string, number> }));
    const first = chains[0]!;
    const chainsIdentical = chains.every((c) => c.height === first.height && c.head === first.head);
    const totalsCents: Record<string, number> = {};
    this.ids.forEach((id, i) => {
      totalsCents[String(id)] = Object.values(views[i]!.balances).reduce((a, b) => a + b, 0);
    });
    const tables = views.map((v) => JSON.stringify(v.balances));
    const conserved = Object.values(totalsCents).every((t) => t === this.expectedTotal) && tables.every((t) => t === tables[0]);
    const detail = [
      chainsIdentical
        ? `chains identical on all ${this.ids.length} clients at #${first.height} ${first.head.slice(0, 12)}`
        : `CHAINS DIFFER: ${chains.map((c, i) => `client${this.ids[i]} #${c.height} ${c.head.slice(0, 12)}`).join(', ')}`,
      conserved
        ? `money conserved (every client's balances sum to ${this.expectedTotal} cents and the tables agree)`
        : `MONEY NOT CONSERVED: sums ${Object.entries(totalsCents).map(([k, v]) => `client${k} ${v}`).join(', ')}; expected ${this.expectedTotal}`,
      ...(settled ? [] : ['the cluster did not settle within 60 s']),
    ].join('; ');
    return { passed: chainsIdentical && conserved, settled, chainsIdentical, conserved, height: first.height, head: first.head, expectedTotalCents: this.expectedTotal, totalsCents, detail };
  }

  /** Closes the control connections and stops every client (SIGTERM, so profiles get written). */
  async down(): Promise<void> {
    for (const list of this.conns.values()) for (const c of list) c.close();
    this.conns.clear();
    const exits = [...this.children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
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
