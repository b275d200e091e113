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
import { type Answer, interpret } from './interpret.js';
import { answerJson } from './json.js';
import { completeLine, parseCommandLine } from './parse.js';
import { renderAnswer, renderNotice, renderTraceEvent } from './render.js';

export interface ReplOptions {
  readonly daemon: Daemon;
  readonly json: boolean;
  readonly dataDir: string;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream & { isTTY?: boolean };
  /** Called once when the session ends (exit, Ctrl-C, Ctrl-D or end of piped input). */
  readonly onEnd: () => void;
}

const HISTORY_FILE = 'history';
const HISTORY_SIZE = 1000;

function loadHistory(dataDir: string): string[] {
  try {
    return readFileSync(path.join(dataDir, HISTORY_FILE), 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
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

/** Ends a session once, however many of exit, Ctrl-C, Ctrl-D and end of input arrive. */
function endOnce(rl: readline.Interface, onEnd: () => void): (() => void) & { done: boolean } {
  const end = Object.assign(
    (): void => {
      if (end.done) return;
      end.done = true;
      rl.close();
      onEnd();
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
    historySize: HISTORY_SIZE,
    history: loadHistory(o.dataDir),
    completer: (line: string) => completeLine(line, { ...ctx, snapshotIds: /^\s*snapshot\s+show\s/.test(line) ? savedSnapshotIds(o.daemon) : [] }),
  });
  rl.on('history', (h: string[]) => {
    try {
      writeFileSync(path.join(o.dataDir, HISTORY_FILE), `${[...h].reverse().join('\n')}\n`);
    } catch {
      // history is a convenience; never fail a command over it
    }
  });

  const print = (text: string): void => {
    if (text) printAbovePrompt(rl, o.output, text);
  };
  o.daemon.on('notice', (n) => print(o.json ? JSON.stringify({ notice: renderNotice(n) }) : `  · ${renderNotice(n)}`));
  const trace = tracing(o.daemon, print, o.json);

  const end = endOnce(rl, o.onEnd);
  rl.on('line', (line) => {
    const parsed = parseCommandLine(line, ctx);
    if (!parsed.ok) {
      print(invalid(parsed.error, o.json));
      return;
    }
    if (parsed.command.type === 'exit') return end();
    if (parsed.command.type === 'empty') return rl.prompt();
    if (parsed.command.type === 'trace') {
      print(trace(parsed.command.on));
      return rl.prompt();
    }
    interpret(parsed.command, o.daemon, ctx, { dataDir: o.dataDir }).then(
      (answer) => print(show(answer, o.json)),
      (err: unknown) => print(`error: ${err instanceof Error ? err.message : String(err)}`),
    );
    rl.prompt();
  });
  rl.on('SIGINT', end);
  rl.on('close', end);
  rl.prompt();
  return rl;
}

/** Piped: one command per line, run one after another, results in order; ends after the last. */
export function runPiped(o: ReplOptions): void {
  const ctx = o.daemon.identity();
  const rl = readline.createInterface({ input: o.input, terminal: false });
  const lines: string[] = [];
  let inputEnded = false;
  let running = false;
  const end = endOnce(rl, o.onEnd);
  const trace = tracing(o.daemon, (text) => o.output.write(`${text}\n`), o.json);
  const next = async (): Promise<void> => {
    if (running) return;
    running = true;
    while (lines.length > 0 && !end.done) {
      const line = lines.shift()!;
      const parsed = parseCommandLine(line, ctx);
      if (!parsed.ok) {
        o.output.write(`${invalid(parsed.error, o.json)}\n`);
        continue;
      }
      if (parsed.command.type === 'empty') continue;
      if (parsed.command.type === 'exit') return end();
      if (parsed.command.type === 'trace') {
        o.output.write(`${trace(parsed.command.on)}\n`);
        continue;
      }
      try {
        o.output.write(`${show(await interpret(parsed.command, o.daemon, ctx, { dataDir: o.dataDir }), o.json)}\n`);
      } catch (e) {
        o.output.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    running = false;
    if (inputEnded) end();
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
