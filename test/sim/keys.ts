/**
 * Transfer keys in the simulator: callers that retry a key the ways real ones do, and the key
 * rules checked from outside the nodes, against what each client persisted.
 *
 * Retries: a caller whose answer was lost retries as is; some retry with another amount, or at
 * another client (another sender); some give up first (withdraw) and retry later; a command that
 * died with its client's process is retried once the client is back. Some transfers carry a key
 * the client made: a caller who read it (in an answer, a log, `tx`) may send it again with its own
 * --id, at that client or at another, while it still waits or after it committed; a command that
 * died with its client is not retried with such a key (its caller never saw it).
 * Checks: no chain ever holds a key twice (at every persist); a repeat's answer names the block
 * of the client's own chain that holds the key with that content; a conflict's names the block
 * that holds the key with other content.
 */
import type { Command, CommandResult } from '../../src/core/api.js';
import type { Block, NodeId } from '../../src/core/types.js';
import type { Rng } from './rng.js';

/** Hands a command to a client at a virtual time. */
export type Issue = (time: number, node: NodeId, id: string, command: Command) => void;
export type Fail = (rule: string, detail: string) => never;

/** What a transfer command asked. */
interface Asked {
  readonly key: string;
  readonly node: NodeId;
  readonly to: NodeId;
  readonly amount: number;
  readonly attempt: number;
  /** The client made the key (no --id): the client does not look it up at arrival. */
  readonly madeHere?: boolean;
}

/** How often a workload transfer is retried, and how many times a lost command is sent again. */
const RETRY_CHANCE = 0.2;
const MAX_ATTEMPTS = 4;

export interface KeyFigures {
  readonly retries: number;
  readonly repeats: number;
  readonly conflicts: number;
  readonly withdrawn: number;
}

export class KeyRetries {
  private readonly asked = new Map<string, Asked>();
  /** Per client, each key of its chain and the height that holds it. */
  private readonly chains = new Map<NodeId, Map<string, number>>();
  private commands = 0;
  private figures = { retries: 0, repeats: 0, conflicts: 0, withdrawn: 0 };

  constructor(
    private readonly rng: Rng,
    private readonly ids: readonly NodeId[],
    private readonly issue: Issue,
    private readonly fail: Fail,
  ) {
    for (const id of ids) this.chains.set(id, new Map());
  }

  get counts(): KeyFigures {
    return this.figures;
  }

  /** A workload transfer: issued at `time`, and perhaps retried later, one of the ways callers retry. */
  transfer(time: number, node: NodeId, to: NodeId, amount: number, key: string): void {
    if (!this.rng.chance(RETRY_CHANCE)) {
      // Half the others go without a key of the caller's: the client makes it.
      this.send(time, { key, node, to, amount, attempt: 1, madeHere: this.rng.chance(0.5) });
      return;
    }
    // Half the retried keys were first made by the client: the retries give them as --id.
    this.send(time, { key, node, to, amount, attempt: 1, madeHere: this.rng.chance(0.5) });
    const later = time + this.rng.int(1, 800);
    this.figures.retries++;
    switch (this.rng.pick(['as is', 'as is', 'other amount', 'other sender', 'gave up'] as const)) {
      case 'as is':
        this.send(later, { key, node, to, amount, attempt: 2 });
        return;
      case 'other amount':
        this.send(later, { key, node, to, amount: amount + this.rng.int(1, 50), attempt: 2 });
        return;
      case 'other sender': {
        const sender = this.rng.pick(this.ids.filter((x) => x !== node));
        this.send(later, { key, node: sender, to: this.rng.pick(this.ids.filter((x) => x !== sender)), amount, attempt: 2 });
        return;
      }
      case 'gave up':
        this.issue(time + this.rng.int(0, 60), node, `${key}~w${this.commands++}`, { type: 'withdraw', key });
        this.send(later, { key, node, to, amount, attempt: 2 });
        return;
    }
  }

  private send(time: number, a: Asked): void {
    const id = `${a.key}~${this.commands++}`;
    this.asked.set(id, a);
    this.issue(time, a.node, id, { type: 'transfer', to: a.to, amount: a.amount, key: a.key, ...(a.madeHere === true ? { madeHere: true } : {}) });
  }

  /** A command that died with its client (or was typed into a dead one): its caller sends it again. */
  lost(id: string, now: number): void {
    const a = this.asked.get(id);
    if (a === undefined || a.attempt >= MAX_ATTEMPTS || a.madeHere === true) return;
    this.figures.retries++;
    this.send(now + this.rng.int(100, 1500), { ...a, attempt: a.attempt + 1 });
  }

  /** Client `node` persisted `block` on top of its chain `store` (which holds it now). */
  persisted(node: NodeId, block: Block): void {
    const keys = this.chains.get(node)!;
    for (const tx of block.txs) {
      const at = keys.get(tx.id);
      if (at !== undefined) this.fail('a key commits at most once', `client${node}'s chain holds key ${tx.id} in block #${at} and again in #${block.height}`);
      keys.set(tx.id, block.height);
    }
  }

  /** Client `node`'s chain file lost its end (a machine crash): what it holds now. */
  truncated(node: NodeId, store: readonly Block[]): void {
    const keys = new Map<string, number>();
    for (const b of store) for (const tx of b.txs) keys.set(tx.id, b.height);
    this.chains.set(node, keys);
  }

  /** A command's result from `node`, whose chain is `store`: a repeat or a conflict names a block of it truthfully. */
  answered(node: NodeId, commandId: string, r: CommandResult, store: readonly Block[]): void {
    if (r.type !== 'transfer') return;
    const a = this.asked.get(commandId);
    if (a === undefined) this.fail('every answer is to a transfer asked', `${commandId} answered by client${node}`);
    const holding = (height: number) => store[height - 1]?.txs.find((t) => t.id === a.key);
    if (r.status === 'WITHDRAWN') this.figures.withdrawn++;
    if (r.status === 'SUCCESS' && r.repeat) {
      this.figures.repeats++;
      const tx = holding(r.block);
      if (!tx || tx.from !== node || tx.to !== a.to || tx.amount !== a.amount) {
        this.fail('a repeat names the block that holds its key', `client${node} answered ${a.key} as a repeat of block #${r.block}, which holds ${JSON.stringify(tx ?? null)}`);
      }
    }
    if (r.status === 'FAILED' && r.reason === 'conflict') {
      this.figures.conflicts++;
      const first = r.first;
      if (first === undefined) this.fail('a conflict names the first transfer', `client${node}'s conflict for ${a.key} names none`);
      if (first.block !== null) {
        const tx = holding(first.block);
        const same = tx && tx.from === first.from && tx.to === first.to && tx.amount === first.amount;
        const differs = tx && (tx.from !== node || tx.to !== a.to || tx.amount !== a.amount);
        if (!same || !differs) this.fail('a conflict names the block that holds its key', `client${node} refused ${a.key} naming block #${first.block}, which holds ${JSON.stringify(tx ?? null)}`);
      }
    }
  }
}
