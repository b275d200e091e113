/**
 * A cluster of real client processes on this machine, one per client of a config, each started
 * as `client <n> --no-repl` and driven through its control socket: what `client cluster` and the
 * benchmark run on. It knows their pids (for /proc figures), can start them under
 * `node --cpu-prof`, waits until every peer is up, settles, stops them, and keeps each client's
 * last output lines to say why one died.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NodeId } from '../core/types.js';
import type { StatusView } from '../daemon/api.js';
import { type ClusterConfig, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlClient } from '../daemon/control/client.js';
import { KindedError } from '../shared/errors.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');

/** Output lines kept per client, for saying why it died. */
const KEPT_LINES = 20;

export const ClusterErrorKind = {
  /** A client process exited while it was expected to run. */
  Exited: 'EXITED',
  /** A client did not see every peer up in time. */
  NotUp: 'NOT_UP',
  /** Work stayed pending, or the chains disagreed, for longer than the caller would wait. */
  NotSettled: 'NOT_SETTLED',
} as const;
export type ClusterErrorKind = (typeof ClusterErrorKind)[keyof typeof ClusterErrorKind];

export class ClusterError extends KindedError<ClusterErrorKind> {}

export interface SpawnOptions {
  readonly configPath: string;
  /** Client n's data dir is `<dataRoot>/client-<n>`. */
  readonly dataRoot: string;
  /** Flags for every client after `<n> --no-repl --config --data-dir` (`--delay 20`, `--no-fsync`, ...). */
  readonly clientArgs?: readonly string[];
  /** Environment for every client on top of this process's (a cluster secret, say). */
  readonly env?: Readonly<Record<string, string>>;
  /** Run every client under `node --cpu-prof`, writing `<dir>/client<n>.cpuprofile` when it stops. */
  readonly cpuProfileDir?: string;
  /**
   * Each line a client writes, stdout and stderr. Whoever passes this shows them, so errors
   * about a client say "see its lines above" instead of repeating its last lines.
   */
  readonly onLine?: (id: NodeId, line: string) => void;
  /** A client exited while the cluster was not stopping: `how` is `code 1` or a signal name. */
  readonly onExit?: (id: NodeId, how: string) => void;
  /** After SIGTERM a client gets this long to stop (and write its profile) before SIGKILL. Default 5 s. */
  readonly stopGraceMs?: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class LocalCluster {
  readonly config: ClusterConfig;
  readonly ids: readonly NodeId[];
  private readonly children = new Map<NodeId, ChildProcess>();
  private readonly lines = new Map<NodeId, string[]>();
  private readonly connections = new Map<NodeId, ControlClient>();
  private stopping = false;

  constructor(private readonly o: SpawnOptions) {
    this.config = loadConfig(o.configPath);
    this.ids = nodeIds(this.config);
  }

  dataDir(id: NodeId): string {
    return path.join(this.o.dataRoot, `client-${id}`);
  }

  /** The pid of every running client. */
  pids(): Map<NodeId, number> {
    const out = new Map<NodeId, number>();
    for (const [id, c] of this.children) if (c.pid !== undefined) out.set(id, c.pid);
    return out;
  }

  private running(id: NodeId): boolean {
    return this.children.has(id);
  }

  /** The last lines client `id` wrote. */
  private lastLines(id: NodeId): readonly string[] {
    return this.lines.get(id) ?? [];
  }

  /** Starts every client and waits until each has all its peers up; then each has a control connection. */
  async up(timeoutMs = 30_000): Promise<void> {
    if (this.o.cpuProfileDir) mkdirSync(this.o.cpuProfileDir, { recursive: true });
    for (const id of this.ids) this.start(id);
    const deadline = Date.now() + timeoutMs;
    for (const id of this.ids) {
      for (;;) {
        if (!this.running(id)) throw new ClusterError(ClusterErrorKind.Exited, `client${id} exited during start-up${this.said(id)}`);
        if (await this.allPeersUp(id)) {
          this.connections.set(id, await this.connect(id));
          break;
        }
        if (Date.now() > deadline) throw new ClusterError(ClusterErrorKind.NotUp, `client${id} did not connect to every peer within ${timeoutMs / 1000} s${this.said(id)}`);
        await sleep(50);
      }
    }
  }

  /** Whether client `id` answers and sees every peer up (false while it is not listening yet). */
  private async allPeersUp(id: NodeId): Promise<boolean> {
    const conn = await ControlClient.connect(this.dataDir(id), { timeoutMs: 5_000 }).catch(() => null);
    if (conn === null) return false;
    try {
      return (await conn.status()).node.peersUp.length === this.ids.length - 1;
    } catch {
      return false;
    } finally {
      conn.close();
    }
  }

  /** The control connection `up` opened to client `id`. */
  control(id: NodeId): ControlClient {
    const c = this.connections.get(id);
    if (!c) throw new Error(`cluster: no control connection to client${id} (is the cluster up?)`);
    return c;
  }

  /** Another control connection to client `id`, the caller's to close. */
  connect(id: NodeId): Promise<ControlClient> {
    return ControlClient.connect(this.dataDir(id));
  }

  async statuses(): Promise<StatusView[]> {
    return Promise.all(this.ids.map((id) => this.control(id).status()));
  }

  /** Waits until no client has a transfer waiting or a lock request out and every chain has the same head; false if that takes too long. */
  async settle(timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = (await this.statuses()).map((s) => s.node);
      const idle = states.every((s) => s.pendingTransfers === 0 && s.requesting === null);
      const same = states.every((s) => s.height === states[0]!.height && s.head === states[0]!.head);
      if (idle && same) return true;
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
  }

  /** Closes the control connections and stops every client: SIGTERM, then SIGKILL after the grace period. */
  async down(): Promise<void> {
    this.stopping = true;
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
    const grace = this.o.stopGraceMs ?? 5_000;
    await Promise.all(
      [...this.children.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const killer = setTimeout(() => c.kill('SIGKILL'), grace);
            c.once('exit', () => {
              clearTimeout(killer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }

  private start(id: NodeId): void {
    const profile = this.o.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', this.o.cpuProfileDir, '--cpu-prof-name', `client${id}.cpuprofile`] : [];
    const args = [...profile, CLIENT_BIN, String(id), '--no-repl', '--config', this.o.configPath, '--data-dir', this.dataDir(id), ...(this.o.clientArgs ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(this.o.env ?? {}) } });
    this.children.set(id, child);
    const kept: string[] = [];
    this.lines.set(id, kept);
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.o.onLine?.(id, line);
        kept.push(line);
        if (kept.length > KEPT_LINES) kept.shift();
      });
    }
    child.on('exit', (code, signal) => {
      this.children.delete(id);
      if (!this.stopping) this.o.onExit?.(id, signal ?? `code ${code}`);
    });
  }

  /** What an error about client `id` adds: its last lines, unless they were shown already. */
  private said(id: NodeId): string {
    if (this.o.onLine) return ' (see its lines above)';
    const kept = this.lastLines(id);
    return kept.length > 0 ? `; its last lines:\n  ${kept.join('\n  ')}` : '';
  }
}
