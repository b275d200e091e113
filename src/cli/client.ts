/**
 * `client <n>`: one client process. Starts the daemon and drives it from this terminal (the
 * REPL), from piped stdin, or not at all (`--no-repl`: `client ctl` drives it through its
 * control socket).
 */
import { mkdirSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import readlineSync from 'readline-sync';
import { type ClusterConfig, MIN_SECRET_LENGTH, clientDataDir, findClient, nodeIds } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { isDaemonError } from '../daemon/errors.js';
import { reachableFromOtherMachines } from '../daemon/listen.js';
import { loadOrExit, resolveConfigPath } from './config-file.js';
import { SECRET_ENV } from './env.js';
import { fail } from './fail.js';
import { IdentityError, clientIdFrom, parseClientNumber } from './identity.js';
import { secretOrExit } from './secret.js';
import { AppendFile } from '../daemon/append-file.js';
import { LOG_LEVELS } from './options.js';
import { renderDelay, renderNotice } from './render.js';
import { printAbovePrompt, runPiped, startRepl } from './repl.js';
import { sayWhilePeersDown } from './peers-down.js';

/** A stopping client gets this long to close its connections and its log before it just exits. */
const SHUTDOWN_DEADLINE_MS = 5_000;

export interface RunOptions {
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
  trace?: boolean;
  /** Started by `client cluster`, which says where its clients listen and when they are up. */
  quietStart?: boolean;
  /** Take the client number from the host name's ordinal (`ledger-0` is client 1). */
  idFromHostname?: boolean;
  /** Read the cluster secret from this file. */
  secretFile?: string;
}

/** One line for whatever stopped a client from starting. */
function startFailure(e: unknown): string {
  if (isDaemonError(e)) return e.message;
  return `could not start: ${e instanceof Error ? e.message : String(e)}`;
}

/** Empty answers in a row after which "Which client are you?" stops asking (a closed terminal gives nothing else). */
const EMPTY_ANSWERS = 3;

/** The client number: given, from where the process runs, or asked for on a terminal (again after a wrong answer). */
function clientId(given: string | undefined, o: RunOptions, config: ClusterConfig, configPath: string): number {
  const ids = nodeIds(config);
  try {
    const id = clientIdFrom({ given, fromHostname: o.idFromHostname, hostname: () => os.hostname() }, config, configPath);
    if (id !== null) return id;
  } catch (e) {
    if (e instanceof IdentityError) fail(e.message);
    throw e;
  }
  if (!process.stdin.isTTY) fail(`which client? give its number, e.g. client ${ids[0]} (clients in ${configPath}: ${ids.join(', ')})`);
  // Blocking prompt: fine here, the client is not on the network yet.
  for (let empty = 0; empty < EMPTY_ANSWERS; ) {
    const raw = readlineSync.question(`Which client are you? (${ids.join(', ')}): `);
    const n = parseClientNumber(raw);
    if (ids.includes(n)) return n;
    if (raw.trim() === '') empty++;
    else {
      empty = 0;
      process.stderr.write(`unknown client "${raw}": ${configPath} defines clients ${ids.join(', ')}\n`);
    }
  }
  return fail(`no client chosen: give its number, e.g. client ${ids[0]}`);
}

export async function runClient(n: string | undefined, o: RunOptions): Promise<void> {
  const configPath = resolveConfigPath(o.config);
  const config = loadOrExit(configPath);
  const id = clientId(n, o, config, configPath);
  const dataDir = o.dataDir ?? clientDataDir(config, id);
  if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const secret = secretOrExit(config, o.secretFile);
  // Protected mode: reachable from other machines only with a secret, or when the user says so.
  const listenHost = o.listen ?? findClient(config, id)!.host;
  if (reachableFromOtherMachines(listenHost) && secret === null && o.insecure !== true) {
    fail(
      `client${id} would listen on ${listenHost}, reachable from other machines, without a cluster secret. ` +
        `Set "secret" in ${configPath} or ${SECRET_ENV} (the same on every client, ${MIN_SECRET_LENGTH}+ characters), or pass --insecure to accept anyone who connects.`,
    );
  }
  // What this start makes (the data dir, and parents it lacked) holds nothing but what it wrote: a start that fails takes it away again.
  let made: string | undefined;
  try {
    made = mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    fail(`cannot create data dir ${dataDir}: ${(e as Error).message}`);
  }
  // Opened here, synchronously, so that an unusable path is a start-up error, not a silent one.
  const logPath = path.join(dataDir, 'client.log');
  let logFd: number;
  try {
    logFd = openSync(logPath, 'a');
  } catch (e) {
    fail(`cannot open the log file in ${dataDir}: ${(e as Error).message}`);
  }
  const logFile = new AppendFile(logPath, logFd, { onFailure: (line) => process.stderr.write(`client${id}: ${line}\n`) });
  const logger = pino({ level: o.logLevel, base: { client: id } }, logFile);
  /** Exits once the log has had its chance to reach the disk (never waiting on a broken one); `remove`: a dir that goes too. */
  const exit = (code: number, line?: string, remove?: string): never => {
    if (line !== undefined) process.stderr.write(`${line}\n`);
    void logFile.close().then(() => {
      if (remove !== undefined) rmSync(remove, { recursive: true, force: true });
      process.exit(code);
    });
    // Whatever else happens, the process ends.
    setTimeout(() => process.exit(code), SHUTDOWN_DEADLINE_MS).unref();
    return undefined as never;
  };

  let daemon: Daemon;
  try {
    daemon = await Daemon.open({
      config,
      id,
      dataDir,
      logger,
      ...(o.delay ? { delay: o.delay } : {}),
      ...(o.transferTimeout ? { transferTimeoutMs: o.transferTimeout * 1000 } : {}),
      ...(o.snapshotEvery ? { snapshotEveryMs: o.snapshotEvery * 1000 } : {}),
      ...(o.listen ? { listenHost: o.listen } : {}),
      fsync: o.fsync !== false,
      trace: o.trace !== false,
      secret,
    });
    daemon.on('fatal', (error) => exit(1, `client${id}: stopping: ${error.message}`));
    const started = await daemon.start();
    if (started.repaired) {
      process.stderr.write(`client${id}: chain file repaired: ${started.repaired.reason} (${started.repaired.droppedBytes} bytes cut; peers will resend what is missing)\n`);
    }
  } catch (e) {
    return exit(1, `client: ${startFailure(e)}`, made);
  }

  const interactive = o.repl && process.stdin.isTTY === true;
  const say = (line: string): void => {
    if (!interactive) process.stderr.write(`${line}\n`);
  };
  const peers = nodeIds(config).filter((x) => x !== id);
  const banner =
    `client${id} listening on ${daemon.address()}, data in ${dataDir}; peers: ${peers.map((p) => `client${p}`).join(', ') || 'none'}` +
    `${secret === null ? '' : '; channels TLS (cluster secret)'}${o.delay ? `; ${renderDelay(o.delay)}` : ''}`;

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

  const replOptions = { daemon, json: o.json === true, dataDir, input: process.stdin, output: process.stdout, onEnd: (code: number) => stop(code) };
  // What a transfer waiting for peers that do not come says, typed or piped.
  const waiting = { timeoutMs: o.transferTimeout ? o.transferTimeout * 1000 : config.transferTimeoutMs, config: o.config ? configPath : null };
  if (!o.repl) {
    if (o.quietStart !== true) process.stdout.write(`${banner}\n(daemon mode: drive it with \`client ctl ${id} <command>\`; stop with Ctrl-C or SIGTERM)\n`);
    // Quiet, the peers connecting for the first time are no news: client cluster says when all are up.
    const connected = new Set<number>();
    let formed = o.quietStart !== true;
    daemon.on('notice', (notice) => {
      if (!formed && notice.type === 'peerUp') {
        connected.add(notice.peer);
        formed = connected.size === peers.length;
        return;
      }
      process.stdout.write(`${new Date().toISOString()} ${renderNotice(notice)}\n`);
    });
  } else if (interactive) {
    process.stdout.write(`${banner}\nType help for commands. Ctrl-C cancels a line; exit or Ctrl-D leaves.\n`);
    const rl = startRepl(replOptions);
    let closed = false;
    rl.on('close', () => (closed = true));
    // Above the prompt, as the REPL prints its notices.
    sayWhilePeersDown(daemon, { ...waiting, say: (line) => void (closed || printAbovePrompt(rl, process.stdout, o.json === true ? JSON.stringify({ notice: line }) : `  · ${line}`)) });
  } else {
    say(banner);
    daemon.on('notice', (notice) => say(`  · ${renderNotice(notice)}`));
    sayWhilePeersDown(daemon, { ...waiting, say: (line) => say(`  · ${line}`) });
    runPiped(replOptions);
  }
}
