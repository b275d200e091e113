import { describe, expect, it } from 'vitest';
import {
  GENESIS_PREV_HASH,
  applyBlock,
  balancesFromRecord,
  balancesToRecord,
  checkBlock,
  checkTx,
  genesisBalances,
  hashBlock,
  makeGenesis,
  sealBlock,
  totalOf,
  type Balances,
  type Head,
} from '../../src/core/ledger.js';
import { MAX_TXS_PER_BLOCK } from '../../src/core/limits.js';
import { formatCents } from '../../src/core/money.js';
import type { Block, Tx } from '../../src/core/types.js';

const initial = new Map([
  [1, 1000],
  [2, 1000],
  [3, 1000],
]);
const genesis = makeGenesis(initial, 'test');
const head0: Head = { height: 0, hash: genesis.hash };
const bal0 = (): Balances => genesisBalances(genesis);

let txSeq = 0;
const tx = (from: number, to: number, amount: number): Tx => ({ id: `t${++txSeq}`, from, to, amount });

const blockOn = (head: Head, creator: number, txs: Tx[], ts = 5): Block =>
  sealBlock({ height: head.height + 1, prevHash: head.hash, ts, creator, txs });

function rejected(head: Head, balances: Balances, b: Block): string {
  const r = checkBlock(head, balances, b);
  if (r.ok) throw new Error('expected the block to be rejected');
  return r.error;
}

describe('genesis', () => {
  it('is height 0 on the all-zero prevHash with a sealed hash', () => {
    expect(genesis.height).toBe(0);
    expect(genesis.prevHash).toBe(GENESIS_PREV_HASH);
    expect(genesis.prevHash).toMatch(/^0{64}$/);
    expect(genesis.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(genesis.hash).toBe(hashBlock(genesis));
  });

  it('holds the initial balances', () => {
    expect([...genesisBalances(genesis)].sort(([a], [b]) => a - b)).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 1000],
    ]);
    expect(totalOf(genesisBalances(genesis))).toBe(3000);
  });

  it('has a hash that is deterministic and independent of map insertion order', () => {
    const reordered = new Map([
      [3, 1000],
      [1, 1000],
      [2, 1000],
    ]);
    expect(makeGenesis(reordered, 'test').hash).toBe(genesis.hash);
    expect(makeGenesis(initial, 'test')).toEqual(genesis);
  });

  it('has a hash that depends on the balances', () => {
    const other = new Map(initial);
    other.set(2, 1001);
    expect(makeGenesis(other, 'test').hash).not.toBe(genesis.hash);
  });

  it('has a hash that depends on the set of clients', () => {
    const more = new Map(initial);
    more.set(4, 0);
    expect(makeGenesis(more, 'test').hash).not.toBe(genesis.hash);
  });

  it('has a hash that depends on the cluster name', () => {
    expect(makeGenesis(initial, 'prod').hash).not.toBe(genesis.hash);
  });
});

describe('block hashing', () => {
  it('covers every field but the hash itself', () => {
    const b = blockOn(head0, 1, [tx(1, 2, 100)]);
    const variants: Omit<Block, 'hash'>[] = [
      { ...b, height: 2 },
      { ...b, prevHash: 'f'.repeat(64) },
      { ...b, ts: b.ts + 1 },
      { ...b, creator: 2 },
      { ...b, txs: [{ ...b.txs[0]!, amount: 101 }] },
      { ...b, txs: [{ ...b.txs[0]!, to: 3 }] },
      { ...b, txs: [{ ...b.txs[0]!, id: 'other' }] },
      { ...b, txs: [] },
    ];
    for (const v of variants) expect(hashBlock(v)).not.toBe(b.hash);
  });
});

describe('checkTx', () => {
  it('accepts a transfer its owner can afford, including one that empties the account', () => {
    expect(checkTx(bal0(), 1, tx(1, 2, 450))).toEqual({ ok: true });
    expect(checkTx(bal0(), 1, tx(1, 2, 1000))).toEqual({ ok: true });
  });

  it('rejects spending from an account the creator does not own', () => {
    const r = checkTx(bal0(), 1, tx(2, 3, 100));
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('rejects a transfer to oneself', () => {
    expect(checkTx(bal0(), 1, tx(1, 1, 100))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('rejects an unknown recipient', () => {
    const r = checkTx(bal0(), 1, tx(1, 9, 100));
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
    if (!r.ok) expect(r.error).toContain('client9');
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])('rejects the non-positive or non-integer amount %s', (amount) => {
    expect(checkTx(bal0(), 1, tx(1, 2, amount))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('says exactly how much the sender has and needs when the balance is insufficient', () => {
    const balances: Balances = new Map([
      [1, 300],
      [2, 0],
    ]);
    expect(checkTx(balances, 1, tx(1, 2, 450))).toEqual({
      ok: false,
      reason: 'insufficient',
      error: 'insufficient balance: client1 has $3.00, needs $4.50',
      balance: 300,
    });
  });

  it('formats large and tiny amounts with thousands separators and two decimals', () => {
    const balances: Balances = new Map([
      [1, 123456789],
      [2, 0],
    ]);
    const r = checkTx(balances, 1, tx(1, 2, 123456790));
    expect(r).toMatchObject({ error: 'insufficient balance: client1 has $1,234,567.89, needs $1,234,567.90' });
    const r2 = checkTx(new Map([[1, 0], [2, 0]]), 1, tx(1, 2, 5));
    expect(r2).toMatchObject({ error: 'insufficient balance: client1 has $0.00, needs $0.05' });
  });
});

describe('formatCents', () => {
  it.each([
    [0, '$0.00'],
    [5, '$0.05'],
    [450, '$4.50'],
    [-300, '-$3.00'],
    [100000, '$1,000.00'],
  ])('%i cents reads %s', (c, s) => expect(formatCents(c)).toBe(s));
});

describe('checkBlock', () => {
  it('accepts a well-formed block that chains on the head', () => {
    expect(checkBlock(head0, bal0(), blockOn(head0, 1, [tx(1, 2, 450)]))).toEqual({ ok: true });
  });

  it('accepts a block with several valid transfers, validated in order against the running balances', () => {
    // $6.00 then $4.00 out of $10.00: the second is checked against what the first left.
    const b = blockOn(head0, 1, [tx(1, 2, 600), tx(1, 3, 400)]);
    expect(checkBlock(head0, bal0(), b)).toEqual({ ok: true });
  });

  it('rejects a block at the wrong height', () => {
    const b = sealBlock({ height: 2, prevHash: head0.hash, ts: 1, creator: 1, txs: [tx(1, 2, 1)] });
    expect(rejected(head0, bal0(), b)).toMatch(/height 2 does not follow 0/);
    const b0 = sealBlock({ height: 0, prevHash: head0.hash, ts: 1, creator: 1, txs: [tx(1, 2, 1)] });
    expect(rejected(head0, bal0(), b0)).toMatch(/height/);
  });

  it('rejects a block whose prevHash is not the head hash', () => {
    const b = sealBlock({ height: 1, prevHash: 'a'.repeat(64), ts: 1, creator: 1, txs: [tx(1, 2, 1)] });
    expect(rejected(head0, bal0(), b)).toMatch(/does not chain/);
  });

  it('rejects a block whose contents were tampered with after sealing', () => {
    const good = blockOn(head0, 1, [tx(1, 2, 100)]);
    const tampered: Block = { ...good, txs: [{ ...good.txs[0]!, amount: 900 }] };
    expect(rejected(head0, bal0(), tampered)).toMatch(/wrong hash/);
  });

  it('rejects a block whose hash field was replaced', () => {
    const good = blockOn(head0, 1, [tx(1, 2, 100)]);
    expect(rejected(head0, bal0(), { ...good, hash: 'b'.repeat(64) })).toMatch(/wrong hash/);
  });

  it('rejects a block carrying a transfer that is not from its creator', () => {
    const b = blockOn(head0, 1, [tx(1, 2, 100), tx(2, 3, 100)]);
    expect(rejected(head0, bal0(), b)).toMatch(/client1 cannot spend from client2/);
  });

  it('rejects a block carrying a self-transfer', () => {
    expect(rejected(head0, bal0(), blockOn(head0, 2, [tx(2, 2, 100)]))).toMatch(/itself/);
  });

  it('rejects a block carrying a transfer to an unknown recipient', () => {
    expect(rejected(head0, bal0(), blockOn(head0, 2, [tx(2, 7, 100)]))).toMatch(/unknown recipient client7/);
  });

  it.each([0, -100])('rejects a block carrying the non-positive amount %i', (amount) => {
    expect(rejected(head0, bal0(), blockOn(head0, 2, [tx(2, 1, amount)]))).toMatch(/amount/);
  });

  it('rejects a block that overdraws its creator', () => {
    expect(rejected(head0, bal0(), blockOn(head0, 3, [tx(3, 1, 1001)]))).toMatch(/insufficient balance: client3 has \$10\.00, needs \$10\.01/);
  });

  it('validates transfers in order: the second of two transfers, each affordable alone, may overdraw', () => {
    const first = tx(1, 2, 600);
    const second = tx(1, 3, 600);
    expect(checkBlock(head0, bal0(), blockOn(head0, 1, [first]))).toEqual({ ok: true });
    expect(checkBlock(head0, bal0(), blockOn(head0, 1, [second]))).toEqual({ ok: true });
    expect(rejected(head0, bal0(), blockOn(head0, 1, [first, second]))).toMatch(/insufficient balance: client1 has \$4\.00, needs \$6\.00/);
  });

  it('does not change the balances it is given, even when rejecting', () => {
    const balances = bal0();
    checkBlock(head0, balances, blockOn(head0, 1, [tx(1, 2, 600), tx(1, 3, 600)]));
    checkBlock(head0, balances, blockOn(head0, 1, [tx(1, 2, 600)]));
    expect(balancesToRecord(balances)).toEqual({ '1': 1000, '2': 1000, '3': 1000 });
  });

  it('rejects an empty block', () => {
    expect(rejected(head0, bal0(), blockOn(head0, 1, []))).toMatch(/0 transfers/);
  });

  it(`rejects a block with more than ${MAX_TXS_PER_BLOCK} transfers`, () => {
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK + 1 }, () => tx(1, 2, 1));
    expect(rejected(head0, bal0(), blockOn(head0, 1, txs))).toMatch(/transfers/);
  });

  it('chains: a second block is checked against the first block\'s head and resulting balances', () => {
    const b1 = blockOn(head0, 1, [tx(1, 2, 1000)]);
    const balances = bal0();
    expect(checkBlock(head0, balances, b1)).toEqual({ ok: true });
    applyBlock(balances, b1);
    const head1: Head = { height: 1, hash: b1.hash };
    expect(rejected(head1, balances, blockOn(head1, 1, [tx(1, 3, 1)]))).toMatch(/insufficient balance: client1 has \$0\.00/);
    expect(checkBlock(head1, balances, blockOn(head1, 2, [tx(2, 3, 2000)]))).toEqual({ ok: true });
    // A block built on genesis no longer chains.
    expect(rejected(head1, balances, { ...b1 })).toMatch(/height/);
  });
});

describe('balance records', () => {
  it('round-trip between a Map and a JSON record keyed by id', () => {
    const b = bal0();
    const r = balancesToRecord(b);
    expect(r).toEqual({ '1': 1000, '2': 1000, '3': 1000 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(balancesFromRecord(r)).toEqual(b);
  });

  it('applyBlock moves money and conserves the total', () => {
    const b = bal0();
    applyBlock(b, blockOn(head0, 1, [tx(1, 2, 250), tx(1, 3, 5)]));
    expect(balancesToRecord(b)).toEqual({ '1': 745, '2': 1250, '3': 1005 });
    expect(totalOf(b)).toBe(3000);
  });
});
