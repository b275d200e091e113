/**
 * The benchmark's cluster: N real client processes on loopback (the shared spawner, so the
 * benchmark knows their pids for VmRSS and CPU time from /proc and can start them under
 * `node --cpu-prof`), with balances no transfer can exhaust. Driven only through control-socket
 * connections, several per client, each with many requests in flight.
 */
import path from 'node:path';
import { generateConfig } from '../cluster/config.js';
import { LocalCluster } from '../cluster/spawner.js';
import type { NodeId } from '../core/types.js';
import type { ControlClient } from '../daemon/control/client.js';

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

export interface EndCheck {
  readonly passed: boolean;
  readonly settled: boolean;
  readonly chainsIdentical: boolean;
  readonly conserved: boolean;
  readonly height: number;
  readonly head: string;
  /** Sum of the genesis balances, in cents. */
  readonly expectedTotalCents: number;
  /** What each client's balance table sums to, in cents. */
  readonly totalsCents: Readonly<Record<string, number>>;
  readonly detail: string;
}

export class BenchCluster {
  readonly ids: NodeId[];
  readonly configPath: string;
  private processes: LocalCluster | null = null;
  private readonly conns = new Map<NodeId, ControlClient[]>();
  private expectedTotal = 0;

  constructor(private readonly o: BenchClusterOptions) {
    this.ids = Array.from({ length: o.size }, (_, i) => i + 1);
    this.configPath = path.join(o.root, 'config.json');
  }

  /** Root of the config and the clients' data dirs (client n's is `<root>/client-<n>`). */
  get root(): string {
    return this.o.root;
  }

  private get cluster(): LocalCluster {
    if (this.processes === null) throw new Error('bench: the cluster is not up');
    return this.processes;
  }

  /** The pid of every running client. */
  pids(): Map<NodeId, number> {
    return this.processes?.pids() ?? new Map();
  }

  /** Control connections of a client (CONNECTIONS_PER_CLIENT of them). */
  connections(id: NodeId): ControlClient[] {
    const c = this.conns.get(id);
    if (!c) throw new Error(`bench: no control connections to client${id}`);
    return c;
  }

  /** Writes the config (free loopback ports, big balances), starts every client, waits for the mesh. */
  async up(timeoutMs = 30_000): Promise<void> {
    this.expectedTotal = await generateConfig(this.o.size, this.configPath, `bench-${this.o.size}`, { balanceCents: BENCH_BALANCE_CENTS, transferTimeoutMs: 120_000, snapshotTimeoutMs: 60_000 });
    this.processes = new LocalCluster({
      configPath: this.configPath,
      dataRoot: this.o.root,
      clientArgs: ['--log-level', this.o.logLevel ?? 'warn', ...(this.o.clientArgs ?? [])],
      ...(this.o.env ? { env: this.o.env } : {}),
      ...(this.o.profileDir ? { cpuProfileDir: this.o.profileDir } : {}),
      // SIGTERM makes a profiled client write its profile, which can take a while.
      stopGraceMs: 15_000,
    });
    await this.processes.up({ timeoutMs });
    for (const id of this.ids) {
      const list: ControlClient[] = [];
      for (let k = 0; k < CONNECTIONS_PER_CLIENT; k++) list.push(await this.processes.connect(id));
      this.conns.set(id, list);
    }
  }

  /** Waits until no client has work queued or a lock request out and every chain has the same head. */
  settle(timeoutMs = 60_000): Promise<boolean> {
    return this.cluster.settle(timeoutMs);
  }

  /** All chains identical (height and head) and money conserved (every client's balance table). */
  async endCheck(): Promise<EndCheck> {
    const settled = await this.settle();
    const chains = await Promise.all(this.ids.map((id) => this.cluster.control(id).chain(1)));
    const views = await Promise.all(this.ids.map((id) => this.cluster.control(id).balances()));
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
    await this.processes?.down();
  }
}
