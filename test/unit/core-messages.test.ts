import { describe, expect, it } from 'vitest';
import { MAX_TXS_PER_BLOCK, sealBlock } from '../../src/core/ledger.js';
import { MAX_BLOCKS_PER_MESSAGE, validateMessage } from '../../src/core/messages.js';
import type { Block, LocalSnapshot, Message, RecordedState } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const nodes: ReadonlySet<number> = new Set([1, 2, 3]);
const genesis = threeClientGenesis('test');

const block1: Block = sealBlock({ height: 1, prevHash: genesis.hash, ts: 4, creator: 1, txs: [{ id: 'c1', from: 1, to: 2, amount: 450 }] });
const block2: Block = sealBlock({ height: 2, prevHash: block1.hash, ts: 9, creator: 2, txs: [{ id: 'c2', from: 2, to: 3, amount: 1 }] });

const state: RecordedState = {
  node: 2,
  clock: 12,
  height: 1,
  head: block1.hash,
  balances: { '1': 550, '2': 1450, '3': 1000 },
  pendingBlocks: [],
  queue: [{ ts: 11, node: 3 }],
};
const local: LocalSnapshot = {
  state,
  channels: [
    { from: 1, messages: [{ type: 'RELEASE', ts: 10, block: block2 }, { type: 'REPLY', ts: 11 }] },
    { from: 3, messages: [] },
  ],
};

const valid: Record<Message['type'], Message> = {
  REQUEST: { type: 'REQUEST', ts: 3 },
  REPLY: { type: 'REPLY', ts: 0 },
  RELEASE: { type: 'RELEASE', ts: 5, block: block1 },
  MARKER: { type: 'MARKER', ts: 7, snapshot: { initiator: 3, seq: 1 } },
  REPORT: { type: 'REPORT', ts: 13, snapshot: { initiator: 1, seq: 2 }, local },
  BLOCKS: { type: 'BLOCKS', ts: 8, blocks: [block1, block2] },
};

/** A deep, mutable copy of a valid message to break one field of. */
const copy = (m: Message): any => JSON.parse(JSON.stringify(m));

/** validateMessage must return a value, never throw. */
function reject(value: unknown): string {
  let r: ReturnType<typeof validateMessage>;
  expect(() => {
    r = validateMessage(value, nodes);
  }).not.toThrow();
  r = validateMessage(value, nodes);
  if (r.ok) throw new Error(`expected rejection of ${JSON.stringify(value)?.slice(0, 200)}`);
  expect(typeof r.error).toBe('string');
  expect(r.error.length).toBeGreaterThan(0);
  return r.error;
}

describe('validateMessage accepts', () => {
  it.each(Object.entries(valid))('a valid %s and returns it unchanged', (_type, m) => {
    const r = validateMessage(copy(m), nodes);
    expect(r).toEqual({ ok: true, value: m });
  });

  it('a RELEASE with no block (a round that committed nothing)', () => {
    expect(validateMessage({ type: 'RELEASE', ts: 1, block: null }, nodes)).toEqual({ ok: true, value: { type: 'RELEASE', ts: 1, block: null } });
  });

  it('an empty BLOCKS', () => {
    expect(validateMessage({ type: 'BLOCKS', ts: 1, blocks: [] }, nodes)).toMatchObject({ ok: true });
  });

  it(`a BLOCKS with exactly ${MAX_BLOCKS_PER_MESSAGE} blocks`, () => {
    const blocks = Array.from({ length: MAX_BLOCKS_PER_MESSAGE }, () => block1);
    expect(validateMessage({ type: 'BLOCKS', ts: 1, blocks }, nodes)).toMatchObject({ ok: true });
  });

  it(`a block with exactly ${MAX_TXS_PER_BLOCK} transfers`, () => {
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK }, (_, i) => ({ id: `t${i}`, from: 1, to: 2, amount: 1 }));
    const b = sealBlock({ height: 1, prevHash: genesis.hash, ts: 1, creator: 1, txs });
    expect(validateMessage({ type: 'RELEASE', ts: 2, block: b }, nodes)).toMatchObject({ ok: true });
  });

  it('a REPORT that records a negative balance (a broken replica must be reportable)', () => {
    const m = copy(valid.REPORT);
    m.local.state.balances['1'] = -5;
    expect(validateMessage(m, nodes)).toMatchObject({ ok: true });
  });

  it('drops fields it does not know', () => {
    const r = validateMessage({ type: 'REQUEST', ts: 3, evil: { deep: true } }, nodes);
    expect(r).toEqual({ ok: true, value: { type: 'REQUEST', ts: 3 } });
  });
});

describe('validateMessage rejects as a value (never throws)', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an array', [{ type: 'REQUEST', ts: 1 }]],
    ['an empty array', []],
    ['a string', 'REQUEST'],
    ['a JSON string', '{"type":"REQUEST","ts":1}'],
    ['a number', 42],
    ['a boolean', true],
    ['a bigint', 10n],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['an empty object', {}],
  ])('%s', (_what, value) => {
    reject(value);
  });

  it('an unknown type', () => {
    expect(reject({ type: 'HELLO', ts: 1 })).toMatch(/type/);
    // SYNC is gone since protocol version 2: heights travel in the handshake.
    expect(reject({ type: 'SYNC', ts: 1, height: 0 })).toMatch(/type/);
    reject({ type: 'request', ts: 1 });
    reject({ type: ['REQUEST'], ts: 1 });
    reject({ ts: 1 });
  });

  it.each([
    ['missing', undefined],
    ['a string', '3'],
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['unsafe', 2 ** 53],
    ['null', null],
  ])('a ts that is %s', (_what, ts) => {
    for (const m of Object.values(valid)) {
      const bad = copy(m);
      if (ts === undefined) delete bad.ts;
      else bad.ts = ts;
      reject(bad);
    }
  });

  it('a RELEASE without its block field', () => {
    reject({ type: 'RELEASE', ts: 1 });
  });

  it('a RELEASE whose block is not an object', () => {
    reject({ type: 'RELEASE', ts: 1, block: 'block' });
    reject({ type: 'RELEASE', ts: 1, block: [] });
    reject({ type: 'RELEASE', ts: 1, block: 0 });
  });

  it.each([
    ['height 0', (b: any) => (b.height = 0)],
    ['a fractional height', (b: any) => (b.height = 1.5)],
    ['a string height', (b: any) => (b.height = '1')],
    ['a missing prevHash', (b: any) => delete b.prevHash],
    ['a short prevHash', (b: any) => (b.prevHash = b.prevHash.slice(1))],
    ['an upper-case hash', (b: any) => (b.hash = b.hash.toUpperCase())],
    ['a non-hex hash', (b: any) => (b.hash = 'z'.repeat(64))],
    ['a too-long hash', (b: any) => (b.hash = `${b.hash}0`)],
    ['a numeric hash', (b: any) => (b.hash = 1)],
    ['a negative ts', (b: any) => (b.ts = -1)],
    ['an unknown creator', (b: any) => (b.creator = 4)],
    ['a string creator', (b: any) => (b.creator = '1')],
    ['txs that are not an array', (b: any) => (b.txs = { 0: b.txs[0] })],
    ['a tx that is null', (b: any) => (b.txs = [null])],
    ['a tx with an empty id', (b: any) => (b.txs[0].id = '')],
    ['a tx with a numeric id', (b: any) => (b.txs[0].id = 7)],
    ['a tx with a 10,000-character id', (b: any) => (b.txs[0].id = 'x'.repeat(10_000))],
    ['a tx from an unknown client', (b: any) => (b.txs[0].from = 0)],
    ['a tx to an unknown client', (b: any) => (b.txs[0].to = 9)],
    ['a tx with a zero amount', (b: any) => (b.txs[0].amount = 0)],
    ['a tx with a negative amount', (b: any) => (b.txs[0].amount = -450)],
    ['a tx with a fractional amount', (b: any) => (b.txs[0].amount = 4.5)],
    ['a tx with a string amount', (b: any) => (b.txs[0].amount = '450')],
    ['a tx with an unsafe amount', (b: any) => (b.txs[0].amount = 2 ** 60)],
    ['a tx without an amount', (b: any) => delete b.txs[0].amount],
  ])('a block with %s, in a RELEASE and in BLOCKS', (_what, breakIt) => {
    const rel = copy(valid.RELEASE);
    breakIt(rel.block);
    reject(rel);
    const blocks = copy(valid.BLOCKS);
    breakIt(blocks.blocks[1]);
    reject(blocks);
  });

  it(`a BLOCKS with more than ${MAX_BLOCKS_PER_MESSAGE} blocks`, () => {
    const blocks = Array.from({ length: MAX_BLOCKS_PER_MESSAGE + 1 }, () => block1);
    expect(reject({ type: 'BLOCKS', ts: 1, blocks })).toMatch(new RegExp(`at most ${MAX_BLOCKS_PER_MESSAGE}`));
  });

  it('a BLOCKS whose blocks is not an array', () => {
    reject({ type: 'BLOCKS', ts: 1, blocks: block1 });
    reject({ type: 'BLOCKS', ts: 1 });
    reject({ type: 'BLOCKS', ts: 1, blocks: { length: 1, 0: block1 } });
  });

  it(`a block with more than ${MAX_TXS_PER_BLOCK} transfers`, () => {
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK + 1 }, (_, i) => ({ id: `t${i}`, from: 1, to: 2, amount: 1 }));
    const b = sealBlock({ height: 1, prevHash: genesis.hash, ts: 1, creator: 1, txs });
    expect(reject({ type: 'RELEASE', ts: 2, block: b })).toMatch(new RegExp(`at most ${MAX_TXS_PER_BLOCK}`));
  });

  it('a huge array is rejected by its length without walking its items', () => {
    const blocks = new Array(10_000_000);
    reject({ type: 'BLOCKS', ts: 1, blocks });
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['an unknown initiator', { initiator: 5, seq: 1 }],
    ['seq 0', { initiator: 1, seq: 0 }],
    ['a fractional seq', { initiator: 1, seq: 1.5 }],
    ['no seq', { initiator: 1 }],
  ])('a MARKER whose snapshot id is %s', (_w, snapshot) => {
    reject({ type: 'MARKER', ts: 1, snapshot });
    const report = copy(valid.REPORT);
    report.snapshot = snapshot;
    reject(report);
  });

  it.each([
    ['no local', (m: any) => delete m.local],
    ['no state', (m: any) => delete m.local.state],
    ['no channels', (m: any) => delete m.local.channels],
    ['a state from an unknown node', (m: any) => (m.local.state.node = 8)],
    ['a balance keyed by an unknown node', (m: any) => (m.local.state.balances['9'] = 1)],
    ['a balance keyed by a non-number', (m: any) => (m.local.state.balances.x = 1)],
    ['a fractional balance', (m: any) => (m.local.state.balances['1'] = 0.5)],
    ['a string balance', (m: any) => (m.local.state.balances['1'] = '550')],
    ['balances that are an array', (m: any) => (m.local.state.balances = [550, 1450, 1000])],
    ['a bad head hash', (m: any) => (m.local.state.head = 'nope')],
    ['a negative height', (m: any) => (m.local.state.height = -1)],
    ['a queue entry from an unknown node', (m: any) => (m.local.state.queue = [{ ts: 1, node: 6 }])],
    ['a queue longer than the cluster', (m: any) => (m.local.state.queue = [1, 2, 3, 4].map((ts) => ({ ts, node: 1 })))],
    ['a malformed pending block', (m: any) => (m.local.state.pendingBlocks = [{ height: 3 }])],
    ['a channel from an unknown node', (m: any) => (m.local.channels[0].from = 0)],
    ['more channels than the cluster has clients', (m: any) => (m.local.channels = [1, 2, 3, 1].map((from) => ({ from, messages: [] })))],
    ['a channel whose messages is not an array', (m: any) => (m.local.channels[0].messages = 'x')],
    ['a malformed message in a channel', (m: any) => (m.local.channels[0].messages[1] = { type: 'REPLY' })],
  ])('a REPORT with %s', (_w, breakIt) => {
    const m = copy(valid.REPORT);
    breakIt(m);
    reject(m);
  });

  it('a REPORT whose channel state contains a MARKER', () => {
    const m = copy(valid.REPORT);
    m.local.channels[0].messages.push({ type: 'MARKER', ts: 11, snapshot: { initiator: 2, seq: 1 } });
    expect(reject(m)).toMatch(/application message/);
  });

  it('a REPORT whose channel state contains another REPORT', () => {
    const m = copy(valid.REPORT);
    m.local.channels[0].messages.push(copy(valid.REPORT));
    reject(m);
  });

  it('deeply nested junk', () => {
    // A REPORT containing a REPORT containing a REPORT ... 100,000 levels deep.
    let m: any = { type: 'REPLY', ts: 1 };
    for (let i = 0; i < 100_000; i++) {
      m = { type: 'REPORT', ts: 1, snapshot: { initiator: 1, seq: 1 }, local: { state, channels: [{ from: 1, messages: [m] }] } };
    }
    reject(m);
    // And plain nesting where a field should be.
    let junk: any = {};
    for (let i = 0; i < 100_000; i++) junk = { type: junk, ts: junk, block: junk };
    reject({ type: 'RELEASE', ts: 1, block: junk });
    reject(junk);
  });

  it('an object whose property getters throw', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    reject(hostile);
    reject({ type: 'RELEASE', ts: 1, block: hostile });
  });

  it('names the offending field in its error', () => {
    const m = copy(valid.BLOCKS);
    m.blocks[1].txs[0].amount = -3;
    expect(reject(m)).toContain('message.blocks[1].txs[0].amount');
  });

  it('returns errors that are one line and bounded in length however long the bad value is', () => {
    const e = reject({ type: `X${'y\n'.repeat(100_000)}`, ts: 1 });
    expect(e).not.toContain('\n');
    expect(e.length).toBeLessThan(500);
  });

  it('depends on the node set: a message valid in one cluster can be invalid in a smaller one', () => {
    expect(validateMessage(copy(valid.RELEASE), new Set([1, 2, 3]))).toMatchObject({ ok: true });
    expect(validateMessage(copy(valid.RELEASE), new Set([1, 3]))).toMatchObject({ ok: false });
  });
});
