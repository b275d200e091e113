/**
 * The verdict printed with every global snapshot. "Verified" means that a consistent run could
 * have produced the cut: a user of the real system, who has no simulator watching the wire, can
 * trust it. It checks the recorded states and channel states against each other, and every
 * recorded head against the initiator's own chain:
 *
 *  1. channels: each channel state holds exactly the messages its sender had sent and its receiver
 *     had not yet received when they recorded (Chandy and Lamport 1985, section 3): the counts
 *     agree, and the receiver's digest of what it had received, folded over the recorded messages
 *     in order, gives the sender's digest of what it had sent (digest.ts). A message missing,
 *     extra, altered or out of order changes the digest;
 *  2. sent before the cut: no message crosses the cut backwards. Each message in flight, and the
 *     last message each receiver had received, has a timestamp at or below its sender's recorded
 *     clock (every send ticks the clock);
 *  3. clocks and queues: each clock is past every timestamp its owner had received (the last one
 *     on each channel, each request it queues); each message in flight is later than what its
 *     receiver had received on that channel; delivering the lock messages in flight turns every
 *     client's queue entry for a peer into that peer's own request, a RELEASE in flight finding
 *     the request it ends (lock messages alternate REQUEST, RELEASE on a session);
 *  4. money: every replica's balance table sums to the genesis total, with no negative balance;
 *  5. one history: every head recorded, and every block buffered or in flight, is the initiator's
 *     own block at its height (the initiator's chain reaches the highest of them first: see
 *     snapshot-coordinator.ts); every replica's balance table is the table at its head, for heads
 *     within MAX_TABLE_SPREAD_BLOCKS of the initiator's (further down, the detail says whose
 *     table was not compared); and delivering the blocks in flight extends each replica validly.
 *     A replica may end below the others: one that lost blocks with a connection fetches them later.
 */
import type { Verification, VerificationCheck, VerificationCheckName } from './api.js';
import { foldDigest } from './digest.js';
import { describeMessage } from './describe.js';
import { type Balances, type Head, applyBlock, balancesFromRecord, checkBlock, short, undoBlock } from './ledger.js';
import { MAX_TABLE_SPREAD_BLOCKS } from './limits.js';
import { formatCents } from './money.js';
import { type Block, type Cents, type ChannelRecord, type ChannelState, type Message, type NodeId, type RecordedState, isApplicationMessage } from './types.js';

/** The initiator's own chain when the snapshot is assembled: every recorded head must lie on it. */
export interface ChainAtHead {
  readonly head: Head;
  /** The balance table at `head`. */
  readonly balances: ReadonlyMap<NodeId, Cents>;
  /** Blocks `from..to`, in height order (1 <= from <= to <= head.height). */
  readBlocks(from: number, to: number): readonly Block[];
}

/** Problems listed per check before the rest are summed up, so a broken cut stays readable. */
const MAX_PROBLEMS_PER_CHECK = 10;

/** Blocks read from the initiator's chain at a time while comparing heads below its own. */
const READ_BATCH = 64;

class Check {
  readonly problems: string[] = [];
  private dropped = 0;
  constructor(readonly name: VerificationCheckName) {}

  fail(problem: string): void {
    if (this.problems.length < MAX_PROBLEMS_PER_CHECK) this.problems.push(problem);
    else this.dropped++;
  }

  /** `passed` is the detail when nothing was found; `note`, what was not checked, follows the count of problems otherwise. */
  done(passed: string, note = ''): VerificationCheck {
    const found = this.problems.length + this.dropped;
    const problems = this.dropped > 0 ? [...this.problems, `... and ${this.dropped} more`] : this.problems;
    return { name: this.name, ok: found === 0, detail: found === 0 ? passed : `${found} problem(s)${note}`, problems };
  }
}

const client = (id: NodeId): string => `client${id}`;

function blocksIn(message: Message): readonly Block[] {
  if (message.type === 'RELEASE') return message.block ? [message.block] : [];
  if (message.type === 'BLOCKS') return message.blocks;
  return [];
}

/**
 * What `s` recorded of its channels with `peer`: its one record, or null when it has none or
 * several. A client records every channel, used or not, so a record left out is not "nothing
 * sent or received": the channels check fails the state (`checkRecords`), and the others skip it.
 */
function recordOf(s: RecordedState, peer: NodeId): ChannelRecord | null {
  let found: ChannelRecord | null = null;
  for (const r of s.channels) {
    if (r.peer !== peer) continue;
    if (found !== null) return null;
    found = r;
  }
  return found;
}

/** The timestamp of the last message `s` had received from `peer`, or null if none (or no one record). */
function lastReceived(s: RecordedState, peer: NodeId): number | null {
  const r = recordOf(s, peer);
  return r !== null && r.received > 0 ? r.lastReceivedTs : null;
}

/** Each state holds exactly one record of its channels with each other client, and none of itself. */
function checkRecords(nodes: readonly RecordedState[], check: Check): void {
  for (const s of nodes) {
    if (s.channels.some((r) => r.peer === s.node)) check.fail(`${client(s.node)} recorded a channel with itself`);
    for (const other of nodes) {
      if (other.node === s.node) continue;
      const n = s.channels.filter((r) => r.peer === other.node).length;
      if (n === 0) check.fail(`${client(s.node)} recorded no counts or digests of its channels with ${client(other.node)}: what it sent and received there cannot be checked`);
      else if (n > 1) check.fail(`${client(s.node)} recorded its channels with ${client(other.node)} ${n} times, not once`);
    }
  }
}

/** The recorded channels, each with the states of both ends (null where an end recorded none). */
function ends(nodes: readonly RecordedState[], channels: readonly ChannelState[]): { c: ChannelState; sender: RecordedState | null; receiver: RecordedState | null }[] {
  const byId = new Map(nodes.map((n) => [n.node, n]));
  return channels.map((c) => ({ c, sender: byId.get(c.from) ?? null, receiver: byId.get(c.to) ?? null }));
}

function checkChannels(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('channels');
  let inFlight = 0;
  checkRecords(nodes, check);
  for (const { c, sender, receiver } of ends(nodes, channels)) {
    if (sender === null || receiver === null) check.fail(`channel ${c.from} -> ${c.to}: no recorded state for ${client(sender === null ? c.from : c.to)}`);
  }
  for (const sender of nodes) {
    for (const receiver of nodes) {
      if (sender.node === receiver.node) continue;
      const name = `${sender.node} -> ${receiver.node}`;
      const channel = channels.find((c) => c.from === sender.node && c.to === receiver.node);
      if (channel === undefined) {
        check.fail(`channel ${name} has no recorded state`);
        continue;
      }
      const own = channel.messages.filter((m) => !isApplicationMessage(m));
      for (const m of own) check.fail(`channel ${name} holds ${describeMessage(m)}, which is the snapshot's own traffic`);
      if (own.length > 0) continue;
      const out = recordOf(sender, receiver.node);
      const into = recordOf(receiver, sender.node);
      if (out === null || into === null) continue;
      const { sent, sentDigest } = out;
      const { received, receivedDigest } = into;
      if (received > sent) {
        check.fail(`channel ${name}: ${client(receiver.node)} had received ${received} messages when it recorded, but ${client(sender.node)} had sent only ${sent} when it recorded`);
        continue;
      }
      if (channel.messages.length !== sent - received) {
        check.fail(`channel ${name} holds ${channel.messages.length} messages, but ${client(sender.node)} had sent ${sent} and ${client(receiver.node)} received ${received} when they recorded: ${sent - received} were in flight`);
        continue;
      }
      if (foldDigest(receivedDigest, channel.messages) !== sentDigest) {
        check.fail(`channel ${name}: the ${channel.messages.length} messages recorded in flight are not the ones ${client(sender.node)} sent after the ${received} ${client(receiver.node)} had received (digests differ: one missing, extra, altered or out of order)`);
      }
      inFlight += channel.messages.length;
    }
  }
  return check.done(`counts and digests agree on every channel (${inFlight} in flight)`);
}

function checkSentBeforeCut(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('sent before the cut');
  for (const { c, sender } of ends(nodes, channels)) {
    if (sender === null) continue;
    for (const m of c.messages) {
      if (isApplicationMessage(m) && m.ts > sender.clock) check.fail(`channel ${c.from} -> ${c.to} holds ${describeMessage(m)}, sent after ${client(c.from)} recorded at clock ${sender.clock}`);
    }
  }
  for (const receiver of nodes) {
    for (const sender of nodes) {
      if (sender.node === receiver.node) continue;
      const ts = lastReceived(receiver, sender.node);
      if (ts !== null && ts > sender.clock) {
        check.fail(`${client(receiver.node)} had received a message at ts ${ts} from ${client(sender.node)} when it recorded, sent after ${client(sender.node)} recorded at clock ${sender.clock}`);
      }
    }
  }
  return check.done('every message received or in flight was sent before the cut');
}

function checkClocksAndQueues(nodes: readonly RecordedState[], channels: readonly ChannelState[]): VerificationCheck {
  const check = new Check('clocks and queues');
  // A receive sets the clock past the message's timestamp; a request is stamped by its own clock.
  for (const s of nodes) {
    for (const e of s.queue) {
      if (e.node === s.node && e.ts > s.clock) check.fail(`${client(s.node)} queues its own request at ts ${e.ts}, past its clock ${s.clock}`);
      if (e.node !== s.node && e.ts >= s.clock) check.fail(`${client(s.node)} queues a request at ts ${e.ts} from ${client(e.node)}, but its clock ${s.clock} is not past it`);
    }
    for (const r of s.channels) {
      if (r.received > 0 && r.lastReceivedTs >= s.clock) check.fail(`${client(s.node)}'s clock ${s.clock} is not past ts ${r.lastReceivedTs}, the last it received from ${client(r.peer)}`);
    }
  }
  // Along a channel timestamps grow (each send ticks; the BLOCKS of one serve share one).
  for (const { c, receiver } of ends(nodes, channels)) {
    let last = receiver === null ? null : lastReceived(receiver, c.from);
    let after = `ts ${last}, the last ${client(c.to)} had received on it`;
    for (const m of c.messages) {
      if (!isApplicationMessage(m)) continue;
      if (last !== null && !(m.ts > last || (m.type === 'BLOCKS' && m.ts === last))) {
        check.fail(`channel ${c.from} -> ${c.to} holds ${describeMessage(m)} in flight after ${after}`);
      }
      last = m.ts;
      after = describeMessage(m);
    }
  }
  const own = (s: RecordedState): number | null => s.queue.find((e) => e.node === s.node)?.ts ?? null;
  const show = (ts: number | null): string => (ts === null ? 'no request' : `a request at ts ${ts}`);
  for (const requester of nodes) {
    for (const holder of nodes) {
      if (requester.node === holder.node) continue;
      // What `holder` will queue for `requester` once the lock messages in flight arrive.
      let entry: number | null = holder.queue.find((e) => e.node === requester.node)?.ts ?? null;
      for (const m of channels.find((c) => c.from === requester.node && c.to === holder.node)?.messages ?? []) {
        if (m.type === 'REQUEST') {
          if (entry !== null) check.fail(`${describeMessage(m)} from ${client(requester.node)} is in flight to ${client(holder.node)}, which already queues ${show(entry)} from it (counting the lock messages in flight before it)`);
          entry = m.ts;
        } else if (m.type === 'RELEASE') {
          if (entry === null) check.fail(`${describeMessage(m)} from ${client(requester.node)} is in flight to ${client(holder.node)}, which queues no request from it for it to end (counting the lock messages in flight before it)`);
          entry = null;
        }
      }
      const expected = own(requester);
      if (entry !== expected) {
        check.fail(`${client(holder.node)} queues ${show(entry)} for ${client(requester.node)} (counting the lock messages in flight), but ${client(requester.node)} recorded ${show(expected)}`);
      }
    }
  }
  return check.done('clocks past what they received; queues agree with messages in flight');
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
}

/** A block some replica holds or will receive, which must be the initiator's at its height. */
interface Claim {
  readonly height: number;
  readonly hash: string;
  readonly what: string;
}

/** The height the initiator's chain must reach before every head, buffered block and block in flight can be compared with it. */
export function heightToReach(nodes: readonly RecordedState[], channels: readonly { readonly messages: readonly Message[] }[]): number {
  let top = 0;
  for (const s of nodes) {
    top = Math.max(top, s.height);
    for (const b of s.pendingBlocks) top = Math.max(top, b.height);
  }
  for (const c of channels) for (const m of c.messages) for (const b of blocksIn(m)) top = Math.max(top, b.height);
  return top;
}

/**
 * The initiator's chain at the heights asked for: the hash at each of `hashes`, and the balance
 * table at each of `tables`. A table is found by undoing blocks from the head down, so the caller
 * keeps `tables` within MAX_TABLE_SPREAD_BLOCKS of the head; a hash below the blocks undone costs
 * one block read (consecutive heights are read together), however far below the head it is.
 */
function chainAt(chain: ChainAtHead, hashes: ReadonlySet<number>, tables: ReadonlySet<number>): { hash: Map<number, string>; table: Map<number, Balances> } {
  const hash = new Map<number, string>();
  const table = new Map<number, Balances>();
  const at = (h: number, hashThere: string, balances: Balances): void => {
    if (hashes.has(h)) hash.set(h, hashThere);
    if (tables.has(h)) table.set(h, new Map(balances));
  };
  const balances: Balances = new Map(chain.balances);
  const top = chain.head.height;
  at(top, chain.head.hash, balances);
  let low = top;
  for (const h of tables) low = Math.min(low, h);
  for (let hi = top; hi > low; ) {
    const from = Math.max(low + 1, hi - READ_BATCH + 1);
    const blocks = readExactly(chain, from, hi);
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]!;
      undoBlock(balances, b);
      at(b.height - 1, b.prevHash, balances);
    }
    hi = from - 1;
  }
  // The rest of the hashes, below the blocks undone: the block at each height, or the next one's prevHash for genesis.
  const rest = [...hashes].filter((h) => !hash.has(h) && h <= top).sort((a, b) => a - b);
  for (let i = 0; i < rest.length; ) {
    let j = i;
    while (j + 1 < rest.length && rest[j + 1] === rest[j]! + 1 && rest[j + 1]! - rest[i]! < READ_BATCH) j++;
    const from = Math.max(1, rest[i]!);
    const blocks = readExactly(chain, from, Math.max(from, rest[j]!));
    if (rest[i] === 0) hash.set(0, blocks[0]!.prevHash);
    for (const b of blocks) if (hashes.has(b.height)) hash.set(b.height, b.hash);
    i = j + 1;
  }
  return { hash, table };
}

/** The initiator's blocks `from..to`, which must all be there (1 <= from <= to <= head). */
function readExactly(chain: ChainAtHead, from: number, to: number): readonly Block[] {
  const blocks = chain.readBlocks(from, to);
  if (blocks.length !== to - from + 1) throw new Error(`verify: the chain reader returned ${blocks.length} blocks for #${from}..#${to}`);
  blocks.forEach((b, i) => {
    if (b.height !== from + i) throw new Error(`verify: the chain reader returned block #${b.height} for #${from + i}`);
  });
  return blocks;
}

function checkHistory(nodes: readonly RecordedState[], channels: readonly ChannelState[], initiator: NodeId, chain: ChainAtHead): { check: VerificationCheck; reached: Reached[] } {
  const check = new Check('one history');
  const reached: Reached[] = [];
  const claims = new Map<string, Claim>();
  const claim = (height: number, hash: string, what: string): void => {
    const key = `${height}:${hash}`;
    if (!claims.has(key)) claims.set(key, { height, hash, what });
  };
  for (const s of nodes) {
    claim(s.height, s.head, `${client(s.node)}'s head`);
    // Blocks on their way to this replica: its out-of-order buffer and its incoming channels.
    const incoming = new Map<number, Block>();
    const offer = (b: Block, what: string): void => {
      claim(b.height, b.hash, what);
      const seen = incoming.get(b.height);
      if (seen && seen.hash !== b.hash) check.fail(`two different blocks #${b.height} are on their way to ${client(s.node)}`);
      else incoming.set(b.height, b);
    };
    for (const b of s.pendingBlocks) offer(b, `block buffered by ${client(s.node)}`);
    for (const c of channels) if (c.to === s.node) for (const m of c.messages) for (const b of blocksIn(m)) offer(b, `block in flight to ${client(s.node)}`);

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
    reached.push({ node: s.node, ...head });
  }

  // Every block claimed, and every balance table, against the initiator's own chain.
  const mine = chain.head.height;
  const hashes = new Set<number>();
  for (const c of claims.values()) {
    if (c.height > mine) check.fail(`${c.what} #${c.height} ${short(c.hash)} is above ${client(initiator)}'s head #${mine}, which did not reach #${c.height} in time to compare`);
    else hashes.add(c.height);
  }
  // A table far below the initiator's head would take undoing every block between (see MAX_TABLE_SPREAD_BLOCKS).
  const tables = new Set<number>();
  const uncompared: RecordedState[] = [];
  for (const s of nodes) {
    if (s.height > mine) continue;
    if (mine - s.height <= MAX_TABLE_SPREAD_BLOCKS) tables.add(s.height);
    else uncompared.push(s);
  }
  const at = chainAt(chain, hashes, tables);
  const offChain = new Set<number>();
  for (const c of claims.values()) {
    const there = at.hash.get(c.height);
    if (there === undefined || there === c.hash) continue;
    offChain.add(c.height);
    check.fail(`${c.what} #${c.height} ${short(c.hash)} is not on ${client(initiator)}'s chain, whose #${c.height} is ${short(there)}`);
  }
  for (const s of nodes) {
    const table = at.table.get(s.height);
    if (table === undefined || offChain.has(s.height)) continue;
    const recorded = balancesFromRecord(s.balances);
    const wrong = [...new Set([...table.keys(), ...recorded.keys()])]
      .sort((a, b) => a - b)
      .filter((who) => recorded.get(who) !== table.get(who))
      .map((who) => `client${who} ${formatCents(recorded.get(who) ?? 0)}, not ${formatCents(table.get(who) ?? 0)}`);
    if (wrong.length > 0) check.fail(`${client(s.node)}'s balance table is not the one at its head #${s.height}: ${wrong.join(', ')}`);
  }

  const top = reached.reduce((a, r) => (r.height > a ? r.height : a), 0);
  const behind = reached.filter((r) => r.height < top).length;
  const notCompared = uncompared.map((s) => `${client(s.node)}'s table (#${s.height})`).join(', ');
  const onChain =
    uncompared.length === 0
      ? `every head and table on ${client(initiator)}'s chain`
      : `every head on ${client(initiator)}'s chain, every table compared at its head; ${notCompared} not compared: more than ${MAX_TABLE_SPREAD_BLOCKS} blocks below ${client(initiator)}'s head #${mine}, the most the verdict undoes`;
  const note = uncompared.length === 0 ? '' : `; ${notCompared} not compared (more than ${MAX_TABLE_SPREAD_BLOCKS} blocks below ${client(initiator)}'s head #${mine})`;
  return { check: check.done(behind === 0 ? `${onChain}; every replica reaches #${top}` : `${onChain}; ${behind} still catching up to #${top}`, note), reached };
}

export function verifySnapshot(nodes: readonly RecordedState[], channels: readonly ChannelState[], total: number, initiator: NodeId, chain: ChainAtHead): Verification {
  const history = checkHistory(nodes, channels, initiator, chain);
  const checks = [checkChannels(nodes, channels), checkSentBeforeCut(nodes, channels), checkClocksAndQueues(nodes, channels), checkMoney(nodes, total), history.check];
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
