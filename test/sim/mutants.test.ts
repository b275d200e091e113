/**
 * Deliberately broken protocols. Each must be caught by a checker within a bounded number of
 * seeds: proof that the checkers can fail, not only pass. A test names the rule its mutant breaks:
 * Lamport's mutex rules 1-5 as quoted at the top of src/core/mutex.ts, or the marker rules
 * (Chandy and Lamport, "Distributed Snapshots", 1985, section 3):
 *  Marker-Sending Rule for a process p: for each channel c incident on, and directed away from p,
 *    p sends one marker along c after p records its state and before p sends further messages along c.
 *  Marker-Receiving Rule for a process q, on receiving a marker along a channel c:
 *    if q has not recorded its state then q records its state and records the state of c as the
 *    empty sequence; else q records the state of c as the sequence of messages received along c
 *    after q's state was recorded and before q received the marker along c.
 * Both papers assume channels that deliver in order (FIFO).
 */
import { describe, expect, it } from 'vitest';
import { checkTx } from '../../src/core/ledger.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { viewIdOf } from '../../src/core/membership.js';
import type { NodePolicy } from '../../src/core/policy.js';
import { SnapshotRecorder } from '../../src/core/snapshot.js';
import { type Message, type NodeId, isApplicationMessage } from '../../src/core/types.js';
import { SnapshotCheckFailure } from './checkers.js';
import { CheckFailure, type SimOptions, runSeed } from './simulator.js';
import { copiesPrevious, doubleCountsAgreeing, forkedAbove, reversesChannels } from './verdict-mutants.js';

/**
 * A mutant is a policy: the decisions it gets wrong (see src/core/policy.ts). A function, so that
 * each client (and each restart of one) gets its own, with its own memory where it keeps one.
 */
type Mutant = () => Partial<NodePolicy>;

/** Enters as soon as its request heads its own queue, before every peer has answered. */
const earlyEntry: Mutant = () => ({
  mayEnter: ({ mutex }) => {
    const own = mutex.request;
    return own !== null && mutex.entries()[0] === own;
  },
});

/** Leaves blocks in flight out of the channel state it records. */
class ForgetfulRecorder extends SnapshotRecorder {
  override onMessage(from: NodeId, message: Message): void {
    if (message.type !== 'RELEASE') super.onMessage(from, message);
  }
}
const wrongChannelRecording: Mutant = () => ({
  createRecorder: (r) => new ForgetfulRecorder(r.id, r.state, r.peers, r.markerFrom, r.startedAt),
});

/** Commits transfers whatever the sender's balance. */
const noBalanceCheck: Mutant = () => ({
  checkTransfer: (balances, creator, tx) => {
    const c = checkTx(balances, creator, tx);
    return !c.ok && c.reason === 'insufficient' ? { ok: true } : c;
  },
});

/** Carries on as if a lost connection lost nothing: keeps the peer's request and timestamps. */
const ignoresLostConnections: Mutant = () => ({
  admit: (input) => input.kind !== 'peerDown',
});

/** Never sends a peer the blocks it lacks: neither when it reconnects nor when it asks. */
const noCatchUp: Mutant = () => ({
  emit: (effects) => effects.filter((e) => !(e.kind === 'send' && e.message.type === 'BLOCKS')),
});

/**
 * Enters on the handshake heights alone, as before lock messages carried heights: a client whose
 * connections never dropped cannot tell that a peer holds a block it never received.
 */
const ignoresHeights: Mutant = () => {
  const hinted = new Map<NodeId, number>();
  return {
    admit: (input) => {
      if (input.kind === 'peerUp') hinted.set(input.peer, input.height);
      if (input.kind === 'peerDown') hinted.delete(input.peer);
      return true;
    },
    fresh: ({ head, pendingBlocks }) => {
      if (pendingBlocks > 0) return false;
      for (const h of hinted.values()) if (h > head.height) return false;
      return true;
    },
  };
};

/** Leaves the lock messages (REQUEST, REPLY, a RELEASE with no block) out of channel states. */
class LockBlindRecorder extends SnapshotRecorder {
  override onMessage(from: NodeId, message: Message): void {
    if (message.type === 'REQUEST' || message.type === 'REPLY' || (message.type === 'RELEASE' && message.block === null)) return;
    super.onMessage(from, message);
  }
}
const dropsLockMessages: Mutant = () => ({
  createRecorder: (r) => new LockBlindRecorder(r.id, r.state, r.peers, r.markerFrom, r.startedAt),
});

/** Puts the last message received on each channel before recording in that channel's state too. */
const countsTwice: Mutant = () => {
  const last = new Map<NodeId, Message>();
  return {
    admit: (input) => {
      if (input.kind === 'receive' && isApplicationMessage(input.message)) last.set(input.from, input.message);
      return true;
    },
    createRecorder: (spec) => {
      const r = new SnapshotRecorder(spec.id, spec.state, spec.peers, spec.markerFrom, spec.startedAt);
      for (const [peer, m] of last) if (r.isRecording(peer)) r.onMessage(peer, m);
      return r;
    },
  };
};

/** Stops recording every channel at the first marker after the state, not at each channel's own. */
class EarlyStopRecorder extends SnapshotRecorder {
  override onMarker(_from: NodeId): void {
    for (const p of this.recording()) super.onMarker(p);
  }
}
const stopsAtFirstMarker: Mutant = () => ({
  createRecorder: (r) => new EarlyStopRecorder(r.id, r.state, r.peers, r.markerFrom, r.startedAt),
});

/** Talks to a peer before its own peerUp, so its first words on a new connection are not its own. */
const sendsOutsideSessions: Mutant = () => ({
  inSession: () => true,
});

const honest: Mutant = () => ({});

// ---- the membership view rule's mutants (the view condition of rule 5, src/core/mutex.ts) ----

/** Rule 5 without the view condition: a peer's lock message counts whatever view it was sent in. */
const noViewCheck: Mutant = () => ({
  mayEnter: ({ mutex, fresh }) => {
    const own = mutex.request;
    return own !== null && mutex.entries()[0] === own && mutex.withoutLaterMessage().length === 0 && fresh();
  },
});

/** Names a view by who is in session only: a peer that restarted unseen leaves the view as it was. */
const viewWithoutIncarnations: Mutant = () => ({
  viewId: (members) => viewIdOf(members.map((m) => ({ node: m.node, incarnation: 0 }))),
});

/** Hears the heights of REQUEST, RELEASE and BLOCKS, but not those REPLY carries. */
const replyHeightsIgnored: Mutant = () => {
  const heard = new Map<NodeId, number>();
  const tell = (peer: NodeId, height: number): void => {
    if (height > (heard.get(peer) ?? -1)) heard.set(peer, height);
  };
  return {
    admit: (input) => {
      if (input.kind === 'peerDown') heard.delete(input.peer);
      if (input.kind !== 'receive') return true;
      const m = input.message;
      if (m.type === 'REQUEST') tell(input.from, m.height);
      if (m.type === 'RELEASE') tell(input.from, Math.max(m.height, m.block?.height ?? -1));
      if (m.type === 'BLOCKS') for (const b of m.blocks) tell(input.from, b.height);
      return true;
    },
    fresh: ({ head }) => [...heard.values()].every((h) => h <= head.height),
  };
};

/** The seeds `npm test` runs with faults (test/sim/sim-faults.test.ts, 500 by default). */
const FAULT_SEEDS = 500;

function firstCaught(overrides: Partial<SimOptions>, seeds = 300): { seed: number; rule: string; detail: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    try {
      runSeed(seed, overrides);
    } catch (e) {
      if (e instanceof CheckFailure) return { seed, rule: e.rule, detail: e.message };
      if (e instanceof SnapshotCheckFailure) return { seed, rule: 'snapshot matches the channels (external)', detail: e.message };
      throw e;
    }
  }
  return null;
}

const make = (mutant: Mutant) => (c: NodeConfig) => new Node({ ...c, policy: mutant() });

describe('mutant protocols are caught by the checkers', () => {
  it('rule 5 ("a message timestamped later than its request from every other process"): entering before every peer has answered breaks mutual exclusion', () => {
    const caught = firstCaught({ makeNode: make(earlyEntry) });
    console.log('early entry caught by:', caught);
    expect(caught?.rule).toMatch(/critical section|one history|protocol errors/);
  });

  // The snapshot mutants must be caught by the verdict every user sees, not only by the
  // simulator's wire checker: the check runs the verdict first.
  it('Marker-Receiving Rule ("the sequence of messages received along c"): leaving blocks in flight out of channel states is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(wrongChannelRecording) });
    console.log('wrong channel recording caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
    expect(caught?.detail).toMatch(/channel .* holds \d+ messages, but/);
  });

  it('Marker-Receiving Rule ("the sequence of messages received along c"): leaving lock messages out of channel states is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(dropsLockMessages) });
    console.log('lock-blind recording caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('Marker-Receiving Rule ("after q\'s state was recorded"): counting a message both in a state and in a channel is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(countsTwice) });
    console.log('double counting caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('Marker-Receiving Rule ("before q received the marker along c"): recording a channel up to the wrong moment is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(stopsAtFirstMarker) });
    console.log('early stop caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('over seeds 1-200, the built-in verdict rejects exactly the cuts the wire checker rejects, for every recorder mutant', () => {
    const mutants = [
      ['lock-blind', dropsLockMessages], ['blocks left out', wrongChannelRecording], ['double counting', countsTwice], ['early stop', stopsAtFirstMarker],
      ['reversed channels', reversesChannels], ['a copy of the previous message', copiesPrevious], ['double counting, counts agreeing', doubleCountsAgreeing],
      ['forked above the initiator', forkedAbove], ['honest', honest],
    ] as const;
    for (const [name, mutant] of mutants) {
      let cuts = 0;
      let wrong = 0;
      let caught = 0;
      let falseAlarms = 0;
      for (let seed = 1; seed <= 200; seed++) {
        runSeed(seed, {
          makeNode: make(mutant),
          // Time passes: a snapshot waiting for a forged head its initiator never reaches times out.
          ticks: true,
          auditSnapshot: (verdictOk, wireProblem) => {
            cuts++;
            if (wireProblem !== null) wrong++;
            if (wireProblem !== null && !verdictOk) caught++;
            if (wireProblem === null && !verdictOk) falseAlarms++;
          },
        });
      }
      console.log(`${name}: ${cuts} cuts, ${wrong} wrong by the wire checker, ${caught} of them rejected by the verdict, ${falseAlarms} false alarms`);
      if (mutant === honest) expect(wrong).toBe(0);
      else expect(wrong).toBeGreaterThan(0);
      expect(caught).toBe(wrong);
      expect(falseAlarms).toBe(0);
    }
  });

  it('entering on handshake heights alone forks the chain after a machine crash without fsync, and is caught', () => {
    const caught = firstCaught({ faults: true, fsync: false, machineCrashes: [2, 4], makeNode: make(ignoresHeights) }, 3000);
    console.log('ignoring message heights caught by:', caught);
    expect(caught?.rule).toMatch(/one history|critical section|protocol errors/);
  });

  it('FIFO channels (assumed by rule 5 and the marker rules): delivering a channel out of order is caught', () => {
    const caught = firstCaught({ fifo: false });
    console.log('out-of-order delivery caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('skipping the balance check is caught by the creator\'s own check of its block (the rules every replica applies)', () => {
    const caught = firstCaught({ makeNode: make(noBalanceCheck) });
    console.log('skipped balance check caught by:', caught);
    // The creator checks its own block as replicas do, so it is caught there before any checker.
    expect(caught?.rule).toBe('no broken invariant');
  });

  it('rule 5 with crashes (a lost peer\'s request and timestamps are forgotten): ignoring a lost connection is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(ignoresLostConnections) });
    console.log('ignoring lost connections caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('not serving catch-up blocks after a reconnection is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(noCatchUp) });
    console.log('no catch-up caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('rule 1 on a new connection (the re-sent REQUEST goes first): sending to a peer before its session is up is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(sendsOutsideSessions) }, 1000);
    console.log('sending outside sessions caught by:', caught);
    expect(caught).not.toBeNull();
  });

  // The view rule exists for one moment: a creator's machine dies right after its RELEASE reached
  // some peers, and comes back without the block. The simulator aims machine crashes at it.
  it('rule 5 with crashes ("sent in the same membership view"): counting a lock message sent in an older view builds on a stale head, and is caught within the seeds npm test runs', () => {
    const caught = firstCaught({ faults: true, makeNode: make(noViewCheck) }, FAULT_SEEDS);
    console.log('no view check caught by:', caught);
    expect(caught?.rule).toMatch(/critical section|one history/);
  });

  it('rule 5 with crashes ("at the same process incarnation"): a view that ignores incarnations misses a peer that restarted, and is caught within the seeds npm test runs', () => {
    const caught = firstCaught({ faults: true, makeNode: make(viewWithoutIncarnations) }, FAULT_SEEDS);
    console.log('view without incarnations caught by:', caught);
    expect(caught?.rule).toMatch(/critical section|one history/);
  });

  it('freshness: ignoring the heights REPLY carries builds on a stale head after a machine crash, and is caught within the seeds npm test runs', () => {
    const caught = firstCaught({ faults: true, makeNode: make(replyHeightsIgnored) }, FAULT_SEEDS);
    console.log('REPLY heights ignored caught by:', caught);
    expect(caught?.rule).toMatch(/critical section|one history/);
  });

  it('the honest protocol passes the same seeds, with and without faults, with and without fsync', () => {
    expect(firstCaught({}, 100)).toBeNull();
    expect(firstCaught({ faults: true }, 100)).toBeNull();
    expect(firstCaught({ faults: true, fsync: false, machineCrashes: [2, 4] }, 100)).toBeNull();
  });
});
