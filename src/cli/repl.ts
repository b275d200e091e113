/**
 * The interactive prompt (node:readline) and the piped-stdin runner, calling the daemon of this
 * process directly. Asynchronous lines (a block from a peer, a peer going down) are printed above
 * the prompt without garbling what is typed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { TraceEvent } from '../core/trace-events.js';
import type { Daemon } from '../daemon/daemon.js';
import { type Answer, interpret, succeeded } from './interpret.js';
import { answerJson } from './json.js';
import { completeLine, parseCommandLine } from './parse.js';
import { renderAnswer, renderNotice, renderTraceEvent } from './render.js';

export interface ReplOptions {
  readonly daemon: Daemon;
  readonly json: boolean;
  readonly dataDir: string;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Called once when the session ends (exit, Ctrl-C twice, Ctrl-D or end of piped input), with the
   * exit status: 1 when piped input had a command that failed, else 0.
   */
  readonly onEnd: (code: number) => void;
}

/** The history file's name in a data dir (a client's, or a cluster's data root). */
export const HISTORY_FILE = 'history';
const HISTORY_SIZE = 1000;

/** History for a prompt, kept in `file` (newest last); a missing or unreadable file starts empty. */
export function historyFrom(file: string): { history: string[]; historySize: number } {
  let history: string[] = [];
  try {
    history = readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    // no history yet
  }
  return { history, historySize: HISTORY_SIZE };
}

/** Writes the prompt's history to `file` each time it changes. */
export function saveHistoryTo(rl: readline.Interface, file: string): void {
  rl.on('history', (h: string[]) => {
    try {
      writeFileSync(file, `${[...h].reverse().join('\n')}\n`);
    } catch {
      // history is a convenience; never fail a command over it
    }
  });
}

/** Said after Ctrl-C on an empty line. */
export const LEAVE_HINT = '(to leave, press Ctrl-C again or Ctrl-D, or type exit)';

/**
 * Ctrl-C as psql, node and redis-cli have it: with something typed, the line is cancelled (left
 * on screen with ^C, not run, not in the history) and a fresh prompt follows; on an empty line it
 * says how to leave, and a second Ctrl-C there calls `leave`.
 */
export function cancelLineOnCtrlC(rl: readline.Interface, output: NodeJS.WritableStream, leave: () => void): void {
  let warned = false;
  rl.on('line', () => {
    warned = false;
  });
  rl.on('SIGINT', () => {
    const typed = rl.line;
    if (typed === '' && warned) return leave();
    warned = typed === '';
    // Ctrl-E then Ctrl-U: readline itself empties the line (however many rows it wrapped to) and redraws the prompt.
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    readline.clearLine(output, 0);
    readline.cursorTo(output, 0);
    output.write(`${rl.getPrompt()}${typed}^C\n${warned ? `${LEAVE_HINT}\n` : ''}`);
    rl.prompt();
  });
}

/**
 * Prints a line that arrived asynchronously above the prompt, then redraws the prompt with the
 * partly typed line, so output never garbles what is being typed. Plain lines when not a terminal.
 */
export function printAbovePrompt(rl: readline.Interface, output: NodeJS.WritableStream & { isTTY?: boolean }, text: string): void {
  if (output.isTTY !== true) {
    output.write(`${text}\n`);
    return;
  }
  readline.clearLine(output, 0);
  readline.cursorTo(output, 0);
  output.write(`${text}\n`);
  rl.prompt(true);
}

/**
 * Ends a session once, however many of exit, Ctrl-C, Ctrl-D and end of input arrive. Transfers
 * still waiting are withdrawn first (the client is about to stop): `answered` settles once each
 * one's WITHDRAWN has been printed.
 */
function endOnce(rl: readline.Interface, daemon: Daemon, answered: () => Promise<unknown>, onEnd: (code: number) => void): ((code?: number) => void) & { done: boolean } {
  const end = Object.assign(
    (code = 0): void => {
      if (end.done) return;
      end.done = true;
      daemon.withdrawPending();
      void answered().then(() => {
        rl.close();
        onEnd(code);
      });
    },
    { done: false },
  );
  return end;
}

/** Ids for Tab after `snapshot show`; a data dir Tab cannot read offers none rather than crash. */
function savedSnapshotIds(daemon: Daemon): string[] {
  try {
    return daemon.snapshotIds();
  } catch {
    return [];
  }
}

function show(answer: Answer, json: boolean): string {
  return json ? JSON.stringify(answerJson(answer)) : renderAnswer(answer);
}

/**
 * `trace on|off` at this prompt: while on, each message the client sends and receives (and each
 * critical section and snapshot recording) is printed as it happens. Returns the switch.
 */
function tracing(daemon: Daemon, write: (text: string) => void, json: boolean): (on: boolean) => string {
  let listener: ((events: readonly TraceEvent[]) => void) | null = null;
  return (on) => {
    if (on && listener === null) {
      listener = (events) => {
        for (const e of events) {
          const line = renderTraceEvent(e);
          if (line !== null) write(json ? JSON.stringify({ trace: e }) : `  ${line}`);
        }
      };
      daemon.on('trace', listener);
      return json ? JSON.stringify({ ok: true, trace: 'on' }) : 'tracing messages: -> sent, <- received (trace off to stop)';
    }
    if (!on && listener !== null) {
      daemon.off('trace', listener);
      listener = null;
    }
    return json ? JSON.stringify({ ok: true, trace: on ? 'on' : 'off' }) : `tracing is ${on ? 'on' : 'off'}`;
  };
}

/** A parse error, in the form the session prints. */
const invalid = (error: string, json: boolean): string => show({ type: 'invalid', error }, json);

/** Interactive: commands run concurrently (type on while a transfer waits for the lock). */
export function startRepl(o: ReplOptions): readline.Interface {
  const ctx = o.daemon.identity();
  const self = ctx.self;
  const rl = readline.createInterface({
    input: o.input,
    output: o.output,
    prompt: `client${self}> `,
    terminal: true,
    ...historyFrom(path.join(o.dataDir, HISTORY_FILE)),
    completer: (line: string) => completeLine(line, { ...ctx, snapshotIds: /^\s*snapshot\s+show\s/.test(line) ? savedSnapshotIds(o.daemon) : [] }),
  });
  saveHistoryTo(rl, path.join(o.dataDir, HISTORY_FILE));

  const print = (text: string): void => {
    if (!text) return;
    // Leaving: no prompt to redraw below what is printed.
    if (end.done) o.output.write(`${text}\n`);
    else printAbovePrompt(rl, o.output, text);
  };
  o.daemon.on('notice', (n) => print(o.json ? JSON.stringify({ notice: renderNotice(n) }) : `  · ${renderNotice(n)}`));
  const trace = tracing(o.daemon, print, o.json);

  /** Transfers whose answer is not printed yet. */
  const transfers = new Set<Promise<void>>();
  const end = endOnce(rl, o.daemon, () => Promise.allSettled([...transfers]), o.onEnd);
  rl.on('line', (line) => {
    const parsed = parseCommandLine(line, ctx);
    if (!parsed.ok) {
      print(invalid(parsed.error, o.json));
      return;
    }
    if (parsed.command.type === 'exit') return end(0);
    if (parsed.command.type === 'empty') return rl.prompt();
    if (parsed.command.type === 'trace') {
      print(trace(parsed.command.on));
      return rl.prompt();
    }
    // What Ctrl-L does: readline clears the screen and redraws the prompt at the top.
    if (parsed.command.type === 'clear') return rl.write(null, { ctrl: true, name: 'l' });
    const answered = interpret(parsed.command, o.daemon, ctx, { dataDir: o.dataDir }).then(
      (answer) => print(show(answer, o.json)),
      (err: unknown) => print(`error: ${err instanceof Error ? err.message : String(err)}`),
    );
    if (parsed.command.type === 'transfer') {
      transfers.add(answered);
      void answered.finally(() => transfers.delete(answered));
    }
    rl.prompt();
  });
  cancelLineOnCtrlC(rl, o.output, () => end(0));
  rl.on('close', () => end(0));
  rl.prompt();
  return rl;
}

/**
 * Piped: one command per line, run one after another, results in order; ends after the last, with
 * exit status 1 if any line failed (did not parse, or its command failed), as `client ctl` would.
 */
export function runPiped(o: ReplOptions): void {
  const ctx = o.daemon.identity();
  const rl = readline.createInterface({ input: o.input, terminal: false });
  const lines: string[] = [];
  let inputEnded = false;
  let running = false;
  let failed = false;
  let current: Promise<unknown> = Promise.resolve();
  const end = endOnce(rl, o.daemon, () => current, o.onEnd);
  const trace = tracing(o.daemon, (text) => o.output.write(`${text}\n`), o.json);
  const next = async (): Promise<void> => {
    if (running) return;
    running = true;
    while (lines.length > 0 && !end.done) {
      const line = lines.shift()!;
      const parsed = parseCommandLine(line, ctx);
      if (!parsed.ok) {
        failed = true;
        o.output.write(`${invalid(parsed.error, o.json)}\n`);
        continue;
      }
      if (parsed.command.type === 'empty') continue;
      if (parsed.command.type === 'exit') return end(failed ? 1 : 0);
      if (parsed.command.type === 'trace') {
        o.output.write(`${trace(parsed.command.on)}\n`);
        continue;
      }
      if (parsed.command.type === 'clear') {
        // Answers on a terminal (input from a pipe) can be cleared; answers into a pipe cannot.
        if (o.output.isTTY === true) {
          readline.cursorTo(o.output, 0, 0);
          readline.clearScreenDown(o.output);
        }
        continue;
      }
      const run = async (): Promise<void> => {
        try {
          const answer = await interpret(parsed.command, o.daemon, ctx, { dataDir: o.dataDir });
          if (!succeeded(answer)) failed = true;
          o.output.write(`${show(answer, o.json)}\n`);
        } catch (e) {
          failed = true;
          o.output.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        }
      };
      current = run();
      await current;
    }
    running = false;
    if (inputEnded) end(failed ? 1 : 0);
  };
  rl.on('line', (line) => {
    lines.push(line);
    void next();
  });
  rl.on('close', () => {
    inputEnded = true;
    void next();
  });
}
