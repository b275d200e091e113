/**
 * Recorders that record a wrong cut in ways counts alone cannot see: the mutants the snapshot
 * verdict's digests, clocks and chain comparison exist for. Each is a policy (see
 * src/core/policy.ts), made anew for each client and each restart of one.
 */
import { sealBlock } from '../../src/core/ledger.js';
import type { NodePolicy, RecorderSpec } from '../../src/core/policy.js';
import { SnapshotRecorder } from '../../src/core/snapshot.js';
import { type LocalSnapshot, type Message, type NodeId, type RecordedState, isApplicationMessage } from '../../src/core/types.js';

export type Mutant = () => Partial<NodePolicy>;

const recorder = (spec: RecorderSpec, state: RecordedState = spec.state): SnapshotRecorder =>
  new SnapshotRecorder(spec.id, state, spec.peers, spec.markerFrom, spec.startedAt);

/** Stores each channel it recorded in reverse order. */
class ReversingRecorder extends SnapshotRecorder {
  override local(): LocalSnapshot {
    const l = super.local();
    return { ...l, channels: l.channels.map((c) => ({ ...c, messages: [...c.messages].reverse() })) };
  }
}
export const reversesChannels: Mutant = () => ({
  createRecorder: (s) => new ReversingRecorder(s.id, s.state, s.peers, s.markerFrom, s.startedAt),
});

/** The last application message received from each peer this session, and the one before it. */
function watchReceived(): { admit: NodePolicy['admit']; last: Map<NodeId, Message>; previous: Map<NodeId, Message> } {
  const last = new Map<NodeId, Message>();
  const previous = new Map<NodeId, Message>();
  return {
    last,
    previous,
    admit: (input) => {
      if (input.kind === 'receive' && isApplicationMessage(input.message)) {
        const before = last.get(input.from);
        if (before) previous.set(input.from, before);
        last.set(input.from, input.message);
      }
      if (input.kind === 'peerDown' || input.kind === 'peerUp') {
        last.delete(input.peer);
        previous.delete(input.peer);
      }
      return true;
    },
  };
}

/** Records a copy of the message received before each REPLY in the REPLY's place. */
export const copiesPrevious: Mutant = () => {
  const seen = watchReceived();
  class CopyingRecorder extends SnapshotRecorder {
    override onMessage(from: NodeId, message: Message): void {
      const before = seen.previous.get(from);
      super.onMessage(from, message.type === 'REPLY' && before ? before : message);
    }
  }
  return {
    admit: seen.admit,
    createRecorder: (s) => new CopyingRecorder(s.id, s.state, s.peers, s.markerFrom, s.startedAt),
  };
};

/**
 * Puts the last message received on each channel before recording in that channel's state too,
 * and records one message fewer received, so that the counts agree.
 */
export const doubleCountsAgreeing: Mutant = () => {
  const seen = watchReceived();
  return {
    admit: seen.admit,
    createRecorder: (spec) => {
      const doubled = new Set(spec.state.channels.filter((c) => c.peer !== spec.markerFrom && c.received > 0 && seen.last.has(c.peer)).map((c) => c.peer));
      const channels = spec.state.channels.map((c) => (doubled.has(c.peer) ? { ...c, received: c.received - 1 } : c));
      const r = recorder(spec, { ...spec.state, channels });
      for (const peer of doubled) r.onMessage(peer, seen.last.get(peer)!);
      return r;
    },
  };
};

/**
 * A replica on a fork above everyone: it records a head one block above its own, a block only it
 * holds (a cent moved between two accounts), with the balance table to match. The initiator
 * itself records honestly, so the forged head lies above the initiator's.
 */
export const forkedAbove: Mutant = () => ({
  createRecorder: (spec) => {
    const s = spec.state;
    if (spec.id.initiator === s.node) return recorder(spec);
    const accounts = Object.entries(s.balances).sort(([, a], [, b]) => b - a);
    const [richest, amount] = accounts[0]!;
    const other = accounts.find(([who]) => who !== richest)?.[0];
    if (amount < 1 || other === undefined) return recorder(spec);
    const block = sealBlock({
      height: s.height + 1, prevHash: s.head, ts: s.clock, creator: s.node,
      txs: [{ id: `fork-${s.node}-${s.height + 1}`, from: Number(richest), to: Number(other), amount: 1 }],
    });
    const balances = { ...s.balances, [richest]: amount - 1, [other]: s.balances[other]! + 1 };
    return recorder(spec, { ...s, height: block.height, head: block.hash, balances });
  },
});
