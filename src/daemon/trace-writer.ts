/**
 * `<data-dir>/trace.jsonl`: this client's protocol events (trace-events.ts), one JSON line each,
 * from the core's steps through the pure Tracer. Bounded: past TRACE_ROTATE_BYTES the file becomes
 * `trace.jsonl.1` (replacing an older one) and a new one begins; `client trace` reads both.
 *
 * Off the protocol's path: a step that nobody watches live is only noted (its input, effects, the
 * clock before and the wall time), and the notes are turned into lines and written together a few
 * milliseconds later, in one write. Under load a client steps thousands of times a second, and a
 * line per message made and written in the step would delay every RELEASE behind it. A step that
 * someone watches (`trace on`, a live view) is traced at once, after the notes before it.
 */
import { openSync } from 'node:fs';
import path from 'node:path';
import type { Effect, Input } from '../core/api.js';
import type { TraceEvent } from '../core/trace-events.js';
import { traceLine } from '../core/trace-line.js';
import { Tracer } from '../core/tracer.js';
import type { NodeId } from '../core/types.js';
import { AppendFile } from './append-file.js';
import { StorageError } from './errors.js';
import { describeCause } from '../base/errors.js';

export const TRACE_FILE = 'trace.jsonl';
/** The size past which the trace rotates: with the rotated file, at most about twice this on disk. */
export const TRACE_ROTATE_BYTES = 32 * 1024 * 1024;
/** How long a noted step waits before it is written: the steps of this window leave in one write. */
export const TRACE_FLUSH_MS = 10;
/** Noted steps beyond which they are written at once, whatever the time (a bound on what waits). */
const MAX_NOTED_STEPS = 4096;

/** The events of one step, and each as JSON, made at most once however many read it (the file, each watcher). */
export class TraceBatch {
  private json: readonly string[] | null = null;

  constructor(readonly events: readonly TraceEvent[]) {}

  lines(): readonly string[] {
    this.json ??= this.events.map(traceLine);
    return this.json;
  }
}

/** A step to be traced later: all the tracer needs, the wall time included. */
interface Noted {
  readonly input: Input;
  readonly effects: readonly Effect[];
  readonly clockBefore: number;
  readonly wall: number;
}

export class TraceWriter {
  private readonly tracer: Tracer;
  private readonly file: AppendFile | null;
  private noted: Noted[] = [];
  private timer: NodeJS.Timeout | null = null;

  /**
   * With `toFile` false nothing is written, but the events are still made for whoever asks
   * (`trace on` at the prompt, a live view): the tracer must see every session come up to name
   * its channels.
   */
  constructor(dataDir: string, id: NodeId, run: string, peers: readonly NodeId[], height: number, toFile: boolean, onFailure: (line: string) => void) {
    this.tracer = new Tracer(id, run, peers, height);
    if (!toFile) {
      this.file = null;
      return;
    }
    const file = path.join(dataDir, TRACE_FILE);
    let fd: number;
    try {
      fd = openSync(file, 'a');
    } catch (e) {
      throw new StorageError(file, `cannot open the trace file: ${describeCause(e)}`, { cause: e });
    }
    this.file = new AppendFile(file, fd, { rotateBytes: TRACE_ROTATE_BYTES, onFailure });
  }

  get writing(): boolean {
    return this.file !== null && !this.file.failed;
  }

  start(clock: number): TraceBatch {
    return this.now(this.tracer.start(clock, Date.now()));
  }

  peerUp(peer: NodeId, channels: { readonly out: string; readonly in: string }): TraceBatch {
    return this.now(this.tracer.peerUp(peer, channels, Date.now()));
  }

  /** Traces a step now (someone watches): its events, also written with the next write. */
  step(input: Input, effects: readonly Effect[], clockBefore: number): TraceBatch {
    return this.now(this.tracer.step(input, effects, clockBefore, Date.now()));
  }

  /** Notes a step for the file alone: traced and written with the next write. */
  note(input: Input, effects: readonly Effect[], clockBefore: number): void {
    if (this.file === null) return;
    if (this.noted.push({ input, effects, clockBefore, wall: Date.now() }) >= MAX_NOTED_STEPS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), TRACE_FLUSH_MS);
  }

  /** Writes every noted step now. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const noted = this.noted;
    if (noted.length === 0) return;
    this.noted = [];
    let text = '';
    for (const n of noted) {
      for (const e of this.tracer.step(n.input, n.effects, n.clockBefore, n.wall)) text += `${traceLine(e)}\n`;
    }
    if (text.length > 0) this.file?.write(text);
  }

  close(): Promise<void> {
    this.flush();
    return this.file?.close() ?? Promise.resolve();
  }

  /** Events made now: the noted steps before them go first, in the same write. */
  private now(events: TraceEvent[]): TraceBatch {
    const batch = new TraceBatch(events);
    if (this.file === null) return batch;
    if (this.noted.length > 0) this.flush();
    // One write per step, not per event: the events of a step go out together anyway.
    if (events.length > 0) this.file.write(`${batch.lines().join('\n')}\n`);
    return batch;
  }
}
