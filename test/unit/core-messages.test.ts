import { describe, expect, it } from 'vitest';
import { sealBlock } from '../../src/core/ledger.js';
import { MAX_HEIGHT, MAX_RECORDED_MESSAGES, MAX_REPORT_ERROR_LENGTH, MAX_TIMESTAMP, MAX_TXS_PER_BLOCK, MAX_VIEW, TX_ID_PATTERN } from '../../src/core/limits.js';
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
  channels: [
    { peer: 1, sent: 4, received: 3, sentDigest: '00c0ffee00c0ffee', receivedDigest: '0123456789abcdef', lastReceivedTs: 9 },
    { peer: 3, sent: 2, received: 2, sentDigest: 'fedcba9876543210', receivedDigest: '00000000ffffffff', lastReceivedTs: 11 },
  ],
};
const local: LocalSnapshot = {
  state,
  channels: [
    { from: 1, messages: [{ type: 'RELEASE', ts: 10, height: 2, view: 77, block: block2 }, { type: 'REPLY', ts: 11, height: 2, view: 77 }] },
    { from: 3, messages: [] },
  ],
};

const valid: Record<Message['type'], Message> = {
  REQUEST: { type: 'REQUEST', ts: 3, height: 0, view: 77 },
  REPLY: { type: 'REPLY', ts: 0, height: 1, view: MAX_VIEW },
  RELEASE: { type: 'RELEASE', ts: 5, height: 1, view: 0, block: block1 },
  MARKER: { type: 'MARKER', ts: 7, snapshot: { initiator: 3, seq: 1 } },
  REPORT: { type: 'REPORT', ts: 13, snapshot: { initiator: 1, seq: 2 }, local },
  BLOCKS: { type: 'BLOCKS', ts: 8, blocks: [block1, block2], last: true },
  FETCH: { type: 'FETCH', ts: 9, from: 3 },
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
    const m = { type: 'RELEASE', ts: 1, height: 4, view: 9, block: null };
    expect(validateMessage(m, nodes)).toEqual({ ok: true, value: m });
  });

  it('an empty BLOCKS, last or not (an empty last BLOCKS answers a FETCH from beyond the head)', () => {
    expect(validateMessage({ type: 'BLOCKS', ts: 1, blocks: [], last: true }, nodes)).toMatchObject({ ok: true });
    expect(validateMessage({ type: 'BLOCKS', ts: 1, blocks: [], last: false }, nodes)).toMatchObject({ ok: true });
  });

  it(`a BLOCKS with exactly ${MAX_BLOCKS_PER_MESSAGE} blocks`, () => {
    const blocks = Array.from({ length: MAX_BLOCKS_PER_MESSAGE }, () => block1);
    expect(validateMessage({ type: 'BLOCKS', ts: 1, blocks, last: false }, nodes)).toMatchObject({ ok: true });
  });

  it(`a block with exactly ${MAX_TXS_PER_BLOCK} transfers`, () => {
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK }, (_, i) => ({ id: `t${i}`, from: 1, to: 2, amount: 1 }));
    const b = sealBlock({ height: 1, prevHash: genesis.hash, ts: 1, creator: 1, txs });
    expect(validateMessage({ type: 'RELEASE', ts: 2, height: 1, view: 0, block: b }, nodes)).toMatchObject({ ok: true });
  });

  it('a REPORT that records a negative balance (a broken replica must be reportable)', () => {
    const m = copy(valid.REPORT);
    m.local.state.balances['1'] = -5;
    expect(validateMessage(m, nodes)).toMatchObject({ ok: true });
  });

  it('drops fields it does not know', () => {
    const r = validateMessage({ type: 'REQUEST', ts: 3, height: 0, view: 1, evil: { deep: true } }, nodes);
    expect(r).toEqual({ ok: true, value: { type: 'REQUEST', ts: 3, height: 0, view: 1 } });
  });
});

describe('validateMessage rejects as a value (never throws)', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an array', [{ type: 'REQUEST', ts: 1, height: 0, view: 0 }]],
    ['an empty array', []],
    ['a string', 'REQUEST'],
    ['a JSON string', '{"type":"REQUEST","ts":1,"height":0,"view":0}'],
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
    reject({ type: 'request', ts: 1, height: 0, view: 0 });
    reject({ type: ['REQUEST'], ts: 1, height: 0, view: 0 });
    reject({ ts: 1, height: 0, view: 0 });
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
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0 });
  });

  it('a RELEASE whose block is not an object', () => {
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0, block: 'block' });
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0, block: [] });
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0, block: 0 });
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
    expect(reject({ type: 'BLOCKS', ts: 1, blocks, last: true })).toMatch(new RegExp(`at most ${MAX_BLOCKS_PER_MESSAGE}`));
  });

  it('a BLOCKS whose blocks is not an array', () => {
    reject({ type: 'BLOCKS', ts: 1, blocks: block1, last: true });
    reject({ type: 'BLOCKS', ts: 1, last: true });
    reject({ type: 'BLOCKS', ts: 1, blocks: { length: 1, 0: block1 }, last: true });
  });

  it(`a block with more than ${MAX_TXS_PER_BLOCK} transfers`, () => {
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK + 1 }, (_, i) => ({ id: `t${i}`, from: 1, to: 2, amount: 1 }));
    const b = sealBlock({ height: 1, prevHash: genesis.hash, ts: 1, creator: 1, txs });
    expect(reject({ type: 'RELEASE', ts: 2, height: 1, view: 0, block: b })).toMatch(new RegExp(`at most ${MAX_TXS_PER_BLOCK}`));
  });

  it('a huge array is rejected by its length without walking its items', () => {
    const blocks = new Array(10_000_000);
    reject({ type: 'BLOCKS', ts: 1, blocks, last: true });
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
    let m: any = { type: 'REPLY', ts: 1, height: 0, view: 0 };
    for (let i = 0; i < 100_000; i++) {
      m = { type: 'REPORT', ts: 1, snapshot: { initiator: 1, seq: 1 }, local: { state, channels: [{ from: 1, messages: [m] }] } };
    }
    reject(m);
    // And plain nesting where a field should be.
    let junk: any = {};
    for (let i = 0; i < 100_000; i++) junk = { type: junk, ts: junk, block: junk };
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0, block: junk });
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
    reject({ type: 'RELEASE', ts: 1, height: 0, view: 0, block: hostile });
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

describe('validateMessage: the bounds of limits.ts', () => {
  const accept = (value: unknown): void => {
    const r = validateMessage(value, nodes);
    if (!r.ok) throw new Error(`expected ${JSON.stringify(value)?.slice(0, 200)} to be accepted, got: ${r.error}`);
  };

  it(`a message timestamped up to MAX_TIMESTAMP - 1 is accepted in every type; one at MAX_TIMESTAMP (2^50) would push the receiver's clock past the bound and is refused, as is 2^50 + 1`, () => {
    expect(MAX_TIMESTAMP).toBe(2 ** 50);
    for (const m of Object.values(valid)) {
      const ok = copy(m);
      ok.ts = MAX_TIMESTAMP - 1;
      accept(ok);
      const atBound = copy(m);
      atBound.ts = MAX_TIMESTAMP;
      expect(reject(atBound)).toBe(`message.ts: expected below ${MAX_TIMESTAMP} (a timestamp at the bound would push this client's clock past it), got ${MAX_TIMESTAMP}`);
      const bad = copy(m);
      bad.ts = MAX_TIMESTAMP + 1;
      expect(reject(bad)).toContain(`at most ${MAX_TIMESTAMP}`);
    }
  });

  it('a timestamp recorded in a snapshot (a channel message, a queue entry, a clock) moves no clock: MAX_TIMESTAMP itself is accepted there', () => {
    const report = copy(valid.REPORT);
    report.local.channels[0].messages[0].ts = MAX_TIMESTAMP;
    report.local.state.clock = MAX_TIMESTAMP;
    accept(report);
  });

  it('a block timestamp, a recorded clock and a queued timestamp have the same ceiling', () => {
    const rel = copy(valid.RELEASE);
    rel.block.ts = MAX_TIMESTAMP + 1;
    expect(reject(rel)).toContain('message.block.ts');
    const clock = copy(valid.REPORT);
    clock.local.state.clock = MAX_TIMESTAMP + 1;
    expect(reject(clock)).toContain('message.local.state.clock');
    const queued = copy(valid.REPORT);
    queued.local.state.queue[0].ts = MAX_TIMESTAMP + 1;
    expect(reject(queued)).toContain('message.local.state.queue[0].ts');
    queued.local.state.queue[0].ts = MAX_TIMESTAMP;
    accept(queued);
  });

  it.each(['REQUEST', 'REPLY', 'RELEASE'] as const)('a %s height up to MAX_HEIGHT is accepted, above it or negative or missing is rejected', (type) => {
    const ok = copy(valid[type]);
    ok.height = MAX_HEIGHT;
    accept(ok);
    const above = copy(valid[type]);
    above.height = MAX_HEIGHT + 1;
    expect(reject(above)).toContain('message.height');
    const negative = copy(valid[type]);
    negative.height = -1;
    reject(negative);
    const missing = copy(valid[type]);
    delete missing.height;
    reject(missing);
  });

  it.each(['REQUEST', 'REPLY', 'RELEASE'] as const)('a %s view up to MAX_VIEW (2^48 - 1) is accepted, above it, negative, fractional or missing is rejected', (type) => {
    expect(MAX_VIEW).toBe(2 ** 48 - 1);
    const ok = copy(valid[type]);
    ok.view = MAX_VIEW;
    accept(ok);
    for (const view of [MAX_VIEW + 1, -1, 1.5, '1', undefined]) {
      const bad = copy(valid[type]);
      if (view === undefined) delete bad.view;
      else bad.view = view;
      expect(reject(bad)).toContain('message.view');
    }
  });

  it('a block height and a recorded height above MAX_HEIGHT are rejected', () => {
    const blocks = copy(valid.BLOCKS);
    blocks.blocks[0].height = MAX_HEIGHT + 1;
    expect(reject(blocks)).toContain('message.blocks[0].height');
    const rep = copy(valid.REPORT);
    rep.local.state.height = MAX_HEIGHT + 1;
    expect(reject(rep)).toContain('message.local.state.height');
  });

  it('a FETCH asks from a height in 1..MAX_HEIGHT (genesis is never fetched)', () => {
    accept({ type: 'FETCH', ts: 1, from: 1 });
    accept({ type: 'FETCH', ts: 1, from: MAX_HEIGHT });
    expect(reject({ type: 'FETCH', ts: 1, from: 0 })).toContain('message.from');
    expect(reject({ type: 'FETCH', ts: 1, from: MAX_HEIGHT + 1 })).toContain('message.from');
    reject({ type: 'FETCH', ts: 1 });
    reject({ type: 'FETCH', ts: 1, from: '2' });
    reject({ type: 'FETCH', ts: 1, from: 2.5 });
  });

  it('a BLOCKS must say whether it is the last of its serve: `last` is required and boolean', () => {
    const missing = copy(valid.BLOCKS);
    delete missing.last;
    expect(reject(missing)).toContain('message.last');
    for (const last of ['true', 1, 0, null]) {
      const bad = copy(valid.BLOCKS);
      bad.last = last;
      expect(reject(bad)).toContain('message.last');
    }
    const more = copy(valid.BLOCKS);
    more.last = false;
    expect(validateMessage(more, nodes)).toEqual({ ok: true, value: { ...valid.BLOCKS, last: false } });
  });

  describe('transfer keys are 1-64 characters of A-Z a-z 0-9 . _ : - (TX_ID_PATTERN)', () => {
    const withId = (id: unknown): any => {
      const m = copy(valid.RELEASE);
      m.block.txs[0].id = id;
      return m;
    };

    it.each([
      ['one character', 'x'],
      ['64 characters', 'a'.repeat(64)],
      ['a UUID', '0b9f7c4e-3d2a-4f1e-9c8b-7a6d5e4f3a2b'],
      ['every separator allowed', 'a.b_c:d-e'],
      ['a generated key', 'Zq3-x_9Yw1LmN0pQ'],
    ])('accepts %s', (_what, id) => {
      expect(TX_ID_PATTERN.test(id)).toBe(true);
      accept(withId(id));
    });

    it.each([
      ['an empty id', ''],
      ['65 characters', 'a'.repeat(65)],
      ['a space', 'a b'],
      ['a tab', 'a\tb'],
      ['a slash', 'a/b'],
      ['other punctuation', 'a#b@c'],
      ['a tilde', '~'],
      ['a newline', 'a\nb'],
      ['a DEL character', 'a\x7fb'],
      ['a NUL character', 'a\x00b'],
      ['a non-ASCII letter', 'caf\u00e9'],
      ['an emoji', 'pay\u{1F4B8}'],
      ['a number', 12],
      ['null', null],
    ])('rejects %s', (_what, id) => {
      expect(reject(withId(id))).toContain('message.block.txs[0].id');
    });
  });

  describe('a REPORT with `local: null` is a failed part and must say why', () => {
    const failed = (error: unknown): any => ({ type: 'REPORT', ts: 3, snapshot: { initiator: 1, seq: 1 }, local: null, ...(error === undefined ? {} : { error }) });

    it('is accepted with a reason, and returned with it', () => {
      expect(validateMessage(failed('too large'), nodes)).toEqual({ ok: true, value: failed('too large') });
      accept(failed('x'.repeat(MAX_REPORT_ERROR_LENGTH)));
    });

    it.each([
      ['no error', undefined],
      ['an empty error', ''],
      [`an error longer than ${MAX_REPORT_ERROR_LENGTH} characters`, 'x'.repeat(MAX_REPORT_ERROR_LENGTH + 1)],
      ['a numeric error', 42],
      ['a null error', null],
    ])('is rejected with %s', (_what, error) => {
      expect(reject(failed(error))).toContain('message.error');
    });

    it('a REPORT with a local part does not need an error', () => {
      accept(copy(valid.REPORT));
    });
  });

  it.each([
    ['no channel counts', (m: any) => delete m.local.state.channels],
    ['channel counts for an unknown peer', (m: any) => (m.local.state.channels[0].peer = 7)],
    ['a negative sent count', (m: any) => (m.local.state.channels[0].sent = -1)],
    ['a fractional received count', (m: any) => (m.local.state.channels[1].received = 0.5)],
    ['more channel counts than the cluster has clients', (m: any) => (m.local.state.channels = [1, 3, 1, 3].map((peer) => ({ ...m.local.state.channels[0], peer })))],
    ['fewer channel counts than peers (one left out)', (m: any) => (m.local.state.channels = [m.local.state.channels[0]])],
    ['no channel counts at all (an empty list)', (m: any) => (m.local.state.channels = [])],
    ['one peer\'s channel counts twice, another\'s left out', (m: any) => (m.local.state.channels = [m.local.state.channels[0], { ...m.local.state.channels[0], sent: 0 }])],
    ['channel counts for the reporting client itself', (m: any) => (m.local.state.channels[1].peer = 2)],
    ['no sent digest', (m: any) => delete m.local.state.channels[0].sentDigest],
    ['a received digest of 15 digits', (m: any) => (m.local.state.channels[0].receivedDigest = '0123456789abcde')],
    ['an upper-case digest', (m: any) => (m.local.state.channels[1].sentDigest = 'FEDCBA9876543210')],
    ['a numeric digest', (m: any) => (m.local.state.channels[1].receivedDigest = 42)],
    ['no last received timestamp', (m: any) => delete m.local.state.channels[0].lastReceivedTs],
    ['a last received timestamp beyond MAX_TIMESTAMP', (m: any) => (m.local.state.channels[0].lastReceivedTs = MAX_TIMESTAMP + 1)],
    [`a channel state of more than MAX_RECORDED_MESSAGES messages`, (m: any) => (m.local.channels[0].messages = new Array(MAX_RECORDED_MESSAGES + 1))],
    [`more than MAX_RECORDED_MESSAGES pending blocks`, (m: any) => (m.local.state.pendingBlocks = new Array(MAX_RECORDED_MESSAGES + 1))],
  ])('a REPORT whose recorded state has %s', (_w, breakIt) => {
    const m = copy(valid.REPORT);
    breakIt(m);
    reject(m);
  });

  it('a REPORT whose recorded state leaves out a peer\'s channel counts is refused, saying one per other client is expected', () => {
    const m = copy(valid.REPORT);
    m.local.state.channels = [m.local.state.channels[1]];
    expect(reject(m)).toBe('message.local.state.channels: expected one record for each other client (client1, client3), got "client3"');
  });

  it('a REPORT whose channel state holds a FETCH or a BLOCKS is accepted: they are application messages', () => {
    const m = copy(valid.REPORT);
    m.local.channels[1].messages = [copy(valid.FETCH), copy(valid.BLOCKS)];
    accept(m);
  });
});
