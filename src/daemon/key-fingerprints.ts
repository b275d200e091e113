/**
 * The in-memory parts of the transfer key index (tx-index.ts), each of a fixed size: a key's
 * 52-bit fingerprint, a Bloom filter over fingerprints, and the table of the fingerprints added
 * since the last flush to disk.
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

/** Bits of the Bloom filter: 2^26, 8 MiB. */
export const BLOOM_BITS = 2 ** 26;
/** Probes per fingerprint. With 2^26 bits: 1 in 500,000 false positives at 1M keys, 4% at 10M, 40% at 30M. */
export const BLOOM_PROBES = 5;
const BLOOM_MASK = BLOOM_BITS - 1;
const HALF = 2 ** 26;

/**
 * A Bloom filter over fingerprints, of fixed size: "certainly not added" for almost every key
 * never added, without touching the disk. Probes by double hashing over the fingerprint's two
 * 26-bit halves (the second made odd, so that the probes differ).
 */
export class BloomFilter {
  private readonly words = new Int32Array(BLOOM_BITS / 32);

  add(fp: number): void {
    const a = fp % HALF;
    const b = Math.floor(fp / HALF) | 1;
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const bit = (a + i * b) & BLOOM_MASK;
      this.words[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mayHave(fp: number): boolean {
    const a = fp % HALF;
    const b = Math.floor(fp / HALF) | 1;
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const bit = (a + i * b) & BLOOM_MASK;
      if ((this.words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  clear(): void {
    this.words.fill(0);
  }
}

/** Entries the table holds before it is flushed to a run on disk (1 MiB of records). */
export const TABLE_FLUSH_AT = 2 ** 16;
/** Slots: twice what is flushed, plus room for the block that crosses the line (at most 1000 keys). */
const TABLE_SLOTS = 2 ** 17;
const EMPTY = -1;

/**
 * Fingerprint -> height for the keys added since the last flush: open addressing with linear
 * probing over two fixed typed arrays. A fingerprint may appear more than once (two keys that
 * share it); `find` returns every height.
 */
export class FingerprintTable {
  private readonly fps = new Float64Array(TABLE_SLOTS).fill(EMPTY);
  private readonly heights = new Float64Array(TABLE_SLOTS);
  private used = 0;

  get size(): number {
    return this.used;
  }

  add(fp: number, height: number): void {
    if (this.used >= TABLE_SLOTS - 1) throw new Error(`tx index: the table is full (${this.used} entries); it should have been flushed at ${TABLE_FLUSH_AT}`);
    let i = fp % TABLE_SLOTS;
    while (this.fps[i] !== EMPTY) i = (i + 1) % TABLE_SLOTS;
    this.fps[i] = fp;
    this.heights[i] = height;
    this.used++;
  }

  find(fp: number, out: number[]): void {
    for (let i = fp % TABLE_SLOTS; this.fps[i] !== EMPTY; i = (i + 1) % TABLE_SLOTS) if (this.fps[i] === fp) out.push(this.heights[i]!);
  }

  /** Every entry as (fingerprint, height) records, sorted by fingerprint: a run's contents. */
  sortedRecords(): Float64Array {
    const fps = new Float64Array(this.used);
    let n = 0;
    for (let i = 0; i < TABLE_SLOTS; i++) if (this.fps[i] !== EMPTY) fps[n++] = this.fps[i]!;
    fps.sort();
    const records = new Float64Array(2 * this.used);
    const heights: number[] = [];
    let r = 0;
    for (let i = 0; i < n; i++) {
      const fp = fps[i]!;
      if (i > 0 && fps[i - 1] === fp) continue; // all of its heights were written at its first
      heights.length = 0;
      this.find(fp, heights);
      for (const h of heights) {
        records[r++] = fp;
        records[r++] = h;
      }
    }
    return records;
  }

  clear(): void {
    this.fps.fill(EMPTY);
    this.used = 0;
  }
}
