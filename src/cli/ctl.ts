/**
 * `client ctl <n> <command...>`: one REPL command to a running client. The line is parsed here,
 * as that client's REPL would (the client says who it is and who its peers are), carried out
 * through the control socket, and the answer rendered here. Exit status: 0 done, 1 the command
 * failed, 2 no client answers.
 */
import { CONFIG_DEFAULTS, type ClusterConfig, clientDataDir, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlClient, ControlError, ControlErrorKind } from '../daemon/control/client.js';
import { loadOrExit, resolveConfigPath } from './config-file.js';
import { fail } from './fail.js';
import { runLine, succeeded } from './interpret.js';
import { answerJson } from './json.js';
import { renderAnswer } from './render.js';

export interface CtlOptions {
  json?: boolean;
  config?: string;
  dataDir?: string;
  /** Seconds to wait for each answer. */
  timeout: number;
}

export async function runCtl(n: string, words: string[], o: CtlOptions): Promise<void> {
  if (!/^(client)?\d{1,9}$/.test(n)) fail(`unknown client "${n}": give a client number, e.g. client ctl 1 balance all`, 2);
  n = n.replace(/^client/, '');
  const given = o.config ? loadOrExit(o.config) : null;
  if (given !== null && o.config && !nodeIds(given).includes(Number(n))) fail(`unknown client ${n}: ${o.config} defines clients ${nodeIds(given).join(', ')}`, 2);
  // Where the config in use keeps client n's data (a config may name its own dataDir).
  const dataDir = o.dataDir ?? clientDataDir(given ?? loadQuietly(resolveConfigPath(undefined)) ?? CONFIG_DEFAULTS, Number(n));
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
