/**
 * `client ctl <n> <command...>`: one REPL command to a running client. The line is parsed here,
 * as that client's REPL would (the client says who it is and who its peers are), carried out
 * through the control socket, and the answer rendered here. Exit status: 0 done, 1 the command
 * failed, 2 no client answers.
 */
import os from 'node:os';
import { CONFIG_DEFAULTS, type ClusterConfig, clientDataDir, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlClient, ControlError, ControlErrorKind } from '../daemon/control/client.js';
import { loadOrExit, resolveConfigPath } from './config-file.js';
import { fail } from './fail.js';
import { IdentityError, idFromHostname } from './identity.js';
import { runLine, succeeded } from './interpret.js';
import { answerJson } from './json.js';
import { renderAnswer } from './render.js';

export interface CtlOptions {
  json?: boolean;
  config?: string;
  dataDir?: string;
  /** Seconds to wait for each answer. */
  timeout: number;
  /** The client number is this host's ordinal plus one; every positional word is the command. */
  idFromHostname?: boolean;
}

/** The client number and the command words, from `<n> <command...>` or `--id-from-hostname <command...>`. */
function target(given: string | undefined, rest: string[], o: CtlOptions): [string, string[]] {
  if (o.idFromHostname === true) {
    try {
      return [String(idFromHostname(os.hostname())), given === undefined ? rest : [given, ...rest]];
    } catch (e) {
      if (e instanceof IdentityError) fail(e.message, 2);
      throw e;
    }
  }
  if (given === undefined) fail('give a client number and a command, e.g. client ctl 1 balance all', 2);
  return [given, rest];
}

export async function runCtl(given: string | undefined, rest: string[], o: CtlOptions): Promise<void> {
  const [which, words] = target(given, rest, o);
  if (!/^(client)?\d{1,9}$/.test(which)) fail(`unknown client "${which}": give a client number, e.g. client ctl 1 balance all`, 2);
  const n = which.replace(/^client/, '');
  if (words.length === 0) fail(`give a command for client${n}, e.g. client ctl ${n} status`, 2);
  const config = o.config ? loadOrExit(o.config) : null;
  if (config !== null && o.config && !nodeIds(config).includes(Number(n))) fail(`unknown client ${n}: ${o.config} defines clients ${nodeIds(config).join(', ')}`, 2);
  // Where the config in use keeps client n's data (a config may name its own dataDir).
  const dataDir = o.dataDir ?? clientDataDir(config ?? loadQuietly(resolveConfigPath(undefined)) ?? CONFIG_DEFAULTS, Number(n));
  let client: ControlClient | null = null;
  try {
    client = await ControlClient.connect(dataDir, { timeoutMs: o.timeout * 1000 });
    const answer = await runLine(words.join(' '), client, await client.identity(), { dataDir });
    process.stdout.write(`${o.json ? JSON.stringify(answerJson(answer)) : renderAnswer(answer)}\n`);
    process.exitCode = succeeded(answer) ? 0 : 1;
  } catch (e) {
    if (e instanceof ControlError && e.kind === ControlErrorKind.NotRunning && o.dataDir === undefined) {
      // Nothing answers where client n would run: if the config in use has no client n, that is the news.
      const configPath = resolveConfigPath(undefined);
      const config = loadQuietly(configPath);
      if (config !== null && !nodeIds(config).includes(Number(n))) fail(`unknown client ${n}: ${configPath} defines clients ${nodeIds(config).join(', ')}`, 2);
    }
    // A refusal is an answer: the command failed. Anything else means no client answered.
    if (e instanceof ControlError) fail(`client${n} ${e.message}`, e.kind === ControlErrorKind.Refused ? 1 : 2);
    throw e;
  } finally {
    client?.close();
  }
}

/** A config for a second opinion only: one that does not load gives none, and the first answer stands. */
function loadQuietly(configPath: string): ClusterConfig | null {
  try {
    return loadConfig(configPath);
  } catch {
    return null;
  }
}
