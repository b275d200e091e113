/**
 * The replicated ledger: genesis, the hash chain, the balance table and block validation.
 * The chain itself lives in storage; the core keeps only the head, the balances and the blocks
 * that arrived above the head out of height order.
 */
import * as crypto from 'node:crypto';
import { MAX_TXS_PER_BLOCK } from './limits.js';
import { formatCents } from './money.js';
import type { Block, Cents, NodeId, Tx } from './types.js';

export const GENESIS_PREV_HASH = '0'.repeat(64);

export type Balances = Map<NodeId, Cents>;

/** A deterministic encoding of everything a block's hash covers (fixed field order, no floats). */
function canonical(b: Omit<Block, 'hash'>): string {
  return JSON.stringify([b.height, b.prevHash, b.ts, b.creator, b.txs.map((t) => [t.id, t.from, t.to, t.amount])]);
}

/** SHA-256 in one call where Node has it (20.12 on): half the cost of a Hash object, on every block of every replica. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

export function hashBlock(b: Omit<Block, 'hash'>): string {
  return sha256Hex(canonical(b));
}

export function sealBlock(b: Omit<Block, 'hash'>): Block {
  return { ...b, hash: hashBlock(b) };
}

/**
 * Genesis (height 0) holds the initial balances as transfers from the mint (node 0); its hash
 * therefore identifies the cluster: a client configured differently has a different genesis.
 */
export function makeGenesis(initial: ReadonlyMap<NodeId, Cents>, clusterName: string): Block {
  const txs: Tx[] = [...initial.entries()]
    .sort(([a], [b]) => a - b)
    .map(([node, amount]) => ({ id: `genesis:${clusterName}:${node}`, from: 0, to: node, amount }));
  return sealBlock({ height: 0, prevHash: GENESIS_PREV_HASH, ts: 0, creator: 0, txs });
}

export function genesisBalances(genesis: Block): Balances {
  const balances: Balances = new Map();
  for (const tx of genesis.txs) balances.set(tx.to, (balances.get(tx.to) ?? 0) + tx.amount);
  return balances;
}

export function totalOf(balances: ReadonlyMap<NodeId, Cents>): Cents {
  let sum = 0;
  for (const v of balances.values()) sum += v;
  return sum;
}

export type TxCheck = { ok: true } | { ok: false; reason: 'insufficient' | 'invalid'; error: string; balance?: Cents };

/** Whether `tx`, issued by `creator`, may be applied to `balances`. Only an account's owner spends from it. */
export function checkTx(balances: ReadonlyMap<NodeId, Cents>, creator: NodeId, tx: Tx): TxCheck {
  if (tx.from !== creator) return { ok: false, reason: 'invalid', error: `client${creator} cannot spend from client${tx.from}'s account` };
  if (tx.to === tx.from) return { ok: false, reason: 'invalid', error: `client${tx.from} cannot transfer to itself` };
  if (!balances.has(tx.to)) return { ok: false, reason: 'invalid', error: `unknown recipient client${tx.to}` };
  if (!Number.isSafeInteger(tx.amount) || tx.amount <= 0) return { ok: false, reason: 'invalid', error: `invalid amount ${tx.amount}` };
  const balance = balances.get(tx.from);
  if (balance === undefined) return { ok: false, reason: 'invalid', error: `unknown sender client${tx.from}` };
  if (balance < tx.amount) {
    return {
      ok: false,
      reason: 'insufficient',
      error: `insufficient balance: client${tx.from} has ${formatCents(balance)}, needs ${formatCents(tx.amount)}`,
      balance,
    };
  }
  return { ok: true };
}

export function applyTx(balances: Balances, tx: Tx): void {
  balances.set(tx.from, (balances.get(tx.from) ?? 0) - tx.amount);
  balances.set(tx.to, (balances.get(tx.to) ?? 0) + tx.amount);
}

export interface Head {
  readonly height: number;
  readonly hash: string;
}

export type BlockCheck = { ok: true } | { ok: false; error: string };

/**
 * Whether `block` extends `head` given `balances` (the state at `head`): it chains, its hash is
 * right, every transfer in it is valid in order, and no key is in it twice. (That no key of it is
 * already in the chain takes the chain's index: `TransferKeys.conflictIn`.)
 */
export function checkBlock(head: Head, balances: ReadonlyMap<NodeId, Cents>, block: Block): BlockCheck {
  return checkAgainst(head, balances, block, true);
}

/**
 * `checkBlock` for a block `sealBlock` has just hashed (the creator's own, before it appends it):
 * every rule but computing the hash again, which is most of the cost (about 1.5 us a block).
 */
export function checkSealedBlock(head: Head, balances: ReadonlyMap<NodeId, Cents>, block: Block): BlockCheck {
  return checkAgainst(head, balances, block, false);
}

function checkAgainst(head: Head, balances: ReadonlyMap<NodeId, Cents>, block: Block, rehash: boolean): BlockCheck {
  if (block.height !== head.height + 1) return { ok: false, error: `height ${block.height} does not follow ${head.height}` };
  if (block.prevHash !== head.hash) return { ok: false, error: `block #${block.height} does not chain: prevHash ${short(block.prevHash)} != head ${short(head.hash)}` };
  if (rehash && hashBlock(block) !== block.hash) return { ok: false, error: `block #${block.height} has a wrong hash` };
  if (block.txs.length === 0 || block.txs.length > MAX_TXS_PER_BLOCK) return { ok: false, error: `block #${block.height} has ${block.txs.length} transfers` };
  const keys = new Set<string>();
  const scratch: Balances = new Map(balances);
  for (const tx of block.txs) {
    // A key names one transfer: once in a block (and once in the chain: transfer-keys.ts). Its
    // form is the wire guard's to check (messages.ts), and a chain file holds what passed it.
    if (keys.has(tx.id)) return { ok: false, error: `block #${block.height} holds transfer key ${JSON.stringify(tx.id)} twice` };
    keys.add(tx.id);
    const c = checkTx(scratch, block.creator, tx);
    if (!c.ok) return { ok: false, error: `block #${block.height}: ${c.error}` };
    applyTx(scratch, tx);
  }
  return { ok: true };
}

/**
 * What can be checked of a block without the chain below it: its hash, its size, and that every
 * transfer in it spends from the block's creator to another client. A block held above the head
 * is checked this far when it arrives, the rest (chaining, balances) when it is applied.
 */
export function checkBlockAlone(block: Block): BlockCheck {
  if (hashBlock(block) !== block.hash) return { ok: false, error: `block #${block.height} has a wrong hash` };
  if (block.txs.length === 0 || block.txs.length > MAX_TXS_PER_BLOCK) return { ok: false, error: `block #${block.height} has ${block.txs.length} transfers` };
  for (const tx of block.txs) {
    if (tx.from !== block.creator) return { ok: false, error: `block #${block.height}: client${block.creator} cannot spend from client${tx.from}'s account` };
    if (tx.to === tx.from) return { ok: false, error: `block #${block.height}: client${tx.from} cannot transfer to itself` };
  }
  return { ok: true };
}

export function applyBlock(balances: Balances, block: Block): void {
  for (const tx of block.txs) applyTx(balances, tx);
}

/** The inverse of `applyBlock`: `balances` at `block`'s height become the table just below it. */
export function undoBlock(balances: Balances, block: Block): void {
  for (let i = block.txs.length - 1; i >= 0; i--) {
    const tx = block.txs[i]!;
    balances.set(tx.to, (balances.get(tx.to) ?? 0) - tx.amount);
    balances.set(tx.from, (balances.get(tx.from) ?? 0) + tx.amount);
  }
}

export const short = (hash: string): string => hash.slice(0, 8);

export const balancesToRecord = (b: ReadonlyMap<NodeId, Cents>): Record<string, Cents> =>
  Object.fromEntries([...b.entries()].sort(([x], [y]) => x - y).map(([k, v]) => [String(k), v]));

export const balancesFromRecord = (r: Readonly<Record<string, Cents>>): Balances =>
  new Map(Object.entries(r).map(([k, v]) => [Number(k), v]));
