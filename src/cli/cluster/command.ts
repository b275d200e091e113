/**
 * `npm start` / `client cluster [N]` / `client cluster run FILE...`: a local cluster of separate
 * client processes driven from this terminal (interactively or from piped input), with a random
 * workload, or by command files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readlineSync from 'readline-sync';
import type { NodeId } from '../../core/types.js';
import { generateConfig } from '../../cluster/config.js';
import { ClusterError, ClusterErrorKind, clientsAnswering } from '../../cluster/spawner.js';
import { loadConfig, nodeIds } from '../../daemon/config.js';
import { KindedError } from '../../base/errors.js';
import { loadOrExit } from '../config-file.js';
import { secretOrExit } from '../secret.js';
import { fail } from '../fail.js';
import { HISTORY_FILE } from '../repl.js';
import { writeSnapshotPage } from '../../trace/run.js';
import { startClusterWeb } from '../web.js';
import { runAuto } from './auto.js';
import { clusterPiped, clusterRepl } from './prompt.js';
import { type Script, parseScript, runScript } from './script.js';
import { ClusterSession } from './session.js';

export interface ClusterCliOptions {
  config?: string;
  dataDir?: string;
  auto?: number;
  duration?: number;
  snapshotEvery?: number;
  delay?: string;
  transferTimeout?: number;
  seed: number;
  json?: boolean;
  size?: number;
  /** Drive clients of the config that already run instead of refusing. */
  attach?: boolean;
  /** Delete the clients' data dirs first. */
  fresh?: boolean;
  /** Serve the live view (default true; --no-web). */
  web?: boolean;
  webPort?: number;
}

/** A fresh temporary data root, removed by the returned function. */
export function tempDataRoot(): { root: string; remove: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'll-'));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function clusterSize(n: string | undefined): number {
  const parse = (text: string): number | null => {
    const size = Number(text);
    return /^\s*\d+\s*$/.test(text) && size >= 2 && size <= 16 ? size : null;
  };
  const wrong = (text: string): string => `cluster size must be a whole number from 2 to 16, got "${text}"`;
  if (n !== undefined) return parse(n) ?? fail(wrong(n));
  if (!process.stdin.isTTY) return 3;
  // Blocking prompt: fine here, no client runs yet. A wrong answer asks again.
  for (;;) {
    const answer = readlineSync.question('How many clients? (2-16, Enter for 3): ') || '3';
    const size = parse(answer);
    if (size !== null) return size;
    process.stderr.write(`${wrong(answer)}\n`);
  }
}

interface Prepared {
  readonly configPath: string;
  readonly dataRoot: string;
  /** Whether the data root is a temporary dir, removed by `cleanup`. */
  readonly temporary: boolean;
  readonly cleanup: () => void;
}

/**
 * Whether clients started from this generated config still run (from another terminal): then the
 * config stays as it is, ports and all, so that they are found (and refused, or attached to)
 * rather than a new config written over theirs.
 */
async function generatedClientsRun(configPath: string, dataRoot: string, size: number): Promise<boolean> {
  if (!existsSync(configPath)) return false;
  try {
    const config = loadConfig(configPath);
    return nodeIds(config).length === size && (await clientsAnswering(config, dataRoot)).length > 0;
  } catch {
    return false;
  }
}

/** The config and data root a cluster command runs on: the given config, or a generated one. */
async function prepareCluster(size: number | null, o: ClusterCliOptions, fresh: boolean, dataDir = o.dataDir): Promise<Prepared> {
  const temp = fresh && !dataDir ? tempDataRoot() : null;
  const cleanup = (): void => temp?.remove();
  // A config's clients keep their data where it says (data/ by default), apart from other configs'.
  if (o.config) return { configPath: o.config, dataRoot: dataDir ?? temp?.root ?? loadOrExit(o.config).dataDir, temporary: temp !== null, cleanup };
  const n = size ?? 3;
  const dataRoot = dataDir ?? temp?.root ?? path.join('data', `cluster-${n}`);
  const configPath = path.join(dataRoot, 'config.json');
  if (temp !== null || !(await generatedClientsRun(configPath, dataRoot, n))) await generateConfig(n, configPath, `cluster-${n}`);
  return { configPath, dataRoot, temporary: temp !== null, cleanup };
}

/** The flags every client of the cluster gets from the cluster's own. */
function clientArgs(o: ClusterCliOptions): string[] {
  return [
    ...(o.delay ? ['--delay', o.delay] : []),
    ...(o.snapshotEvery ? ['--snapshot-every', String(o.snapshotEvery)] : []),
    ...(o.transferTimeout ? ['--transfer-timeout', String(o.transferTimeout)] : []),
  ];
}

/**
 * Whatever ends this process early stops the clients first, or they would outlive it: Ctrl-C
 * outside a prompt, SIGTERM, a terminal closed (SIGHUP), output nobody reads any more (`| head`).
 */
function stopClientsOnInterruption(stop: () => Promise<void>): void {
  let leaving = false;
  const leave = (code: number) => (): void => {
    if (leaving) return;
    leaving = true;
    void stop().then(() => process.exit(code));
  };
  process.on('SIGINT', leave(130));
  process.on('SIGTERM', leave(143));
  process.on('SIGHUP', leave(129));
  // A write that fails (EPIPE) is an 'error' event on the stream, which would end the process at once.
  process.stdout.on('error', leave(1));
  process.stderr.on('error', leave(1));
}

const names = (ids: readonly NodeId[]): string => ids.map((id) => `client${id}`).join(', ');

/** "starting 3 clients (...)...": where the data goes, and whether it outlives the run. */
function startingLine(count: number, p: Prepared, o: ClusterCliOptions): string {
  const where = p.temporary ? 'data in a temporary dir, deleted when the run ends; --data-dir <dir> keeps it' : `config ${p.configPath}, data in ${p.dataRoot}`;
  return `starting ${count} client${count === 1 ? '' : 's'} (${where}${o.delay ? `; every message held ${o.delay} ms (--delay)` : ''})...`;
}

/** `--fresh`: deletes the clients' data dirs, refusing while any of them runs. */
async function startFresh(cluster: ClusterSession, say: (line: string) => void): Promise<void> {
  const running = (await cluster.probe()).filter((p) => p.answers).map((p) => p.id);
  if (running.length > 0) fail(`--fresh: ${names(running)} ${running.length === 1 ? 'is' : 'are'} running with this data; stop ${running.length === 1 ? 'it' : 'them'} first (nothing was deleted)`);
  const removed = cluster.ids.map((id) => cluster.dataDir(id)).filter((dir) => existsSync(dir));
  for (const dir of removed) rmSync(dir, { recursive: true, force: true });
  say(removed.length > 0 ? `--fresh: deleted ${removed.join(', ')}` : '--fresh: no data to delete');
}

/** `client cluster [N]` and `npm start`: the prompt (a terminal), piped lines, or the --auto workload. */
export async function runCluster(n: string | undefined, o: ClusterCliOptions): Promise<void> {
  const auto = o.auto !== undefined;
  const piped = !auto && process.stdin.isTTY !== true;
  if (o.fresh && o.attach) fail('--fresh deletes the clients\' data and --attach drives clients that run on it: choose one');
  const prepared = await prepareCluster(o.config ? null : clusterSize(n), o, auto);
  // Piped, stdout carries the answers alone; what the cluster and its clients say goes to stderr.
  const say = (line: string): void => void (piped ? process.stderr : process.stdout).write(`${line}\n`);
  const cluster = new ClusterSession({
    configPath: prepared.configPath,
    dataRoot: prepared.dataRoot,
    clientArgs: clientArgs(o),
    // In workload runs the clients' own lines would drown the summary.
    echo: auto ? null : say,
    colour: !piped && process.stdout.isTTY === true,
  });
  let code = 0;
  let stopped = false;
  let web: Awaited<ReturnType<typeof startClusterWeb>> | null = null;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await web?.close();
    await cluster.down();
    prepared.cleanup();
  };
  stopClientsOnInterruption(stopAll);
  try {
    if (o.fresh) await startFresh(cluster, say);
    const running = (await cluster.probe()).filter((p) => p.answers).map((p) => p.id);
    if (running.length > 0 && !o.attach) {
      const all = running.length === cluster.ids.length;
      const them = running.length === 1 ? 'it' : 'them';
      fail(
        `${all ? `the clients of ${prepared.configPath} (${names(running)})` : `${names(running)} of ${prepared.configPath}`} ${running.length === 1 ? 'is' : 'are'} already running with data in ${prepared.dataRoot}, started elsewhere; nothing was started. ` +
          `Stop ${them} first, or drive ${them} from here with --attach (npm start -- --attach)${all ? '' : ', which starts the others'}.`,
      );
    }
    const attach = o.attach ? running : [];
    const toStart = cluster.ids.filter((id) => !attach.includes(id));
    if (attach.length > 0) say(`attaching to ${names(attach)} (already running, started elsewhere: exit leaves ${attach.length === 1 ? 'it' : 'them'} running)`);
    if (toStart.length > 0) say(startingLine(toStart.length, prepared, o));
    await cluster.up(attach);
    if (auto) {
      const summary = await runAuto(cluster, { rate: o.auto!, durationS: o.duration ?? 10, seed: o.seed }, say);
      if (o.json) say(JSON.stringify(summary));
      if (!summary.conserved || !summary.chainsIdentical || summary.snapshotsVerified !== summary.snapshots) code = 1;
    } else {
      // The clients are up, so the secret they found (where this finds it too) was a good one.
      const tls = secretOrExit(cluster.config, undefined) !== null ? '; channels TLS (cluster secret)' : '';
      say(
        `cluster of ${cluster.ids.length} clients is up${attach.length > 0 ? ` (${names(attach)} attached)` : ''}${tls}. "2 transfer 3 1.50" runs on client2, "all balance" on every client, "use 2" sets where a bare command goes; ` +
          `help lists the rest. exit or Ctrl-D stops ${attach.length > 0 ? 'the clients started here' : 'them all'}.`,
      );
      if (o.web !== false) {
        try {
          web = await startClusterWeb(cluster, { title: `${names(cluster.ids)} (config ${prepared.configPath}, data in ${prepared.dataRoot})`, say: (line) => cluster.announce(line), ...(o.webPort === undefined ? {} : { port: o.webPort }) });
          say(`live view: ${web.url} (watch and drive the clients in a browser; --no-web turns it off)`);
        } catch (e) {
          // The prompt works without the page: say why there is none and go on.
          say(`live view not served: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (piped) code = await clusterPiped(cluster, { json: o.json === true, input: process.stdin, output: process.stdout });
      else await clusterRepl(cluster, { json: o.json === true, historyFile: path.join(prepared.dataRoot, HISTORY_FILE) });
    }
  } catch (e) {
    code = 1;
    process.stderr.write(`client cluster: ${describe(e)}\n`);
  }
  const left = cluster.attached();
  await stopAll();
  if (left.length > 0) say(`left running: ${names(left)} (started elsewhere)`);
  process.exit(code);
}

function describe(e: unknown): string {
  if (e instanceof ClusterError && e.kind === ClusterErrorKind.AlreadyRunning) return `${e.message}; nothing else was started (stop ${e.clients.length === 1 ? 'it' : 'them'} first, or use --attach)`;
  return e instanceof KindedError ? e.message : String(e);
}

/**
 * Where the diagrams of a command file's snapshots are: written beside the clients' data dirs
 * (`<data root>/snapshot-<id>.html`, as `snapshot show <id> --html` draws them) when the data
 * is kept; a temporary dir goes with the run, so then how to keep them.
 */
async function drawSnapshots(cluster: ClusterSession, p: Prepared, ids: readonly string[], file: string, say: (line: string) => void): Promise<void> {
  if (ids.length === 0) return;
  if (p.temporary) {
    const which = ids.length === 1 ? `diagram of snapshot ${ids[0]}` : `diagrams of snapshots ${ids.join(', ')}`;
    say(`${which}: not kept, the data dir is temporary; client cluster run ${file} --data-dir <dir> keeps the data and draws ${ids.length === 1 ? 'it' : 'them'} there`);
    return;
  }
  const sources = cluster.ids.map((id) => cluster.dataDir(id));
  for (const id of ids) {
    const html = path.join(p.dataRoot, `snapshot-${id}.html`);
    try {
      await writeSnapshotPage(sources, id, html);
      say(`diagram of snapshot ${id}: ${html} (its cut, and the messages that cross it)`);
    } catch (e) {
      say(`diagram of snapshot ${id}: not drawn: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** Reads and checks a command file; its errors, one per bad line, or the script. */
function loadScript(file: string, ids: readonly NodeId[]): { script: Script } | { errors: string[] } {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    return { errors: [(e as NodeJS.ErrnoException).code === 'ENOENT' ? `no such command file: ${file}` : `cannot read ${file}: ${(e as Error).message}`] };
  }
  const parsed = parseScript(file, content, ids);
  return parsed.ok ? { script: parsed.script } : { errors: parsed.errors.map((e) => e.message) };
}

/**
 * `client cluster run FILE...`: every file is checked before anything starts, then each runs
 * against a fresh cluster of its own. Exit 0 when every expect of every file held.
 */
export async function runScripts(files: readonly string[], o: ClusterCliOptions): Promise<void> {
  const size = o.size ?? 3;
  const ids = o.config ? nodeIds(loadOrExit(o.config)) : Array.from({ length: size }, (_, i) => i + 1);
  const loaded = files.map((file) => loadScript(file, ids));
  const errors = loaded.flatMap((l) => ('errors' in l ? l.errors : []));
  if (errors.length > 0) {
    for (const line of errors) process.stderr.write(`client cluster: ${line}\n`);
    fail(`${errors.length} problem${errors.length === 1 ? '' : 's'} in ${files.length === 1 ? files[0] : 'the command files'}; nothing was started`);
  }
  const scripts = loaded.flatMap((l) => ('script' in l ? [l.script] : []));
  const failed: string[] = [];
  let current: { stop: () => Promise<void> } | null = null;
  stopClientsOnInterruption(() => current?.stop() ?? Promise.resolve());
  const seen = new Set<string>();
  for (const script of scripts) {
    const say = (line: string): void => void process.stdout.write(`${line}\n`);
    // Several files with --data-dir: one subdir each, so each still starts from nothing.
    let dataDir = o.dataDir;
    if (dataDir !== undefined && scripts.length > 1) {
      let name = path.parse(script.file).name;
      while (seen.has(name)) name = `${name}-${seen.size + 1}`;
      seen.add(name);
      dataDir = path.join(dataDir, name);
    }
    const prepared = await prepareCluster(o.config ? null : size, { ...o, ...(dataDir === undefined ? {} : { dataDir }) }, true, dataDir);
    const cluster = new ClusterSession({ configPath: prepared.configPath, dataRoot: prepared.dataRoot, clientArgs: clientArgs(o), echo: null });
    current = {
      stop: async () => {
        await cluster.down();
        prepared.cleanup();
      },
    };
    const snapshots: string[] = [];
    try {
      say(startingLine(cluster.ids.length, prepared, o));
      await cluster.up();
      await runScript(cluster, script, say, (r) => snapshots.push(r.id));
      say(`script ${script.file}: every line ran, every expect held`);
    } catch (e) {
      failed.push(script.file);
      process.stderr.write(`client cluster: ${describe(e)}\n`);
    }
    // Drawn once the clients have stopped, so that their traces are whole on disk.
    await cluster.down();
    await drawSnapshots(cluster, prepared, snapshots, script.file, say);
    await current.stop();
    current = null;
  }
  if (scripts.length > 1) {
    const passed = scripts.length - failed.length;
    process.stdout.write(`${scripts.length} command files: ${passed} passed${failed.length > 0 ? `, ${failed.length} failed (${failed.join(', ')})` : ''}\n`);
  }
  process.exit(failed.length > 0 ? 1 : 0);
}
