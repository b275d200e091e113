/**
 * The transfer queue: transfer commands waiting for the lock, their deadlines, the batch each lock
 * round takes, and the result every transfer command ends with.
 */
import type { LockWait, TransferFailure } from './api.js';
import { TX_ID_PATTERN } from './limits.js';
import type { Outbox } from './outbox.js';
import type { Cents, NodeId } from './types.js';
import { notAnAmount, transferTimedOut, transferToSelf, unknownRecipient } from './wording.js';

export interface PendingTransfer {
  readonly commandId: string;
  readonly to: NodeId;
  readonly amount: Cents;
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

export class TransferQueue {
  private readonly waiting: PendingTransfer[] = [];

  constructor(
    private readonly self: NodeId,
    /** Every client id in the cluster, this one included. */
    private readonly nodes: readonly NodeId[],
    /** A transfer not committed this long after it was issued fails with a timeout. */
    private readonly timeoutMs: number,
    /** At most this many transfers per block (one lock round). */
    private readonly maxBatch: number,
    private readonly out: Outbox,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  /** A transfer command: queued until a lock round takes it (true), or failed at once if it cannot be one. */
  add(commandId: string, to: NodeId, amount: Cents, now: number): boolean {
    // The command id becomes the transfer's id in the block: every peer's guard checks its form.
    if (!TX_ID_PATTERN.test(commandId)) throw new Error(`node: command id ${JSON.stringify(commandId.slice(0, 80))} cannot be a transfer id (1-64 printable ASCII characters)`);
    let error: string | null = null;
    if (!this.nodes.includes(to)) error = unknownRecipient(to);
    else if (to === this.self) error = transferToSelf(this.self);
    else if (!Number.isSafeInteger(amount) || amount <= 0) error = notAnAmount(amount);
    if (error !== null) {
      this.fail({ commandId, to, amount }, 'invalid', error);
      return false;
    }
    this.waiting.push({ commandId, to, amount, deadline: now + this.timeoutMs, announcedWaiting: false });
    return true;
  }

  /** Says once per transfer that it waits for peers to connect before the lock is requested. */
  announceWaiting(down: readonly NodeId[]): void {
    for (const t of this.waiting) {
      if (t.announcedWaiting) continue;
      t.announcedWaiting = true;
      this.out.log('info', { type: 'waitingForPeers', commandId: t.commandId, peers: down });
    }
  }

  /** Fails every transfer past its deadline, saying what the lock waited for; how many failed. */
  expire(now: number, wait: () => LockWait): number {
    const expired = this.waiting.filter((t) => t.deadline <= now);
    if (expired.length === 0) return 0;
    const error = transferTimedOut(this.timeoutMs, wait());
    for (const t of expired) {
      this.waiting.splice(this.waiting.indexOf(t), 1);
      this.fail(t, 'timeout', error);
    }
    return expired.length;
  }

  /** The next block's worth of transfers, oldest first, off the queue. */
  take(): PendingTransfer[] {
    return this.waiting.splice(0, this.maxBatch);
  }

  /** The one shape of a failed transfer's result. */
  fail(t: Pick<PendingTransfer, 'commandId' | 'to' | 'amount'>, reason: TransferFailure, error: string, balance?: Cents): void {
    this.out.reply(t.commandId, {
      type: 'transfer', ok: false, status: 'FAILED', reason, error, from: this.self, to: t.to, amount: t.amount, ...(balance !== undefined ? { balance } : {}),
    });
  }

  succeed(t: PendingTransfer, commit: Commit): void {
    this.out.reply(t.commandId, {
      type: 'transfer', ok: true, status: 'SUCCESS', txId: t.commandId, block: commit.block,
      from: this.self, to: t.to, amount: t.amount, clock: commit.clock, msgs: commit.msgs, batch: commit.batch,
    });
  }
}
