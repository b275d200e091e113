/**
 * The daemon's side of the control socket: reads request lines, calls the API, writes answers.
 * Requests on one connection run concurrently and are answered as they complete; answers settled
 * by one event (a lock round settles a block's worth) leave in one write, right after it.
 * A `subscribe` adds the client's live stream to the connection (subscription.ts).
 */
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { describeCause } from '../../base/errors.js';
import type { Awaitable, LedgerApi, LiveSource } from '../api.js';
import { StorageError, isDaemonError } from '../errors.js';
import { socketAnswers } from './client.js';
import {
  type AnswerFrame,
  type ApiRequestType,
  type ControlRequest,
  type ControlResults,
  MAX_REQUEST_BYTES,
  type Refusal,
  RefusalKind,
  type RequestType,
  controlSocketPath,
  parseRequest,
} from './protocol.js';
import { SUBSCRIPTION_LIMITS, Subscription } from './subscription.js';


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
  if (await socketAnswers(socketPath)) {
    throw new StorageError(socketPath, 'another client is already running with this data dir (its control socket answers)');
  }
}

/** The API call a request names. */
function call(api: LedgerApi, r: Exclude<ControlRequest, { type: 'subscribe' }>): Awaitable<ControlResults[ApiRequestType]> {
  switch (r.type) {
    case 'identity':
      return api.identity();
    case 'transfer':
      return api.transfer(r.to, r.amount, r.key);
    case 'transfers':
      return api.transfers(r.transfers);
    case 'tx':
      return api.tx(r.key);
    case 'withdraw':
      return api.withdraw(r.key);
    case 'snapshot':
      return api.snapshot();
    case 'balances':
      return api.balances();
    case 'chain':
      return api.chain(r.last);
    case 'peers':
      return api.peers();
    case 'status':
      return api.status();
    case 'snapshots':
      return api.snapshots();
    case 'savedSnapshot':
      return api.savedSnapshot(r.snapshotId);
    case 'links':
      return api.links();
    case 'link':
      return api.link(r.peer, r.held !== undefined ? { held: r.held } : { delay: r.delay ?? null });
  }
}

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  readonly path: string;

  constructor(
    dataDir: string,
    private readonly api: LedgerApi,
    private readonly log: Logger,
    /** What `subscribe` streams; without it, subscribing is refused. */
    private readonly live: LiveSource | null = null,
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

  /** What a failed call is answered with: the daemon's own errors as they are, anything else as internal. */
  private refusalFor(err: unknown): Refusal {
    if (isDaemonError(err)) return { kind: err.kind, message: err.message };
    this.log.error({ err }, 'control request failed');
    return { kind: RefusalKind.Internal, message: describeCause(err) };
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let open = 0;
    let ended = false;
    let outbox: string[] = [];
    const subscriptions: Subscription[] = [];
    socket.on('close', () => {
      for (const sub of subscriptions) sub.stop();
    });
    const flush = (): void => {
      const lines = outbox;
      outbox = [];
      if (!socket.destroyed && lines.length > 0) socket.write(lines.join(''));
      if (ended && open === 0) socket.end();
    };
    const send = (answer: AnswerFrame): void => {
      open--;
      // Every answer settled in this turn leaves in one write, right after it (a lock round
      // settles a block's worth of transfers at once).
      if (outbox.push(`${JSON.stringify(answer)}\n`) === 1) process.nextTick(flush);
    };
    const succeed = (id: number, result: ControlResults[RequestType]): void => send({ id, ok: true, result });
    const refuse = (id: number | null, error: Refusal): void => send({ id, ok: false, error });
    socket.setEncoding('utf8');
    socket.on('end', () => {
      ended = true;
      if (open === 0 && outbox.length === 0) socket.end();
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        open++;
        const parsed = parseRequest(line);
        if (!parsed.ok) {
          refuse(parsed.id, { kind: RefusalKind.BadRequest, message: parsed.error });
          continue;
        }
        const { id } = parsed.frame;
        if (parsed.frame.type === 'subscribe') {
          const sub = this.subscribe(id, socket, parsed.frame.maxEventsPerSecond ?? null);
          if (sub === null) refuse(id, { kind: RefusalKind.BadRequest, message: 'subscribe: this client offers no live stream' });
          else {
            subscriptions.push(sub);
            // The answer first: the stream's first lines leave after it.
            Promise.resolve(this.api.identity()).then(
              (who) => {
                succeed(id, { subscribed: true, self: who.self, nodes: who.nodes });
                sub.start();
              },
              (err: unknown) => refuse(id, this.refusalFor(err)),
            );
          }
          continue;
        }
        let result: Awaitable<ControlResults[RequestType]>;
        try {
          result = call(this.api, parsed.frame);
        } catch (err) {
          refuse(id, this.refusalFor(err));
          continue;
        }
        if (result instanceof Promise) {
          result.then(
            (value) => succeed(id, value),
            (err: unknown) => refuse(id, this.refusalFor(err)),
          );
        } else {
          succeed(id, result);
        }
      }
      if (buffered.length > MAX_REQUEST_BYTES) {
        this.log.warn('control socket: request line too long; connection closed');
        buffered = '';
        const answer: AnswerFrame = { id: null, ok: false, error: { kind: RefusalKind.TooLong, message: `request longer than ${MAX_REQUEST_BYTES} bytes` } };
        socket.end(`${JSON.stringify(answer)}\n`);
        socket.removeAllListeners('data');
      }
    });
  }

  /** A live stream on `socket` under the subscribe request's id; null when there is nothing to stream. */
  private subscribe(id: number, socket: net.Socket, maxEventsPerSecond: number | null): Subscription | null {
    if (this.live === null) return null;
    const output = {
      write: (text: string) => (socket.writable ? socket.write(text) : true),
      backlog: () => socket.writableLength,
      onDrain: (f: () => void) => void socket.once('drain', f),
    };
    return new Subscription(id, this.api, this.live, output, SUBSCRIPTION_LIMITS, maxEventsPerSecond);
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
