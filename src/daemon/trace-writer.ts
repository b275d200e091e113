/**
 * `<data-dir>/trace.bin`: this client's protocol events (trace-events.ts), from the core's steps
 * through the pure Tracer, a few bytes each (trace-format.ts; `client trace` reads them back).
 * Bounded: past TRACE_ROTATE_BYTES the file becomes `trace.bin.1` (replacing an older one) and a
 * new one begins; `client trace` reads both.
 *
 * Off the protocol's path: a step is encoded once its messages have left, straight into a buffer
 * (no event objects, no text), and what a few milliseconds of steps encoded goes to the file in
 * one write. A step that someone watches live (`trace on`, a live view) is also made into event
 * objects, for them.
 */
import { openSync } from 'node:fs';
import path from 'node:path';
import type { Effect, Input } from '../core/api.js';
import type { TraceEvent } from '../core/trace-events.js';
import { traceLine } from '../core/trace-line.js';
import { EventSink, TeeSink, type TraceSink, Tracer } from '../core/tracer.js';
import type { NodeId } from '../core/types.js';
import { AppendFile } from './append-file.js';
import { StorageError } from './errors.js';
import { TRACE_MAGIC, TraceEncoder } from './trace-format.js';
import { describeCause } from '../base/errors.js';

export const TRACE_FILE = 'trace.bin';
export const ROTATED_TRACE_FILE = `${TRACE_FILE}.1`;
/** The size past which the trace rotates: with the rotated file, at most about twice this on disk. */
export const TRACE_ROTATE_BYTES = 32 * 1024 * 1024;
/** How long encoded steps wait before they are written: the steps of this window leave in one write. */
export const TRACE_FLUSH_MS = 10;
/** Bytes encoded beyond which they are written at once, whatever the time. */
const FLUSH_BYTES = 256 * 1024;

/** The events of one step, and each as JSON, made at most once however many read it (each watcher). */
export class TraceBatch {
  private json: readonly string[] | null = null;

  constructor(readonly events: readonly TraceEvent[]) {}

  lines(): readonly string[] {
    this.json ??= this.events.map(traceLine);
    return this.json;
  }
}

export class TraceWriter {
  private readonly tracer: Tracer;
  private readonly file: AppendFile | null;
  private readonly encoder = new TraceEncoder();
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
    this.file = new AppendFile(file, fd, { rotateBytes: TRACE_ROTATE_BYTES, onFailure, binary: { preamble: TRACE_MAGIC } });
  }

  get writing(): boolean {
    return this.file !== null && !this.file.failed;
  }

  start(clock: number): TraceBatch {
    const wall = Date.now();
    return this.made((sink) => this.tracer.startInto(sink, clock, wall));
  }

  peerUp(peer: NodeId, channels: { readonly out: string; readonly in: string }): TraceBatch {
    const wall = Date.now();
    return this.made((sink) => this.tracer.peerUpInto(sink, peer, channels, wall));
  }

  /** Traces a step someone watches: its events, also written with the next write. */
  step(input: Input, effects: readonly Effect[], clockBefore: number): TraceBatch {
    const wall = Date.now();
    return this.made((sink) => this.tracer.stepInto(sink, input, effects, clockBefore, wall));
  }

  /** Traces a step for the file alone: encoded now, written with the next write. */
  note(input: Input, effects: readonly Effect[], clockBefore: number): void {
    if (!this.writing) return;
    this.intoChunk((file) => this.tracer.stepInto(file, input, effects, clockBefore, Date.now()));
    this.scheduled();
  }

  /** Writes what is encoded now. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.encoder.size > 0) this.file?.write(this.encoder.take());
  }

  close(): Promise<void> {
    this.flush();
    return this.file?.close() ?? Promise.resolve();
  }

  /** Traces into the file's chunk; one begun for a step that traced nothing (an idle tick) is dropped, not written. */
  private intoChunk(trace: (file: TraceEncoder) => void): void {
    const fresh = this.encoder.size === 0;
    const next = this.tracer.next;
    trace(this.fileSink());
    if (fresh && this.tracer.next === next) this.encoder.discard();
  }

  /** The encoder, with a chunk begun if none is: a chunk reads on its own (see trace-format.ts). */
  private fileSink(): TraceEncoder {
    if (this.encoder.size === 0) this.encoder.begin({ node: this.tracer.node, run: this.tracer.run, next: this.tracer.next, sessions: this.tracer.sessions() });
    return this.encoder;
  }

  private scheduled(): void {
    if (this.encoder.size >= FLUSH_BYTES) this.flush();
    else if (this.encoder.size > 0) this.timer ??= setTimeout(() => this.flush(), TRACE_FLUSH_MS);
  }

  /** Events made as objects by `trace`, and encoded for the file too when it is written. */
  private made(trace: (sink: TraceSink) => void): TraceBatch {
    const objects = new EventSink(this.tracer);
    if (this.writing) this.intoChunk((file) => trace(new TeeSink(objects, file)));
    else trace(objects);
    this.scheduled();
    return new TraceBatch(objects.events);
  }
}
