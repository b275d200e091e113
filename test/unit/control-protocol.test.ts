/**
 * The control socket's protocol: the request guard, and a ControlServer in this process over a
 * stand-in API, driven by ControlClient and by raw lines: typed answers, many in flight on one
 * connection, and a clear refusal (never a crash) for anything that is not a request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BalancesView, LedgerApi, LinkChange, TransferAnswer, TransferOrder } from '../../src/daemon/api.js';
import { ControlClient, ControlError, ControlErrorKind } from '../../src/daemon/control/client.js';
import { MAX_REQUEST_BYTES, RefusalKind, controlSocketPath, parseRequest } from '../../src/daemon/control/protocol.js';
import { ControlServer } from '../../src/daemon/control/server.js';
import { DaemonError, DaemonErrorKind, StorageError } from '../../src/daemon/errors.js';

describe('the request guard', () => {
  it.each([
    ['{"id": 1, "type": "identity"}', { id: 1, type: 'identity' }],
    ['{"id": 2, "type": "transfer", "to": 2, "amount": 450}', { id: 2, type: 'transfer', to: 2, amount: 450 }],
    ['{"id": 3, "type": "chain"}', { id: 3, type: 'chain' }],
    ['{"id": 4, "type": "chain", "last": 50}', { id: 4, type: 'chain', last: 50 }],
    ['{"type": "savedSnapshot", "snapshotId": "1.3", "id": 0}', { id: 0, type: 'savedSnapshot', snapshotId: '1.3' }],
    ['{"id": 5, "type": "status"}', { id: 5, type: 'status' }],
    ['{"id": 6, "type": "link", "peer": 3, "held": true}', { id: 6, type: 'link', peer: 3, held: true }],
    ['{"id": 7, "type": "link", "peer": 3, "delay": {"minMs": 500, "maxMs": 500}}', { id: 7, type: 'link', peer: 3, delay: { minMs: 500, maxMs: 500 } }],
    ['{"id": 8, "type": "link", "peer": 3, "delay": null}', { id: 8, type: 'link', peer: 3, delay: null }],
    ['{"id": 9, "type": "subscribe"}', { id: 9, type: 'subscribe' }],
    ['{"id": 9, "type": "subscribe", "maxEventsPerSecond": 1000}', { id: 9, type: 'subscribe', maxEventsPerSecond: 1000 }],
    ['{"id": 10, "type": "transfers", "transfers": [{"to": 2, "amount": 1}, {"to": 3, "amount": 5, "key": "k-2"}]}', { id: 10, type: 'transfers', transfers: [{ to: 2, amount: 1 }, { to: 3, amount: 5, key: 'k-2' }] }],
  ])('takes %s', (line, frame) => {
    expect(parseRequest(line)).toEqual({ ok: true, frame });
  });

  it.each([
    ['balance all', null, 'a request is one JSON object per line'],
    ['[1, 2]', null, 'a request is a JSON object'],
    ['null', null, 'a request is a JSON object'],
    ['{"type": "status"}', null, '"id" must be a whole number'],
    ['{"id": -1, "type": "status"}', null, '"id" must be a whole number'],
    ['{"id": 1.5, "type": "status"}', null, '"id" must be a whole number'],
    ['{"id": 1}', 1, '"type" is missing (the types are identity, transfer, transfers, tx, withdraw, snapshot, balances, chain, peers, status, snapshots, savedSnapshot, links, link, subscribe)'],
    ['{"id": 1, "type": "transfr", "to": 2, "amount": 1}', 1, 'unknown request type "transfr" — did you mean "transfer"?'],
    ['{"id": 1, "type": "toString"}', 1, 'unknown request type "toString"'],
    ['{"id": 1, "line": "balance all"}', 1, '"type" is missing'],
    ['{"id": 1, "type": "transfer", "to": 2}', 1, 'transfer: "amount" is missing'],
    ['{"id": 1, "type": "transfer", "to": 2, "amount": "4.50"}', 1, 'transfer: "amount" must be a positive whole number of cents'],
    ['{"id": 1, "type": "transfer", "to": 2, "amount": 0}', 1, 'transfer: "amount" must be a positive whole number of cents'],
    ['{"id": 1, "type": "transfer", "to": 2, "amount": 1e300}', 1, 'transfer: "amount" must be a positive whole number of cents'],
    ['{"id": 1, "type": "transfer", "to": "client2", "amount": 1}', 1, 'transfer: "to" must be a client id'],
    ['{"id": 1, "type": "transfer", "to": 2, "amount": 1, "from": 3}', 1, 'transfer: unknown field "from"'],
    ['{"id": 1, "type": "transfers", "transfers": []}', 1, 'transfers: "transfers" must be a list of 1 to 1000 transfers'],
    [`{"id": 1, "type": "transfers", "transfers": [${Array(1001).fill('{"to": 2, "amount": 1}').join(',')}]}`, 1, 'transfers: "transfers" must be a list of 1 to 1000 transfers'],
    ['{"id": 1, "type": "transfers", "transfers": {"to": 2, "amount": 1}}', 1, 'transfers: "transfers" must be a list'],
    ['{"id": 1, "type": "transfers", "transfers": [{"to": 2, "amount": 1}, 7]}', 1, 'transfers: transfers[1] must be {"to": ..., "amount": ..., "key": ... (optional)}'],
    ['{"id": 1, "type": "transfers", "transfers": [{"to": 2, "amount": 1}, {"to": 2, "amount": 0}]}', 1, 'transfers: transfers[1]: "amount" must be a positive whole number of cents'],
    ['{"id": 1, "type": "transfers", "transfers": [{"to": 2, "amount": 1, "from": 3}]}', 1, 'transfers: transfers[0]: unknown field "from"'],
    ['{"id": 1, "type": "transfers", "transfers": [{"to": 2, "amount": 1, "key": "a b"}]}', 1, 'transfers: transfers[0]: "key" must be a transfer key'],
    ['{"id": 1, "type": "chain", "last": 0}', 1, 'chain: "last" must be a positive whole number of blocks'],
    ['{"id": 1, "type": "savedSnapshot", "snapshotId": "../x"}', 1, 'savedSnapshot: "snapshotId" must be a snapshot id like "1.3"'],
    ['{"id": 1, "type": "status", "format": "json"}', 1, 'status: unknown field "format"'],
    ['{"id": 1, "type": "link", "peer": 3}', 1, 'link: give exactly one of "held" (true or false) and "delay"'],
    ['{"id": 1, "type": "link", "peer": 3, "held": true, "delay": null}', 1, 'link: give exactly one of "held"'],
    ['{"id": 1, "type": "link", "peer": 3, "held": "yes"}', 1, 'link: "held" must be true or false'],
    ['{"id": 1, "type": "link", "peer": 3, "delay": {"minMs": 9, "maxMs": 5}}', 1, 'link: "delay" must be {"minMs": a, "maxMs": b} with 0 <= a <= b <= 600000, or null'],
    ['{"id": 1, "type": "link", "peer": 3, "delay": {"minMs": 0, "maxMs": 700000}}', 1, 'link: "delay" must be'],
    ['{"id": 1, "type": "link", "peer": 3, "delay": 500}', 1, 'link: "delay" must be'],
    ['{"id": 1, "type": "link", "peer": 0, "held": true}', 1, 'link: "peer" must be a client id'],
    ['{"id": 1, "type": "subscribe", "maxEventsPerSecond": 0}', 1, 'subscribe: "maxEventsPerSecond" must be a positive whole number'],
  ])('refuses %s', (line, id, error) => {
    const r = parseRequest(line);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.id).toBe(id);
    expect(r.error).toContain(error);
  });
});

/** A stand-in for the daemon: transfers commit after `delayMs`, reads answer at once. */
function fakeLedger(delayMs = 5): LedgerApi & { made: number } {
  const view: BalancesView = { balances: { '1': 1000, '2': 1000 }, height: 0, head: 'ab'.repeat(32), total: 2000 };
  const api = {
    made: 0,
    identity: () => ({ self: 1, nodes: [1, 2] }),
    transfer: (to: number, amount: number): Promise<TransferAnswer> => {
      const n = ++api.made;
      return new Promise((resolve) =>
        setTimeout(() => resolve({ type: 'transfer', ok: true, status: 'SUCCESS', txId: `t${n}`, repeat: false, block: n, from: 1, to, amount, clock: n, msgs: 3, batch: 1, ms: delayMs }), delayMs),
      );
    },
    transfers: (orders: readonly TransferOrder[]): Promise<TransferAnswer[]> => Promise.all(orders.map((o) => api.transfer(o.to, o.amount))),
    snapshot: () => Promise.reject(new DaemonError(DaemonErrorKind.ShutDown, 'the client is shutting down')),
    balances: () => view,
    chain: () => ({ height: 0, head: view.head, blocks: [] }),
    peers: () => ({ peers: [], tls: false }),
    status: () => {
      throw new Error('status exploded');
    },
    snapshots: () => {
      throw new StorageError('/data/snapshots', 'cannot list snapshots: EACCES');
    },
    savedSnapshot: () => null,
    tx: (key: string) => ({ state: 'unknown', txId: key }) as const,
    withdraw: (key: string) => ({ state: 'unknown', txId: key }) as const,
    links: () => ({ self: 1, links: [{ peer: 2, held: false, delay: null, waiting: 0, up: true }] }),
    link: (peer: number, change: LinkChange) => ({ self: 1, links: [{ peer, held: 'held' in change && change.held, delay: 'delay' in change ? change.delay : null, waiting: 0, up: true }] }),
  };
  return api;
}

describe('the control server and client', () => {
  let dir: string;
  let server: ControlServer;
  let api: ReturnType<typeof fakeLedger>;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'llctl-'));
    api = fakeLedger();
    server = new ControlServer(dir, api, pino({ level: 'silent' }));
    await server.start();
  });

  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Raw lines in, the answer lines out (until the server ends the connection or `count` arrive). */
  function raw(lines: string, count: number): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(controlSocketPath(dir));
      let data = '';
      const answers = (): unknown[] => data.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(lines));
      socket.on('data', (c: string) => {
        data += c;
        if (answers().length >= count) {
          socket.destroy();
          resolve(answers());
        }
      });
      socket.on('close', () => resolve(answers()));
      socket.on('error', reject);
    });
  }

  it('answers typed requests with typed results, many in flight on one connection', async () => {
    const client = await ControlClient.connect(dir);
    try {
      expect(await client.identity()).toEqual({ self: 1, nodes: [1, 2] });
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => client.transfer(2, i + 1)));
      expect(results.map((r) => r.amount)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(results.every((r) => r.ok && r.type === 'transfer')).toBe(true);
      expect((await client.balances()).balances['2']).toBe(1000);
      expect(await client.savedSnapshot('1.1')).toBeNull();
    } finally {
      client.close();
    }
  });

  it('answers many transfers in one request with every result, in their order', async () => {
    const client = await ControlClient.connect(dir);
    try {
      const results = await client.transfers(Array.from({ length: 300 }, (_, i) => ({ to: 2, amount: i + 1 })));
      expect(results.map((r) => r.amount)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(api.made).toBe(300);
      const [line] = await raw('{"id": 4, "type": "transfers", "transfers": [{"to": 2, "amount": 7}, {"to": 2, "amount": 8}]}\n', 1);
      expect(line).toMatchObject({ id: 4, ok: true, result: [{ type: 'transfer', amount: 7 }, { type: 'transfer', amount: 8 }] });
    } finally {
      client.close();
    }
  });

  it('answers a bad request with a clear refusal, and the connection goes on serving', async () => {
    const answers = await raw('balance all\n{"id": 7, "type": "transfer", "to": 2, "amount": "4.50"}\n{"id": 8, "type": "peers"}\n', 3);
    expect(answers).toEqual([
      { id: null, ok: false, error: { kind: RefusalKind.BadRequest, message: expect.stringContaining('a request is one JSON object per line') } },
      { id: 7, ok: false, error: { kind: RefusalKind.BadRequest, message: 'transfer: "amount" must be a positive whole number of cents' } },
      { id: 8, ok: true, result: { peers: [], tls: false } },
    ]);
  });

  it('passes the daemon’s own errors on by kind, and anything else as internal, without crashing', async () => {
    const client = await ControlClient.connect(dir);
    try {
      const refusal = (p: Promise<unknown>): Promise<unknown> => p.then(() => 'answered', (e: unknown) => (e instanceof ControlError ? [e.kind, e.refusal] : e));
      expect(await refusal(client.snapshot())).toEqual([ControlErrorKind.Refused, { kind: DaemonErrorKind.ShutDown, message: 'the client is shutting down' }]);
      expect(await refusal(client.snapshots())).toEqual([ControlErrorKind.Refused, { kind: DaemonErrorKind.Storage, message: '/data/snapshots: cannot list snapshots: EACCES' }]);
      expect(await refusal(client.status())).toEqual([ControlErrorKind.Refused, { kind: RefusalKind.Internal, message: 'status exploded' }]);
      expect((await client.chain(1)).height).toBe(0);
    } finally {
      client.close();
    }
  });

  it('refuses a request line over the limit and closes that connection', async () => {
    const answers = await raw(`{"id": 1, "type": "status", "pad": "${'x'.repeat(MAX_REQUEST_BYTES + 10)}`, 1);
    expect(answers).toEqual([{ id: null, ok: false, error: { kind: RefusalKind.TooLong, message: `request longer than ${MAX_REQUEST_BYTES} bytes` } }]);
    const client = await ControlClient.connect(dir);
    expect((await client.identity()).self).toBe(1);
    client.close();
  });

  it('says which client is not running, and times out a request that gets no answer', async () => {
    const nowhere = path.join(dir, 'elsewhere');
    await expect(ControlClient.connect(nowhere)).rejects.toThrow(`is not running (no control socket answers at ${controlSocketPath(nowhere)})`);
    const slow = new ControlServer(nowhere, fakeLedger(1_000), pino({ level: 'silent' }));
    await import('node:fs').then((fs) => fs.mkdirSync(nowhere));
    await slow.start();
    const client = await ControlClient.connect(nowhere, { timeoutMs: 50 });
    try {
      await expect(client.transfer(2, 1)).rejects.toMatchObject({ kind: ControlErrorKind.Timeout });
    } finally {
      client.close();
      await slow.close();
    }
  });
});
