/**
 * The on-disk parts of the transfer key index (tx-index.ts): runs, files of (fingerprint, height)
 * records sorted by fingerprint, 16 bytes each (two doubles in the machine's byte order). A run is
 * written once and never changed; two runs are merged into a new one. Fingerprints are uniform, so
 * a lookup is an interpolation search: a few positioned reads of one page, whatever the run's size.
 */
import * as fs from 'node:fs';
import path from 'node:path';
import { FINGERPRINT_SPACE } from './key-fingerprints.js';

export const RECORD_BYTES = 16;
/** Records read at a time by a lookup: one 4 KiB page. */
const WINDOW = 256;
/** Records read or written at a time by verifying and merging (256 KiB): a merge yields to the event loop between chunks, each a millisecond or two. */
const CHUNK = 16_384;

/** What the manifest says of one run. */
export interface RunInfo {
  readonly file: string;
  readonly count: number;
  /** Runs of one level are about the same size; two of a level merge into one of the next. */
  readonly level: number;
  /** Checksum of the file (`checksum`): a run that is not what was written (a crash, a bad disk) is not used. */
  readonly check: number;
}

/**
 * A running checksum over 32-bit words: FNV-1a on words, two lanes, folded. Not cryptographic: it
 * only has to notice a run damaged or half written by a crash, and at a few nanoseconds a record
 * it costs a tenth of a SHA-1.
 */
export class Checksum {
  private a = 0x811c9dc5;
  private b = 0x2b8e6f1d;

  update(bytes: Buffer): void {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < words.length; i += 2) {
      a = Math.imul(a ^ words[i]!, 0x01000193);
      b = Math.imul(b ^ (words[i + 1] ?? 0), 0x01000193);
    }
    this.a = a;
    this.b = b;
  }

  digest(): number {
    return ((Math.imul(this.a ^ (this.b >>> 15), 0x85ebca6b) ^ this.b) >>> 0) * 0x200000 + ((this.a >>> 11) & 0x1fffff);
  }
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
  const check = new Checksum();
  check.update(bytes);
  return { file, count: records.length / 2, level, check: check.digest() };
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
    const hash = new Checksum();
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
    return hash.digest() === info.check ? null : `${info.file} is not the run that was written (its checksum differs)`;
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
 * Merges `sources` (a few runs) into a new run `file`, reading and writing a chunk at a time and
 * yielding to the event loop between chunks, so that lookups and the protocol go on meanwhile.
 * Returns null (and leaves no file) if `abandon` says so between chunks.
 */
export async function mergeRuns(dir: string, sources: readonly RunInfo[], file: string, level: number, abandon: () => boolean): Promise<RunInfo | null> {
  const out = path.join(dir, file);
  const target = await fs.promises.open(out, 'w');
  const handles: fs.promises.FileHandle[] = [];
  const hash = new Checksum();
  let done = false;
  try {
    for (const info of sources) handles.push(await fs.promises.open(path.join(dir, info.file), 'r'));
    const k = sources.length;
    const bufs = sources.map(() => aligned(CHUNK * RECORD_BYTES));
    // Per source: its current chunk, where the next record is in it (in doubles), and that
    // record's fingerprint (Infinity when the chunk is used up), so that choosing the smallest
    // looks at one small array.
    const recs: Float64Array<ArrayBufferLike>[] = sources.map(() => new Float64Array(0));
    const at = new Int32Array(k);
    const heads = new Float64Array(k).fill(Infinity);
    const nexts = new Array<number>(k).fill(0);
    const fill = async (j: number): Promise<void> => {
      const n = Math.min(CHUNK, sources[j]!.count - nexts[j]!);
      for (let got = 0; got < n * RECORD_BYTES; ) {
        const { bytesRead } = await handles[j]!.read(bufs[j]!, got, n * RECORD_BYTES - got, nexts[j]! * RECORD_BYTES + got);
        if (bytesRead === 0) throw new Error(`tx index: run ${sources[j]!.file} ended early`);
        got += bytesRead;
      }
      recs[j] = view(bufs[j]!, n);
      at[j] = 0;
      heads[j] = recs[j]![0]!;
      nexts[j]! += n;
    };
    const outBuf = aligned(CHUNK * RECORD_BYTES);
    const out = view(outBuf, CHUNK);
    let o = 0;
    const flush = async (): Promise<void> => {
      const bytes = outBuf.subarray(0, o * 8);
      hash.update(bytes);
      for (let put = 0; put < bytes.length; ) put += (await target.write(bytes, put, bytes.length - put)).bytesWritten;
      o = 0;
    };
    for (;;) {
      if (abandon()) return null;
      let more = false;
      for (let j = 0; j < k; j++) {
        if (heads[j] === Infinity && nexts[j]! < sources[j]!.count) await fill(j);
        if (heads[j] !== Infinity) more = true;
      }
      if (!more) break;
      // Until a chunk runs out while its source has more (it must be read first) or the output is full.
      for (;;) {
        let min = 0;
        for (let j = 1; j < k; j++) if (heads[j]! < heads[min]!) min = j;
        const fp = heads[min]!;
        if (fp === Infinity) break;
        const r = recs[min]!;
        const i = at[min]!;
        out[o] = fp;
        out[o + 1] = r[i + 1]!;
        o += 2;
        at[min] = i + 2;
        heads[min] = i + 2 < r.length ? r[i + 2]! : Infinity;
        if (o === out.length) break;
        if (i + 2 === r.length && nexts[min]! < sources[min]!.count) break;
      }
      if (o > 0) await flush();
    }
    done = true;
    return { file, count: sources.reduce((n, s) => n + s.count, 0), level, check: hash.digest() };
  } finally {
    await target.close();
    for (const h of handles) await h.close();
    if (!done) await fs.promises.rm(out, { force: true });
  }
}
