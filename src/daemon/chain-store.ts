/**
 * The durable chain of one client.
 *
 * `<dataDir>/chain.log` is append-only, a sequence of records (chain-record.ts), and record k
 * holds the block at height k+1 (genesis comes from the config and is never stored).
 * On open every record is checked (CRC, decoding, `checkBlock` against the running head and
 * balances); the first bad one and everything after it is cut off and reported, because a chain
 * is only good up to its first bad block and peers resend the rest on catch-up.
 *
 * Only file offsets are kept in memory (8 bytes per block); blocks are read back on demand.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyBlock, checkBlock, genesisBalances, type Balances, type Head } from '../core/ledger.js';
import type { Block } from '../core/types.js';
import { describeCause } from '../base/errors.js';
import { RECORD_HEADER_BYTES, RECORD_TRAILER_BYTES, decodeRecordBody, encodeRecord } from './chain-record.js';
import { StorageError } from './errors.js';

export const CHAIN_FILE = 'chain.log';

/** Same as the default frame limit: a record no frame could carry is not a block we wrote. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

const READ_CHUNK_BYTES = 1024 * 1024;

export interface ChainStoreOptions {
  /**
   * Honour `append(block, { sync: true })` with an fdatasync (default true). Off, a power loss or
   * OS crash may lose blocks this client had already acknowledged.
   */
  readonly fsync?: boolean;
  /** Larger length prefixes are treated as corruption on load and refused on append. */
  readonly maxRecordBytes?: number;
}

export interface Repair {
  readonly droppedBytes: number;
  readonly reason: string;
}

export interface OpenedChain {
  readonly store: ChainStore;
  readonly head: Head;
  readonly balances: Balances;
  /** Highest Lamport timestamp in the chain (0 for genesis only), so the clock restarts above it. */
  readonly lastTs: number;
  /** What was cut off the end of the file, or null if it was intact. The caller should log it loudly. */
  readonly repaired: Repair | null;
}

/** File offsets of records, by height - 1. Float64 holds every offset up to 2^53 exactly. */
class OffsetIndex {
  private data = new Float64Array(1024);
  length = 0;

  push(offset: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = offset;
  }

  at(i: number): number {
    const v = this.data[i];
    if (v === undefined || i >= this.length) throw new RangeError(`no record ${i}`);
    return v;
  }
}

/** Sequential reads through a fixed window, so loading never holds more than one chunk (or one record). */
class ChunkReader {
  private buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private start = 0;
  private filled = 0;

  constructor(private readonly fd: number) {}

  /** Up to `n` bytes at `pos`; fewer only at end of file. Valid until the next call. */
  read(pos: number, n: number): Buffer {
    if (pos < this.start || pos + n > this.start + this.filled) {
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
      this.start = pos;
      this.filled = readFully(this.fd, this.buf, this.buf.length, pos);
    }
    const from = pos - this.start;
    return this.buf.subarray(from, Math.min(from + n, this.filled));
  }
}

function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export class ChainStore {
  private closed = false;
  private tipHeight: number;
  private tipHash: string;

  private constructor(
    readonly dataDir: string,
    readonly chainPath: string,
    private readonly fd: number,
    private readonly genesis: Block,
    private readonly offsets: OffsetIndex,
    private fileEnd: number,
    head: Head,
    private readonly options: Required<ChainStoreOptions>,
  ) {
    this.tipHeight = head.height;
    this.tipHash = head.hash;
  }

  /**
   * Opens (creating if needed) the chain in `dataDir` and replays it from `genesis`. A torn or
   * corrupt tail is cut off and described in `repaired`. A first block that does not follow this
   * genesis means the directory belongs to another cluster: that throws rather than erase it.
   */
  static open(dataDir: string, genesis: Block, options: ChainStoreOptions = {}): OpenedChain {
    const opts: Required<ChainStoreOptions> = {
      fsync: options.fsync ?? true,
      maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    };
    try {
      fs.mkdirSync(dataDir, { recursive: true });
    } catch (e) {
      throw new StorageError(dataDir, `cannot create data directory: ${describeCause(e)}`, { cause: e });
    }
    const chainPath = path.join(dataDir, CHAIN_FILE);
    let fd: number;
    try {
      fd = fs.openSync(chainPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (e) {
      throw new StorageError(chainPath, `cannot open: ${describeCause(e)}`, { cause: e });
    }
    try {
      return ChainStore.load(dataDir, chainPath, fd, genesis, opts);
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof StorageError) throw e;
      throw new StorageError(chainPath, `cannot load: ${describeCause(e)}`, { cause: e });
    }
  }

  private static load(dataDir: string, chainPath: string, fd: number, genesis: Block, opts: Required<ChainStoreOptions>): OpenedChain {
    const size = fs.fstatSync(fd).size;
    const balances = genesisBalances(genesis);
    let head: Head = { height: genesis.height, hash: genesis.hash };
    let lastTs = genesis.ts;
    const offsets = new OffsetIndex();
    const reader = new ChunkReader(fd);
    let offset = 0;
    let problem: string | null = null;

    while (offset < size) {
      const height = head.height + 1;
      const where = `block #${height} at byte ${offset}`;
      const header = reader.read(offset, RECORD_HEADER_BYTES);
      if (header.length < RECORD_HEADER_BYTES) {
        problem = `incomplete record at end of file (${where})`;
        break;
      }
      const length = header.readUInt32BE(0);
      if (length === 0 || length > opts.maxRecordBytes) {
        problem = `${where}: impossible record length ${length}`;
        break;
      }
      const body = reader.read(offset + RECORD_HEADER_BYTES, length + RECORD_TRAILER_BYTES);
      if (body.length < length + RECORD_TRAILER_BYTES) {
        problem = `incomplete record at end of file (${where})`;
        break;
      }
      const decoded = decodeRecordBody(body);
      if (!decoded.ok) {
        problem = `${where}: ${decoded.error}`;
        break;
      }
      const block = decoded.block;
      if (height === 1 && block.height === 1 && block.prevHash !== genesis.hash) {
        throw new StorageError(
          chainPath,
          `this chain starts from a different genesis (${block.prevHash.slice(0, 8)}, not ${genesis.hash.slice(0, 8)}): the data directory belongs to another cluster config ` +
            '(other clients or balances; two configs without "dataDir" share "data"). Give this config its own "dataDir", or pass --data-dir, ' +
            'or remove the directory to start its chain over (client cluster: --fresh)',
        );
      }
      const check = checkBlock(head, balances, block);
      if (!check.ok) {
        problem = `${where}: ${check.error}`;
        break;
      }
      applyBlock(balances, block);
      head = { height: block.height, hash: block.hash };
      lastTs = Math.max(lastTs, block.ts);
      offsets.push(offset);
      offset += RECORD_HEADER_BYTES + length + RECORD_TRAILER_BYTES;
    }

    let repaired: Repair | null = null;
    if (problem !== null) {
      try {
        fs.ftruncateSync(fd, offset);
        fs.fsyncSync(fd); // the cut must stick, or the next start would see the bad bytes again
      } catch (e) {
        throw new StorageError(chainPath, `cannot cut the damaged end at byte ${offset} (${problem}): ${describeCause(e)}`, { cause: e });
      }
      repaired = { droppedBytes: size - offset, reason: problem };
    }
    const store = new ChainStore(dataDir, chainPath, fd, genesis, offsets, offset, head, opts);
    return { store, head, balances, lastTs, repaired };
  }

  get height(): number {
    return this.tipHeight;
  }

  get headHash(): string {
    return this.tipHash;
  }

  get head(): Head {
    return { height: this.tipHeight, hash: this.tipHash };
  }

  /**
   * Writes `block` (already validated by the core) at the end of the file before returning; with
   * `sync` (and the store's fsync on) it is on stable storage too, with everything written before
   * it. A block that does not extend the head is a bug in the caller and throws a plain Error.
   */
  append(block: Block, options: { readonly sync: boolean } = { sync: false }): void {
    this.appendAll([block], options);
  }

  /**
   * Writes consecutive blocks at the end of the file in one write (then, with `sync`, one
   * fdatasync covers them all): a step that applies a peer's block and commits its own writes once.
   */
  appendAll(blocks: readonly Block[], options: { readonly sync: boolean } = { sync: false }): void {
    this.assertOpen();
    const records: Buffer[] = [];
    let height = this.tipHeight;
    let hash = this.tipHash;
    for (const block of blocks) {
      if (block.height !== height + 1) throw new Error(`chain store: cannot append block #${block.height} on top of #${height}`);
      if (block.prevHash !== hash) throw new Error(`chain store: block #${block.height} does not chain onto the head`);
      const record = encodeRecord(block);
      if (record.length - RECORD_HEADER_BYTES - RECORD_TRAILER_BYTES > this.options.maxRecordBytes) {
        throw new StorageError(this.chainPath, `block #${block.height} is ${record.length} bytes, above the ${this.options.maxRecordBytes}-byte record limit`);
      }
      records.push(record);
      height = block.height;
      hash = block.hash;
    }
    if (records.length === 0) return;
    const bytes = records.length === 1 ? records[0]! : Buffer.concat(records);
    try {
      let written = 0;
      while (written < bytes.length) written += fs.writeSync(this.fd, bytes, written, bytes.length - written, this.fileEnd + written);
      if (options.sync && this.options.fsync) fs.fdatasyncSync(this.fd);
    } catch (e) {
      // Leave no torn record behind, so the next append does not land after garbage.
      try {
        fs.ftruncateSync(this.fd, this.fileEnd);
      } catch {
        // The next open cuts the torn tail anyway.
      }
      const what = blocks.length === 1 ? `block #${height}` : `blocks #${blocks[0]!.height}..#${height}`;
      throw new StorageError(this.chainPath, `cannot append ${what}: ${describeCause(e)}`, { cause: e });
    }
    for (const record of records) {
      this.offsets.push(this.fileEnd);
      this.fileEnd += record.length;
    }
    this.tipHeight = height;
    this.tipHash = hash;
  }

  /** Blocks `fromHeight..toHeight` inclusive; height 0 is the genesis. */
  read(fromHeight: number, toHeight: number): Block[] {
    this.assertOpen();
    if (!Number.isSafeInteger(fromHeight) || !Number.isSafeInteger(toHeight) || fromHeight < 0 || toHeight > this.tipHeight || fromHeight > toHeight) {
      throw new RangeError(`chain store: cannot read blocks ${fromHeight}..${toHeight} of a chain of height ${this.tipHeight}`);
    }
    const blocks: Block[] = [];
    for (let h = fromHeight; h <= toHeight; h++) blocks.push(h === 0 ? this.genesis : this.readRecord(h));
    return blocks;
  }

  /** The last `count` blocks, genesis included when the chain is that short. */
  tail(count: number): Block[] {
    if (!Number.isSafeInteger(count) || count <= 0) return [];
    return this.read(Math.max(0, this.tipHeight - count + 1), this.tipHeight);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private readRecord(height: number): Block {
    const start = this.offsets.at(height - 1);
    const end = height < this.tipHeight ? this.offsets.at(height) : this.fileEnd;
    const buf = Buffer.allocUnsafe(end - start);
    if (readFully(this.fd, buf, buf.length, start) !== buf.length) {
      throw new StorageError(this.chainPath, `block #${height} at byte ${start} is missing: the file shrank while open`);
    }
    const decoded = decodeRecordBody(buf.subarray(RECORD_HEADER_BYTES));
    if (!decoded.ok || decoded.block.height !== height) {
      throw new StorageError(this.chainPath, `block #${height} at byte ${start} changed on disk while open: ${decoded.ok ? 'wrong height' : decoded.error}`);
    }
    return decoded.block;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('chain store is closed');
  }
}
