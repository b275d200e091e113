/**
 * `client <n>`, `client ctl <n> <command...>` and the other entry points (commander).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import readlineSync from 'readline-sync';
import { Daemon } from '../daemon/daemon.js';
import { type ClusterConfig, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlError, sendControl } from '../daemon/control.js';
import { isLedgerError } from '../errors.js';
import { runPiped, startRepl } from './repl.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built-in config; used when --config is not given and ./config/default.json does not exist. */
export const DEFAULT_CONFIG = path.join(PACKAGE_ROOT, 'config', 'default.json');
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function fail(message: string, code = 1): never {
  process.stderr.write(`client: ${message}\n`);
  process.exit(code);
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
    if (isLedgerError(e)) fail(e.message);
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
  const n = Number(raw.replace(/^client/, ''));
  if (!Number.isInteger(n) || !ids.includes(n)) fail(`unknown client "${raw}": ${configPath} defines clients ${ids.join(', ')}`);
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

export function parseSeconds(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 86_400) throw new InvalidArgumentError('expected a number of seconds between 0 and 86400');
  return v;
}

interface RunOptions {
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
  const destination = pino.destination({ dest: path.join(dataDir, 'client.log'), sync: false, mkdir: true });
  const logger = pino({ level: o.logLevel, base: { client: id } }, destination);

  let daemon: Daemon;
  try {
    daemon = new Daemon({
      config,
      id,
      dataDir,
      logger,
      ...(o.delay ? { delay: o.delay } : {}),
      ...(o.transferTimeout ? { transferTimeoutMs: o.transferTimeout * 1000 } : {}),
      ...(o.snapshotEvery ? { snapshotEveryMs: o.snapshotEvery * 1000 } : {}),
      ...(o.listen ? { listenHost: o.listen } : {}),
      fsync: o.fsync ?? false,
    });
    await daemon.start();
  } catch (e) {
    destination.flushSync();
    if (isLedgerError(e)) fail(e.message);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') fail(`port in use: ${err.message.replace(/^listen EADDRINUSE: address already in use /, '')} (is client ${id} already running?)`);
    if (err.code === 'EADDRNOTAVAIL') fail(`cannot listen on ${err.message}: is the host in the config an address of this machine?`);
    fail(`could not start: ${err.message}`);
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
    daemon.close().then(
      () => {
        destination.flushSync();
        process.exit(code);
      },
      () => process.exit(1),
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
  if (!/^\d+$/.test(n)) fail(`unknown client "${n}": give a client number, e.g. client ctl 1 balance all`, 2);
  if (o.config) {
    const config = loadOrExit(o.config);
    if (!nodeIds(config).includes(Number(n))) fail(`unknown client ${n}: ${o.config} defines clients ${nodeIds(config).join(', ')}`, 2);
  }
  const dataDir = o.dataDir ?? path.join('data', `client-${n}`);
  try {
    const outcome = await sendControl(dataDir, words.join(' '), o.timeout * 1000);
    process.stdout.write(`${o.json ? JSON.stringify(outcome.json) : outcome.text}\n`);
    process.exitCode = outcome.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof ControlError) fail(`client ${n} ${e.message}`, 2);
    throw e;
  }
}

export function buildProgram(): Command {
  const program = new Command('client')
    .description('A replicated bank ledger: one peer daemon per client, Lamport mutual exclusion, a hash-chained blockchain, Chandy-Lamport snapshots.')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .argument('[n]', 'which client to run (asked for in a terminal when missing)')
    .option('-c, --config <file>', 'cluster config', 'config/default.json (built in)')
    .option('-d, --data-dir <dir>', 'where the chain, snapshots, log and control socket live', 'data/client-<n>')
    .option('-l, --log-level <level>', `log level of <data-dir>/client.log: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--no-repl', 'daemon mode: no prompt; drive it with `client ctl`')
    .option('--json', 'print results as JSON lines (amounts in integer cents)')
    .option('--delay <ms|min-max>', 'hold each outgoing message this long before writing it (never reordering a channel)', parseDelay)
    .option('--snapshot-every <seconds>', 'start a snapshot periodically', parseSeconds)
    .option('--transfer-timeout <seconds>', 'give up on a transfer that has not got the lock by then (default: the config, 30)', parseSeconds)
    .option('--listen <host>', "listen on this address instead of the config's host (e.g. 0.0.0.0)")
    .option('--fsync', 'fdatasync the chain file after every block (slower; survives power loss)')
    .action(async (n: string | undefined, opts: RunOptions & { config: string; dataDir: string }) => {
      const config = opts.config === 'config/default.json (built in)' ? undefined : opts.config;
      const dataDir = opts.dataDir === 'data/client-<n>' ? undefined : opts.dataDir;
      await runClient(n, { ...opts, ...(config ? { config } : { config: undefined }), ...(dataDir ? { dataDir } : { dataDir: undefined }) });
    });

  program
    .command('ctl')
    .description('send a command to a running client through its control socket; exits 1 if the command fails, 2 if no client answers')
    .argument('<n>', 'which client')
    .argument('<command...>', 'any REPL command, e.g. transfer 2 4.50, balance all, snapshot')
    .option('--json', 'print the result as JSON (amounts in integer cents)')
    .option('-c, --config <file>', 'check <n> against this cluster config')
    .option('-d, --data-dir <dir>', 'the client\'s data dir (default data/client-<n>)')
    .option('--timeout <seconds>', 'how long to wait for the answer', parseSeconds, 60)
    .action(runCtl);

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (e) {
    if (isLedgerError(e)) fail(e.message);
    throw e;
  }
}
