/**
 * A micro-benchmark of the transfer key index (src/daemon/tx-index.ts): the CPU each committed
 * transfer costs a client through it, at a chain of 1M keys and more. Per committed transfer the
 * creator looks its key up in the critical section and when it checks its own block as replicas
 * do, and adds it (and, when the caller gave the key, looks it up at arrival too); every replica
 * looks it up once (block validation) and adds it once. Not part
 * of `client bench`:
 *
 *   node dist/bench/key-index.js [millions of keys, default 1] [data dir, default a temporary one]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeGenesis, sealBlock } from '../core/ledger.js';
import type { Block, Tx } from '../core/types.js';
import { DiskTxIndex } from '../daemon/tx-index.js';

const PER_BLOCK = 1000;

const KEY_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const keyBytes = Buffer.alloc(16);

/**
 * The i-th key of run `run` (a character): 16 characters, as long as a key the client makes.
 * Cheaper to make than random bytes, so that making them does not weigh on the figures, and made
 * from bytes, as keys decoded from a message or a request are (a string built by concatenation
 * would cost the index a flattening on first read, which a client's keys never do). The index
 * hashes keys: how they were made does not change their spread.
 */
function keyOf(run: string, i: number): string {
  keyBytes[0] = run.charCodeAt(0);
  let x = Math.imul(i, 0x9e3779b1) >>> 0;
  for (let c = 1; c < 8; c++, x >>>= 6) keyBytes[c] = KEY_CHARS.charCodeAt(x & 63);
  for (let c = 8, y = i; c < 16; c++, y = Math.floor(y / 64)) keyBytes[c] = KEY_CHARS.charCodeAt(y % 64);
  return keyBytes.toString('latin1');
}
const ns = (total: number, ops: number): string => `${(total / ops).toFixed(0)} ns`;
const cpuNs = (before: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(before);
  return (used.user + used.system) * 1000;
};
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Blocks made at a time, then added (and keys looked up) with the CPU clock running. */
const BATCH_BLOCKS = 32;

/**
 * Blocks are made a few at a time just before they are added, and keys just before they are
 * looked up, as in a client (a block is added as it arrives, a key looked up as it is asked
 * for): what is measured is the index with its input in the cache, not a walk over a heap of old
 * objects. CPU time, not wall time (the machine may be shared). Work in the background (merges)
 * is the CPU the process uses while it waits between batches.
 */
export async function measureKeyIndex(keys: number, dir: string): Promise<string[]> {
  const genesis = makeGenesis(new Map([[1, 10 ** 12], [2, 10 ** 12]]), 'key-index-bench');
  const { index } = DiskTxIndex.open(dir, { genesis, height: 0, read: () => [] });
  const lines: string[] = [];
  const some: string[] = [];
  let prev = genesis.hash;
  let addNs = 0;
  let backgroundNs = 0;
  for (let h = 1; h <= keys / PER_BLOCK; ) {
    const batch: Block[] = [];
    for (; batch.length < BATCH_BLOCKS && h <= keys / PER_BLOCK; h++) {
      const txs: Tx[] = Array.from({ length: PER_BLOCK }, (_, i) => ({ id: keyOf('a', h * PER_BLOCK + i), from: 1, to: 2, amount: 1 }));
      if (h % 97 === 0) some.push(txs[h % PER_BLOCK]!.id);
      const b: Block = sealBlock({ height: h, prevHash: prev, ts: h, creator: 1, txs });
      prev = b.hash;
      batch.push(b);
    }
    const a = process.cpuUsage();
    for (const b of batch) index.add(b);
    addNs += cpuNs(a);
    const c = process.cpuUsage();
    await turn();
    backgroundNs += cpuNs(c);
  }
  const c = process.cpuUsage();
  for (let i = 0; i < 500 && index.figures().runs > 3 * Math.ceil(Math.log(keys / 65_536 + 1) / Math.log(4)); i++) await new Promise((r) => setTimeout(r, 10));
  backgroundNs += cpuNs(c);
  lines.push(`add: ${keys.toLocaleString('en-US')} keys, ${ns(addNs, keys)} per key in add (flushes included) + ${ns(backgroundNs, keys)} in the background (merges); ${index.figures().runs} runs on disk`);

  let missNs = 0;
  let hits = 0;
  const lookups = 1_000_000;
  for (let done = 0; done < lookups; done += BATCH_BLOCKS * PER_BLOCK) {
    const fresh = Array.from({ length: BATCH_BLOCKS * PER_BLOCK }, (_, i) => keyOf('b', done + i));
    const c = process.cpuUsage();
    for (const k of fresh) hits += index.find(k).length;
    missNs += cpuNs(c);
  }
  const f = index.figures();
  lines.push(`find a new key: ${ns(missNs, lookups)} per lookup; ${f.filtered.toLocaleString('en-US')} of ${f.lookups.toLocaleString('en-US')} answered by the filter alone, ${hits} false candidates`);

  const pagesBefore = f.pagesRead;
  let found = 0;
  const h = process.cpuUsage();
  for (const k of some) found += index.find(k).length;
  const hitNs = cpuNs(h);
  lines.push(`find a committed key: ${ns(hitNs, some.length)} per lookup, ${((index.figures().pagesRead - pagesBefore) / some.length).toFixed(2)} pages read (${found} of ${some.length} found)`);

  const findNs = missNs / lookups;
  const perAdd = (addNs + backgroundNs) / keys;
  const f1 = (n: number): string => `${n.toFixed(0)} ns`;
  lines.push(
    `per committed transfer, on each client: ${f1(2 * findNs + perAdd)} for its creator when the client made the key (2 lookups + 1 add), ${f1(3 * findNs + perAdd)} when the caller gave it (3 lookups + 1 add); ${f1(findNs + perAdd)} for each replica (1 lookup + 1 add)`,
  );
  await index.close();
  return lines;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const millions = Number(process.argv[2] ?? 1);
  const given = process.argv[3];
  const dir = given ?? mkdtempSync(path.join(os.tmpdir(), 'll-key-index-'));
  try {
    for (const line of await measureKeyIndex(Math.round(millions * 1_000_000), dir)) process.stdout.write(`${line}\n`);
  } finally {
    if (given === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
