/**
 * The on-disk parts of the transfer key index (tx-index.ts): runs, files of (fingerprint, height)
 * records sorted by fingerprint, 16 bytes each (two doubles in the machine's byte order). A run is
 * written once and never changed; two runs are merged into a new one. Fingerprints are uniform, so
 * a lookup is an interpolation search: a few positioned reads of one page, whatever the run's size.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import { FINGERPRINT_SPACE } from './key-fingerprints.js';

export const RECORD_BYTES = 16;
/** Records read at a time by a lookup: one 4 KiB page. */
const WINDOW = 256;
/** Records read or written at a time by verifying and merging (1 MiB). */
const CHUNK = 65_536;

/** What the manifest says of one run. */
export interface RunInfo {
  readonly file: string;
  readonly count: number;
  /** Runs of one level are about the same size; two of a level merge into one of the next. */
  readonly level: number;
  /** SHA-1 of the file: a run that is not what was written (a crash, a bad disk) is not used. */
  readonly sha1: string;
}

/** Buffers whose memory starts at offset 0, so that a Float64Array can view them. */
const aligned = (bytes: number): Buffer => Buffer.allocUnsafeSlow(bytes);
const view = (b: Buffer, records: number): Float64Array<ArrayBufferLike> => new Float64Array(b.buffer, b.byteOffset, records * 2);

function readFully(fd: number, buf: Buffer, bytes: number, position: number): void {
  for (let got = 0; got < bytes; ) {
    const n = fs.readSync(fd, buf, got, bytes - got, position + got);
    if (n === 0) throw new Error(`tx index: a run ended early at byte ${position + got}`);
    got += n;
  }
}

/** Writes `records` (sorted) as a new run file. */
export function writeRun(dir: string, file: string, level: number, records: Float64Array): RunInfo {
  const bytes = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  fs.writeFileSync(path.join(dir, file), bytes);
  return { file, count: records.length / 2, level, sha1: createHash('sha1').update(bytes).digest('hex') };
}

/**
 * Reads a whole run and says what is wrong with it, or null: its size, its hash, its order, and
 * every record in range (a height at most `maxHeight`). Each fingerprint goes to `each` on the way.
 */
export function verifyRun(dir: string, info: RunInfo, maxHeight: number, each: (fp: number) => void): string | null {
  const file = path.join(dir, info.file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return `${info.file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== info.count * RECORD_BYTES) return `${info.file} has ${size} bytes, not ${info.count * RECORD_BYTES}`;
    const hash = createHash('sha1');
    const buf = aligned(CHUNK * RECORD_BYTES);
    let previous = -1;
    for (let at = 0; at < info.count; at += CHUNK) {
      const n = Math.min(CHUNK, info.count - at);
      readFully(fd, buf, n * RECORD_BYTES, at * RECORD_BYTES);
      hash.update(buf.subarray(0, n * RECORD_BYTES));
      const r = view(buf, n);
      for (let i = 0; i < 2 * n; i += 2) {
        const fp = r[i]!;
        const height = r[i + 1]!;
        if (!(fp >= previous && fp < FINGERPRINT_SPACE && Number.isInteger(fp))) return `${info.file} is out of order at record ${at + i / 2}`;
        if (!(Number.isInteger(height) && height >= 0 && height <= maxHeight)) return `${info.file} names height ${height} at record ${at + i / 2}, above #${maxHeight}`;
        previous = fp;
        each(fp);
      }
    }
    return hash.digest('hex') === info.sha1 ? null : `${info.file} is not the run that was written (its hash differs)`;
  } finally {
    fs.closeSync(fd);
  }
}

/** An open run, for lookups. */
export class Run {
  private readonly fd: number;
  private readonly buf = aligned(WINDOW * RECORD_BYTES);
  /** Pages read by lookups (for the index's figures). */
  reads = 0;

  constructor(
    readonly dir: string,
    readonly info: RunInfo,
  ) {
    this.fd = fs.openSync(path.join(dir, info.file), 'r');
  }

  /** Reads records [from, from + n) into the window; returns its view. */
  private read(from: number, n: number): Float64Array {
    this.reads++;
    readFully(this.fd, this.buf, n * RECORD_BYTES, from * RECORD_BYTES);
    return view(this.buf, n);
  }

  /**
   * Pushes the height of every record with fingerprint `fp`. Invariant: records before `lo` are
   * below `fp`, records from `hi` on above it; the next page read is where `fp` would sit if the
   * fingerprints between the bounds were evenly spread (they are, nearly: they are uniform).
   */
  find(fp: number, out: number[]): void {
    let lo = 0;
    let hi = this.info.count;
    let loFp = 0;
    let hiFp = FINGERPRINT_SPACE;
    while (hi > lo) {
      if (hi - lo <= WINDOW) {
        const r = this.read(lo, hi - lo);
        for (let i = 0; i < r.length; i += 2) if (r[i] === fp) out.push(r[i + 1]!);
        return;
      }
      const guess = lo + Math.floor(((fp - loFp) / (hiFp - loFp)) * (hi - lo));
      const start = Math.min(Math.max(guess - WINDOW / 2, lo), hi - WINDOW);
      const r = this.read(start, WINDOW);
      const first = r[0]!;
      const last = r[2 * WINDOW - 2]!;
      if (fp < first) {
        hi = start;
        hiFp = first;
      } else if (fp > last) {
        lo = start + WINDOW;
        loFp = last;
      } else {
        for (let i = 0; i < r.length; i += 2) if (r[i] === fp) out.push(r[i + 1]!);
        // Equal records may go on beyond the page (two keys with one fingerprint): follow them.
        if (first === fp) this.scan(fp, start - 1, -1, lo, out);
        if (last === fp) this.scan(fp, start + WINDOW, 1, hi, out);
        return;
      }
    }
  }

  /** From record `at`, one at a time in direction `step` up to `bound`, while the fingerprint is `fp`. */
  private scan(fp: number, at: number, step: 1 | -1, bound: number, out: number[]): void {
    for (let i = at; step > 0 ? i < bound : i >= bound; i += step) {
      const r = this.read(i, 1);
      if (r[0] !== fp) return;
      out.push(r[1]!);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Merges runs `a` and `b` into a new run `file`, reading and writing a chunk at a time and
 * yielding to the event loop between chunks, so that lookups and the protocol go on meanwhile.
 * Returns null (and leaves no file) if `abandon` says so between chunks.
 */
export async function mergeRuns(dir: string, a: RunInfo, b: RunInfo, file: string, level: number, abandon: () => boolean): Promise<RunInfo | null> {
  const out = path.join(dir, file);
  const target = await fs.promises.open(out, 'w');
  const sources = [await fs.promises.open(path.join(dir, a.file), 'r'), await fs.promises.open(path.join(dir, b.file), 'r')] as const;
  const hash = createHash('sha1');
  let done = false;
  try {
    const readers = [a, b].map((info, k) => ({ info, handle: sources[k]!, buf: aligned(CHUNK * RECORD_BYTES), records: new Float64Array(0) as Float64Array<ArrayBufferLike>, at: 0, next: 0 }));
    const fill = async (r: (typeof readers)[number]): Promise<void> => {
      const n = Math.min(CHUNK, r.info.count - r.next);
      if (n === 0) {
        r.records = new Float64Array(0) as Float64Array<ArrayBufferLike>;
        r.at = 0;
        return;
      }
      for (let got = 0; got < n * RECORD_BYTES; ) {
        const { bytesRead } = await r.handle.read(r.buf, got, n * RECORD_BYTES - got, r.next * RECORD_BYTES + got);
        if (bytesRead === 0) throw new Error(`tx index: run ${r.info.file} ended early`);
        got += bytesRead;
      }
      r.records = view(r.buf, n);
      r.at = 0;
      r.next += n;
    };
    for (const r of readers) await fill(r);
    const outBuf = aligned(CHUNK * RECORD_BYTES);
    const outRecords = view(outBuf, CHUNK);
    let o = 0;
    const flush = async (): Promise<void> => {
      const bytes = outBuf.subarray(0, o * 8);
      hash.update(bytes);
      for (let put = 0; put < bytes.length; ) put += (await target.write(bytes, put, bytes.length - put)).bytesWritten;
      o = 0;
    };
    const [x, y] = readers as [(typeof readers)[number], (typeof readers)[number]];
    for (;;) {
      if (abandon()) return null;
      if (x.at === x.records.length && x.next < x.info.count) await fill(x);
      if (y.at === y.records.length && y.next < y.info.count) await fill(y);
      const xLeft = x.at < x.records.length;
      const yLeft = y.at < y.records.length;
      if (!xLeft && !yLeft) break;
      // Up to the end of whichever page runs out first, without awaiting.
      while (x.at < x.records.length || y.at < y.records.length) {
        const fromX = y.at === y.records.length || (x.at < x.records.length && x.records[x.at]! <= y.records[y.at]!);
        const r = fromX ? x : y;
        outRecords[o++] = r.records[r.at]!;
        outRecords[o++] = r.records[r.at + 1]!;
        r.at += 2;
        if (o === outRecords.length) await flush();
        if ((r.at === r.records.length && r.next < r.info.count) || abandon()) break;
      }
    }
    if (o > 0) await flush();
    done = true;
    return { file, count: a.count + b.count, level, sha1: hash.digest('hex') };
  } finally {
    await target.close();
    for (const s of sources) await s.close();
    if (!done) await fs.promises.rm(out, { force: true });
  }
}
