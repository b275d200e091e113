/**
 * `<data-dir>/client.log`: pino's JSON lines, written asynchronously. A log is a convenience, the
 * ledger is not: when the file cannot be written (a full disk, an I/O error, a closed pipe) the
 * client says so once and goes on without it.
 *
 * Built on sonic-boom (what `pino.destination` uses) without pino's exit hook: that hook flushes
 * synchronously, and sonic-boom's synchronous flush retries a failing write forever, so a full
 * disk would hang the exit path and ignore SIGTERM. Here a failure stops the log for good, and
 * closing waits for pending lines only so long.
 */
import sonicBoom from 'sonic-boom';
import { describeCause } from '../shared/errors.js';

// A CommonJS module: its class is reachable at run time as a property of the default export.
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

/** How long closing waits for buffered lines to reach the file. */
const CLOSE_WAIT_MS = 1000;

export class LogFile {
  private readonly stream: SonicBoom;
  private failure: Error | null = null;
  private closed = false;

  /**
   * `fd` is already open (so that start-up fails early on an unwritable path); `onFailure` is
   * called once, with one line for the user, when the file stops taking lines.
   */
  constructor(
    readonly path: string,
    fd: number,
    private readonly onFailure: (line: string) => void,
  ) {
    this.stream = new SonicBoom({ fd, sync: false });
    this.stream.on('error', (err: Error) => this.fail(err));
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** pino's destination interface. Never throws: a line that cannot be written is dropped. */
  write(line: string): boolean {
    if (this.failure !== null) return true;
    try {
      return this.stream.write(line);
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
      // end() writes what is buffered, then closes: 'close' follows, or 'error' (handled above).
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

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.onFailure(`cannot write the log file ${this.path} (${describeCause(err)}); going on without it`);
    try {
      this.stream.destroy();
    } catch {
      // already closed
    }
  }
}
