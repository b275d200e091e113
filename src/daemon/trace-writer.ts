/**
 * `<data-dir>/trace.jsonl`: this client's protocol events (trace-events.ts), one JSON line each,
 * from the core's steps through the pure Tracer. Bounded: past TRACE_ROTATE_BYTES the file becomes
 * `trace.jsonl.1` (replacing an older one) and a new one begins; `client trace` reads both.
 */
import { openSync } from 'node:fs';
import path from 'node:path';
import type { Effect, Input } from '../core/api.js';
import type { TraceEvent } from '../core/trace-events.js';
import { Tracer } from '../core/tracer.js';
import type { NodeId } from '../core/types.js';
import { AppendFile } from './append-file.js';
import { StorageError } from './errors.js';
import { describeCause } from '../base/errors.js';

export const TRACE_FILE = 'trace.jsonl';
/** The size past which the trace rotates: with the rotated file, at most about twice this on disk. */
export const TRACE_ROTATE_BYTES = 32 * 1024 * 1024;

/** The events of one step, and each as JSON, made at most once however many read it (the file, each watcher). */
export class TraceBatch {
  private json: readonly string[] | null = null;

  constructor(readonly events: readonly TraceEvent[]) {}

  lines(): readonly string[] {
    this.json ??= this.events.map((e) => JSON.stringify(e));
    return this.json;
  }
}

export class TraceWriter {
  private readonly tracer: Tracer;
  private readonly file: AppendFile | null;

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
    return this.write(this.tracer.start(clock, Date.now()));
  }

  peerUp(peer: NodeId, channels: { readonly out: string; readonly in: string }): TraceBatch {
    return this.write(this.tracer.peerUp(peer, channels, Date.now()));
  }

  step(input: Input, effects: readonly Effect[], clockBefore: number): TraceBatch {
    return this.write(this.tracer.step(input, effects, clockBefore, Date.now()));
  }

  close(): Promise<void> {
    return this.file?.close() ?? Promise.resolve();
  }

  private write(events: TraceEvent[]): TraceBatch {
    const batch = new TraceBatch(events);
    // One write per step, not per event: the events of a step go out together anyway.
    if (this.file !== null && events.length > 0) this.file.write(`${batch.lines().join('\n')}\n`);
    return batch;
  }
}
