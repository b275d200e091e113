/**
 * The transfer queue: transfer commands waiting for the lock, their deadlines, the batch each lock
 * round takes, and the result every transfer command ends with. Each transfer has a key (its id in
 * the block), and the queue keeps the key rules at arrival (see transfer-keys.ts): a key already
 * committed gets its first outcome again, or is refused if the content differs; a key already
 * queued is not queued twice, the retry gets the queued one's result; a queued transfer may be
 * withdrawn until the critical section takes it.
 *
 * A key this client made for the command (`madeHere`: 96 random bits) is not looked up at
 * arrival: nobody can have used it before this moment. From then on it is shown (in answers, logs,
 * `tx`), so a caller may send it again with `--id`, here or at another client: it is kept by key
 * like any other, and the critical section looks up every key whoever made it.
 */
import type { CommandResult, KeyHolder, LockWait, TransferFailure, TxState } from './api.js';
import { TX_ID_PATTERN } from './limits.js';
import type { Outbox } from './outbox.js';
import type { Committed, TransferKeys } from './transfer-keys.js';
import type { Cents, NodeId } from './types.js';
import { keyCommittedAs, keyPendingAs, notAKey, notAnAmount, transferTimedOut, transferToSelf, unknownRecipient } from './wording.js';

export interface PendingTransfer {
  readonly key: string;
  readonly to: NodeId;
  readonly amount: Cents;
  /** The command waiting for this transfer's result. */
  readonly commandId: string;
  /** Retries with its key, waiting for the same result (null: none, as almost always). */
  retries: string[] | null;
  readonly deadline: number;
  announcedWaiting: boolean;
}

/** What a committed transfer's result tells besides the transfer itself. */
export interface Commit {
  readonly block: number;
  /** Lamport clock when the block was created. */
  readonly clock: number;
  /** Messages of the lock round. */
  readonly msgs: number;
  /** Transfers committed in the same block. */
  readonly batch: number;
}

type Transfer = Pick<PendingTransfer, 'key' | 'to' | 'amount' | 'commandId' | 'retries'>;
type TransferResult = Extract<CommandResult, { type: 'transfer' }>;

export class TransferQueue {
  private readonly waiting: PendingTransfer[] = [];
  private readonly byKey = new Map<string, PendingTransfer>();

  constructor(
    private readonly self: NodeId,
    /** Every client id in the cluster, this one included. */
    private readonly nodes: readonly NodeId[],
    /** A transfer not committed this long after it was issued fails with a timeout. */
    private readonly timeoutMs: number,
    /** At most this many transfers per block (one lock round). */
    private readonly maxBatch: number,
    private readonly out: Outbox,
    private readonly keys: TransferKeys,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  /** The keys of every queued transfer, oldest first. */
  pendingKeys(): string[] {
    return this.waiting.map((t) => t.key);
  }

  /**
   * A transfer command: queued until a lock round takes it (true); or answered at once, or joined
   * to the queued transfer with its key (false).
   */
  add(commandId: string, key: string, to: NodeId, amount: Cents, now: number, madeHere = false): boolean {
    const t: Transfer = { key, to, amount, commandId, retries: null };
    let error: string | null = null;
    if (!madeHere && !TX_ID_PATTERN.test(key)) error = notAKey(key);
    else if (!this.nodes.includes(to)) error = unknownRecipient(to);
    else if (to === this.self) error = transferToSelf(this.self);
    else if (!Number.isSafeInteger(amount) || amount <= 0) error = notAnAmount(amount);
    if (error !== null) {
      // A key that is not one cannot be looked up later: nothing to remember it by.
      this.fail(t, 'invalid', error, undefined, TX_ID_PATTERN.test(key));
      return false;
    }
    if (!madeHere) {
      if (this.answerIfCommitted(t)) return false;
      const queued = this.byKey.get(key);
      if (queued) {
        if (queued.to === to && queued.amount === amount) (queued.retries ??= []).push(commandId);
        else this.refuse(t, keyPendingAs(this.self, queued.to, queued.amount), { block: null, from: this.self, to: queued.to, amount: queued.amount });
        return false;
      }
    }
    const pending: PendingTransfer = { key, to, amount, commandId, retries: null, deadline: now + this.timeoutMs, announcedWaiting: false };
    this.waiting.push(pending);
    this.byKey.set(key, pending);
    return true;
  }

  /**
   * Answers a transfer whose key the chain already holds: its first outcome again when the
   * content is the same (a repeat: nothing moves now), else a conflict naming the first. False
   * when the key is not committed.
   */
  answerIfCommitted(t: Transfer): boolean {
    const c = this.keys.committed(t.key);
    if (c === null) return false;
    if (c.tx.from === this.self && c.tx.to === t.to && c.tx.amount === t.amount) this.repeat(t, c);
    else this.refuse(t, keyCommittedAs(c.block.height, c.tx.from, c.tx.to, c.tx.amount), { block: c.block.height, from: c.tx.from, to: c.tx.to, amount: c.tx.amount });
    return true;
  }

  /**
   * Takes the transfer `key` off the queue if it is there (its commands get WITHDRAWN: nothing
   * moved); whether it was.
   */
  withdraw(key: string): boolean {
    const t = this.byKey.get(key);
    if (!t) return false;
    this.waiting.splice(this.waiting.indexOf(t), 1);
    this.byKey.delete(key);
    const outcome = { txId: key, from: this.self, to: t.to, amount: t.amount } as const;
    this.answer(t, { type: 'transfer', ok: false, status: 'WITHDRAWN', ...outcome });
    this.keys.remember({ state: 'withdrawn', ...outcome });
    this.out.log('info', { type: 'transferWithdrawn', key });
    return true;
  }

  /** What became of the transfer `key`, as far as this client knows; `wait` says what a queued one waits for. */
  state(key: string, wait: () => { requested: boolean; wait: LockWait }): TxState {
    const c = this.keys.committed(key);
    if (c) return { state: 'committed', txId: key, block: c.block.height, hash: c.block.hash, clock: c.block.ts, from: c.tx.from, to: c.tx.to, amount: c.tx.amount };
    const t = this.byKey.get(key);
    if (t) return { state: 'pending', txId: key, from: this.self, to: t.to, amount: t.amount, ...wait() };
    return this.keys.recall(key) ?? { state: 'unknown', txId: key };
  }

  /** Says once per transfer that it waits for peers to connect before the lock is requested. */
  announceWaiting(down: readonly NodeId[]): void {
    for (const t of this.waiting) {
      if (t.announcedWaiting) continue;
      t.announcedWaiting = true;
      this.out.log('info', { type: 'waitingForPeers', key: t.key, peers: down });
    }
  }

  /** Fails every transfer past its deadline, saying what the lock waited for; how many failed. */
  expire(now: number, wait: () => LockWait): number {
    const expired = this.waiting.filter((t) => t.deadline <= now);
    if (expired.length === 0) return 0;
    const error = transferTimedOut(this.timeoutMs, wait());
    for (const t of expired) {
      this.waiting.splice(this.waiting.indexOf(t), 1);
      this.byKey.delete(t.key);
      this.fail(t, 'timeout', error);
    }
    return expired.length;
  }

  /** The next block's worth of transfers, oldest first, off the queue: the critical section answers each. */
  take(): PendingTransfer[] {
    const batch = this.waiting.splice(0, this.maxBatch);
    for (const t of batch) this.byKey.delete(t.key);
    return batch;
  }

  /** The one shape of a failed transfer's result; a key that did not commit is remembered (`tx`). */
  fail(t: Transfer, reason: TransferFailure, error: string, balance?: Cents, remember = true): void {
    const outcome = { txId: t.key, from: this.self, to: t.to, amount: t.amount } as const;
    this.answer(t, { type: 'transfer', ok: false, status: 'FAILED', reason, error, ...outcome, ...(balance !== undefined ? { balance } : {}) });
    if (remember) this.keys.remember({ state: 'failed', ...outcome, reason, error });
  }

  succeed(t: PendingTransfer, commit: Commit): void {
    this.answer(t, {
      type: 'transfer', ok: true, status: 'SUCCESS', txId: t.key, repeat: false, block: commit.block,
      from: this.self, to: t.to, amount: t.amount, clock: commit.clock, msgs: commit.msgs, batch: commit.batch,
    });
  }

  /** The key is committed with this content: its first outcome, marked as a repeat. */
  private repeat(t: Transfer, c: Committed): void {
    this.answer(t, {
      type: 'transfer', ok: true, status: 'SUCCESS', txId: t.key, repeat: true, block: c.block.height,
      from: this.self, to: t.to, amount: t.amount, clock: c.block.ts, msgs: 0, batch: c.block.txs.length,
    });
  }

  /** Refused: the key names another transfer (`first`). Not remembered: the key's own transfer is that one. */
  private refuse(t: Transfer, error: string, first: KeyHolder): void {
    const outcome = { txId: t.key, from: this.self, to: t.to, amount: t.amount } as const;
    this.answer(t, { type: 'transfer', ok: false, status: 'FAILED', reason: 'conflict', error, ...outcome, first });
  }

  /** The transfer's command, and every retry joined to it, get `result`. */
  private answer(t: Transfer, result: TransferResult): void {
    this.out.reply(t.commandId, result);
    if (t.retries) for (const id of t.retries) this.out.reply(id, result);
  }
}
