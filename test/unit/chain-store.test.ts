import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyBlock, genesisBalances, makeGenesis, sealBlock, type Balances } from '../../src/core/ledger.js';
import type { Block, Tx } from '../../src/core/types.js';
import { crc32, crc32Portable, encodeRecord } from '../../src/daemon/chain-record.js';
import { ChainStore, CHAIN_FILE, type OpenedChain } from '../../src/daemon/chain-store.js';
import { StorageError } from '../../src/daemon/errors.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('test');

/** A valid chain of `n` blocks on top of `genesis`: client h%3 pays the next one h cents. */
function makeChain(n: number, base: Block = genesis): Block[] {
  const blocks: Block[] = [];
  let prev = base;
  for (let h = prev.height + 1; h <= base.height + n; h++) {
    const creator = ((h - 1) % 3) + 1;
    const tx: Tx = { id: `tx${h}`, from: creator, to: (creator % 3) + 1, amount: h % 7 + 1 };
    prev = sealBlock({ height: h, prevHash: prev.hash, ts: h * 3, creator, txs: [tx] });
    blocks.push(prev);
  }
  return blocks;
}

function balancesAfter(blocks: readonly Block[]): Balances {
  const b = genesisBalances(genesis);
  for (const block of blocks) applyBlock(b, block);
  return b;
}

let dir: string;
const opened: ChainStore[] = [];

function open(d = dir, g = genesis, options = {}): OpenedChain {
  const r = ChainStore.open(d, g, options);
  opened.push(r.store);
  return r;
}

const chainFile = (): string => path.join(dir, CHAIN_FILE);

/** Writes the chain file directly, as a crash or a bad disk would leave it. */
function writeRaw(...parts: Buffer[]): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(chainFile(), Buffer.concat(parts));
}

/** A record whose payload is `payload` with a correct length and CRC. */
function rawRecord(payload: Buffer): Buffer {
  const r = Buffer.alloc(payload.length + 8);
  r.writeUInt32BE(payload.length, 0);
  payload.copy(r, 4);
  r.writeUInt32BE(crc32(payload), 4 + payload.length);
  return r;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-store-test-'));
});

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('crc32', () => {
  it('matches the IEEE check value, with or without zlib', () => {
    const data = Buffer.from('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32Portable(data)).toBe(0xcbf43926);
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff));
    expect(crc32Portable(random)).toBe(crc32(random));
    expect(crc32Portable(Buffer.alloc(0))).toBe(0);
  });
});

describe('ChainStore', () => {
  it('starts a missing data directory at genesis', () => {
    const nested = path.join(dir, 'a', 'b');
    const r = open(nested);
    expect(r.head).toEqual({ height: 0, hash: genesis.hash });
    expect(r.balances).toEqual(genesisBalances(genesis));
    expect(r.lastTs).toBe(0);
    expect(r.repaired).toBeNull();
    expect(r.store.height).toBe(0);
    expect(r.store.headHash).toBe(genesis.hash);
    expect(fs.statSync(path.join(nested, CHAIN_FILE)).size).toBe(0);
    expect(r.store.read(0, 0)).toEqual([genesis]);
  });

  it('reloads appended blocks with the same head, balances and last timestamp', () => {
    const blocks = makeChain(5);
    const first = open();
    for (const b of blocks) first.store.append(b);
    expect(first.store.height).toBe(5);
    expect(first.store.headHash).toBe(blocks[4]?.hash);
    first.store.close();

    const again = open();
    expect(again.repaired).toBeNull();
    expect(again.head).toEqual({ height: 5, hash: blocks[4]?.hash });
    expect(again.balances).toEqual(balancesAfter(blocks));
    expect(again.lastTs).toBe(15);
    expect(again.store.read(0, 5)).toEqual([genesis, ...blocks]);

    // Appending continues where the file left off.
    const more = makeChain(2, blocks[4]);
    for (const b of more) again.store.append(b);
    again.store.close();
    expect(open().head.height).toBe(7);
  });

  it('writes a block before append returns, with or without fsync', () => {
    const [b1, b2] = makeChain(2);
    const { store } = open(dir, genesis, { fsync: true });
    store.append(b1 as Block);
    expect(fs.statSync(chainFile()).size).toBe(encodeRecord(b1 as Block).length);
    store.append(b2 as Block);
    expect(fs.readFileSync(chainFile())).toEqual(Buffer.concat([encodeRecord(b1 as Block), encodeRecord(b2 as Block)]));
  });

  it('writes consecutive blocks in one append as appending them one by one would, and refuses the lot if one does not chain', () => {
    const blocks = makeChain(5);
    const { store } = open(dir, genesis, { fsync: true });
    store.append(blocks[0] as Block);
    store.appendAll(blocks.slice(1, 4), { sync: true });
    expect(store.height).toBe(4);
    expect(store.read(1, 4)).toEqual(blocks.slice(0, 4));
    expect(fs.readFileSync(chainFile())).toEqual(Buffer.concat(blocks.slice(0, 4).map((b) => encodeRecord(b))));
    expect(() => store.appendAll([blocks[4] as Block, blocks[4] as Block])).toThrow(/cannot append block #5 on top of #5/);
    expect(store.height).toBe(4);
    expect(fs.statSync(chainFile()).size).toBe(Buffer.concat(blocks.slice(0, 4).map((b) => encodeRecord(b))).length);
    store.close();
    expect(open().head).toEqual({ height: 4, hash: blocks[3]!.hash });
  });

  it('stores only the Block fields', () => {
    const [b1] = makeChain(1);
    const { store } = open();
    store.append({ ...(b1 as Block), extra: 'not persisted' } as Block);
    expect(store.read(1, 1)).toEqual([b1]);
  });

  it('refuses to append a block that does not extend the head, writing nothing', () => {
    const blocks = makeChain(3);
    const { store } = open();
    store.append(blocks[0] as Block);
    expect(() => store.append(blocks[2] as Block)).toThrow(/cannot append block #3 on top of #1/);
    expect(() => store.append({ ...(blocks[1] as Block), prevHash: 'f'.repeat(64) })).toThrow(/does not chain/);
    expect(store.height).toBe(1);
    expect(fs.statSync(chainFile()).size).toBe(encodeRecord(blocks[0] as Block).length);
  });

  it('reads ranges and tails by height', () => {
    const blocks = makeChain(12);
    const { store } = open();
    for (const b of blocks) store.append(b);
    expect(store.read(3, 5)).toEqual(blocks.slice(2, 5));
    expect(store.read(12, 12)).toEqual([blocks[11]]);
    expect(store.read(0, 1)).toEqual([genesis, blocks[0]]);
    expect(store.tail(3)).toEqual(blocks.slice(9));
    expect(store.tail(13)).toEqual([genesis, ...blocks]);
    expect(store.tail(100)).toEqual([genesis, ...blocks]);
    expect(store.tail(0)).toEqual([]);
    expect(() => store.read(5, 13)).toThrow(RangeError);
    expect(() => store.read(-1, 2)).toThrow(RangeError);
    expect(() => store.read(4, 3)).toThrow(RangeError);
    expect(() => store.read(1.5, 2)).toThrow(RangeError);
  });

  it('keeps working past its first index allocation and read chunk (thousands of blocks)', () => {
    const blocks = makeChain(6000);
    const first = open();
    for (const b of blocks) first.store.append(b);
    first.store.close();
    expect(fs.statSync(chainFile()).size).toBeGreaterThan(1024 * 1024);

    const again = open();
    expect(again.repaired).toBeNull();
    expect(again.head.height).toBe(6000);
    expect(again.balances).toEqual(balancesAfter(blocks));
    expect(again.store.read(1023, 1026)).toEqual(blocks.slice(1022, 1026));
    expect(again.store.tail(1)).toEqual([blocks[5999]]);
  });

  it('refuses to use a store after close', () => {
    const { store } = open();
    store.close();
    store.close(); // idempotent
    expect(() => store.read(0, 0)).toThrow(/closed/);
    expect(() => store.append(makeChain(1)[0] as Block)).toThrow(/closed/);
  });

  describe('repairs on open', () => {
    it('cuts a torn record at the end and reports it', () => {
      const blocks = makeChain(4);
      const good = blocks.slice(0, 3).map(encodeRecord);
      const torn = encodeRecord(blocks[3] as Block).subarray(0, 10);
      writeRaw(...good, torn);

      const r = open();
      expect(r.head).toEqual({ height: 3, hash: blocks[2]?.hash });
      expect(r.balances).toEqual(balancesAfter(blocks.slice(0, 3)));
      expect(r.repaired).toEqual({ droppedBytes: 10, reason: expect.stringMatching(/^incomplete record at end of file \(block #4 at byte \d+\)$/) });
      expect(fs.statSync(chainFile()).size).toBe(Buffer.concat(good).length);

      // The block can be appended again and survives the next open intact.
      r.store.append(blocks[3] as Block);
      r.store.close();
      const again = open();
      expect(again.repaired).toBeNull();
      expect(again.head.height).toBe(4);
    });

    it('cuts a torn length prefix', () => {
      const blocks = makeChain(2);
      writeRaw(encodeRecord(blocks[0] as Block), encodeRecord(blocks[1] as Block).subarray(0, 2));
      const r = open();
      expect(r.head.height).toBe(1);
      expect(r.repaired?.droppedBytes).toBe(2);
    });

    it('truncates at the last good record when a byte in the middle is corrupt', () => {
      const blocks = makeChain(5);
      const records = blocks.map(encodeRecord);
      const file = Buffer.concat(records);
      const third = (records[0]?.length ?? 0) + (records[1]?.length ?? 0);
      file[third + 20] = (file[third + 20] ?? 0) ^ 0x01; // inside block #3's payload
      writeRaw(file);

      const r = open();
      expect(r.head).toEqual({ height: 2, hash: blocks[1]?.hash });
      expect(r.balances).toEqual(balancesAfter(blocks.slice(0, 2)));
      expect(r.repaired).toEqual({ droppedBytes: file.length - third, reason: `block #3 at byte ${third}: checksum mismatch` });
      expect(fs.statSync(chainFile()).size).toBe(third);
    });

    it('treats an impossible length prefix as corruption', () => {
      const blocks = makeChain(2);
      const bad = encodeRecord(blocks[1] as Block);
      bad.writeUInt32BE(0xfffffff0, 0);
      writeRaw(encodeRecord(blocks[0] as Block), bad);
      const r = open();
      expect(r.head.height).toBe(1);
      expect(r.repaired?.reason).toMatch(/block #2 at byte \d+: impossible record length 4294967280/);
    });

    it('refuses a record that has a good checksum but is not a block', () => {
      const [b1] = makeChain(1);
      writeRaw(encodeRecord(b1 as Block), rawRecord(Buffer.from([0xc1])), rawRecord(Buffer.from('{}')));
      const r = open();
      expect(r.head.height).toBe(1);
      expect(r.repaired?.reason).toMatch(/block #2 at byte \d+: (record is not a block|cannot decode)/);
    });

    it('refuses a block that does not chain', () => {
      const blocks = makeChain(2);
      const stray = sealBlock({ height: 3, prevHash: 'a'.repeat(64), ts: 9, creator: 3, txs: [{ id: 'x', from: 3, to: 1, amount: 1 }] });
      writeRaw(...blocks.map(encodeRecord), encodeRecord(stray), encodeRecord(makeChain(1, stray)[0] as Block));
      const r = open();
      expect(r.head).toEqual({ height: 2, hash: blocks[1]?.hash });
      expect(r.repaired?.reason).toMatch(/block #3 at byte \d+: block #3 does not chain/);
    });

    it('refuses a block whose hash does not match its contents', () => {
      const [b1, b2] = makeChain(2);
      const forged = { ...(b2 as Block), txs: [{ id: 'tx2', from: 2, to: 3, amount: 999 }] };
      writeRaw(encodeRecord(b1 as Block), encodeRecord(forged));
      const r = open();
      expect(r.head.height).toBe(1);
      expect(r.repaired?.reason).toMatch(/wrong hash/);
    });

    it('refuses a well-formed block that spends money its creator does not have', () => {
      const [b1] = makeChain(1);
      const greedy = sealBlock({ height: 2, prevHash: (b1 as Block).hash, ts: 6, creator: 2, txs: [{ id: 'g', from: 2, to: 1, amount: 5000 }] });
      writeRaw(encodeRecord(b1 as Block), encodeRecord(greedy));
      const r = open();
      expect(r.head.height).toBe(1);
      expect(r.balances).toEqual(balancesAfter([b1 as Block]));
      expect(r.repaired?.reason).toMatch(/insufficient balance/);
    });

    it('refuses a chain from another genesis instead of erasing it', () => {
      const other = makeGenesis(new Map([[1, 5], [2, 5]]), 'other');
      const foreign = sealBlock({ height: 1, prevHash: other.hash, ts: 1, creator: 1, txs: [{ id: 'f', from: 1, to: 2, amount: 1 }] });
      writeRaw(encodeRecord(foreign));
      const size = fs.statSync(chainFile()).size;
      expect(() => open()).toThrow(StorageError);
      expect(() => open()).toThrow(/different genesis.*another cluster/);
      expect(fs.statSync(chainFile()).size).toBe(size);
    });

    it('says what to do about a chain from another genesis: a dataDir of its own for this config, --data-dir, or start over with --fresh', () => {
      const other = makeGenesis(new Map([[1, 5], [2, 5]]), 'other');
      writeRaw(encodeRecord(sealBlock({ height: 1, prevHash: other.hash, ts: 1, creator: 1, txs: [{ id: 'f', from: 1, to: 2, amount: 1 }] })));
      expect(() => open()).toThrow(
        `${chainFile()}: this chain starts from a different genesis (${other.hash.slice(0, 8)}, not ${genesis.hash.slice(0, 8)}): the data directory belongs to another cluster config ` +
          '(other clients or balances; two configs without "dataDir" share "data"). Give this config its own "dataDir", or pass --data-dir, ' +
          'or remove the directory to start its chain over (client cluster: --fresh)',
      );
    });
  });
});
