/**
 * The control socket: a running client accepts REPL command lines on a unix socket in its data
 * dir, so that scripts, tests and `docker compose exec` drive it exactly as a person would.
 * Protocol: one JSON line in ({"line": "balance all"}), one JSON line out (an Outcome).
 */
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { StorageError } from '../errors.js';
import type { Outcome } from './daemon.js';

export const CONTROL_SOCKET = 'control.sock';
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
    if (existsSync(this.path)) {
      if (await answers(this.path)) {
        throw new StorageError(this.path, 'another client is already running with this data dir (its control socket answers)');
      }
      unlinkSync(this.path); // left behind by a client that was killed
    }
    const server = net.createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) {
        this.answer(socket, { ok: false, text: 'error: request too long', json: { ok: false, error: 'request too long' } });
        return;
      }
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const raw = buffered.slice(0, nl);
      buffered = '';
      socket.pause();
      let line: unknown;
      try {
        line = (JSON.parse(raw) as { line?: unknown }).line;
      } catch {
        line = undefined;
      }
      if (typeof line !== 'string') {
        this.answer(socket, { ok: false, text: 'error: expected {"line": "<command>"}', json: { ok: false, error: 'bad request' } });
        return;
      }
      this.log.info({ line }, 'control command');
      this.handle(line).then(
        (outcome) => this.answer(socket, outcome),
        (err: unknown) => {
          this.log.error({ err }, 'control command failed');
          this.answer(socket, { ok: false, text: `error: ${String(err)}`, json: { ok: false, error: String(err) } });
        },
      );
    });
  }

  private answer(socket: net.Socket, outcome: Outcome): void {
    if (!socket.destroyed) socket.end(`${JSON.stringify(outcome)}\n`);
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

/** Sends one command line to a running client; rejects with a clear message if none answers. */
export function sendControl(dataDir: string, line: string, timeoutMs: number): Promise<Outcome> {
  const socketPath = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlError(`no answer from the client at ${socketPath} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ line })}\n`));
    socket.on('data', (c: string) => (data += c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `is not running (no control socket answers at ${socketPath})` : `cannot be reached at ${socketPath}: ${err.message}`;
      reject(new ControlError(why));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as Outcome);
      } catch {
        reject(new ControlError(`unreadable answer from ${socketPath}`));
      }
    });
  });
}
