/**
 * Carries out the cluster language's lines on a session, the same at the prompt (typed or piped)
 * and in command files: client commands and their answers (each named by the client that gave
 * it), commands sent without waiting, settle, sleep, expect, trace, use, ps, stop, start,
 * restart, clear and help. How lines arrive, and what a failure ends, is the caller's. With
 * --json every line printed is one JSON value: an answer, a traced event, an error, or what the
 * cluster itself says.
 */
import type { TraceEvent } from '../../core/trace-events.js';
import type { NodeId } from '../../core/types.js';
import { ClusterError, ClusterErrorKind, sleep } from '../../cluster/spawner.js';
import { ControlError } from '../../daemon/control/client.js';
import type { SnapshotRecord } from '../../daemon/snapshot-record.js';
import { type Answer, succeeded } from '../interpret.js';
import { answerJson } from '../json.js';
import { renderAnswer, table } from '../render.js';
import { type Outcome, type SnapshotOutcome, check } from './expect.js';
import { renderClusterHelp } from './help.js';
import { type ClusterLine, type ClusterParse, type Lifecycle, type Where, completeClusterLine, findClusterCommand, parseClusterLine } from './language.js';
import type { ClusterSession, ProcessRow } from './session.js';
import { ClusterTrace, TRACE_LINES_PER_SECOND } from './trace.js';

/** How lines arrive: typed (each runs at once, side by side), piped, or from a command file (one after another). */
export type ShellMode = 'typed' | 'piped' | 'file';

export interface ShellOptions {
  readonly mode: ShellMode;
  readonly json: boolean;
  /** Prints one answer (maybe several lines); never called with an empty string. */
  readonly print: (text: string) => void;
  /** Clears the screen; absent where there is none to clear (output to a pipe or a file). */
  readonly clear?: () => void;
  /** Told of each snapshot a command here took (that completed). */
  readonly onSnapshot?: (record: SnapshotRecord) => void;
}

/** A line that did not do what it says (an expect that does not hold, a settle that never came); a command file stops at it. */
export class LineFailed extends Error {}

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

const names = (ids: readonly NodeId[]): string => ids.map((id) => `client${id}`).join(', ');

/** What a snapshot answer tells `expect snapshot ...`. */
function snapshotOutcome(answer: Answer & { type: 'snapshot' }): SnapshotOutcome {
  const s = answer.answer;
  if (!s.ok) return { ok: false, said: renderAnswer(answer), record: null };
  return { ok: s.record.verified, said: s.record.verdict, record: s.record };
}

/** Whether an answer's first line already names the client that gave it (its own balance, its status, its peers). */
function namesItsClient(answer: Answer, id: NodeId): boolean {
  return (answer.type === 'balance' && answer.client === id) || answer.type === 'status' || answer.type === 'peers';
}

/** A snapshot among several that verified with every channel empty: one line says all there is to say. */
function quietSnapshot(answer: Answer): SnapshotRecord | null {
  if (answer.type !== 'snapshot' || !answer.answer.ok) return null;
  const r = answer.answer.record;
  return r.verified && r.channels.every((c) => c.messages.length === 0) ? r : null;
}

/** Why a command did not reach client `id`, as a sentence about that client. */
function showFailure(id: NodeId, e: unknown): string {
  if (e instanceof ClusterError) return e.kind === ClusterErrorKind.NotRunning ? `${e.message}; start ${id} starts it` : `client${id}: ${e.message}`;
  // A ControlError's message reads after the client's name.
  if (e instanceof ControlError) return `client${id} ${e.message}`;
  return `client${id}: error: ${e instanceof Error ? e.message : String(e)}`;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class ClusterShell {
  /** Where bare commands go. */
  current: NodeId;
  /** Client commands running that nobody waits for: `&`, and every command typed at the prompt. */
  private readonly running = new Set<Promise<boolean>>();
  private backgroundFailed = false;
  /** What `expect ok|failed` and `expect snapshot ...` look at. */
  private last: Outcome | null = null;
  private lastSnapshot: SnapshotOutcome | null = null;
  private readonly trace: ClusterTrace;

  constructor(
    private readonly cluster: ClusterSession,
    private readonly o: ShellOptions,
  ) {
    this.current = cluster.ids[0]!;
    this.trace = new ClusterTrace((id) => cluster.dataDir(id), {
      event: (id, e, line) => this.o.print(this.traceLine(id, e, line)),
      dropped: (id, total) =>
        this.o.print(
          this.o.json
            ? JSON.stringify({ client: id, traceDropped: total })
            : `${cluster.label(id)} trace: ${total} events left out so far (at most ${TRACE_LINES_PER_SECOND} a second are printed)`,
        ),
    });
  }

  private get where(): Where {
    return this.o.mode === 'file' ? 'file' : 'prompt';
  }

  parse(text: string): ClusterParse {
    return parseClusterLine(text, { ids: this.cluster.ids, current: this.current, where: this.where });
  }

  complete(text: string): [string[], string] {
    return completeClusterLine(text, { ids: this.cluster.ids, current: this.current, where: this.where });
  }

  /** What the cluster itself says (not a client's answer): a line, or `{"ok": true, "said": ...}` with --json. */
  private say(text: string): void {
    if (text !== '') this.o.print(this.o.json ? JSON.stringify({ ok: true, said: text }) : text);
  }

  /**
   * A line that went wrong: a parse error, a failed line (`LineFailed`), anything thrown; as it
   * reads (`error: ...`), or `{"ok": false, "error": ...}` with --json.
   */
  fail(problem: unknown): void {
    const text = typeof problem === 'string' ? problem : problem instanceof LineFailed ? problem.message : message(problem);
    const plain = typeof problem === 'string' || !(problem instanceof LineFailed) ? `error: ${text}` : text;
    this.o.print(this.o.json ? JSON.stringify({ ok: false, error: text }) : plain);
  }

  /** One traced event of client `id`: `[client2] -> REQUEST ...`, or `{"client": 2, "trace": {...}}`. */
  private traceLine(id: NodeId, e: TraceEvent, line: string): string {
    return this.o.json ? JSON.stringify({ client: id, trace: e }) : `${this.cluster.label(id)} ${line}`;
  }

  /**
   * Carries out one line, printing what it answers; resolves with whether it did what was asked,
   * or throws LineFailed. What changes the prompt (`use`) and `clear` happen before the first
   * await, so the caller can redraw at once.
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
      case 'clear':
        this.o.clear?.();
        return true;
      case 'trace':
        return this.switchTrace(line.on, line.clients);
      case 'ps':
        this.say(renderPs(await this.cluster.ps(), Date.now()));
        return true;
      case 'lifecycle':
        return this.lifecycle(line.action, line.clients);
      case 'sleep':
        if (this.o.mode === 'typed') this.say(`sleep: ${findClusterCommand('sleep')!.notTyped!}`);
        else await sleep(line.ms);
        return true;
      case 'settle':
        await this.waitForRunning();
        try {
          await this.cluster.settle();
          const head = await (await this.cluster.reach(this.cluster.ids[0]!)).chain(1);
          if (this.o.mode !== 'typed') await this.trace.caughtUp();
          this.say(`settled: nothing pending, every chain at #${head.height} ${head.head.slice(0, 8)}`);
          return true;
        } catch (e) {
          throw new LineFailed(`settle failed: ${e instanceof ClusterError && e.kind === ClusterErrorKind.NotRunning ? `${e.message}; start ${e.clients.join(' ')} starts it` : message(e)}`);
        }
      case 'expect': {
        await this.waitForRunning();
        let found: string;
        try {
          found = await check(this.cluster, line.expectation, this.last, this.lastSnapshot);
        } catch (e) {
          throw new LineFailed(`expect failed: ${message(e)}`);
        }
        this.say(`ok: ${found}`);
        return true;
      }
      case 'send': {
        const run = this.send(line.clients, line.line);
        if (!line.background && this.o.mode !== 'typed') return run;
        this.running.add(run);
        void run.then((ok) => {
          this.running.delete(run);
          if (!ok) this.backgroundFailed = true;
        });
        return true;
      }
    }
  }

  /** Waits for every command still running; whether all that were not waited for succeeded. */
  async finish(): Promise<boolean> {
    await this.waitForRunning();
    return !this.backgroundFailed;
  }

  /** Ends the session's traces; piped or from a file, once what the clients had still to say has printed. */
  close(): Promise<void> {
    return this.trace.close(this.o.mode !== 'typed');
  }

  /** `trace on|off` for `clients`. */
  private async switchTrace(on: boolean, clients: readonly NodeId[]): Promise<boolean> {
    if (!on) {
      this.trace.off(clients);
      const left = this.trace.traced;
      this.say(left.length === 0 ? 'tracing is off' : `tracing ${names(left)} (trace off stops them all)`);
      return true;
    }
    const away = await this.trace.on(clients);
    const traced = this.trace.traced;
    const ids = traced.length === this.cluster.ids.length ? 'every client' : names(traced);
    this.say(
      `tracing messages of ${ids}, each line after its client: -> sent, <- received (trace off to stop)` +
        (away.length === 0 ? '' : `; ${names(away)} ${away.length === 1 ? 'is' : 'are'} not running: ${away.length === 1 ? 'its' : 'their'} lines follow once started`),
    );
    return true;
  }

  private async waitForRunning(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /** One command on each client; answers printed in client order, each as soon as those before it are. */
  private async send(clients: readonly NodeId[], text: string): Promise<boolean> {
    const several = clients.length > 1;
    const answers = clients.map((id) =>
      this.cluster.run(id, text).then(
        (answer) => ({ answer, text: this.show(id, answer, several) }),
        (e: unknown) => ({ answer: null, text: this.o.json ? JSON.stringify({ client: id, ok: false, error: showFailure(id, e) }) : showFailure(id, e) }),
      ),
    );
    // Logged in client order; `expect ok` holds when every client's command succeeded.
    let outcome: Outcome | null = null;
    for (const pending of answers) {
      const { answer, text: shown } = await pending;
      // Piped or in a file, the messages a command caused print before its answer; typed, each as it comes.
      if (this.o.mode !== 'typed') await this.trace.caughtUp();
      if (shown !== '') this.o.print(shown);
      const ok = answer !== null && succeeded(answer);
      if (outcome === null || (outcome.ok && !ok)) outcome = { ok, said: shown.split('\n')[0] ?? '' };
      if (answer?.type === 'snapshot') {
        this.lastSnapshot = snapshotOutcome(answer);
        if (answer.answer.ok) this.o.onSnapshot?.(answer.answer.record);
      }
    }
    this.last = outcome;
    return outcome?.ok ?? true;
  }

  /**
   * Client `id`'s answer, named once by the client that gave it (`client2: ...`, unless its first
   * line names it already); the lines after the first indented under it. Among several, a snapshot
   * that verified with nothing in flight is one line (`<n> snapshot show <id>` prints it whole).
   */
  private show(id: NodeId, answer: Answer, several: boolean): string {
    if (this.o.json) return JSON.stringify({ client: id, answer: answerJson(answer) });
    const quiet = several ? quietSnapshot(answer) : null;
    const body = quiet !== null ? `snapshot ${quiet.id}: nothing in flight; ${quiet.verdict}` : renderAnswer(answer);
    if (body === '') return '';
    const indented = body.replace(/\n/g, '\n  ');
    return namesItsClient(answer, id) ? indented : `client${id}: ${indented}`;
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
        this.fail(e);
      }
    }
    return ok;
  }
}
