/**
 * A cluster of real client processes on this machine, one per client of a config, each started
 * as `client <n> --no-repl` and driven through its control socket: what `client cluster` and the
 * benchmark run on. It knows their pids (for /proc figures), can start them under
 * `node --cpu-prof`, waits until every peer is up, settles, stops them, starts, stops and
 * restarts one at a time, attaches to clients started elsewhere, and keeps each client's last
 * output lines to say why one died.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NodeId } from '../core/types.js';
import type { StatusView } from '../daemon/api.js';
import { type ClusterConfig, findClient, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlClient, socketAnswers } from '../daemon/control/client.js';
import { controlSocketPath } from '../daemon/control/protocol.js';
import { KindedError } from '../base/errors.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');

/**
 * Node flags of every client process started here. A young generation of at most 8 MiB a
 * semi-space (V8's default grows to 16) keeps a client about 15 MiB smaller after heavy load,
 * at no cost to throughput that `client bench` could measure; 4 MiB cost 5-10% of batched.
 */
export const CLIENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** Output lines kept per client, for saying why it died. */
const KEPT_LINES = 20;

export const ClusterErrorKind = {
  /** A client process exited while it was expected to run. */
  Exited: 'EXITED',
  /** A client did not see every peer up, or did not answer, in time. */
  NotUp: 'NOT_UP',
  /** Work stayed pending, or the chains disagreed, for longer than the caller would wait. */
  NotSettled: 'NOT_SETTLED',
  /** Clients of this config already run with these data dirs (started elsewhere); `clients` names them. */
  AlreadyRunning: 'ALREADY_RUNNING',
  /** A client's port is taken by a process that is not one of its clients. */
  PortInUse: 'PORT_IN_USE',
  /** The client is not running (stopped, exited, never started); `clients` names it. */
  NotRunning: 'NOT_RUNNING',
  /** The client was started elsewhere: this cluster may talk to it but not stop it. */
  Attached: 'ATTACHED',
  /** What answers on a client's control socket is another client. */
  WrongClient: 'WRONG_CLIENT',
} as const;
export type ClusterErrorKind = (typeof ClusterErrorKind)[keyof typeof ClusterErrorKind];

export class ClusterError extends KindedError<ClusterErrorKind> {
  constructor(
    kind: ClusterErrorKind,
    message: string,
    /** The clients the error is about, when it is about some. */
    readonly clients: readonly NodeId[] = [],
  ) {
    super(kind, message);
  }
}

/** A client process as this cluster knows it. */
export type ClientState =
  /** Started by this cluster and not exited. */
  | { readonly kind: 'running'; readonly pid: number; readonly since: number }
  /** Started elsewhere (another terminal); `answers`: its control connection is open. */
  | { readonly kind: 'attached'; readonly answers: boolean }
  /** Stopped by `stop`. */
  | { readonly kind: 'stopped'; readonly since: number }
  /** Exited on its own: `how` is `code 1` or a signal name. */
  | { readonly kind: 'exited'; readonly how: string; readonly since: number }
  | { readonly kind: 'notStarted' };

/** Whether a client of the config looks taken before anything is started. */
export interface ClientProbe {
  readonly id: NodeId;
  /** A client answers on `<dataRoot>/client-<n>/control.sock`. */
  readonly answers: boolean;
  /** Something else listens on the client's host and port. */
  readonly portInUse: boolean;
}

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
  /** A client exited while nobody was stopping it: `how` is `code 1` or a signal name. */
  readonly onExit?: (id: NodeId, how: string) => void;
  /** After SIGTERM a client gets this long to stop (and write its profile) before SIGKILL. Default 5 s. */
  readonly stopGraceMs?: number;
}

export interface UpOptions {
  /** How long every client gets to see all its peers up (default 30 s). */
  readonly timeoutMs?: number;
  /** Clients already running elsewhere to drive rather than start (they are left running at `down`). */
  readonly attach?: readonly NodeId[];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


/** Whether `host:port` is taken (only EADDRINUSE counts: an address not on this machine is not ours to judge). */
function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

/** The clients of `config` that answer on their control sockets under `dataRoot` (started by anyone). */
export async function clientsAnswering(config: ClusterConfig, dataRoot: string): Promise<NodeId[]> {
  const ids = nodeIds(config);
  const answers = await Promise.all(ids.map((id) => socketAnswers(controlSocketPath(path.join(dataRoot, `client-${id}`)))));
  return ids.filter((_, i) => answers[i]);
}

const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

export class LocalCluster {
  readonly config: ClusterConfig;
  readonly ids: readonly NodeId[];
  private readonly children = new Map<NodeId, { readonly child: ChildProcess; readonly since: number }>();
  private readonly ended = new Map<NodeId, ClientState>();
  private readonly attached = new Set<NodeId>();
  private readonly lines = new Map<NodeId, string[]>();
  private readonly connections = new Map<NodeId, ControlClient>();
  /** Clients being stopped on purpose: their exit is not news. */
  private readonly stopping = new Set<NodeId>();
  private down_ = false;

  constructor(private readonly o: SpawnOptions) {
    this.config = loadConfig(o.configPath);
    this.ids = nodeIds(this.config);
  }

  dataDir(id: NodeId): string {
    return path.join(this.o.dataRoot, `client-${id}`);
  }

  /** The pid of every running client started here. */
  pids(): Map<NodeId, number> {
    const out = new Map<NodeId, number>();
    for (const [id, c] of this.children) if (c.child.pid !== undefined) out.set(id, c.child.pid);
    return out;
  }

  state(id: NodeId): ClientState {
    if (this.attached.has(id)) return { kind: 'attached', answers: this.connections.get(id)?.closed === false };
    const c = this.children.get(id);
    if (c !== undefined && c.child.pid !== undefined) return { kind: 'running', pid: c.child.pid, since: c.since };
    return this.ended.get(id) ?? { kind: 'notStarted' };
  }

  /** Which clients of the config already answer on their control sockets, and whose ports are taken. */
  async probe(): Promise<ClientProbe[]> {
    return Promise.all(
      this.ids.map(async (id) => {
        const answers = await socketAnswers(controlSocketPath(this.dataDir(id)));
        const c = findClient(this.config, id)!;
        return { id, answers, portInUse: !answers && (await portInUse(c.host, c.port)) };
      }),
    );
  }

  /**
   * Starts every client (but those in `attach`, which run already and are only connected to) and
   * waits until each has all its peers up; then each has a control connection. Refuses, before
   * starting anything, when a client to start runs already or its port is taken.
   */
  async up(o: UpOptions = {}): Promise<void> {
    const timeoutMs = o.timeoutMs ?? 30_000;
    const attach = new Set(o.attach ?? []);
    const toStart = this.ids.filter((id) => !attach.has(id));
    const probes = (await this.probe()).filter((p) => toStart.includes(p.id));
    const running = probes.filter((p) => p.answers).map((p) => p.id);
    if (running.length > 0) {
      throw new ClusterError(
        ClusterErrorKind.AlreadyRunning,
        `${running.map((id) => `client${id}`).join(', ')} of ${this.o.configPath} ${running.length === 1 ? 'is' : 'are'} already running (${running.map((id) => controlSocketPath(this.dataDir(id))).join(', ')} answer${running.length === 1 ? 's' : ''})`,
        running,
      );
    }
    const taken = probes.filter((p) => p.portInUse);
    if (taken.length > 0) {
      const where = taken.map((p) => {
        const c = findClient(this.config, p.id)!;
        return `client${p.id}'s ${c.host}:${c.port}`;
      });
      throw new ClusterError(ClusterErrorKind.PortInUse, `${where.join(', ')} ${taken.length === 1 ? 'is' : 'are'} in use by another process (a client of this config with another data dir?)`, taken.map((p) => p.id));
    }
    for (const id of attach) await this.attach(id);
    if (this.o.cpuProfileDir) mkdirSync(this.o.cpuProfileDir, { recursive: true });
    for (const id of toStart) this.spawn(id);
    const deadline = Date.now() + timeoutMs;
    for (const id of this.ids) {
      for (;;) {
        if (!attach.has(id) && !this.children.has(id)) throw new ClusterError(ClusterErrorKind.Exited, `client${id} exited during start-up${this.said(id)}`, [id]);
        if (await this.allPeersUp(id)) {
          if (!this.connections.has(id)) this.connections.set(id, await this.connect(id));
          break;
        }
        if (Date.now() > deadline) throw new ClusterError(ClusterErrorKind.NotUp, `client${id} did not connect to every peer within ${timeoutMs / 1000} s${this.said(id)}`, [id]);
        await sleep(50);
      }
    }
    // Up means one session: every client in the same membership view, so a first transfer does
    // not meet a view still changing (which would only delay it, and change its clocks).
    while (!(await this.oneView())) {
      if (Date.now() > deadline) throw new ClusterError(ClusterErrorKind.NotUp, `the clients did not agree on who is connected within ${timeoutMs / 1000} s`, [...this.ids]);
      await sleep(50);
    }
  }

  /** Whether every client reports the same membership view. */
  private async oneView(): Promise<boolean> {
    try {
      const views = await Promise.all(this.ids.map(async (id) => (await this.control(id).status()).node.view));
      return views.every((v) => v === views[0]);
    } catch {
      return false;
    }
  }

  /** Takes client `id`, running elsewhere, into this cluster: connects and checks who answers. */
  private async attach(id: NodeId): Promise<void> {
    const conn = await this.connect(id);
    const who = await conn.identity();
    if (who.self !== id) {
      conn.close();
      throw new ClusterError(ClusterErrorKind.WrongClient, `client${who.self}, not client${id}, answers at ${conn.socketPath}`, [id]);
    }
    this.attached.add(id);
    this.connections.set(id, conn);
  }

  /**
   * Starts client `id` again from its data dir (after `stop`, or after it exited) and waits until
   * it answers on its control socket; it catches up from its peers by itself.
   */
  async start(id: NodeId, timeoutMs = 15_000): Promise<void> {
    const state = this.state(id);
    if (state.kind === 'running' || (state.kind === 'attached' && state.answers)) throw new ClusterError(ClusterErrorKind.AlreadyRunning, `client${id} is already running`, [id]);
    if (await socketAnswers(controlSocketPath(this.dataDir(id)))) {
      throw new ClusterError(ClusterErrorKind.AlreadyRunning, `client${id} is already running elsewhere (${controlSocketPath(this.dataDir(id))} answers)`, [id]);
    }
    // An attached client that went away is started here now, and stopped here at the end.
    this.attached.delete(id);
    this.connections.get(id)?.close();
    this.connections.delete(id);
    this.spawn(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.children.has(id)) throw new ClusterError(ClusterErrorKind.Exited, `client${id} exited during start-up${this.said(id)}`, [id]);
      const conn = await this.connect(id).catch(() => null);
      if (conn !== null) {
        this.connections.set(id, conn);
        return;
      }
      if (Date.now() > deadline) throw new ClusterError(ClusterErrorKind.NotUp, `client${id} did not answer on its control socket within ${timeoutMs / 1000} s${this.said(id)}`, [id]);
      await sleep(50);
    }
  }

  /** Stops client `id` (SIGTERM, then SIGKILL after the grace period); its data dir stays. */
  async stop(id: NodeId): Promise<void> {
    if (this.attached.has(id)) throw new ClusterError(ClusterErrorKind.Attached, `client${id} was started elsewhere: stop it where it runs`, [id]);
    const c = this.children.get(id);
    if (c === undefined) throw new ClusterError(ClusterErrorKind.NotRunning, `client${id} is not running`, [id]);
    this.stopping.add(id);
    this.connections.get(id)?.close();
    this.connections.delete(id);
    await this.terminate(c.child);
    this.stopping.delete(id);
    this.ended.set(id, { kind: 'stopped', since: Date.now() });
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

  /** The control connection to client `id`; throws a NOT_RUNNING ClusterError, saying why, when there is none. */
  control(id: NodeId): ControlClient {
    const c = this.connections.get(id);
    if (c === undefined) throw new ClusterError(ClusterErrorKind.NotRunning, `client${id} is not running${this.why(id)}`, [id]);
    return c;
  }

  /**
   * The control connection to client `id`, opened again if it ended while the client runs (an
   * attached client restarted in its own terminal, say).
   */
  async reach(id: NodeId): Promise<ControlClient> {
    const c = this.control(id);
    if (!c.closed) return c;
    const again = await this.connect(id).catch(() => null);
    if (again === null) throw new ClusterError(ClusterErrorKind.NotRunning, `client${id} is not running${this.why(id)}`, [id]);
    this.connections.set(id, again);
    return again;
  }

  /** Why client `id` has no connection, as a parenthesis: `(it exited: code 1)`, `(stopped)`. */
  private why(id: NodeId): string {
    const s = this.state(id);
    switch (s.kind) {
      case 'stopped':
        return ' (stopped)';
      case 'exited':
        return ` (it exited: ${s.how})`;
      case 'attached':
        return s.answers ? '' : ' (started elsewhere, and it no longer answers)';
      case 'running':
        return ' (it is starting)';
      case 'notStarted':
        return ' (never started)';
    }
  }

  /** Another control connection to client `id`, the caller's to close. */
  connect(id: NodeId): Promise<ControlClient> {
    return ControlClient.connect(this.dataDir(id));
  }

  async statuses(): Promise<StatusView[]> {
    return Promise.all(this.ids.map(async (id) => (await this.reach(id)).status()));
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

  /** Closes the control connections and stops every client started here (attached ones are left running). */
  async down(): Promise<void> {
    this.down_ = true;
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
    await Promise.all([...this.children.values()].map((c) => this.terminate(c.child)));
  }

  /** SIGTERM, SIGKILL after the grace period; resolves once the process is gone. */
  private terminate(child: ChildProcess): Promise<void> {
    const grace = this.o.stopGraceMs ?? 5_000;
    return new Promise<void>((resolve) => {
      if (exited(child)) return resolve();
      const killer = setTimeout(() => child.kill('SIGKILL'), grace);
      child.once('exit', () => {
        clearTimeout(killer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private spawn(id: NodeId): void {
    const profile = this.o.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', this.o.cpuProfileDir, '--cpu-prof-name', `client${id}.cpuprofile`] : [];
    const args = [...CLIENT_NODE_FLAGS, ...profile, CLIENT_BIN, String(id), '--no-repl', '--config', this.o.configPath, '--data-dir', this.dataDir(id), ...(this.o.clientArgs ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(this.o.env ?? {}) } });
    this.children.set(id, { child, since: Date.now() });
    this.ended.delete(id);
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
      if (this.children.get(id)?.child !== child) return;
      this.children.delete(id);
      this.connections.get(id)?.close();
      this.connections.delete(id);
      if (this.down_ || this.stopping.has(id)) return;
      const how = signal ?? `code ${code}`;
      this.ended.set(id, { kind: 'exited', how, since: Date.now() });
      this.o.onExit?.(id, how);
    });
  }

  /** What an error about client `id` adds: its last lines, unless they were shown already. */
  private said(id: NodeId): string {
    if (this.o.onLine) return ' (see its lines above)';
    const kept = this.lines.get(id) ?? [];
    return kept.length > 0 ? `; its last lines:\n  ${kept.join('\n  ')}` : '';
  }
}
