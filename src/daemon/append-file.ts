/**
 * An append-only file a client keeps beside its chain: `client.log` (pino's JSON lines) and
 * `trace.bin` (the protocol trace, bytes). Both are conveniences, the ledger is not: when the file
 * cannot be written (a full disk, an I/O error) the client says so once and goes on without it.
 *
 * Written asynchronously through sonic-boom (what `pino.destination` uses) without pino's exit
 * hook: that hook flushes synchronously, and sonic-boom's synchronous flush retries a failing
 * write forever, so a full disk would hang the exit path and ignore SIGTERM. Here a failure stops
 * the file for good, and closing waits for pending lines only so long.
 */
import { renameSync, statSync } from 'node:fs';
import sonicBoom from 'sonic-boom';
import { describeCause } from '../base/errors.js';

// A CommonJS module: its class is reachable at run time as a property of the default export.
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

/** How long closing waits for buffered lines to reach the file. */
const CLOSE_WAIT_MS = 1000;

export interface AppendFileOptions {
  /** Past this size the file is renamed to `<path>.1` (replacing an older one) and begun again. */
  readonly rotateBytes?: number;
  /** Called once, with one line for the user, when the file stops taking lines. */
  readonly onFailure: (line: string) => void;
  /** The file holds bytes (Buffers are written), and every new one begins with these (a format's magic). */
  readonly binary?: { readonly preamble: Buffer };
}

type Data = string | Buffer;
const sizeOf = (d: Data): number => (typeof d === 'string' ? Buffer.byteLength(d) : d.length);

export class AppendFile {
  private stream: SonicBoom;
  private failure: Error | null = null;
  private closed = false;
  private bytes: number;
  /** While the file is being rotated, the lines that wait for the new one. */
  private waiting: Data[] | null = null;

  /**
   * `fd` is the file already opened for appending (so that start-up fails early on a path that
   * cannot be opened); rotation reopens it by path.
   */
  constructor(
    readonly path: string,
    fd: number,
    private readonly o: AppendFileOptions,
  ) {
    this.bytes = statSync(path).size;
    this.stream = this.open(fd);
    if (this.bytes === 0 && o.binary) this.write(o.binary.preamble);
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /**
   * pino's destination interface (a line), or bytes for a binary file. Never throws: what cannot
   * be written is dropped.
   */
  write(line: Data): boolean {
    if (this.failure !== null || this.closed) return true;
    const size = sizeOf(line);
    if (this.waiting === null && this.o.rotateBytes !== undefined && this.bytes > 0 && this.bytes + size > this.o.rotateBytes) this.rotate();
    if (this.waiting !== null) {
      this.waiting.push(line);
      return true;
    }
    this.bytes += size;
    try {
      // sonic-boom's types know only its text mode; in its buffer mode (a binary file) it takes Buffers.
      return this.stream.write(line as string);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      return true;
    }
  }

  /** Waits, at most a second, for the lines written so far to reach the file, and closes it. */
  async close(): Promise<void> {
    if (this.failure !== null || this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // end() writes what is buffered, then closes: 'close' follows, or 'error' (handled in open).
      this.stream.once('close', done);
      this.stream.once('error', done);
      try {
        this.stream.end();
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        done();
      }
    });
  }

  private open(dest: number | string): SonicBoom {
    const contentMode = this.o.binary ? 'buffer' : 'utf8';
    const stream = new SonicBoom(typeof dest === 'number' ? { fd: dest, sync: false, contentMode } : { dest, sync: false, append: true, contentMode });
    stream.on('error', (err: Error) => this.fail(err));
    return stream;
  }

  /** The current file becomes `<path>.1` (once its last lines are in); lines go on into a new one. */
  private rotate(): void {
    const waiting: Data[] = [];
    this.waiting = waiting;
    this.stream.once('close', () => {
      this.waiting = null;
      if (this.failure !== null || this.closed) return;
      try {
        renameSync(this.path, `${this.path}.1`);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.stream = this.open(this.path);
      this.bytes = 0;
      if (this.o.binary) this.write(this.o.binary.preamble);
      for (const line of waiting) this.write(line);
    });
    this.stream.end();
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.o.onFailure(`cannot write ${this.path} (${describeCause(err)}); going on without it`);
    try {
      this.stream.destroy();
    } catch {
      // already closed
    }
  }
}
