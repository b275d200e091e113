/**
 * The in-memory parts of the transfer key index (tx-index.ts), each of a fixed size: a key's
 * 52-bit fingerprint, a Bloom filter over fingerprints (8 MiB), and the table of the fingerprints
 * added since the last flush to disk (about 3 MiB).
 */

/** Fingerprints are whole numbers below 2^52: exact in a double, uniform over the range. */
export const FINGERPRINT_SPACE = 2 ** 52;

/**
 * A 52-bit fingerprint of a key: cyrb53 (two 32-bit multiply-xorshift lanes, finalised against
 * each other), cut to 52 bits. Pure JavaScript and fast on short strings; not cryptographic, and
 * it need not be: a match is confirmed against the block.
 */
export function fingerprint(key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 & 0xfffff) * 0x100000000 + (h1 >>> 0);
}

/** The Bloom filter's size: 2^17 blocks of 512 bits (one 64-byte cache line each), 8 MiB. */
export const BLOOM_BITS = 2 ** 26;
const BLOCK_WORDS = 16;
const BLOCK_BITS = BLOCK_WORDS * 32;
/** Fingerprints above this are in the filter's last block: the top 17 of 52 bits pick the block. */
const BLOCK_SPAN = FINGERPRINT_SPACE / (BLOOM_BITS / BLOCK_BITS);
/**
 * Probes per fingerprint, all in its block: 1 in 1,000,000 false positives at 1M keys, about 5%
 * at 10M, 40% at 30M (then lookups read runs; the answer stays right, only slower).
 */
export const BLOOM_PROBES = 5;

/**
 * A Bloom filter over fingerprints, of fixed size: "certainly not added" for almost every key
 * never added, without touching the disk. Blocked (Putze, Sanders and Singler, 2007): the top bits
 * of a fingerprint pick one cache line, and its probes all fall in it, by double hashing over
 * two 9-bit pieces of the low bits (the step made odd, so that the probes differ). One cache miss
 * per key instead of one per probe.
 */
export class BloomFilter {
  private readonly words = new Int32Array(BLOOM_BITS / 32);

  /** Word index and bit mask of each probe of the latest `probe`, reused: no allocation per key. */
  private readonly at = new Int32Array(2 * BLOOM_PROBES);

  add(fp: number): void {
    this.probe(fp);
    for (let i = 0; i < 2 * BLOOM_PROBES; i += 2) this.words[this.at[i]!]! |= this.at[i + 1]!;
  }

  mayHave(fp: number): boolean {
    this.probe(fp);
    for (let i = 0; i < 2 * BLOOM_PROBES; i += 2) if ((this.words[this.at[i]!]! & this.at[i + 1]!) === 0) return false;
    return true;
  }

  private probe(fp: number): void {
    // `>>> 0` is the low 32 bits of a whole number below 2^53, and much faster than `%` on a double.
    const base = ((fp / BLOCK_SPAN) | 0) * BLOCK_WORDS;
    const low = fp >>> 0;
    const a = low & (BLOCK_BITS - 1);
    const b = ((low >>> 9) & (BLOCK_BITS - 1)) | 1;
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const bit = (a + i * b) & (BLOCK_BITS - 1);
      this.at[2 * i] = base + (bit >>> 5);
      this.at[2 * i + 1] = 1 << (bit & 31);
    }
  }

  clear(): void {
    this.words.fill(0);
  }
}

/** Entries the table holds before it is flushed to a run on disk (1 MiB of records). */
export const TABLE_FLUSH_AT = 2 ** 16;
/** Room for a flush's worth plus the block that crosses the line (at most 1000 keys). */
const TABLE_CAPACITY = TABLE_FLUSH_AT + 1024;
/** Hash slots: about twice the capacity, so that probe sequences stay short (512 KiB). */
const TABLE_SLOTS = 2 ** 17;
/** Buckets of the flush's sort, by the top 16 bits of a fingerprint: about one entry each. */
const SORT_BUCKETS = 2 ** 16;
const BUCKET_SPAN = FINGERPRINT_SPACE / SORT_BUCKETS;

/**
 * The (fingerprint, height) entries added since the last flush, in fixed typed arrays: kept in
 * order of addition, with an open-addressing hash index over them (linear probing) for lookups.
 * A fingerprint may appear more than once (two keys that share it); `find` returns every height.
 */
export class FingerprintTable {
  private readonly fps = new Float64Array(TABLE_CAPACITY);
  private readonly heights = new Float64Array(TABLE_CAPACITY);
  /** Entry index + 1 per slot; 0 is empty. */
  private readonly slots = new Int32Array(TABLE_SLOTS);
  private readonly bucketStarts = new Uint32Array(SORT_BUCKETS + 1);
  private used = 0;

  get size(): number {
    return this.used;
  }

  add(fp: number, height: number): void {
    if (this.used >= TABLE_CAPACITY) throw new Error(`tx index: the table is full (${this.used} entries); it should have been flushed at ${TABLE_FLUSH_AT}`);
    this.fps[this.used] = fp;
    this.heights[this.used] = height;
    let i = (fp >>> 0) & (TABLE_SLOTS - 1);
    while (this.slots[i] !== 0) i = (i + 1) & (TABLE_SLOTS - 1);
    this.slots[i] = ++this.used;
  }

  find(fp: number, out: number[]): void {
    for (let i = (fp >>> 0) & (TABLE_SLOTS - 1); this.slots[i] !== 0; i = (i + 1) & (TABLE_SLOTS - 1)) {
      const e = this.slots[i]! - 1;
      if (this.fps[e] === fp) out.push(this.heights[e]!);
    }
  }

  /**
   * Every entry as (fingerprint, height) records sorted by fingerprint: a run's contents. A
   * bucket sort on the top bits (fingerprints are uniform, so buckets hold about one entry),
   * then insertion sort within each bucket.
   */
  sortedRecords(): Float64Array {
    const n = this.used;
    const starts = this.bucketStarts;
    starts.fill(0);
    for (let e = 0; e < n; e++) starts[((this.fps[e]! / BUCKET_SPAN) | 0) + 1]!++;
    for (let b = 1; b <= SORT_BUCKETS; b++) starts[b]! += starts[b - 1]!;
    // Scattered straight into the records, then each bucket (about one entry) sorted in place.
    const records = new Float64Array(2 * n);
    for (let e = 0; e < n; e++) {
      const fp = this.fps[e]!;
      const at = 2 * starts[(fp / BUCKET_SPAN) | 0]!++;
      records[at] = fp;
      records[at + 1] = this.heights[e]!;
    }
    // `starts[b]` is now the end of bucket b.
    for (let b = 0, from = 0; b < SORT_BUCKETS; from = starts[b]!, b++) {
      for (let i = from + 1; i < starts[b]!; i++) {
        const fp = records[2 * i]!;
        const height = records[2 * i + 1]!;
        let j = i - 1;
        for (; j >= from && records[2 * j]! > fp; j--) {
          records[2 * j + 2] = records[2 * j]!;
          records[2 * j + 3] = records[2 * j + 1]!;
        }
        records[2 * j + 2] = fp;
        records[2 * j + 3] = height;
      }
    }
    return records;
  }

  clear(): void {
    this.slots.fill(0);
    this.used = 0;
  }
}

/** Lookups remembered: one block's worth. */
const RECENT_LOOKUPS = 1024;

/**
 * The keys looked up last and their fingerprints, in a ring: a block's keys are looked up one
 * after the other (to check it) just before the block is added, in the same order, so adding it
 * finds each fingerprint here instead of hashing the key again.
 */
export class RecentLookups {
  private readonly keys: (string | undefined)[] = new Array<string | undefined>(RECENT_LOOKUPS);
  private readonly fps = new Float64Array(RECENT_LOOKUPS);
  private next = 0;

  note(key: string, fp: number): void {
    const i = this.next++ % RECENT_LOOKUPS;
    this.keys[i] = key;
    this.fps[i] = fp;
  }

  /** Where the ring holds these keys' lookups, in order and last, or -1. */
  startOf(txs: readonly { readonly id: string }[]): number {
    const start = this.next - txs.length;
    if (txs.length === 0 || txs.length > RECENT_LOOKUPS || start < 0) return -1;
    return this.keys[start % RECENT_LOOKUPS] === txs[0]!.id && this.keys[(this.next - 1) % RECENT_LOOKUPS] === txs[txs.length - 1]!.id ? start : -1;
  }

  /** The fingerprint noted at position `at` if it is `key`'s; else computed. */
  fingerprintAt(at: number, key: string): number {
    const i = at % RECENT_LOOKUPS;
    return this.keys[i] === key ? this.fps[i]! : fingerprint(key);
  }
}
