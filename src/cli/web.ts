/**
 * `client web`: the live view of the clients of a config that already run (found through their
 * control sockets, as `client ctl` finds them), or the replay of a saved run; and the same page
 * for the cluster prompt (`npm start`, `client cluster`), which can also stop and start its
 * clients from it.
 */
import path from 'node:path';
import type { NodeId } from '../core/types.js';
import { type ClientState, clientsAnswering } from '../cluster/spawner.js';
import { type ClusterConfig, nodeIds } from '../daemon/config.js';
import { reachableFromOtherMachines } from '../daemon/listen.js';
import type { Processes } from '../web/actions.js';
import { isTraceError } from '../trace/errors.js';
import { resolveSources } from '../trace/load.js';
import { webToken } from '../web/access.js';
import { WebServer } from '../web/server.js';
import type { ClusterSession } from './cluster/session.js';
import { loadOrExit, resolveConfigPath } from './config-file.js';
import { SECRET_ENV, SECRET_FILE_ENV } from './env.js';
import { fail } from './fail.js';
import { secretOrExit } from './secret.js';

export interface WebCliOptions {
  port?: number;
  config?: string;
  dataDir?: string;
  listen?: string;
  /** Data dirs or trace files to replay instead of watching live clients (true: the config's data dirs). */
  replay?: string[] | boolean;
  /** The cluster secret's file (see secret.ts), needed beyond loopback. */
  secretFile?: string;
}

const names = (ids: readonly NodeId[]): string => ids.map((id) => `client${id}`).join(', ');

/**
 * The token a page served on `host` needs: none on loopback; beyond it, one derived from the
 * cluster secret, found where `client` finds it (secret.ts), which must exist (as the peers'
 * protected mode demands).
 */
export function tokenFor(host: string, config: ClusterConfig, configPath: string, secretFile: string | undefined): string | null {
  if (!reachableFromOtherMachines(host)) return null;
  const secret = secretOrExit(config, secretFile);
  if (secret === null) {
    fail(
      `client web would listen on ${host}, reachable from other machines, where its controls would move money and stop clients for anyone. ` +
        `Set "secret" in ${configPath}, ${SECRET_ENV} or ${SECRET_FILE_ENV}, or give --secret-file (the cluster's secret): the page then asks for a token derived from it.`,
    );
  }
  return webToken(secret, config.cluster);
}

/** How the page says a cluster client's process is. */
export function processWords(s: ClientState): string {
  switch (s.kind) {
    case 'running':
      return 'running';
    case 'attached':
      return s.answers ? 'started elsewhere' : 'started elsewhere, not answering';
    case 'stopped':
      return 'stopped';
    case 'exited':
      return `exited (${s.how})`;
    case 'notStarted':
      return 'not started';
  }
}

/** Stop, start and restart from the page, as the prompt's own commands do them. */
export function clusterProcesses(cluster: ClusterSession): Processes {
  return {
    state: (id) => processWords(cluster.state(id)),
    stop: async (id) => ((await cluster.stop(id)) ? `client${id} stopped (its data stays in ${cluster.dataDir(id)})` : `client${id} is not running`),
    start: async (id) => {
      const pid = await cluster.start(id);
      return pid === false ? `client${id} is already running` : `client${id} started (pid ${pid}); it catches up from its peers`;
    },
    restart: async (id) => {
      await cluster.stop(id);
      const pid = await cluster.start(id);
      return `client${id} restarted (pid ${pid === false ? '?' : pid})`;
    },
  };
}

export interface ClusterWebOptions {
  readonly port?: number;
  readonly title: string;
  /** Each control carried out from the page, in one line. */
  readonly say: (line: string) => void;
}

/** The page of a cluster prompt: its clients, with stop, start and restart. */
export function startClusterWeb(cluster: ClusterSession, o: ClusterWebOptions): Promise<WebServer> {
  return WebServer.start({
    nodes: cluster.ids,
    dataDir: (id) => cluster.dataDir(id),
    title: o.title,
    port: o.port ?? 0,
    processes: clusterProcesses(cluster),
    onAction: (line) => o.say(`[live view] ${line}`),
  });
}

/** `client web`: serves until Ctrl-C or SIGTERM. */
export async function runWeb(o: WebCliOptions): Promise<void> {
  const configPath = resolveConfigPath(o.config);
  const config = loadOrExit(configPath);
  // Where the config keeps its clients' data dirs (its dataDir), unless --data-dir says.
  const root = o.dataDir ?? config.dataDir;
  const host = o.listen ?? '127.0.0.1';
  const token = tokenFor(host, config, configPath, o.secretFile);
  const ids = nodeIds(config);
  const dataDir = (id: NodeId): string => path.join(root, `client-${id}`);
  const replay = o.replay === undefined || o.replay === false ? undefined : o.replay === true || o.replay.length === 0 ? ids.map(dataDir) : o.replay;
  if (replay) {
    // A source that cannot be read is said now, not when the page first asks for it.
    try {
      resolveSources(replay);
    } catch (e) {
      if (isTraceError(e)) fail(`client web --replay: ${e.message}`);
      throw e;
    }
  }
  let web: WebServer;
  try {
    web = await WebServer.start({
      nodes: ids,
      dataDir,
      title: replay ? `replay of ${replay.join(', ')}` : `${names(ids)} (config ${configPath}, data in ${root})`,
      host,
      port: o.port ?? 0,
      token,
      ...(replay ? { replay } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(code === 'EADDRINUSE' ? `port ${o.port} on ${host} is in use (choose another with --port, or 0 for any free one)` : `cannot serve the live view on ${host}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (replay) {
    process.stdout.write(`replay of ${replay.join(', ')}: ${web.url}\n`);
  } else {
    const answering = await clientsAnswering(config, root);
    const missing = ids.filter((id) => !answering.includes(id));
    process.stdout.write(`live view of ${names(ids)} (config ${configPath}, data in ${root}): ${web.url}\n`);
    process.stdout.write(
      missing.length === ids.length
        ? `no client of ${configPath} answers under ${root} yet: each appears on the page as it starts\n`
        : missing.length > 0
          ? `${names(missing)} not running yet: ${missing.length === 1 ? 'it appears' : 'they appear'} on the page once started\n`
          : '',
    );
  }
  process.stdout.write(replay ? 'Ctrl-C stops the page\n' : 'Ctrl-C stops the page (the clients go on)\n');
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void web.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
}
