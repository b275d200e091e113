/**
 * One directed connection: its socket, the frames arriving on it (through a bounded decoder), the
 * frames leaving on it (those of one tick written together), and its liveness: a heartbeat when
 * it has been idle, and how long it has been silent. It knows nothing of peers or sessions.
 */
import type net from 'node:net';
import { PRE_HANDSHAKE_FRAME_BYTES } from '../core/limits.js';
import { NetErrorKind, describeError, isNetError } from './errors.js';
import { FrameDecoder, HEARTBEAT_FRAME } from './framing.js';

/** Why a channel closed: a protocol problem, or the socket's own error (`cause` holds it). */
export interface ChannelProblem {
  readonly kind: NetErrorKind | 'socket';
  readonly message: string;
  readonly cause?: unknown;
}

export interface ChannelOptions {
  /** Once the channel is closed, for whatever reason: `problem` is null when closed on purpose. */
  readonly onClose: (problem: ChannelProblem | null) => void;
  /** Each frame body, in order; an empty body is a heartbeat and is not passed on. */
  readonly onFrame: (body: Buffer) => void;
  /** Bytes queued for a reader that does not read, before the channel is closed. */
  readonly maxQueuedBytes: number;
  readonly now?: () => number;
}

/** A place frames go in order: a channel, or a delay queue in front of one. */
export interface FrameSink {
  send(frame: Buffer): void;
}

export class Channel implements FrameSink {
  private readonly decoder = new FrameDecoder({ maxFrameBytes: PRE_HANDSHAKE_FRAME_BYTES });
  private queued: Buffer[] = [];
  private flushScheduled = false;
  private closed = false;
  private lastWrite: number;
  private lastRead: number;
  private readonly now: () => number;

  constructor(
    readonly socket: net.Socket,
    private readonly o: ChannelOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.lastWrite = this.now();
    this.lastRead = this.lastWrite;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close({ kind: 'socket', message: describeError(err), cause: err }));
    socket.on('close', () => this.close({ kind: 'socket', message: 'connection closed' }));
    // A socket handed over paused (its first bytes were looked at) flows from here.
    socket.resume();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Frames up to this size are accepted from now on (handshake frames are small). */
  setMaxFrameBytes(max: number): void {
    this.decoder.setMaxFrameBytes(max);
  }

  /**
   * Queues a frame: the frames of one tick leave in one write, when `flush` is called (the
   * daemon does at the end of each step's effects) or else right after the tick.
   */
  send(frame: Buffer): void {
    if (this.closed) return;
    this.queued.push(frame);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes a frame at once (a handshake frame, ahead of anything queued). */
  writeNow(frame: Buffer): void {
    if (this.closed) return;
    this.socket.write(frame);
    this.lastWrite = this.now();
  }

  /** Writes a heartbeat if nothing went out for `idleMs`: a transport frame, never a message. */
  heartbeat(idleMs: number): void {
    if (!this.closed && this.now() - this.lastWrite >= idleMs) this.writeNow(HEARTBEAT_FRAME);
  }

  /** Milliseconds since anything at all (a heartbeat included) arrived. */
  silentFor(): number {
    return this.now() - this.lastRead;
  }

  /** Ends the channel; `onClose` is called once, with `problem` (null: on purpose). */
  close(problem: ChannelProblem | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = [];
    this.socket.destroy();
    this.o.onClose(problem);
  }

  /** Writes every queued frame now, in one write. */
  flush(): void {
    const frames = this.queued;
    if (this.closed || frames.length === 0) return;
    this.queued = [];
    if (frames.length === 1) this.socket.write(frames[0]!);
    else {
      // One writev for the whole tick instead of a syscall per frame.
      this.socket.cork();
      for (const f of frames) this.socket.write(f);
      this.socket.uncork();
    }
    this.lastWrite = this.now();
    if (this.socket.writableLength > this.o.maxQueuedBytes) {
      this.close({ kind: NetErrorKind.SlowConsumer, message: `the peer is not reading: ${this.socket.writableLength} bytes queued` });
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastRead = this.now();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.close(isNetError(e) ? { kind: e.kind, message: e.message } : { kind: NetErrorKind.BadFrame, message: describeError(e) });
      return;
    }
    for (const body of frames) {
      if (this.closed) return;
      if (body.length > 0) this.o.onFrame(body);
    }
  }
}

