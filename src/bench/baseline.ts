/**
 * Phase 1, the floor: sequential round trips between this process and a child echo process over
 * loopback TCP, with the mesh's framing and codec (a REQUEST out, a REPLY back, both decoded and
 * validated). One lock acquisition needs at least one such round trip to every peer.
 */
import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../net/codec.js';
import { FrameDecoder, encodeFrame } from '../net/framing.js';
import { type Percentiles, summarise } from './stats.js';

const ECHO_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'echo-server.js');
const NODES: ReadonlySet<number> = new Set([1, 2]);

export interface BaselineResult {
  /** Round trips measured (after the warm-up). */
  readonly roundTrips: number;
  readonly warmup: number;
  /** Round-trip time in milliseconds. */
  readonly rttMs: Percentiles;
  /** One append of a block-sized record and its fdatasync, where the clients' data dirs go. */
  readonly fdatasyncMs?: Percentiles;
}

export async function runBaseline(roundTrips = 20_000, warmup = 2_000): Promise<BaselineResult> {
  const child = spawn(process.execPath, [ECHO_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const rl = readline.createInterface({ input: child.stdout! });
      rl.once('line', (line) => {
        const m = /^port (\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`echo server said: ${line}`));
      });
      child.once('exit', (code) => reject(new Error(`echo server exited (code ${code})`)));
      child.once('error', reject);
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const decoder = new FrameDecoder();
    let waiter: ((ts: number) => void) | null = null;
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) {
        const m = decodeMessage(body, NODES);
        if (!m.ok) throw new Error(`baseline: bad reply: ${m.error.message}`);
        const w = waiter;
        waiter = null;
        w?.(m.value.ts);
      }
    });
    const samples: number[] = [];
    for (let i = 0; i < warmup + roundTrips; i++) {
      const started = performance.now();
      const answered = new Promise<number>((resolve) => {
        waiter = resolve;
      });
      socket.write(encodeFrame(encodeMessage({ type: 'REQUEST', height: 0, view: 0, ts: i })));
      const ts = await answered;
      if (ts !== i + 1) throw new Error(`baseline: reply ${ts} to request ${i}`);
      if (i >= warmup) samples.push(performance.now() - started);
    }
    socket.destroy();
    return { roundTrips, warmup, rttMs: summarise(samples), fdatasyncMs: measureFdatasync() };
  } finally {
    child.stdin?.end();
    child.kill('SIGTERM');
  }
}

/**
 * What a durable block costs at least: appending a record of a one-transfer block's size (about
 * 200 bytes) to a file and fdatasyncing it, in the temporary directory the clients' data dirs
 * are made in.
 */
export function measureFdatasync(appends = 1_000, warmup = 100): Percentiles {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'll-bench-sync-'));
  const fd = openSync(path.join(dir, 'chain.log'), 'a');
  try {
    const record = Buffer.alloc(200, 0x61);
    const samples: number[] = [];
    for (let i = 0; i < warmup + appends; i++) {
      const started = performance.now();
      writeSync(fd, record);
      fdatasyncSync(fd);
      if (i >= warmup) samples.push(performance.now() - started);
    }
    return summarise(samples);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
