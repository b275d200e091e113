/**
 * A local cluster as `client cluster` shows it: the spawned clients' own lines prefixed (and
 * coloured) by client, and REPL lines run on any client as its own REPL would run them.
 */
import type { NodeId } from '../../core/types.js';
import type { ClusterConfig } from '../../daemon/config.js';
import type { ControlClient } from '../../daemon/control/client.js';
import { ClusterError, ClusterErrorKind, LocalCluster } from '../../cluster/spawner.js';
import { type Answer, runLine } from '../interpret.js';

const COLORS = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92];

export interface SessionOptions {
  readonly configPath: string;
  readonly dataRoot: string;
  /** Flags for every client (`--delay`, `--snapshot-every`, `--transfer-timeout`). */
  readonly clientArgs: readonly string[];
  /** Where the clients' own lines go (prefixed); null to drop them. */
  readonly echo: ((line: string) => void) | null;
}

export class ClusterSession {
  private readonly processes: LocalCluster;
  /** Where echoed client lines go; the cluster prompt routes them above itself. */
  private say: ((line: string) => void) | null;

  constructor(o: SessionOptions) {
    this.say = o.echo;
    this.processes = new LocalCluster({
      configPath: o.configPath,
      dataRoot: o.dataRoot,
      clientArgs: o.clientArgs,
      ...(o.echo === null ? {} : { onLine: (id: NodeId, line: string) => this.say?.(`${prefix(id)} ${line}`) }),
      onExit: (id, how) => this.say?.(`${prefix(id)} exited (${how})`),
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

  up(): Promise<void> {
    return this.processes.up();
  }

  /** Client `id`'s control connection, for typed calls. */
  client(id: NodeId): ControlClient {
    return this.processes.control(id);
  }

  /** A REPL line on client `id`. */
  run(id: NodeId, line: string): Promise<Answer> {
    return runLine(line, this.processes.control(id), { self: id, nodes: this.ids });
  }

  /** Waits until nothing is pending anywhere and the chains agree; throws after a minute. */
  async settle(): Promise<void> {
    const timeoutMs = 60_000;
    if (!(await this.processes.settle(timeoutMs))) throw new ClusterError(ClusterErrorKind.NotSettled, `the cluster did not settle within ${timeoutMs / 1000} s`);
  }

  down(): Promise<void> {
    return this.processes.down();
  }
}

/** `client2` in its colour on a terminal. */
function prefix(id: NodeId): string {
  const color = COLORS[(id - 1) % COLORS.length]!;
  return process.stdout.isTTY ? `\u001b[${color}m[client${id}]\u001b[0m` : `[client${id}]`;
}
