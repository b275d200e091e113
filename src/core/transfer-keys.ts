/**
 * Transfer keys: a key names one transfer, and commits at most once in the chain's life.
 *
 * Where a key is committed comes from the `TxIndex` (api.ts) and is confirmed by reading the block
 * it names, so an index that answers by fingerprint is never taken at its word. The rule is checked
 * where it matters, in the critical section (the creator holds every block by then: freshness), and
 * on every block from a peer (a block with a key already committed does not extend the chain), so
 * that it is a property of the chain, not of one client's memory. Arrival checks it too, for a
 * quick answer. What became of keys that did not commit (failed, withdrawn) is remembered for a
 * while, in a bounded table.
 */
import type { TxIndex, TxState } from './api.js';
import { RECENT_TRANSFER_OUTCOMES } from './limits.js';
import type { Block, Tx } from './types.js';
import { keyAlreadyCommitted } from './wording.js';

/** A committed transfer, found by its key, and its block. */
export interface Committed {
  readonly block: Block;
  readonly tx: Tx;
}

/** Where the chain holds a key, given the honest `lookup`: a decision a test may replace (policy.ts). */
export type FindKey = (key: string, lookup: (key: string) => Committed | null) => Committed | null;

/** A map from key to heights: the index of tests and the simulator (it grows with the chain). */
export class MemoryTxIndex implements TxIndex {
  private readonly heights = new Map<string, number[]>();

  /** An index holding every key of `blocks`. */
  static of(blocks: Iterable<Block>): MemoryTxIndex {
    const index = new MemoryTxIndex();
    for (const b of blocks) index.add(b);
    return index;
  }

  find(key: string): readonly number[] {
    return this.heights.get(key) ?? [];
  }

  add(block: Block): void {
    for (const tx of block.txs) {
      const at = this.heights.get(tx.id);
      if (at) at.push(block.height);
      else this.heights.set(tx.id, [block.height]);
    }
  }
}

/** A key's outcome when it did not commit: what `tx <key>` says of it later. */
export type Uncommitted = Extract<TxState, { state: 'failed' | 'withdrawn' }>;

export class TransferKeys {
  /** Newest last (a Map keeps insertion order): the oldest is forgotten first. */
  private readonly recent = new Map<string, Uncommitted>();

  constructor(
    private readonly index: TxIndex,
    /** The block at a height of this client's chain (null above its head). */
    private readonly blockAt: (height: number) => Block | null,
    private readonly lookup: FindKey,
  ) {}

  /** The committed transfer with this key, read from its block; null when the chain has none. */
  committed(key: string): Committed | null {
    return this.lookup(key, this.find);
  }

  /** An arrow, made once: a lookup is on the hot path of every block. */
  private readonly find = (key: string): Committed | null => {
    const heights = this.index.find(key);
    // An index loop, not for-of: this runs for every key of every block, almost always over nothing.
    for (let i = 0; i < heights.length; i++) {
      const block = this.blockAt(heights[i]!);
      const tx = block?.txs.find((t) => t.id === key);
      if (block && tx) return { block, tx };
    }
    return null;
  };

  /** Why `block`, next on the chain, breaks the rule (a key of it is already committed), or null. */
  conflictIn(block: Block): string | null {
    for (const tx of block.txs) {
      const c = this.committed(tx.id);
      if (c) return keyAlreadyCommitted(block.height, tx.id, c.block.height);
    }
    return null;
  }

  /** The chain's new head: its keys are committed from now on. */
  appended(block: Block): void {
    this.index.add(block);
  }

  /** Remembers what became of a key that did not commit; the oldest beyond the bound is forgotten. */
  remember(outcome: Uncommitted): void {
    this.recent.delete(outcome.txId);
    this.recent.set(outcome.txId, outcome);
    if (this.recent.size > RECENT_TRANSFER_OUTCOMES) this.recent.delete(this.recent.keys().next().value!);
  }

  /** The remembered outcome of a key that did not commit, if it is still remembered. */
  recall(key: string): Uncommitted | undefined {
    return this.recent.get(key);
  }
}
