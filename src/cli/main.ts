/**
 * The `client` program (commander): `client <n>`, `client ctl`, `client cluster`, `client bench`,
 * `client trace`, their options and their help. Each command's code is loaded when it runs, so
 * that `client ctl` starts fast and a running client holds only what it uses.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { registerBench } from '../bench/command.js';
import { isDaemonError } from '../daemon/errors.js';
import { registerTrace } from '../trace/command.js';
import type { RunOptions } from './client.js';
import type { ClusterCliOptions } from './cluster/command.js';
import type { CtlOptions } from './ctl.js';
import { ID_ENV, SECRET_ENV, SECRET_FILE_ENV, withEnvDefaults } from './env.js';
import { fail } from './fail.js';
import { LOG_LEVELS, parseDelay, parsePort, parseRate, parseSeconds, parseWhole } from './options.js';
import { quote } from './parse.js';
import { didYouMean } from '../base/suggest.js';
import { PACKAGE_ROOT, loadOrExit, resolveConfigPath } from './config-file.js';

/** This package's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
import type { WebCliOptions } from './web.js';

/** What `client <n>` takes as n: `2` or `client2`. */
const CLIENT_ARG = /^(client)?\d{1,9}$/;

/**
 * The root command takes a client number, so commander reads a mistyped subcommand (`client ctrl
 * 1 status`) as one, with the rest as excess arguments. Said here instead, with the command meant.
 */
function checkClientArgs(program: Command, n: string | undefined, extra: readonly string[]): void {
  if (n !== undefined && !CLIENT_ARG.test(n.trim())) {
    const guess = didYouMean(n, program.commands.map((c) => c.name()));
    fail(
      guess === null
        ? `${quote(n)} is neither a client number nor a command: client <n> runs client n, client --help lists the commands`
        : `unknown command ${quote(n)} — did you mean "${guess}"? (client --help lists the commands)`,
    );
  }
  if (extra.length > 0) {
    fail(`client ${n ?? ''} takes no command words (got ${quote(extra.join(' '))}); to send a command to a running client: client ctl ${n ?? '<n>'} ${extra.join(' ')}`);
  }
}

/** `client web` takes the config from the environment as `client <n>` does; its --data-dir is a root, not one client's dir. */
function withEnvConfig(o: WebCliOptions): WebCliOptions {
  const config = withEnvDefaults({ config: o.config }).config;
  return config === undefined ? o : { ...o, config };
}

export function buildProgram(): Command {
  const program = new Command('client')
    .description('A replicated bank ledger: one peer daemon per client, Lamport mutual exclusion, a hash-chained blockchain, Chandy-Lamport snapshots.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .argument('[n]', `which client to run (or --id-from-hostname, or ${ID_ENV}; asked for in a terminal when none says)`)
    .option('-c, --config <file>', 'cluster config (default: ./config/default.json, else the built-in one: clients 1-3 on 127.0.0.1:7101-7103, $10.00 each)')
    .option('-d, --data-dir <dir>', "where the chain, snapshots, log and control socket live (default: <the config's dataDir>/client-<n>, data/client-<n> unless the config says)")
    .option('-l, --log-level <level>', `log level of <data-dir>/client.log: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--no-repl', 'daemon mode: no prompt; drive it with `client ctl`')
    .option('--json', 'print results as JSON lines (amounts in integer cents)')
    .option('--delay <ms|min-max>', 'hold each outgoing message this long before writing it, never reordering a channel (default: no delay)', parseDelay)
    .option('--snapshot-every <seconds>', 'start a snapshot periodically (default: never)', parseSeconds)
    .option('--transfer-timeout <seconds>', 'give up on a transfer that has not got the lock by then (default: the config, 30)', parseSeconds)
    .option('--listen <host>', "listen on this address instead of the config's host (e.g. 0.0.0.0)")
    .option('--no-fsync', 'do not fdatasync the chain file before releasing a block (faster; a power loss may lose acknowledged transfers)')
    .option('--no-trace', 'do not append the protocol trace to <data-dir>/trace.bin (see client trace)')
    .option('--insecure', `listen beyond loopback without a cluster secret (default: refuse to; see ${SECRET_ENV})`)
    // For client cluster, which says for all its clients where they listen and when they are up.
    .addOption(new Option('--quiet-start', 'no banner, and no peer connections said until every peer has connected once').hideHelp())
    .option('--secret-file <file>', `read the cluster secret from this file, e.g. a mounted Docker or Kubernetes secret (default: ${SECRET_FILE_ENV}, else ${SECRET_ENV}, else the config's)`)
    .option('--id-from-hostname', 'take the client number from the host name\'s ordinal: a StatefulSet pod ledger-0 is client 1')
    // Excess words are checked in the action, which can tell a mistyped subcommand from them.
    .allowExcessArguments()
    .action((n: string | undefined, opts: RunOptions, command: Command) => {
      checkClientArgs(program, n, command.args.slice(1));
      return import('./client.js').then(({ runClient }) => runClient(n, withEnvDefaults(opts)));
    });

  program
    .command('ctl')
    .description('send a command to a running client through its control socket; exits 1 if the command fails, 2 if no client answers in time (a transfer is then withdrawn, or said to have committed)')
    // <n> is checked in runCtl: with --id-from-hostname every word is the command.
    .usage('<n> <command...> [options]\n       client ctl --id-from-hostname <command...> [options]')
    .argument('[n]', 'which client')
    .argument('[command...]', 'any REPL command, e.g. transfer 2 4.50 --id rent-2026-11, tx rent-2026-11, balance all, snapshot')
    .option('--json', 'print the result as JSON (amounts in integer cents)')
    .option('-c, --config <file>', 'check <n> against this cluster config')
    .option('-d, --data-dir <dir>', "the client's data dir (default: <the config's dataDir>/client-<n>, data/client-<n> unless the config says)")
    .option('--timeout <seconds>', 'how long to wait for the answer (a transfer not answered by then is withdrawn)', parseSeconds, 60)
    .option('--id-from-hostname', 'the client of this host: the host name\'s ordinal plus one (ledger-0 is client 1), as for client --id-from-hostname')
    // A REPL line's own flags (snapshot show <id> --html <file>) belong to the line, not to ctl.
    .allowUnknownOption()
    .action(async (n: string | undefined, words: string[], o: CtlOptions) => (await import('./ctl.js')).runCtl(n, words, withEnvDefaults(o)));

  const cluster = program
    .command('cluster')
    .description('run a local cluster of N client processes from one terminal (one prompt for all: "2 transfer 3 1.50", "all balance", "use 2", "ps", "stop 2"; or piped lines)')
    .enablePositionalOptions()
    .argument('[N]', 'number of clients, asked for in a terminal when missing (3 otherwise)')
    .option('-c, --config <file>', 'run the clients of this config instead of generating one (npm start uses config/default.json)')
    .option('-d, --data-dir <dir>', "root of the clients' data dirs (default: the config's dataDir with --config, data/cluster-<N> otherwise; a temporary dir for --auto)")
    .option('--attach', 'when clients of the config already run (other terminals), drive them instead of refusing; exit leaves them running')
    .option('--fresh', 'delete the clients\' data dirs (chains, snapshots, logs, history) first: start from nothing')
    .option('--auto <rate>', 'random workload: this many transfers per second between random clients, then a summary', parseRate)
    .option('--duration <seconds>', 'how long --auto runs', parseSeconds, 10)
    .option('--snapshot-every <seconds>', 'every client starts a snapshot this often', parseSeconds)
    .option('--delay <ms|min-max>', 'every client holds its outgoing messages this long (see client --delay)')
    .option('--transfer-timeout <seconds>', 'per-transfer timeout on every client', parseSeconds)
    .option('--seed <n>', 'seed of the --auto workload', parseWhole, 1)
    .option('--json', 'print results (and the --auto summary) as JSON')
    .option('--no-web', 'do not serve the live view (the page that watches and drives the clients)')
    .option('--web-port <port>', 'serve the live view on this loopback port (default: a free one, shown in the banner)', parsePort)
    .action(async (n: string | undefined, o: ClusterCliOptions) => {
      if (o.delay) parseDelay(o.delay);
      await (await import('./cluster/command.js')).runCluster(n, o);
    });
  cluster
    .command('run')
    .description('run command files, each against a fresh cluster, in the cluster prompt\'s language ("<n|all> <command> [&]", "settle", "sleep MS", "expect ...", "stop 2", ...); every file is checked before anything starts; exit 0 if every expect holds')
    .argument('<files...>', 'the command files (see examples/)')
    .option('-n, --size <N>', 'number of clients', parseWhole, 3)
    .option('-c, --config <file>', 'use this config instead of a generated one')
    .option('-d, --data-dir <dir>', 'keep the clients\' data here, one subdir per file when there are several (default: a temporary dir, deleted after)')
    .option('--delay <ms|min-max>', 'every client holds its outgoing messages this long')
    .action(async (files: string[], o: ClusterCliOptions) => {
      if (o.delay) parseDelay(o.delay);
      await (await import('./cluster/command.js')).runScripts(files, { ...o, seed: 1 });
    });

  program
    .command('web')
    .description('serve the live view of the clients of a config that already run: their messages, clocks, locks and snapshots as they happen, with controls that act on them; or replay a saved run')
    .option('-p, --port <port>', 'port to serve on (default: a free one, shown)', parsePort)
    .option('-c, --config <file>', 'the cluster config (default ./config/default.json, else the built-in one)')
    .option('-d, --data-dir <dir>', "root of the clients' data dirs: client n's is <dir>/client-<n> (default: the config's dataDir, data unless it says)")
    .option('--listen <host>', 'listen on this address instead of 127.0.0.1; beyond loopback the cluster secret is required and the page asks for a token derived from it')
    .option('--replay [sources...]', "replay a saved run instead: data dirs or trace files, as client trace reads them (default: the config's data dirs)")
    .option('--secret-file <file>', `read the cluster secret (needed beyond loopback) from this file (default: ${SECRET_FILE_ENV}, else ${SECRET_ENV}, else the config's)`)
    .action(async (o: WebCliOptions) => (await import('./web.js')).runWeb(withEnvConfig(o)));

  registerBench(program);
  // With no sources, `client trace` reads the data dirs where the config in use keeps them.
  registerTrace(program, (config) => loadOrExit(resolveConfigPath(withEnvDefaults({ config }).config)).dataDir);
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
