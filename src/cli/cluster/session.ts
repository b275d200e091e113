/**
 * A local cluster as `client cluster` shows it: the spawned clients' own lines prefixed (and
 * coloured) by client, REPL lines run on any client as its own REPL would run them, and each
 * client's process started, stopped and listed.
 */
import type { NodeId } from '../../core/types.js';
import { type ClusterConfig, findClient } from '../../daemon/config.js';
import type { ControlClient } from '../../daemon/control/client.js';
import { type ClientProbe, type ClientState, ClusterError, ClusterErrorKind, LocalCluster } from '../../cluster/spawner.js';
import { type Answer, runLine } from '../interpret.js';

const COLORS = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92];

export interface SessionOptions {
  readonly configPath: string;
  readonly dataRoot: string;
  /** Flags for every client (`--delay`, `--snapshot-every`, `--transfer-timeout`). */
  readonly clientArgs: readonly string[];
  /** Where the clients' own lines go (prefixed); null to drop them. */
  readonly echo: ((line: string) => void) | null;
  /** Whether the terminal shows colours (the prefix is coloured then). */
  readonly colour?: boolean;
}

/** One row of `ps`. */
export interface ProcessRow {
  readonly id: NodeId;
  readonly state: ClientState;
  /** `host:port` from the config. */
  readonly address: string;
  readonly dataDir: string;
}

export class ClusterSession {
  private readonly processes: LocalCluster;
  /** Where echoed client lines go; the cluster prompt routes them above itself. */
  private say: ((line: string) => void) | null;
  private readonly colour: boolean;

  constructor(o: SessionOptions) {
    this.say = o.echo;
    this.colour = o.colour ?? false;
    this.processes = new LocalCluster({
      configPath: o.configPath,
      dataRoot: o.dataRoot,
      // The cluster says where its clients listen and when they are up: they need not, each.
      clientArgs: ['--quiet-start', ...o.clientArgs],
      ...(o.echo === null ? {} : { onLine: (id: NodeId, line: string) => this.say?.(`${this.label(id)} ${line}`) }),
      onExit: (id, how) => this.say?.(`${this.label(id)} exited (${how}); start ${id} starts it again`),
    });
  }

  get ids(): readonly NodeId[] {
    return this.processes.ids;
  }

  get config(): ClusterConfig {
    return this.processes.config;
  }

  /** Sends echoed client lines to `print` instead (when echoing at all). */
  echoThrough(print: (line: string) => void): void {
    if (this.say !== null) this.say = print;
  }

  /** A line about the cluster, where the clients' own lines go (above the prompt). */
  announce(line: string): void {
    this.say?.(line);
  }

  /** Which clients already answer on their control sockets (started elsewhere) or have their port taken. */
  probe(): Promise<ClientProbe[]> {
    return this.processes.probe();
  }

  /** Starts every client but those in `attach` (running already: only connected to), waits for the mesh. */
  up(attach: readonly NodeId[] = []): Promise<void> {
    return this.processes.up({ attach });
  }

  /** Client `id`'s control connection, for typed calls. */
  client(id: NodeId): ControlClient {
    return this.processes.control(id);
  }

  /** Client `id`'s control connection, opened again if it ended; a client that is not running is a NOT_RUNNING ClusterError. */
  reach(id: NodeId): Promise<ControlClient> {
    return this.processes.reach(id);
  }

  /** A REPL line on client `id`; a client that is not running is a NOT_RUNNING ClusterError. */
  async run(id: NodeId, line: string): Promise<Answer> {
    return runLine(line, await this.processes.reach(id), { self: id, nodes: this.ids }, { dataDir: this.processes.dataDir(id) });
  }

  /** Stops client `id`; false when it was not running (nothing to do). */
  async stop(id: NodeId): Promise<boolean> {
    const state = this.processes.state(id);
    if (state.kind !== 'running' && state.kind !== 'attached') return false;
    await this.processes.stop(id);
    return true;
  }

  /** Starts client `id`; false when it was running already (nothing to do). Resolves with its pid. */
  async start(id: NodeId): Promise<number | false> {
    const state = this.processes.state(id);
    if (state.kind === 'running' || (state.kind === 'attached' && state.answers)) return false;
    await this.processes.start(id);
    const now = this.processes.state(id);
    if (now.kind !== 'running') throw new ClusterError(ClusterErrorKind.Exited, `client${id} exited during start-up`, [id]);
    return now.pid;
  }

  state(id: NodeId): ClientState {
    return this.processes.state(id);
  }

  dataDir(id: NodeId): string {
    return this.processes.dataDir(id);
  }

  /** Every client's process, in client order. */
  async ps(): Promise<ProcessRow[]> {
    // An attached client restarted in its own terminal answers again, on a new connection.
    await Promise.all(this.attached().map((id) => this.processes.reach(id).catch(() => null)));
    return this.ids.map((id) => {
      const c = findClient(this.config, id)!;
      return { id, state: this.processes.state(id), address: `${c.host}:${c.port}`, dataDir: this.processes.dataDir(id) };
    });
  }

  /** Clients this session drives but did not start. */
  attached(): NodeId[] {
    return this.ids.filter((id) => this.processes.state(id).kind === 'attached');
  }

  /** Waits until nothing is pending anywhere and the chains agree; throws after a minute. */
  async settle(): Promise<void> {
    const timeoutMs = 60_000;
    if (!(await this.processes.settle(timeoutMs))) throw new ClusterError(ClusterErrorKind.NotSettled, `the cluster did not settle within ${timeoutMs / 1000} s`);
  }

  /** Stops every client started here; attached ones are left running. */
  down(): Promise<void> {
    return this.processes.down();
  }

  /** `[client2]`, in its colour on a terminal: what the client's own lines, and its traced messages, are printed after. */
  label(id: NodeId): string {
    const color = COLORS[(id - 1) % COLORS.length]!;
    return this.colour ? `\u001b[${color}m[client${id}]\u001b[0m` : `[client${id}]`;
  }
}
