/**
 * Hand-made cuts of clients 1..3 for the verdict's tests. A cut is written as what happened, not
 * as what was recorded: each client's recorded state, and for each channel the messages its sender
 * had sent on the session when it recorded and how many of them its receiver had received when it
 * recorded. The recorded counts, digests and last timestamps, and the channel states (what was
 * sent and not yet received), follow from that as a real client would record them, so a cut built
 * this way is consistent unless a test breaks it on purpose.
 */
import type { Verification, VerificationCheckName } from '../../src/core/api.js';
import { ChannelDigest, EMPTY_DIGEST } from '../../src/core/digest.js';
import { type Balances, applyBlock, balancesToRecord, genesisBalances, sealBlock } from '../../src/core/ledger.js';
import { type ChainAtHead, verifySnapshot } from '../../src/core/verify.js';
import type { Block, ChannelRecord, ChannelState, Message, NodeId, RecordedState } from '../../src/core/types.js';
import { threeClientGenesis } from './fixtures.js';

export const genesis = threeClientGenesis('verify');
export const TOTAL = 3000;
export const IDS: readonly NodeId[] = [1, 2, 3];
export const VIEW = 5;

const g = balancesToRecord(genesisBalances(genesis));

/** A block by `creator` on `prev` moving `amount` cents from it to `to`. */
export const blockOn = (prev: Block, creator: NodeId, to: NodeId, amount: number, ts: number, id = `t${prev.height + 1}-${creator}`): Block =>
  sealBlock({ height: prev.height + 1, prevHash: prev.hash, ts, creator, txs: [{ id, from: creator, to, amount }] });

/** The main chain: #1 by client 1 (1 -> 2 $4.00), #2 by client 2 (2 -> 3 $0.01), #3 by client 3 (3 -> 1 $1.00). */
export const b1 = blockOn(genesis, 1, 2, 400, 5);
export const b2 = blockOn(b1, 2, 3, 1, 7);
export const b3 = blockOn(b2, 3, 1, 100, 9);
/** A rival #1 by client 2 (2 -> 1 $4.00), and a rival #3 by client 1 on the main #2. */
export const fork1 = blockOn(genesis, 2, 1, 400, 5);
export const fork3 = blockOn(b2, 1, 3, 50, 9);

/** The balance table after `chain` (blocks from #1 on). */
export function tableAfter(chain: readonly Block[]): Record<string, number> {
  const balances: Balances = genesisBalances(genesis);
  for (const b of chain) applyBlock(balances, b);
  return balancesToRecord(balances);
}

/** A recorded head, its height and its balance table, at the end of `chain`. */
export const at = (chain: readonly Block[]): Pick<RecordedState, 'height' | 'head' | 'balances'> => {
  const last = chain[chain.length - 1] ?? genesis;
  return { height: last.height, head: last.hash, balances: tableAfter(chain) };
};

export const request = (ts: number, height = 0): Message => ({ type: 'REQUEST', ts, height, view: VIEW });
export const reply = (ts: number, height = 0): Message => ({ type: 'REPLY', ts, height, view: VIEW });
export const release = (ts: number, block: Block | null, height = block?.height ?? 0): Message => ({ type: 'RELEASE', ts, height, view: VIEW, block });
export const blocks = (ts: number, list: readonly Block[], last = true): Message => ({ type: 'BLOCKS', ts, blocks: list, last });

/** One channel of a cut: what its sender had sent this session when it recorded, and how many of them its receiver had received when it recorded. */
export interface Wire {
  readonly sent: readonly Message[];
  readonly received: number;
}

export interface Cut {
  nodes: RecordedState[];
  channels: ChannelState[];
}

const digestOf = (messages: readonly Message[]): string => {
  const d = new ChannelDigest();
  for (const m of messages) d.add(m);
  return d.value;
};

/**
 * A cut of clients 1..3, each recorded at clock 20 at genesis with an empty queue unless
 * `states` says otherwise, with channels as `wires` says (`"1->2"`: channel 1 -> 2; absent:
 * nothing sent on it).
 */
export function cut(states: Partial<Record<NodeId, Partial<RecordedState>>> = {}, wires: Partial<Record<string, Wire>> = {}): Cut {
  const wire = (from: NodeId, to: NodeId): Wire => wires[`${from}->${to}`] ?? { sent: [], received: 0 };
  const record = (node: NodeId, peer: NodeId): ChannelRecord => {
    const out = wire(node, peer);
    const inn = wire(peer, node);
    const received = inn.sent.slice(0, inn.received);
    return {
      peer, sent: out.sent.length, received: received.length, sentDigest: digestOf(out.sent), receivedDigest: digestOf(received),
      lastReceivedTs: received[received.length - 1]?.ts ?? 0,
    };
  };
  const nodes = IDS.map((node): RecordedState => ({
    node, clock: 20, height: 0, head: genesis.hash, balances: g, pendingBlocks: [], queue: [],
    channels: IDS.filter((p) => p !== node).map((peer) => record(node, peer)),
    ...states[node],
  }));
  const channels = IDS.flatMap((from) => IDS.filter((to) => to !== from).map((to) => ({ from, to, messages: wire(from, to).sent.slice(wire(from, to).received) })));
  return { nodes, channels };
}

/** The initiator's chain: genesis, then `chain`, read the way a client reads its chain file. */
export function chainOf(chain: readonly Block[]): ChainAtHead & { reads: number } {
  const last = chain[chain.length - 1] ?? genesis;
  const balances: Balances = genesisBalances(genesis);
  for (const b of chain) applyBlock(balances, b);
  const reader = {
    reads: 0,
    head: { height: last.height, hash: last.hash },
    balances,
    readBlocks(from: number, to: number): readonly Block[] {
      reader.reads += to - from + 1;
      if (from < 1 || to > last.height || from > to) throw new Error(`readBlocks(${from}, ${to}) beyond #1..#${last.height}`);
      return chain.slice(from - 1, to);
    },
  };
  return reader;
}

/** The verdict on `c`, initiated by `initiator` whose chain is `chain`. */
export const verify = (c: Cut, chain: readonly Block[] = [], initiator: NodeId = 1): Verification => verifySnapshot(c.nodes, c.channels, TOTAL, initiator, chainOf(chain));

export const failing = (v: Verification): VerificationCheckName[] => v.checks.filter((c) => !c.ok).map((c) => c.name);
export const problemsOf = (v: Verification, name: VerificationCheckName): readonly string[] => v.checks.find((c) => c.name === name)!.problems;

/** Replaces client `id`'s record of its channels with `peer` by `change` of it. */
export function editRecord(c: Cut, id: NodeId, peer: NodeId, change: (r: ChannelRecord) => Partial<ChannelRecord>): void {
  const i = c.nodes.findIndex((n) => n.node === id);
  const s = c.nodes[i]!;
  c.nodes[i] = { ...s, channels: s.channels.map((r) => (r.peer === peer ? { ...r, ...change(r) } : r)) };
}

/** Replaces client `id`'s recorded state by `change` of it. */
export function editState(c: Cut, id: NodeId, change: (s: RecordedState) => Partial<RecordedState>): void {
  const i = c.nodes.findIndex((n) => n.node === id);
  c.nodes[i] = { ...c.nodes[i]!, ...change(c.nodes[i]!) };
}

/** Replaces the messages recorded on channel from -> to. */
export function editChannel(c: Cut, from: NodeId, to: NodeId, change: (messages: readonly Message[]) => readonly Message[]): void {
  const i = c.channels.findIndex((ch) => ch.from === from && ch.to === to);
  c.channels[i] = { ...c.channels[i]!, messages: change(c.channels[i]!.messages) };
}

export { EMPTY_DIGEST };
