/**
 * The one prompt of `client cluster` (and `npm start`) in a terminal (Tab completion, history,
 * Ctrl-C cancels the line, every line runs as it is typed), or one line after another from piped
 * input. The language is language.ts's, carried out by shell.ts, as in command files.
 */
import readline from 'node:readline';
import type { NodeId } from '../../core/types.js';
import { cancelLineOnCtrlC, historyFrom, printAbovePrompt, saveHistoryTo } from '../repl.js';
import type { ClusterSession } from './session.js';
import { ClusterShell } from './shell.js';

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
  // What Ctrl-L does: readline clears the screen and redraws the prompt at the top.
  const clear = (): void => rl.write(null, { ctrl: true, name: 'l' });
  shell = new ClusterShell(cluster, { mode: 'typed', json: o.json, print, clear });
  const sh = shell;
  // The clients' own lines go above the prompt too from now on.
  cluster.echoThrough(print);
  return new Promise((resolve) => {
    rl.on('line', (text) => {
      const parsed = sh.parse(text);
      if (!parsed.ok) return sh.fail(parsed.error);
      if (parsed.line.type === 'exit') return rl.close();
      // Lines run side by side: type on while a transfer waits for the lock.
      void sh.execute(parsed.line).catch((e: unknown) => sh.fail(e));
      rl.setPrompt(promptFor(sh.current));
      rl.prompt();
    });
    cancelLineOnCtrlC(rl, process.stdout, () => rl.close());
    rl.on('close', () => {
      closed = true;
      void sh.close().then(resolve);
    });
    rl.prompt();
  });
}

/**
 * Piped input: one line after another, each answered before the next is read (a line ending in
 * `&` is not waited for). Resolves with the exit status: 1 if any line did not parse, its command
 * failed, or it did not hold.
 */
export async function clusterPiped(
  cluster: ClusterSession,
  o: { readonly json: boolean; readonly input: NodeJS.ReadableStream; readonly output: NodeJS.WritableStream & { isTTY?: boolean } },
): Promise<number> {
  const print = (text: string): void => void o.output.write(`${text}\n`);
  // Answers on a terminal (input from a pipe) can be cleared; answers into a pipe cannot.
  const clear = o.output.isTTY === true ? (): void => (readline.cursorTo(o.output, 0, 0), void readline.clearScreenDown(o.output)) : undefined;
  const shell = new ClusterShell(cluster, { mode: 'piped', json: o.json, print, ...(clear === undefined ? {} : { clear }) });
  const rl = readline.createInterface({ input: o.input, terminal: false, crlfDelay: Infinity });
  let failed = false;
  for await (const text of rl) {
    const parsed = shell.parse(text);
    if (!parsed.ok) {
      failed = true;
      shell.fail(parsed.error);
      continue;
    }
    if (parsed.line.type === 'exit') break;
    try {
      if (!(await shell.execute(parsed.line))) failed = true;
    } catch (e) {
      failed = true;
      shell.fail(e);
    }
  }
  rl.close();
  if (!(await shell.finish())) failed = true;
  await shell.close();
  return failed ? 1 : 0;
}
