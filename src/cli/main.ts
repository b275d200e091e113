/**
 * `client <n>`, `client ctl <n> <command...>` and the other entry points (commander).
 */
import { existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { LogFile } from './log-file.js';
import readlineSync from 'readline-sync';
import { Daemon } from '../daemon/daemon.js';
import { type ClusterConfig, MIN_SECRET_LENGTH, findClient, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlError, assertNotRunning, sendControl } from '../daemon/control.js';
import { isDaemonError } from '../daemon/errors.js';
import { isLoopback } from '../net/auth.js';
import { NetErrorKind, isNetError } from '../net/errors.js';
import { LocalCluster, ScriptError, clusterRepl, generateConfig, runAuto, runScript, tempDataRoot } from './cluster.js';
import { withEnvDefaults } from './env.js';
import { runPiped, startRepl } from './repl.js';
import { registerBench } from '../bench/index.js';
import { registerTrace } from '../trace/command.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built-in config; used when --config is not given and ./config/default.json does not exist. */
export const DEFAULT_CONFIG = path.join(PACKAGE_ROOT, 'config', 'default.json');
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function fail(message: string, code = 1): never {
  process.stderr.write(`client: ${message}\n`);
  process.exit(code);
}

function daemonAddress(config: ClusterConfig, id: number): string {
  const c = findClient(config, id);
  return c ? `${c.host}:${c.port}` : `client ${id}`;
}

/** A stopping client gets this long to close its connections and its log before it just exits. */
const SHUTDOWN_DEADLINE_MS = 5_000;

/** One line for whatever stopped a client from starting. */
function startFailure(e: unknown, config: ClusterConfig, id: number): string {
  if (isDaemonError(e)) return e.message;
  if (isNetError(e, NetErrorKind.ListenFailed)) {
    const inUse = (e.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
    return inUse ? `port in use: ${daemonAddress(config, id)} (is client ${id} already running?)` : e.message;
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EADDRNOTAVAIL') return `cannot listen on ${err.message}: is the host in the config an address of this machine?`;
  return `could not start: ${err.message}`;
}

function resolveConfigPath(given: string | undefined): string {
  if (given) return given;
  const local = path.join('config', 'default.json');
  return existsSync(local) ? local : DEFAULT_CONFIG;
}

function loadOrExit(configPath: string): ClusterConfig {
  try {
    return loadConfig(configPath);
  } catch (e) {
    if (isDaemonError(e)) fail(e.message);
    throw e;
  }
}

function clientId(text: string | undefined, config: ClusterConfig, configPath: string): number {
  const ids = nodeIds(config);
  let raw = text;
  if (raw === undefined) {
    if (!process.stdin.isTTY) fail(`which client? give its number, e.g. client ${ids[0]} (clients in ${configPath}: ${ids.join(', ')})`);
    // Blocking prompt: fine here, the client is not on the network yet.
    raw = readlineSync.question(`Which client are you? (${ids.join(', ')}): `);
  }
  const n = /^(client)?\d{1,9}$/.test(raw.trim()) ? Number(raw.trim().replace(/^client/, '')) : Number.NaN;
  if (!ids.includes(n)) fail(`unknown client "${raw}": ${configPath} defines clients ${ids.join(', ')}`);
  return n;
}

export function parseDelay(text: string): { minMs: number; maxMs: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('expected milliseconds, e.g. 3000, or a range, e.g. 1000-3000');
  const minMs = Number(m[1]);
  const maxMs = m[2] === undefined ? minMs : Number(m[2]);
  if (maxMs < minMs) throw new InvalidArgumentError(`the range ${text} goes downwards`);
  if (maxMs > 600_000) throw new InvalidArgumentError('at most 600000 ms');
  return { minMs, maxMs };
}

export function parseRate(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 1_000_000) throw new InvalidArgumentError('expected transfers per second, e.g. 50');
  return v;
}

export function parseWhole(text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) throw new InvalidArgumentError('expected a whole number');
  return Number(text);
}

export function parseSeconds(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 86_400) throw new InvalidArgumentError('expected a number of seconds between 0 and 86400');
  return v;
}

export const SECRET_ENV = 'LAMPORT_LEDGER_SECRET';

/** The cluster secret: the environment's if set (so it need not sit in a file), else the config's. */
function clusterSecret(config: ClusterConfig): string | null {
  const env = process.env[SECRET_ENV];
  if (env === undefined || env === '') return config.secret;
  if (env.length < MIN_SECRET_LENGTH) fail(`${SECRET_ENV} must be at least ${MIN_SECRET_LENGTH} characters`);
  return env;
}

interface RunOptions {
  insecure?: boolean;
  config?: string;
  dataDir?: string;
  logLevel: string;
  repl: boolean;
  json?: boolean;
  delay?: { minMs: number; maxMs: number };
  snapshotEvery?: number;
  transferTimeout?: number;
  listen?: string;
  fsync?: boolean;
}

async function runClient(n: string | undefined, o: RunOptions): Promise<void> {
  const configPath = resolveConfigPath(o.config);
  const config = loadOrExit(configPath);
  const id = clientId(n, config, configPath);
  const dataDir = o.dataDir ?? path.join('data', `client-${id}`);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    fail(`cannot create data dir ${dataDir}: ${(e as Error).message}`);
  }
  if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const secret = clusterSecret(config);
  // Protected mode: reachable from other machines only with a secret, or when the user says so.
  const listenHost = o.listen ?? findClient(config, id)!.host;
  if (!isLoopback(listenHost) && secret === null && o.insecure !== true) {
    fail(
      `client${id} would listen on ${listenHost}, reachable from other machines, without a cluster secret. ` +
        `Set "secret" in ${configPath} or ${SECRET_ENV} (the same on every client, ${MIN_SECRET_LENGTH}+ characters), or pass --insecure to accept anyone who connects.`,
    );
  }
  // Opened here, synchronously, so that an unusable path is a start-up error, not a silent one.
  const logPath = path.join(dataDir, 'client.log');
  let logFd: number;
  try {
    logFd = openSync(logPath, 'a');
  } catch (e) {
    fail(`cannot open the log file in ${dataDir}: ${(e as Error).message}`);
  }
  const logFile = new LogFile(logPath, logFd, (line) => process.stderr.write(`client${id}: ${line}\n`));
  const logger = pino({ level: o.logLevel, base: { client: id } }, logFile);
  /** Exits once the log has had its chance to reach the disk (never waiting on a broken one). */
  const exit = (code: number, line?: string): never => {
    if (line !== undefined) process.stderr.write(`${line}\n`);
    void logFile.close().then(() => process.exit(code));
    // Whatever else happens, the process ends.
    setTimeout(() => process.exit(code), SHUTDOWN_DEADLINE_MS).unref();
    return undefined as never;
  };

  let daemon: Daemon;
  try {
    await assertNotRunning(dataDir);
    daemon = new Daemon({
      config,
      id,
      dataDir,
      logger,
      ...(o.delay ? { delay: o.delay } : {}),
      ...(o.transferTimeout ? { transferTimeoutMs: o.transferTimeout * 1000 } : {}),
      ...(o.snapshotEvery ? { snapshotEveryMs: o.snapshotEvery * 1000 } : {}),
      ...(o.listen ? { listenHost: o.listen } : {}),
      fsync: o.fsync !== false,
      secret,
    });
    daemon.on('fatal', (error) => exit(1, `client${id}: stopping: ${error.message}`));
    const started = await daemon.start();
    if (started.repaired) {
      process.stderr.write(`client${id}: chain file repaired: ${started.repaired.reason} (${started.repaired.droppedBytes} bytes cut; peers will resend what is missing)\n`);
    }
  } catch (e) {
    return exit(1, `client: ${startFailure(e, config, id)}`);
  }

  const interactive = o.repl && process.stdin.isTTY === true;
  const say = (line: string): void => {
    if (!interactive) process.stderr.write(`${line}\n`);
  };
  const peers = nodeIds(config).filter((x) => x !== id);
  const banner = `client${id} listening on ${daemon.address()}, data in ${dataDir}; peers: ${peers.map((p) => `client${p}`).join(', ') || 'none'}`;

  let stopping = false;
  const stop = (code = 0): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(code), SHUTDOWN_DEADLINE_MS).unref();
    daemon.close().then(
      () => exit(code),
      () => exit(1),
    );
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  process.on('SIGHUP', () => stop(0));

  const replOptions = { daemon, nodes: nodeIds(config), json: o.json === true, dataDir, input: process.stdin, output: process.stdout, onEnd: () => stop(0) };
  if (!o.repl) {
    process.stdout.write(`${banner}\n(daemon mode: drive it with \`client ctl ${id} <command>\`; stop with Ctrl-C or SIGTERM)\n`);
    daemon.on('notice', (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  } else if (interactive) {
    process.stdout.write(`${banner}\nType help for commands, exit or Ctrl-D to leave.\n`);
    startRepl(replOptions);
  } else {
    say(banner);
    daemon.on('notice', (line) => say(`  · ${line}`));
    runPiped(replOptions);
  }
}

async function runCtl(n: string, words: string[], o: { json?: boolean; config?: string; dataDir?: string; timeout: number }): Promise<void> {
  if (!/^(client)?\d{1,9}$/.test(n)) fail(`unknown client "${n}": give a client number, e.g. client ctl 1 balance all`, 2);
  n = n.replace(/^client/, '');
  if (o.config) {
    const config = loadOrExit(o.config);
    if (!nodeIds(config).includes(Number(n))) fail(`unknown client ${n}: ${o.config} defines clients ${nodeIds(config).join(', ')}`, 2);
  }
  const dataDir = o.dataDir ?? path.join('data', `client-${n}`);
  try {
    const outcome = await sendControl(dataDir, words.join(' '), o.timeout * 1000, o.json ? 'json' : 'text');
    process.stdout.write(`${o.json ? JSON.stringify(outcome.json) : outcome.text}\n`);
    process.exitCode = outcome.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof ControlError) fail(`client ${n} ${e.message}`, 2);
    throw e;
  }
}

interface ClusterCliOptions {
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
}

function clusterSize(n: string | undefined): number {
  if (n === undefined) {
    if (!process.stdin.isTTY) return 3;
    n = readlineSync.question('How many clients? (2-16, Enter for 3): ') || '3';
  }
  const size = Number(n);
  if (!Number.isInteger(size) || size < 2 || size > 16) fail(`cluster size must be a whole number from 2 to 16, got "${n}"`);
  return size;
}

/** The config and data root a cluster command runs on: the given config, or a generated one. */
async function prepareCluster(n: string | undefined, o: ClusterCliOptions, fresh: boolean): Promise<{ configPath: string; dataRoot: string; cleanup: () => void }> {
  if (o.config) {
    loadOrExit(o.config);
    const temp = fresh && !o.dataDir ? tempDataRoot() : null;
    return { configPath: o.config, dataRoot: o.dataDir ?? temp?.root ?? 'data', cleanup: () => temp?.remove() };
  }
  const size = clusterSize(n);
  const temp = fresh && !o.dataDir ? tempDataRoot() : null;
  const dataRoot = o.dataDir ?? temp?.root ?? path.join('data', `cluster-${size}`);
  const configPath = path.join(dataRoot, 'config.json');
  await generateConfig(size, configPath, `cluster-${size}`);
  return { configPath, dataRoot, cleanup: () => temp?.remove() };
}

async function runCluster(n: string | undefined, o: ClusterCliOptions, script: string | null): Promise<void> {
  const { configPath, dataRoot, cleanup } = await prepareCluster(n, o, script !== null || o.auto !== undefined);
  const quiet = script !== null || o.auto !== undefined;
  const cluster = new LocalCluster({
    configPath,
    dataRoot,
    ...(o.delay ? { delay: o.delay } : {}),
    ...(o.snapshotEvery ? { snapshotEvery: o.snapshotEvery } : {}),
    ...(o.transferTimeout ? { transferTimeout: o.transferTimeout } : {}),
    // In workload and script runs the clients' own lines would drown the transcript.
    echo: quiet ? null : (line) => process.stdout.write(`${line}\n`),
  });
  let code = 0;
  const stopAll = async (): Promise<void> => {
    await cluster.down();
    cleanup();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(143)));
  try {
    process.stdout.write(`starting ${cluster.ids.length} clients (config ${configPath}, data in ${dataRoot})...\n`);
    await cluster.up();
    if (script !== null) {
      await runScript(cluster, script, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`script ${script}: every line ran, every expect held\n`);
    } else if (o.auto !== undefined) {
      const summary = await runAuto(cluster, { rate: o.auto, durationS: o.duration ?? 10, seed: o.seed }, (line) => process.stdout.write(`${line}\n`));
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (!summary.conserved || !summary.chainsIdentical || summary.snapshotsVerified !== summary.snapshots) code = 1;
    } else {
      await clusterRepl(cluster, o.json === true);
    }
  } catch (e) {
    code = 1;
    process.stderr.write(`client cluster: ${e instanceof ScriptError || e instanceof ControlError ? e.message : String(e)}\n`);
  }
  await stopAll();
  process.exit(code);
}

export function buildProgram(): Command {
  const program = new Command('client')
    .description('A replicated bank ledger: one peer daemon per client, Lamport mutual exclusion, a hash-chained blockchain, Chandy-Lamport snapshots.')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .argument('[n]', 'which client to run (asked for in a terminal when missing)')
    .option('-c, --config <file>', 'cluster config (default: ./config/default.json, else the built-in one: clients 1-3 on 127.0.0.1:7101-7103, $10.00 each)')
    .option('-d, --data-dir <dir>', 'where the chain, snapshots, log and control socket live (default: data/client-<n>)')
    .option('-l, --log-level <level>', `log level of <data-dir>/client.log: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--no-repl', 'daemon mode: no prompt; drive it with `client ctl`')
    .option('--json', 'print results as JSON lines (amounts in integer cents)')
    .option('--delay <ms|min-max>', 'hold each outgoing message this long before writing it, never reordering a channel (default: no delay)', parseDelay)
    .option('--snapshot-every <seconds>', 'start a snapshot periodically (default: never)', parseSeconds)
    .option('--transfer-timeout <seconds>', 'give up on a transfer that has not got the lock by then (default: the config, 30)', parseSeconds)
    .option('--listen <host>', "listen on this address instead of the config's host (e.g. 0.0.0.0)")
    .option('--no-fsync', 'do not fdatasync the chain file before releasing a block (faster; a power loss may lose acknowledged transfers)')
    .option('--insecure', `listen beyond loopback without a cluster secret (default: refuse to; see ${SECRET_ENV})`)
    .action((n: string | undefined, opts: RunOptions) => runClient(n, withEnvDefaults(opts)));

  program
    .command('ctl')
    .description('send a command to a running client through its control socket; exits 1 if the command fails, 2 if no client answers')
    .argument('<n>', 'which client')
    .argument('<command...>', 'any REPL command, e.g. transfer 2 4.50, balance all, snapshot')
    .option('--json', 'print the result as JSON (amounts in integer cents)')
    .option('-c, --config <file>', 'check <n> against this cluster config')
    .option('-d, --data-dir <dir>', 'the client\'s data dir (default data/client-<n>)')
    .option('--timeout <seconds>', 'how long to wait for the answer', parseSeconds, 60)
    .action((n: string, words: string[], o: Parameters<typeof runCtl>[2]) => runCtl(n, words, withEnvDefaults(o)));

  const cluster = program
    .command('cluster')
    .description('run a local cluster of N client processes from one terminal (one REPL for all: "2 transfer 3 1.50", "all balance", "use 2")')
    .enablePositionalOptions()
    .argument('[N]', 'number of clients, asked for in a terminal when missing (3 otherwise)')
    .option('-c, --config <file>', 'run the clients of this config instead of generating one (npm start uses config/default.json)')
    .option('-d, --data-dir <dir>', 'root of the clients\' data dirs (default: data/ with --config, data/cluster-<N> otherwise; a temporary dir for --auto)')
    .option('--auto <rate>', 'random workload: this many transfers per second between random clients, then a summary', parseRate)
    .option('--duration <seconds>', 'how long --auto runs', parseSeconds, 10)
    .option('--snapshot-every <seconds>', 'every client starts a snapshot this often', parseSeconds)
    .option('--delay <ms|min-max>', 'every client holds its outgoing messages this long (see client --delay)')
    .option('--transfer-timeout <seconds>', 'per-transfer timeout on every client', parseSeconds)
    .option('--seed <n>', 'seed of the --auto workload', parseWhole, 1)
    .option('--json', 'print results (and the --auto summary) as JSON')
    .action(async (n: string | undefined, o: ClusterCliOptions) => {
      if (o.delay) parseDelay(o.delay);
      await runCluster(n, o, null);
    });
  cluster
    .command('run')
    .description('run a command file against a fresh cluster: "<n|all> <command>", "wait MS", "settle", "expect ..."; exit 0 if every expect holds')
    .argument('<file>', 'the command file (see examples/)')
    .option('-n, --size <N>', 'number of clients', parseWhole, 3)
    .option('-c, --config <file>', 'use this config instead of a generated one')
    .option('-d, --data-dir <dir>', 'keep the clients\' data here (default: a temporary dir, removed after)')
    .option('--delay <ms|min-max>', 'every client holds its outgoing messages this long')
    .action(async (file: string, o: ClusterCliOptions) => {
      if (!existsSync(file)) fail(`no such command file: ${file}`);
      if (o.delay) parseDelay(o.delay);
      await runCluster(String(o.size ?? 3), { ...o, seed: 1 }, file);
    });

  registerBench(program);
  registerTrace(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (e) {
    if (isDaemonError(e)) fail(e.message);
    throw e;
  }
}
