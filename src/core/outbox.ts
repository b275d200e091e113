/**
 * Where one step's effects collect, in the order they are to be carried out. Messages go only to
 * a peer in session, and each is counted on that session.
 */
import type { CommandResult, CoreEvent, Effect, GlobalSnapshot, LogLevel } from './api.js';
import type { Membership } from './membership.js';
import type { NodePolicy } from './policy.js';
import type { Block, Message, NodeId } from './types.js';

export class Outbox {
  private effects: Effect[] = [];

  constructor(
    /** Every other client, in id order: who a broadcast goes to. */
    private readonly peers: readonly NodeId[],
    private readonly membership: Membership,
    private readonly inSession: NodePolicy['inSession'],
  ) {}

  /** The effects collected since the last call, in order; the outbox is empty after it. */
  take(): Effect[] {
    const effects = this.effects;
    this.effects = [];
    return effects;
  }

  /**
   * Only to a peer whose session this client has seen come up: on a new connection the first
   * things a peer hears are what `Node.onPeerUp` sends (the re-sent REQUEST, then missing blocks).
   * What would go to a peer that is down is lost anyway and re-derived when it is back.
   */
  send(to: NodeId, message: Message): void {
    if (!this.inSession(to, this.membership.isUp(to))) return;
    this.membership.countSent(to, message);
    this.effects.push({ kind: 'send', to, message });
  }

  /** One send event: every connected peer gets the same message with the same timestamp. */
  broadcast(message: Message): void {
    for (const p of this.peers) this.send(p, message);
  }

  /**
   * Append to the durable chain; `sync` for a block of this client's own (see
   * `Replication.append`).
   */
  persist(block: Block, sync: boolean): void {
    this.effects.push({ kind: 'persist', block, sync });
  }

  reply(commandId: string, result: CommandResult): void {
    this.effects.push({ kind: 'reply', commandId, result });
  }

  snapshotComplete(snapshot: GlobalSnapshot): void {
    this.effects.push({ kind: 'snapshotComplete', snapshot });
  }

  log(level: LogLevel, event: CoreEvent): void {
    this.effects.push({ kind: 'log', level, event });
  }
}
