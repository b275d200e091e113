/**
 * Freshness is part of the entry rule: no client builds on a chain shorter than one a peer holds,
 * even when a machine crash took a block away from the client that created it. Each test drives
 * three core nodes by hand over FIFO channels it delivers one message at a time, as the traces
 * found from outside did.
 */
import { describe, expect, it } from 'vitest';
import type { Effect, Input } from '../../src/core/api.js';
import { applyBlock, genesisBalances } from '../../src/core/ledger.js';
import { Node } from '../../src/core/node.js';
import type { Block, Message, NodeId } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

const genesis = threeClientGenesis('freshness');
const IDS = [1, 2, 3];

/** Three nodes, their chain files (with how much of each is synced) and their channels. */
class Cluster {
  readonly nodes = new Map<NodeId, Node>();
  readonly stores = new Map<NodeId, Block[]>();
  private readonly synced = new Map<NodeId, number>();
  private readonly channels = new Map<string, Message[]>();
  private readonly incarnation = new Map<NodeId, number>();
  /** Virtual time (ms) of the last tick. */
  private now = 0;

  constructor(private readonly fsync: boolean) {
    for (const id of IDS) {
      this.stores.set(id, []);
      this.synced.set(id, 0);
      this.incarnation.set(id, 0);
      this.nodes.set(id, this.make(id));
    }
    for (const a of IDS) for (const b of IDS) if (a !== b) this.step(a, { kind: 'peerUp', peer: b, height: 0, incarnation: 0 });
  }

  private make(id: NodeId): Node {
    const store = this.stores.get(id)!;
    const balances = genesisBalances(genesis);
    for (const b of store) applyBlock(balances, b);
    const last = store[store.length - 1];
    return new Node({
      id, nodes: IDS, genesis, transferTimeoutMs: 60_000, snapshotTimeoutMs: 60_000, incarnation: this.incarnation.get(id)!,
      chain: { readBlocks: (from, to) => this.stores.get(id)!.slice(from - 1, to) },
      restored: { head: last ? { height: last.height, hash: last.hash } : { height: 0, hash: genesis.hash }, balances, clock: store.reduce((m, b) => Math.max(m, b.ts), 0) },
    });
  }

  step(id: NodeId, input: Input): Effect[] {
    const effects = this.nodes.get(id)!.step(input);
    for (const e of effects) {
      if (e.kind === 'send') {
        const key = `${id}>${e.to}`;
        this.channels.set(key, [...(this.channels.get(key) ?? []), e.message]);
      } else if (e.kind === 'persist') {
        const store = this.stores.get(id)!;
        store.push(e.block);
        if (e.sync && this.fsync) this.synced.set(id, store.length);
      }
    }
    return effects;
  }

  transfer(from: NodeId, to: NodeId, cents: number): void {
    const id = `t${from}-${to}-${cents}`;
    this.step(from, { kind: 'command', id, command: { type: 'transfer', to, amount: cents, key: id } });
  }

  /** Delivers the next message on channel from -> to; returns its type. */
  deliver(from: NodeId, to: NodeId): Message['type'] {
    const queue = this.channels.get(`${from}>${to}`) ?? [];
    const m = queue.shift();
    if (m === undefined) throw new Error(`nothing in flight from ${from} to ${to}`);
    this.step(to, { kind: 'receive', from, message: m });
    return m.type;
  }

  /** Delivers everything in flight, channel by channel, until nothing is left. */
  settle(): void {
    for (let moved = true; moved; ) {
      moved = false;
      for (const [key, queue] of this.channels) {
        if (queue.length === 0) continue;
        const [from, to] = key.split('>').map(Number) as [number, number];
        this.deliver(from, to);
        moved = true;
      }
    }
  }

  /**
   * The machine of `id` dies and restarts: its connections drop (in flight both ways is lost), so
   * does what it had not synced. `rejoin` lists the peers it reconnects with, in that order.
   */
  machineCrash(id: NodeId, rejoin: readonly NodeId[] = IDS.filter((p) => p !== id)): void {
    for (const [key] of this.channels) if (key.startsWith(`${id}>`) || key.endsWith(`>${id}`)) this.channels.set(key, []);
    for (const p of IDS) if (p !== id) this.step(p, { kind: 'peerDown', peer: id });
    this.stores.get(id)!.length = this.synced.get(id)!;
    this.incarnation.set(id, this.incarnation.get(id)! + 1);
    this.nodes.set(id, this.make(id));
    for (const p of rejoin) this.join(id, p);
  }

  /** Both ends of the connection a-b see the session come up, with each other's heights. */
  join(a: NodeId, b: NodeId): void {
    this.step(a, { kind: 'peerUp', peer: b, height: this.stores.get(b)!.length, incarnation: this.incarnation.get(b)! });
    this.step(b, { kind: 'peerUp', peer: a, height: this.stores.get(a)!.length, incarnation: this.incarnation.get(a)! });
  }

  /** Virtual time passes in ticks of 100 ms, everything in flight delivered after each; returns the time reached. */
  tickUntil(ms: number, done: () => boolean = () => false): number {
    for (let now = this.now + 100; now <= ms; now += 100) {
      this.now = now;
      for (const id of IDS) this.step(id, { kind: 'tick', now });
      this.settle();
      if (done()) return now;
    }
    return this.now;
  }

  /** Hashes at `height` of every chain that has one: more than one is a fork. */
  blocksAt(height: number): Set<string> {
    return new Set(IDS.flatMap((id) => { const b = this.stores.get(id)![height - 1]; return b ? [b.hash] : []; }));
  }
}

describe('freshness is part of the entry rule', () => {
  it('a client whose connections never dropped does not build on a stale head after a peer lost a block it created (issue trace, --no-fsync)', () => {
    const c = new Cluster(false);
    // client1 commits #1; its RELEASE reaches client2, not client3.
    c.transfer(1, 2, 100);
    c.deliver(1, 2); // REQUEST
    c.deliver(1, 3); // REQUEST
    c.deliver(2, 1); // REPLY
    c.deliver(3, 1); // REPLY: client1 enters, persists #1, releases
    expect(c.stores.get(1)!.length).toBe(1);
    expect(c.deliver(1, 2)).toBe('RELEASE');
    expect(c.stores.get(2)!.length).toBe(1);
    // client1's machine dies before the RELEASE reaches client3, and comes back at #0.
    c.machineCrash(1);
    expect(c.stores.get(1)!.length).toBe(0);
    // The 2-3 connection never dropped. client3 now transfers.
    c.transfer(3, 1, 200);
    c.settle();
    expect(c.blocksAt(1).size).toBe(1);
    const chain3 = c.stores.get(3)!;
    expect(chain3.map((b) => b.height)).toEqual([1, 2]);
    expect(chain3[1]!.creator).toBe(3);
    for (const id of IDS) expect(c.stores.get(id)!.map((b) => b.hash)).toEqual(chain3.map((b) => b.hash));
  });

  it('a height counts only from the current membership view: a REPLY sent before its sender got the block does not let the waiting client in', () => {
    const c = new Cluster(false);
    // Both client1 and client3 request; client1's request (ts 1, lower id) is ahead.
    c.transfer(1, 2, 100);
    c.transfer(3, 2, 300);
    for (const [from, to] of [[1, 2], [1, 3], [3, 1], [3, 2]] as const) c.deliver(from, to); // REQUESTs
    for (const [from, to] of [[2, 1], [3, 1], [1, 3], [2, 3]] as const) c.deliver(from, to); // REPLYs
    // client1 entered; client3 has a later message from both peers but waits for client1's RELEASE.
    expect(c.stores.get(1)!.length).toBe(1);
    expect(c.stores.get(3)!.length).toBe(0);
    expect(c.deliver(1, 2)).toBe('RELEASE');
    // client1's machine dies with #1 unsynced; client3 forgets its request and still holds
    // client2's REPLY, sent when client2 was at #0. client1 is back with client3 first.
    c.machineCrash(1, [3]);
    expect(c.deliver(3, 1)).toBe('REQUEST'); // re-sent first thing on the new session
    expect(c.deliver(1, 3)).toBe('REPLY');
    // Heights alone would let client3 in now, on #0: client2's last word said #0. Neither
    // client2 nor the restarted client1 has yet spoken from the view with everyone back.
    expect(c.nodes.get(3)!.lockWait()).toEqual({ kind: 'oldView', peers: [1, 2] });
    expect(c.stores.get(3)!.length).toBe(0);
    // client2 sees the restarted client1, and confirms the new view with its height.
    c.join(1, 2);
    c.settle();
    expect(c.blocksAt(1).size).toBe(1);
    expect(c.stores.get(3)!.map((b) => b.height)).toEqual([1, 2]);
  });

  it('with fsync the creator keeps its block, and the same trace ends with every chain equal', () => {
    const c = new Cluster(true);
    c.transfer(1, 2, 100);
    c.deliver(1, 2);
    c.deliver(1, 3);
    c.deliver(2, 1);
    c.deliver(3, 1);
    c.deliver(1, 2);
    c.machineCrash(1);
    expect(c.stores.get(1)!.length).toBe(1);
    c.transfer(3, 1, 200);
    c.settle();
    for (const id of IDS) expect(c.stores.get(id)!.length).toBe(2);
    expect(c.blocksAt(1).size).toBe(1);
    expect(c.blocksAt(2).size).toBe(1);
  });
});

describe('a replica that is behind converges while the cluster is idle', () => {
  it('after a --no-fsync machine crash of a creator whose RELEASE reached one peer, the third replica fetches the block within 2 s without a lock round', () => {
    const c = new Cluster(false);
    c.tickUntil(5_000);
    c.transfer(1, 2, 100);
    c.deliver(1, 2); // REQUEST
    c.deliver(1, 3); // REQUEST
    c.deliver(2, 1); // REPLY
    c.deliver(3, 1); // REPLY: client1 enters, persists #1 (not synced), releases
    expect(c.deliver(1, 2)).toBe('RELEASE');
    // client1's machine dies before its RELEASE reaches client3; it comes back at #0 and gets #1
    // from client2 on the new session. Nobody asks for the lock again.
    c.machineCrash(1);
    c.settle();
    expect(c.stores.get(1)!.length).toBe(1);
    expect(c.stores.get(2)!.length).toBe(1);
    expect(c.stores.get(3)!.length).toBe(0);
    const reached = c.tickUntil(5_000 + 60_000, () => c.stores.get(3)!.length === 1);
    expect(c.stores.get(3)!.map((b) => b.hash)).toEqual(c.stores.get(2)!.map((b) => b.hash));
    expect(reached - 5_000).toBeLessThanOrEqual(2_000);
  });
});
