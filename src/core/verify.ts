/**
 * The verdict printed with every global snapshot. It checks the cut itself, from the recorded
 * states and channel states alone (the initiator's own chain aside), so that a user of the real
 * system, who has no simulator watching the wire, can trust a snapshot that says "verified":
 *
 *  1. channel counts: each channel state holds exactly the messages its sender had sent and its
 *     receiver had not yet received when they recorded (the definition of a channel's state in a
 *     consistent cut, Chandy and Lamport 1985, section 3);
 *  2. sent before the cut: each of them was sent before its sender recorded (its timestamp is at or
 *     below the sender's recorded clock, as every send ticks the clock);
 *  3. lock queues: delivering the lock messages in flight turns every client's queue entry for a
 *     peer into that peer's own request (a request queued somewhere was sent; an entry whose
 *     RELEASE was received is gone);
 *  4. money: every replica's balance table sums to the genesis total, with no negative balance;
 *  5. one history: delivering the recorded in-flight blocks extends each replica validly, and no two
 *     replicas hold different blocks at one height (nor differ from the initiator's own chain).
 *     A replica may end below the others: one that lost blocks with a connection fetches them later.
 */
import type { Verification, VerificationCheck, VerificationCheckName } from './api.js';
import { describeMessage } from './describe.js';
import { type Balances, applyBlock, balancesFromRecord, checkBlock, short } from './ledger.js';
import { formatCents } from './money.js';
import { type Block, type ChannelState, type Message, type NodeId, type RecordedState, isApplicationMessage } from './types.js';

/** The initiator's own block at a height, or null above its head. */
export type BlockAt = (height: number) => Block | null;

/** Problems listed per check before the rest are summed up, so a broken cut stays readable. */
const MAX_PROBLEMS_PER_CHECK = 10;

class Check {
  readonly problems: string[] = [];
  private dropped = 0;
  constructor(readonly name: VerificationCheckName) {}

  fail(problem: string): void {
    if (this.problems.length < MAX_PROBLEMS_PER_CHECK) this.problems.push(problem);
    else this.dropped++;
  }

  done(passed: string): VerificationCheck {
    const found = this.problems.length + this.dropped;
    const problems = this.dropped > 0 ? [...this.problems, `... and ${this.dropped} more`] : this.problems;
    return { name: this.name, ok: found === 0, detail: found === 0 ? passed : `${found} problem(s)`, problems };
  }
}

const client = (id: NodeId): string => `client${id}`;

function blocksIn(message: Message): readonly Block[] {
  if (message.type === 'RELEASE') return message.block ? [message.block] : [];
  if (message.type === 'BLOCKS') return message.blocks;
  return [];
}

function channelOf(channels: readonly ChannelState[], from: NodeId, to: NodeId): ChannelState | undefined {
  return channels.find((c) => c.from === from && c.to === to);
}

function checkCounts(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('channel counts');
  let inFlight = 0;
  for (const sender of nodes) {
    for (const receiver of nodes) {
      if (sender.node === receiver.node) continue;
      const sent = sender.channels.find((c) => c.peer === receiver.node)?.sent ?? 0;
      const received = receiver.channels.find((c) => c.peer === sender.node)?.received ?? 0;
      const channel = channelOf(channels, sender.node, receiver.node);
      const name = `${sender.node} -> ${receiver.node}`;
      if (channel === undefined) {
        check.fail(`channel ${name} has no recorded state`);
        continue;
      }
      if (received > sent) {
        check.fail(`channel ${name}: ${client(receiver.node)} had received ${received} messages when it recorded, but ${client(sender.node)} had sent only ${sent} when it recorded`);
        continue;
      }
      if (channel.messages.length !== sent - received) {
        check.fail(`channel ${name} holds ${channel.messages.length} messages, but ${client(sender.node)} had sent ${sent} and ${client(receiver.node)} received ${received} when they recorded: ${sent - received} were in flight`);
      }
      inFlight += channel.messages.length;
    }
  }
  return check.done(`every channel holds sent - received (${inFlight} in flight)`);
}

function checkSentBeforeCut(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('sent before the cut');
  for (const c of channels) {
    const sender = nodes.find((n) => n.node === c.from);
    if (sender === undefined) {
      check.fail(`channel ${c.from} -> ${c.to}: no recorded state for ${client(c.from)}`);
      continue;
    }
    for (const m of c.messages) {
      if (!isApplicationMessage(m)) check.fail(`channel ${c.from} -> ${c.to} holds ${describeMessage(m)}, which is the snapshot's own traffic`);
      else if (m.ts > sender.clock) check.fail(`channel ${c.from} -> ${c.to} holds ${describeMessage(m)}, sent after ${client(c.from)} recorded at clock ${sender.clock}`);
    }
  }
  return check.done('every message in flight was sent before its sender recorded');
}

function checkLockQueues(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('lock queues');
  const own = (s: RecordedState): number | null => s.queue.find((e) => e.node === s.node)?.ts ?? null;
  const show = (ts: number | null): string => (ts === null ? 'no request' : `a request at ts ${ts}`);
  for (const requester of nodes) {
    for (const holder of nodes) {
      if (requester.node === holder.node) continue;
      // What `holder` will queue for `requester` once the lock messages in flight arrive.
      let entry: number | null = holder.queue.find((e) => e.node === requester.node)?.ts ?? null;
      for (const m of channelOf(channels, requester.node, holder.node)?.messages ?? []) {
        if (m.type === 'REQUEST') entry = m.ts;
        else if (m.type === 'RELEASE') entry = null;
      }
      const expected = own(requester);
      if (entry !== expected) {
        check.fail(`${client(holder.node)} queues ${show(entry)} for ${client(requester.node)} (counting the lock messages in flight), but ${client(requester.node)} recorded ${show(expected)}`);
      }
    }
  }
  return check.done('every queue agrees with the requests and releases in flight');
}

function checkMoney(nodes: readonly RecordedState[], total: number): VerificationCheck {
  const check = new Check('money');
  for (const s of nodes) {
    const values = Object.values(s.balances);
    const sum = values.reduce((a, b) => a + b, 0);
    if (sum !== total) check.fail(`${client(s.node)}'s balances sum to ${formatCents(sum)}, not ${formatCents(total)}`);
    for (const [who, amount] of Object.entries(s.balances)) {
      if (amount < 0) check.fail(`${client(s.node)} records client${who} at ${formatCents(amount)}`);
    }
  }
  return check.done(`${formatCents(total)} conserved on every replica, no negative balance`);
}

interface Reached {
  readonly node: NodeId;
  readonly height: number;
  readonly hash: string;
  readonly balances: Balances;
}

function checkHistory(nodes: readonly RecordedState[], channels: readonly ChannelState[], blockAt: BlockAt): { check: VerificationCheck; reached: Reached[] } {
  const check = new Check('one history');
  const reached: Reached[] = [];
  for (const s of nodes) {
    // Blocks on their way to this replica: its out-of-order buffer and its incoming channels.
    const incoming = new Map<number, Block>();
    const offer = (b: Block): void => {
      const seen = incoming.get(b.height);
      if (seen && seen.hash !== b.hash) check.fail(`two different blocks #${b.height} are on their way to ${client(s.node)}`);
      else incoming.set(b.height, b);
    };
    for (const b of s.pendingBlocks) offer(b);
    for (const c of channels) if (c.to === s.node) for (const m of c.messages) for (const b of blocksIn(m)) offer(b);

    const balances = balancesFromRecord(s.balances);
    let head = { height: s.height, hash: s.head };
    const stale = incoming.get(s.height);
    if (stale && stale.hash !== s.head) check.fail(`${client(s.node)}'s block #${s.height} ${short(s.head)} differs from ${short(stale.hash)} in flight to it`);
    for (let next = incoming.get(head.height + 1); next; next = incoming.get(head.height + 1)) {
      const result = checkBlock(head, balances, next);
      if (!result.ok) {
        check.fail(`delivering the blocks in flight to ${client(s.node)}: ${result.error}`);
        break;
      }
      applyBlock(balances, next);
      head = { height: next.height, hash: next.hash };
    }
    reached.push({ node: s.node, ...head, balances });
  }

  // One history: equal heights, equal blocks; and every head on the initiator's own chain.
  const byHeight = new Map<number, Reached>();
  for (const r of reached) {
    const other = byHeight.get(r.height);
    if (other === undefined) byHeight.set(r.height, r);
    else if (other.hash !== r.hash) check.fail(`${client(other.node)} and ${client(r.node)} hold different blocks #${r.height}: ${short(other.hash)} and ${short(r.hash)}`);
    else {
      for (const [who, amount] of other.balances) {
        if (r.balances.get(who) !== amount) check.fail(`${client(other.node)} and ${client(r.node)} disagree on client${who}'s balance at #${r.height}`);
      }
    }
    const mine = blockAt(r.height);
    if (mine !== null && mine.hash !== r.hash) check.fail(`${client(r.node)}'s block #${r.height} ${short(r.hash)} is not the initiator's ${short(mine.hash)}`);
  }
  const top = reached.reduce((a, r) => (r.height > a ? r.height : a), 0);
  const behind = reached.filter((r) => r.height < top).length;
  return { check: check.done(behind === 0 ? `every replica reaches #${top}` : `every replica on one chain; ${behind} still catching up to #${top}`), reached };
}

export function verifySnapshot(nodes: readonly RecordedState[], channels: readonly ChannelState[], total: number, blockAt: BlockAt): Verification {
  const history = checkHistory(nodes, channels, blockAt);
  const checks = [checkCounts(nodes, channels), checkSentBeforeCut(nodes, channels), checkLockQueues(nodes, channels), checkMoney(nodes, total), history.check];
  const problems = checks.flatMap((c) => c.problems);
  const ok = problems.length === 0;
  const top = history.reached.reduce<Reached | null>((a, r) => (a === null || r.height > a.height ? r : a), null);
  return {
    ok,
    total,
    checks,
    problems,
    head: ok && top !== null ? { height: top.height, hash: top.hash } : null,
    behind: ok && top !== null ? history.reached.filter((r) => r.height < top.height).map((r) => ({ node: r.node, height: r.height })) : [],
  };
}
