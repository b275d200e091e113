/**
 * The calling side of the control socket: one connection to a running client, any number of
 * requests in flight on it (the benchmark keeps thousands outstanding on a few), each answered
 * with its typed result. It offers the daemon's API, so a caller cannot tell it from the daemon,
 * and the client's live stream (`subscribe`).
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { KindedError } from '../../base/errors.js';
import type { LedgerApi, LinkChange, TransferOrder } from '../api.js';
import type { Cents, NodeId } from '../../core/types.js';
import {
  type AnswerFrame,
  type ControlRequest,
  type ControlResults,
  type Refusal,
  type RequestType,
  type StreamFrame,
  type StreamItem,
  type Subscribed,
  controlSocketPath,
} from './protocol.js';

export const ControlErrorKind = {
  /** Nothing listens on the socket: no client runs with that data dir. */
  NotRunning: 'NOT_RUNNING',
  /** The socket exists but connecting failed otherwise. */
  Unreachable: 'UNREACHABLE',
  /** The connection closed before the answer came. */
  Closed: 'CLOSED',
  /** No answer within the time the caller allowed. */
  Timeout: 'TIMEOUT',
  /** The client answered that it would not or could not carry out the request. */
  Refused: 'REFUSED',
  /** The answer could not be read. */
  BadAnswer: 'BAD_ANSWER',
} as const;
export type ControlErrorKind = (typeof ControlErrorKind)[keyof typeof ControlErrorKind];

/** A request that got no answer, or a refusal; the message reads after "client 2 ". */
export class ControlError extends KindedError<ControlErrorKind> {
  /** What the client answered, for a refusal. */
  readonly refusal: Refusal | null;

  constructor(kind: ControlErrorKind, message: string, refusal: Refusal | null = null) {
    super(kind, message);
    this.refusal = refusal;
  }
}

const connectionError = (socketPath: string, err: NodeJS.ErrnoException): ControlError =>
  err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
    ? new ControlError(ControlErrorKind.NotRunning, `is not running (no control socket answers at ${socketPath})`)
    : new ControlError(ControlErrorKind.Unreachable, `cannot be reached at ${socketPath}: ${err.message}`);

export interface ControlClientOptions {
  /** Fail a request that has no answer after this many ms (default: wait as long as the connection lives). */
  readonly timeoutMs?: number;
}

interface Waiting {
  readonly resolve: (result: ControlResults[RequestType]) => void;
  readonly reject: (e: ControlError) => void;
  readonly timer: NodeJS.Timeout | null;
}

export class ControlClient implements LedgerApi {
  private readonly socket: net.Socket;
  private readonly waiting = new Map<number, Waiting>();
  /** Live streams on this connection, by their subscribe request's id. */
  private readonly streams = new Map<number, (item: StreamItem) => void>();
  private nextId = 1;
  private readonly closedListeners: ((e: ControlError) => void)[] = [];
  private buffered = '';
  private failure: ControlError | null = null;
  /** Requests made in one turn of the event loop leave in one write. */
  private outbox: string[] = [];

  private constructor(
    readonly socketPath: string,
    private readonly options: ControlClientOptions,
  ) {
    this.socket = net.connect(socketPath);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(connectionError(socketPath, err)));
    this.socket.on('close', () => this.fail(new ControlError(ControlErrorKind.Closed, `closed the control connection at ${socketPath}`)));
  }

  /** Connects to the client running with `dataDir`; rejects with a ControlError if none answers. */
  static connect(dataDir: string, options: ControlClientOptions = {}): Promise<ControlClient> {
    const client = new ControlClient(controlSocketPath(dataDir), options);
    return new Promise((resolve, reject) => {
      client.socket.once('connect', () => resolve(client));
      client.socket.once('error', (err: NodeJS.ErrnoException) => reject(connectionError(client.socketPath, err)));
    });
  }

  request<R extends ControlRequest>(r: R): Promise<ControlResults[R['type']]> {
    return this.send(r, null);
  }

  private send<R extends ControlRequest>(r: R, onStream: ((item: StreamItem) => void) | null): Promise<ControlResults[R['type']]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (onStream !== null) this.streams.set(id, onStream);
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs;
      const timer =
        timeoutMs === undefined
          ? null
          : setTimeout(() => {
              this.waiting.delete(id);
              reject(new ControlError(ControlErrorKind.Timeout, `gave no answer at ${this.socketPath} within ${timeoutMs / 1000} s`));
            }, timeoutMs);
      // The answer to request `id` is the result of its type: the protocol's promise, trusted here.
      this.waiting.set(id, { resolve: resolve as (result: ControlResults[RequestType]) => void, reject, timer });
      if (this.outbox.push(`${JSON.stringify({ id, ...r })}\n`) === 1) process.nextTick(() => this.flush());
    });
  }

  identity(): Promise<ControlResults['identity']> {
    return this.request({ type: 'identity' });
  }

  transfer(to: NodeId, amount: Cents, key?: string): Promise<ControlResults['transfer']> {
    return this.request(key === undefined ? { type: 'transfer', to, amount } : { type: 'transfer', to, amount, key });
  }

  transfers(orders: readonly TransferOrder[]): Promise<ControlResults['transfers']> {
    return this.request({ type: 'transfers', transfers: orders });
  }

  tx(key: string): Promise<ControlResults['tx']> {
    return this.request({ type: 'tx', key });
  }

  withdraw(key: string): Promise<ControlResults['withdraw']> {
    return this.request({ type: 'withdraw', key });
  }

  snapshot(): Promise<ControlResults['snapshot']> {
    return this.request({ type: 'snapshot' });
  }

  balances(): Promise<ControlResults['balances']> {
    return this.request({ type: 'balances' });
  }

  chain(last?: number): Promise<ControlResults['chain']> {
    return this.request(last === undefined ? { type: 'chain' } : { type: 'chain', last });
  }

  peers(): Promise<ControlResults['peers']> {
    return this.request({ type: 'peers' });
  }

  status(): Promise<ControlResults['status']> {
    return this.request({ type: 'status' });
  }

  snapshots(): Promise<ControlResults['snapshots']> {
    return this.request({ type: 'snapshots' });
  }

  savedSnapshot(snapshotId: string): Promise<ControlResults['savedSnapshot']> {
    return this.request({ type: 'savedSnapshot', snapshotId });
  }

  links(): Promise<ControlResults['links']> {
    return this.request({ type: 'links' });
  }

  link(peer: NodeId, change: LinkChange): Promise<ControlResults['link']> {
    return this.request('held' in change ? { type: 'link', peer, held: change.held } : { type: 'link', peer, delay: change.delay });
  }

  /**
   * Turns on the client's live stream on this connection: `onItem` hears every item, in order,
   * until the connection closes (see `onClose`).
   */
  subscribe(onItem: (item: StreamItem) => void, o: { readonly maxEventsPerSecond?: number } = {}): Promise<Subscribed> {
    return this.send({ type: 'subscribe', ...(o.maxEventsPerSecond === undefined ? {} : { maxEventsPerSecond: o.maxEventsPerSecond }) }, onItem);
  }

  /** Calls `f` once when the connection ends, with why (at once if it has ended). */
  onClose(f: (e: ControlError) => void): void {
    if (this.failure !== null) f(this.failure);
    else this.closedListeners.push(f);
  }

  /** Whether the connection has ended (closed, failed): no request on it can be answered any more. */
  get closed(): boolean {
    return this.failure !== null;
  }

  close(): void {
    this.socket.destroy();
  }

  private flush(): void {
    const lines = this.outbox;
    this.outbox = [];
    if (!this.socket.destroyed) this.socket.write(lines.join(''));
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const raw = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let answer: AnswerFrame | StreamFrame;
      try {
        answer = JSON.parse(raw) as AnswerFrame | StreamFrame;
      } catch {
        this.fail(new ControlError(ControlErrorKind.BadAnswer, `gave an unreadable answer at ${this.socketPath}`));
        return;
      }
      if ('stream' in answer) {
        this.streams.get(answer.id)?.(answer.stream);
        continue;
      }
      if (answer.id === null) {
        // A refusal of a request it could not read: nothing here can tell which one.
        if (!answer.ok) this.fail(new ControlError(ControlErrorKind.Refused, `refused a request: ${answer.error.message}`, answer.error));
        continue;
      }
      const w = this.waiting.get(answer.id);
      if (!w) continue;
      this.waiting.delete(answer.id);
      if (w.timer !== null) clearTimeout(w.timer);
      if (answer.ok) w.resolve(answer.result);
      else w.reject(new ControlError(ControlErrorKind.Refused, `refused the request: ${answer.error.message}`, answer.error));
    }
  }

  private fail(e: ControlError): void {
    const first = this.failure === null;
    this.failure ??= e;
    for (const w of this.waiting.values()) {
      if (w.timer !== null) clearTimeout(w.timer);
      w.reject(this.failure);
    }
    this.waiting.clear();
    this.streams.clear();
    if (first) for (const f of this.closedListeners.splice(0)) f(this.failure);
  }
}

/** Whether something answers on a unix socket: a live client, rather than no file or a leftover one. */
export function socketAnswers(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
