/**
 * The one prompt of `client cluster` (and `npm start`): lines addressed to one client, every client
 * or the current one, and the prompt's own commands (see language.ts). Interactive in a terminal
 * (Tab completion, history, Ctrl-C cancels the line), or one line after another from piped input.
 */
import readline from 'node:readline';
import type { NodeId } from '../../core/types.js';
import { ClusterError, ClusterErrorKind } from '../../cluster/spawner.js';
import { ControlError } from '../../daemon/control/client.js';
import { type Answer, succeeded } from '../interpret.js';
import { answerJson } from '../json.js';
import { renderAnswer, table } from '../render.js';
import { cancelLineOnCtrlC, historyFrom, printAbovePrompt, saveHistoryTo } from '../repl.js';
import { type ClusterLine, type ClusterParse, type Lifecycle, completeClusterLine, parseClusterLine, renderClusterHelp } from './language.js';
import type { ClusterSession, ProcessRow } from './session.js';

export interface ShellOptions {
  readonly json: boolean;
  /** Prints one answer (maybe several lines); never called with an empty string. */
  readonly print: (text: string) => void;
}

/** How long ago, roughly: `12 s`, `3 min`, `2 h`. */
function roughly(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** `ps`: one row per client, like `docker compose ps`. */
export function renderPs(rows: readonly ProcessRow[], now: number): string {
  const lines = [['client', 'status', 'pid', 'address', 'data dir']];
  for (const r of rows) {
    const s = r.state;
    let status: string;
    let pid = '-';
    switch (s.kind) {
      case 'running':
        status = `up ${roughly(now - s.since)}`;
        pid = String(s.pid);
        break;
      case 'attached':
        status = s.answers ? 'up (started elsewhere)' : 'started elsewhere, not answering';
        break;
      case 'stopped':
        status = `stopped ${roughly(now - s.since)} ago`;
        break;
      case 'exited':
        status = `exited (${s.how}) ${roughly(now - s.since)} ago`;
        break;
      case 'notStarted':
        status = 'not started';
        break;
    }
    lines.push([`client${r.id}`, status, pid, r.address, r.dataDir]);
  }
  return table(lines);
}

/** Carries out the cluster prompt's lines on a session; `current` is where bare commands go. */
export class ClusterShell {
  current: NodeId;

  constructor(
    private readonly cluster: ClusterSession,
    private readonly o: ShellOptions,
  ) {
    this.current = cluster.ids[0]!;
  }

  parse(text: string): ClusterParse {
    return parseClusterLine(text, { ids: this.cluster.ids, current: this.current });
  }

  complete(text: string): [string[], string] {
    return completeClusterLine(text, { ids: this.cluster.ids, current: this.current });
  }

  private say(text: string): void {
    if (text !== '') this.o.print(text);
  }

  /**
   * Carries out one line, printing what it answers; resolves with whether it did what was asked.
   * What changes the prompt (`use`) happens before the first await, so the caller can redraw at once.
   */
  async execute(line: ClusterLine): Promise<boolean> {
    switch (line.type) {
      case 'empty':
      case 'exit':
        return true;
      case 'help':
        this.say(renderClusterHelp(line.topic, this.current));
        return true;
      case 'use':
        if (line.client === null) this.say(`bare commands go to client${this.current} (use <n> sends them to client n)`);
        else this.current = line.client;
        return true;
      case 'ps':
        this.say(renderPs(await this.cluster.ps(), Date.now()));
        return true;
      case 'lifecycle':
        return this.lifecycle(line.action, line.clients);
      case 'send':
        return this.send(line.clients, line.line);
    }
  }

  /** One command on each client; answers printed in client order, each as soon as those before it are. */
  private async send(clients: readonly NodeId[], text: string): Promise<boolean> {
    const current = this.current;
    const answers = clients.map((id) =>
      this.cluster.run(id, text).then(
        (answer) => ({ ok: succeeded(answer), text: this.showAnswer(id, answer, clients.length > 1 || id !== current, clients.length > 1) }),
        (e: unknown) => ({ ok: false, text: showFailure(id, e) }),
      ),
    );
    let ok = true;
    for (const pending of answers) {
      const a = await pending;
      this.say(a.text);
      ok &&= a.ok;
    }
    return ok;
  }

  private showAnswer(id: NodeId, answer: Answer, prefixed: boolean, indent: boolean): string {
    const body = this.o.json ? JSON.stringify(answerJson(answer)) : renderAnswer(answer);
    if (body === '' || !prefixed) return body;
    return `client${id}: ${indent ? body.replace(/\n/g, '\n  ') : body}`;
  }

  /** stop / start / restart, one client after another, as compose does; nothing to do is no failure. */
  private async lifecycle(action: Lifecycle, clients: readonly NodeId[]): Promise<boolean> {
    let ok = true;
    for (const id of clients) {
      try {
        switch (action) {
          case 'stop':
            this.say((await this.cluster.stop(id)) ? `client${id} stopped (its data stays in ${this.cluster.dataDir(id)})` : `client${id} is not running`);
            break;
          case 'start': {
            const pid = await this.cluster.start(id);
            this.say(pid === false ? `client${id} is already running` : `client${id} started (pid ${pid}); it catches up from its peers`);
            break;
          }
          case 'restart': {
            await this.cluster.stop(id);
            const pid = await this.cluster.start(id);
            this.say(`client${id} restarted (pid ${pid === false ? '?' : pid})`);
            break;
          }
        }
      } catch (e) {
        ok = false;
        this.say(`error: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return ok;
  }
}

/** Why a command did not reach client `id`, as a sentence about that client. */
function showFailure(id: NodeId, e: unknown): string {
  if (e instanceof ClusterError) return e.kind === ClusterErrorKind.NotRunning ? `${e.message}; start ${id} starts it` : `client${id}: ${e.message}`;
  // A ControlError's message reads after the client's name.
  if (e instanceof ControlError) return `client${id} ${e.message}`;
  return `client${id}: error: ${e instanceof Error ? e.message : String(e)}`;
}

const promptFor = (id: NodeId): string => `cluster(client${id})> `;

export interface ReplOptions {
  readonly json: boolean;
  /** Where the prompt's history is kept; null for none. */
  readonly historyFile: string | null;
}

/** The interactive cluster prompt, in a terminal. Resolves when the user leaves. */
export function clusterRepl(cluster: ClusterSession, o: ReplOptions): Promise<void> {
  let shell: ClusterShell | null = null;
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: promptFor(cluster.ids[0]!),
    ...(o.historyFile === null ? { historySize: 1000 } : historyFrom(o.historyFile)),
    completer: (line: string) => shell?.complete(line) ?? [[], line],
  });
  if (o.historyFile !== null) saveHistoryTo(rl, o.historyFile);
  let closed = false;
  // Once the prompt is gone (answers still arriving, clients stopping), lines go out plainly.
  const print = (text: string): void => (closed ? void process.stdout.write(`${text}\n`) : printAbovePrompt(rl, process.stdout, text));
  shell = new ClusterShell(cluster, { json: o.json, print });
  const sh = shell;
  // The clients' own lines go above the prompt too from now on.
  cluster.echoThrough(print);
  return new Promise((resolve) => {
    rl.on('line', (text) => {
      const parsed = sh.parse(text);
      if (!parsed.ok) return print(`error: ${parsed.error}`);
      if (parsed.line.type === 'exit') return rl.close();
      // Commands run concurrently: type on while a transfer waits for the lock.
      void sh.execute(parsed.line);
      rl.setPrompt(promptFor(sh.current));
      rl.prompt();
    });
    cancelLineOnCtrlC(rl, process.stdout, () => rl.close());
    rl.on('close', () => {
      closed = true;
      resolve();
    });
    rl.prompt();
  });
}

/**
 * Piped input: one line after another, each answered before the next is read, in order.
 * Resolves with the exit status: 1 if any line did not parse or its command failed.
 */
export async function clusterPiped(cluster: ClusterSession, o: { readonly json: boolean; readonly input: NodeJS.ReadableStream; readonly output: NodeJS.WritableStream }): Promise<number> {
  const shell = new ClusterShell(cluster, { json: o.json, print: (text) => o.output.write(`${text}\n`) });
  const rl = readline.createInterface({ input: o.input, terminal: false, crlfDelay: Infinity });
  let failed = false;
  for await (const text of rl) {
    const parsed = shell.parse(text);
    if (!parsed.ok) {
      failed = true;
      o.output.write(`error: ${parsed.error}\n`);
      continue;
    }
    if (parsed.line.type === 'exit') break;
    if (!(await shell.execute(parsed.line))) failed = true;
  }
  rl.close();
  return failed ? 1 : 0;
}
