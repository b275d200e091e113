/**
 * The control socket: a running client accepts REPL command lines on a unix socket in its data
 * dir, so that scripts, tests and `docker compose exec` drive it exactly as a person would.
 * Protocol: one JSON line in ({"line": "balance all"}), one JSON line out (an Outcome).
 */
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { describeCause } from '../shared/errors.js';
import { StorageError } from './errors.js';
import type { Outcome } from './daemon.js';

export const CONTROL_SOCKET = 'control.sock';
/** Which form of an answer a request wants: the text a person reads, the JSON value, or both. */
export type Format = 'text' | 'json' | 'both';
/** A request line longer than this is not a command. */
const MAX_REQUEST_BYTES = 64 * 1024;

export const controlSocketPath = (dataDir: string): string => path.join(dataDir, CONTROL_SOCKET);

/** Whether something answers on the socket (a live client) or it is a leftover file. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Unix socket paths longer than this are cut short by the kernel, silently. */
const MAX_SOCKET_PATH = 100;

/**
 * Refuses a data dir that a running client uses (its control socket answers). Called before the
 * chain file is even opened, so that a second start cannot "repair" a file being written.
 */
export async function assertNotRunning(dataDir: string): Promise<void> {
  const socketPath = controlSocketPath(dataDir);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new StorageError(socketPath, `path too long for a unix socket (${Buffer.byteLength(socketPath)} bytes, at most ${MAX_SOCKET_PATH}): use a shorter --data-dir`);
  }
  if (existsSync(socketPath) && (await answers(socketPath))) {
    throw new StorageError(socketPath, 'another client is already running with this data dir (its control socket answers)');
  }
}

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  readonly path: string;

  constructor(
    dataDir: string,
    private readonly handle: (line: string) => Promise<Outcome>,
    private readonly log: Logger,
  ) {
    this.path = controlSocketPath(dataDir);
  }

  async start(): Promise<void> {
    await assertNotRunning(path.dirname(this.path));
    if (existsSync(this.path)) unlinkSync(this.path); // left behind by a client that was killed
    // Half-open: a client may end its side after its last request and still read the answers.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        // Two clients started at once on one data dir: the other bound the socket first.
        reject(err.code === 'EADDRINUSE'
          ? new StorageError(this.path, 'another client is already running with this data dir (it took the control socket first)', { cause: err })
          : new StorageError(this.path, `cannot open the control socket: ${describeCause(err)}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen(this.path, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
  }

  /** Requests on one connection run concurrently; each answer carries its request's id. */
  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let open = 0;
    let ended = false;
    // Answers finished in the same tick leave in one write: under load thousands a second do.
    let outbox: string[] = [];
    const flush = (): void => {
      const lines = outbox;
      outbox = [];
      if (!socket.destroyed && lines.length > 0) socket.write(lines.join(''));
      if (ended && open === 0) socket.end();
    };
    const reply = (id: unknown, outcome: Outcome, format: Format): void => {
      open--;
      const answer = format === 'json' ? { id, ok: outcome.ok, json: outcome.json } : format === 'text' ? { id, ok: outcome.ok, text: outcome.text } : { id, ...outcome };
      if (outbox.push(`${JSON.stringify(answer)}\n`) === 1) setImmediate(flush);
    };
    socket.setEncoding('utf8');
    socket.on('end', () => {
      ended = true;
      if (open === 0 && outbox.length === 0) socket.end();
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const raw = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        open++;
        let request: { id?: unknown; line?: unknown; format?: unknown } = {};
        try {
          request = JSON.parse(raw) as typeof request;
        } catch {
          // answered below as a bad request
        }
        if (typeof request !== 'object' || request === null || typeof request.line !== 'string') {
          reply(null, { ok: false, text: 'error: expected {"id": ..., "line": "<command>"}', json: { ok: false, error: 'bad request' } }, 'both');
          continue;
        }
        const id = request.id ?? null;
        const format: Format = request.format === 'json' || request.format === 'text' ? request.format : 'both';
        this.handle(request.line).then(
          (outcome) => reply(id, outcome, format),
          (err: unknown) => {
            this.log.error({ err }, 'control command failed');
            reply(id, { ok: false, text: `error: ${String(err)}`, json: { ok: false, error: String(err) } }, format);
          },
        );
      }
      if (buffered.length > MAX_REQUEST_BYTES) {
        this.log.warn('control socket: request line too long; connection closed');
        buffered = '';
        socket.end(`${JSON.stringify({ id: null, ok: false, text: `error: request longer than ${MAX_REQUEST_BYTES} bytes`, json: { ok: false, error: 'request too long' } })}\n`);
        socket.removeAllListeners('data');
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

export class ControlError extends Error {}

const connectionError = (socketPath: string, err: NodeJS.ErrnoException): ControlError =>
  new ControlError(
    err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
      ? `is not running (no control socket answers at ${socketPath})`
      : `cannot be reached at ${socketPath}: ${err.message}`,
  );

/**
 * One connection to a running client's control socket with any number of requests in flight
 * (the benchmark's load generator keeps thousands outstanding on a few of these).
 */
export class ControlClient {
  private readonly socket: net.Socket;
  private readonly waiting = new Map<number, { resolve: (o: Outcome) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private buffered = '';
  private failure: ControlError | null = null;

  private constructor(readonly socketPath: string) {
    this.socket = net.connect(socketPath);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(connectionError(socketPath, err)));
    this.socket.on('close', () => this.fail(new ControlError(`closed the control connection at ${socketPath}`)));
  }

  static connect(dataDir: string): Promise<ControlClient> {
    const client = new ControlClient(controlSocketPath(dataDir));
    return new Promise((resolve, reject) => {
      client.socket.once('connect', () => resolve(client));
      client.socket.once('error', (err: NodeJS.ErrnoException) => reject(connectionError(client.socketPath, err)));
    });
  }

  /** With `format` 'json' the answer's `text` is empty, with 'text' its `json` is null. */
  request(line: string, format: Format = 'both'): Promise<Outcome> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify(format === 'both' ? { id, line } : { id, line, format })}\n`);
    });
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const raw = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let answer: Partial<Outcome> & { id?: unknown; ok: boolean };
      try {
        answer = JSON.parse(raw) as Partial<Outcome> & { id?: unknown; ok: boolean };
      } catch {
        this.fail(new ControlError(`unreadable answer from ${this.socketPath}`));
        return;
      }
      const w = typeof answer.id === 'number' ? this.waiting.get(answer.id) : undefined;
      if (!w) continue;
      this.waiting.delete(answer.id as number);
      w.resolve({ ok: answer.ok, text: answer.text ?? '', json: answer.json ?? null });
    }
  }

  private fail(e: ControlError): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }
}

/** Sends one command line to a running client; rejects with a clear message if none answers. */
export async function sendControl(dataDir: string, line: string, timeoutMs: number, format: Format = 'both'): Promise<Outcome> {
  const client = await ControlClient.connect(dataDir);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      client.request(line, format),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ControlError(`gave no answer at ${client.socketPath} within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}
