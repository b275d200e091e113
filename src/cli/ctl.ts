/**
 * `client ctl <n> <command...>`: one REPL command to a running client. The line is parsed here,
 * as that client's REPL would (the client says who it is and who its peers are), carried out
 * through the control socket, and the answer rendered here.
 *
 * A transfer always goes with a key (made here when the line has no `--id`), so that giving up is
 * explicit: when `--timeout` runs out, or Ctrl-C or SIGTERM comes first, ctl asks the client to
 * withdraw it and prints what became of it (withdrawn, or committed after all) with the command
 * that asks again. Exit status: 0 done, 1 the command failed (or the transfer was withdrawn), 2 no
 * answer (no client, or none within --timeout), 130 and 143 interrupted by Ctrl-C and SIGTERM.
 */
import os from 'node:os';
import type { TxState } from '../core/api.js';
import { describeLockWait } from '../core/wording.js';
import type { Identity } from '../daemon/api.js';
import { CONFIG_DEFAULTS, type ClusterConfig, clientDataDir, loadConfig, nodeIds } from '../daemon/config.js';
import { ControlClient, ControlError, ControlErrorKind } from '../daemon/control/client.js';
import { newTransferKey } from '../daemon/transfer-key.js';
import { loadOrExit, resolveConfigPath } from './config-file.js';
import { fail } from './fail.js';
import { IdentityError, idFromHostname } from './identity.js';
import { type Answer, interpret, succeeded } from './interpret.js';
import { answerJson } from './json.js';
import { type ReplCommand, parseCommandLine } from './parse.js';
import { renderAnswer, renderTxState } from './render.js';

/** Why ctl stopped waiting for a transfer's answer. */
type GaveUp = 'timeout' | 'SIGINT' | 'SIGTERM';

/** Exit status after giving up: no answer in time, or the signal's conventional status. */
const GAVE_UP_STATUS: Readonly<Record<GaveUp, number>> = { timeout: 2, SIGINT: 130, SIGTERM: 143 };

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
    const who = await client.identity();
    const parsed = parseCommandLine(words.join(' '), who);
    if (parsed.ok && parsed.command.type === 'transfer') {
      await transferOrGiveUp(client, who, parsed.command, o);
      return;
    }
    const answer: Answer = parsed.ok ? await interpret(parsed.command, client, who, { dataDir }) : { type: 'invalid', error: parsed.error };
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

/** Resolves with the first of SIGINT and SIGTERM while the transfer is waited for; `stop` takes the handlers away. */
function firstSignal(): { readonly signal: Promise<GaveUp>; readonly stop: () => void } {
  let stop = (): void => {};
  const signal = new Promise<GaveUp>((resolve) => {
    const onInt = (): void => resolve('SIGINT');
    const onTerm = (): void => resolve('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    stop = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
  });
  return { signal, stop };
}

/** A transfer, waited for until --timeout or a signal; then withdrawn, and what became of it said. */
async function transferOrGiveUp(client: ControlClient, who: Identity, command: Extract<ReplCommand, { type: 'transfer' }>, o: CtlOptions): Promise<void> {
  const key = command.key ?? newTransferKey();
  const self = `client${who.self}`;
  const check = `client ctl ${who.self} tx ${key}`;
  const signals = firstSignal();
  let why: GaveUp;
  try {
    const answer = await Promise.race([client.transfer(command.to, command.amount, key), signals.signal]);
    if (typeof answer !== 'string') {
      const a: Answer = { type: 'transfer', result: answer };
      process.stdout.write(`${o.json ? JSON.stringify(answerJson(a)) : renderAnswer(a)}\n`);
      process.exitCode = succeeded(a) ? 0 : 1;
      return;
    }
    why = answer;
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    if (e.kind !== ControlErrorKind.Timeout) fail(`${self} ${e.message} before the transfer's answer came; whether key ${key} committed: ${check} (once it runs)`, 2);
    why = 'timeout';
  } finally {
    signals.stop();
  }
  let waited = why === 'timeout' ? `no answer from ${self} within ${o.timeout} s` : why === 'SIGINT' ? 'interrupted (Ctrl-C)' : 'stopped (SIGTERM)';
  let state: TxState;
  try {
    // What it waited for, said with the rest: the reason a caller gives up is often a peer.
    const before = await client.tx(key);
    if (before.state === 'pending') waited += ` while ${before.requested ? 'in a lock round' : 'queued'}, ${describeLockWait(before.wait)}`;
    state = await client.withdraw(key);
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    return fail(`${waited}, and ${self} ${e.message} when asked to withdraw the transfer: it may still commit; ask with: ${check}`, 2);
  }
  process.stdout.write(`${o.json ? JSON.stringify({ ...state, gaveUp: why }) : renderTxState(who.self, state)}\n`);
  process.stderr.write(`client: ${waited}; ${afterWithdrawal(state, self)}; ask again with: ${check}\n`);
  process.exitCode = GAVE_UP_STATUS[why];
}

/** What a withdrawal came to, in words after "no answer within 2 s; ". */
function afterWithdrawal(s: TxState, self: string): string {
  switch (s.state) {
    case 'withdrawn':
      return 'the transfer was withdrawn, nothing moved';
    case 'committed':
      return `the transfer had committed already (block #${s.block})`;
    case 'failed':
      return 'the transfer had failed already, nothing moved';
    case 'pending':
      return 'the transfer is still pending and may yet commit';
    case 'unknown':
      return `${self} knows no transfer with this key (did it restart?)`;
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
