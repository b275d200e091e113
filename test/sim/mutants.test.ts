/**
 * Deliberately broken protocols. Each must be caught by a checker within a bounded number of
 * seeds: proof that the checkers can fail, not only pass.
 */
import { describe, expect, it } from 'vitest';
import type { Effect, Input } from '../../src/core/api.js';
import type { Balances } from '../../src/core/ledger.js';
import { checkTx } from '../../src/core/ledger.js';
import { Node, type NodeConfig } from '../../src/core/node.js';
import { SnapshotRecorder } from '../../src/core/snapshot.js';
import { type Message, type NodeId, type RecordedState, type SnapshotId, type Tx, isApplicationMessage } from '../../src/core/types.js';
import { SnapshotCheckFailure } from './checkers.js';
import { CheckFailure, type SimOptions, runSeed } from './simulator.js';

/** Enters as soon as its request heads its own queue, before every peer has answered. */
class EarlyEntry extends Node {
  protected override canEnter(): boolean {
    const own = this.mutex.request;
    return own !== null && this.mutex.entries()[0] === own;
  }
}

/** Leaves blocks in flight out of the channel state it records. */
class ForgetfulRecorder extends SnapshotRecorder {
  override onMessage(from: NodeId, message: Message): void {
    if (message.type !== 'RELEASE') super.onMessage(from, message);
  }
}
class WrongChannelRecording extends Node {
  protected override createRecorder(id: SnapshotId, state: RecordedState, markerFrom: NodeId | null): SnapshotRecorder {
    return new ForgetfulRecorder(id, state, this.peers, markerFrom, this.now);
  }
}

/** Commits transfers whatever the sender's balance. */
class NoBalanceCheck extends Node {
  protected override checkTransfer(balances: Balances, tx: Tx): ReturnType<typeof checkTx> {
    const c = checkTx(balances, this.id, tx);
    return !c.ok && c.reason === 'insufficient' ? { ok: true } : c;
  }
}

/** Carries on as if a lost connection lost nothing: keeps the peer's request and timestamps. */
class IgnoresLostConnections extends Node {
  override step(input: Input): Effect[] {
    return input.kind === 'peerDown' ? [] : super.step(input);
  }
}

/** Never sends a peer the blocks it lacks: neither when it reconnects nor when it asks. */
class NoCatchUp extends Node {
  override step(input: Input): Effect[] {
    return super.step(input).filter((e) => !(e.kind === 'send' && e.message.type === 'BLOCKS'));
  }
}

/**
 * Enters on the handshake heights alone, as before lock messages carried heights: a client whose
 * connections never dropped cannot tell that a peer holds a block it never received.
 */
class IgnoresHeights extends Node {
  private readonly hinted = new Map<NodeId, number>();
  override step(input: Input): Effect[] {
    if (input.kind === 'peerUp') this.hinted.set(input.peer, input.height);
    if (input.kind === 'peerDown') this.hinted.delete(input.peer);
    return super.step(input);
  }
  protected override fresh(): boolean {
    if (this.pending.size > 0) return false;
    for (const h of this.hinted.values()) if (h > this.chainHead().height) return false;
    return true;
  }
}

/** Leaves the lock messages (REQUEST, REPLY, a RELEASE with no block) out of channel states. */
class LockBlindRecorder extends SnapshotRecorder {
  override onMessage(from: NodeId, message: Message): void {
    if (message.type === 'REQUEST' || message.type === 'REPLY' || (message.type === 'RELEASE' && message.block === null)) return;
    super.onMessage(from, message);
  }
}
class DropsLockMessages extends Node {
  protected override createRecorder(id: SnapshotId, state: RecordedState, markerFrom: NodeId | null): SnapshotRecorder {
    return new LockBlindRecorder(id, state, this.peers, markerFrom, this.now);
  }
}

/** Puts the last message received on each channel before recording in that channel's state too. */
class CountsTwice extends Node {
  private readonly last = new Map<NodeId, Message>();
  protected override onReceive(from: NodeId, message: Message): void {
    super.onReceive(from, message);
    if (isApplicationMessage(message)) this.last.set(from, message);
  }
  protected override createRecorder(id: SnapshotId, state: RecordedState, markerFrom: NodeId | null): SnapshotRecorder {
    const r = new SnapshotRecorder(id, state, this.peers, markerFrom, this.now);
    for (const [peer, m] of this.last) if (r.isRecording(peer)) r.onMessage(peer, m);
    return r;
  }
}

/** Stops recording every channel at the first marker after the state, not at each channel's own. */
class EarlyStopRecorder extends SnapshotRecorder {
  override onMarker(_from: NodeId): void {
    for (const p of this.recording()) super.onMarker(p);
  }
}
class StopsAtFirstMarker extends Node {
  protected override createRecorder(id: SnapshotId, state: RecordedState, markerFrom: NodeId | null): SnapshotRecorder {
    return new EarlyStopRecorder(id, state, this.peers, markerFrom, this.now);
  }
}

/** Talks to a peer before its own peerUp, so its first words on a new connection are not its own. */
class SendsOutsideSessions extends Node {
  protected override inSession(_peer: NodeId): boolean {
    return true;
  }
}

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

const make = (Kind: new (c: NodeConfig) => Node) => (c: NodeConfig) => new Kind(c);

describe('mutant protocols are caught by the checkers', () => {
  it('entering before every peer has answered breaks mutual exclusion', () => {
    const caught = firstCaught({ makeNode: make(EarlyEntry) });
    console.log('early entry caught by:', caught);
    expect(caught?.rule).toMatch(/critical section|one history|protocol errors/);
  });

  // The snapshot mutants must be caught by the verdict every user sees, not only by the
  // simulator's wire checker: the check runs the verdict first.
  it('leaving blocks in flight out of channel states is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(WrongChannelRecording) });
    console.log('wrong channel recording caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
    expect(caught?.detail).toMatch(/channel .* holds \d+ messages, but/);
  });

  it('leaving lock messages out of channel states is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(DropsLockMessages) });
    console.log('lock-blind recording caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('counting a message both in a state and in a channel is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(CountsTwice) });
    console.log('double counting caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('recording a channel up to the wrong moment is caught by the built-in verdict', () => {
    const caught = firstCaught({ makeNode: make(StopsAtFirstMarker) });
    console.log('early stop caught by:', caught);
    expect(caught?.rule).toBe('every snapshot verifies');
  });

  it('over seeds 1-200, the built-in verdict rejects exactly the cuts the wire checker rejects, for every recorder mutant', () => {
    for (const [name, Kind] of [['lock-blind', DropsLockMessages], ['blocks left out', WrongChannelRecording], ['double counting', CountsTwice], ['early stop', StopsAtFirstMarker], ['honest', Node]] as const) {
      let cuts = 0;
      let wrong = 0;
      let caught = 0;
      let falseAlarms = 0;
      for (let seed = 1; seed <= 200; seed++) {
        runSeed(seed, {
          makeNode: make(Kind),
          auditSnapshot: (verdictOk, wireProblem) => {
            cuts++;
            if (wireProblem !== null) wrong++;
            if (wireProblem !== null && !verdictOk) caught++;
            if (wireProblem === null && !verdictOk) falseAlarms++;
          },
        });
      }
      console.log(`${name}: ${cuts} cuts, ${wrong} wrong by the wire checker, ${caught} of them rejected by the verdict, ${falseAlarms} false alarms`);
      if (Kind === Node) expect(wrong).toBe(0);
      else expect(wrong).toBeGreaterThan(0);
      expect(caught).toBe(wrong);
      expect(falseAlarms).toBe(0);
    }
  });

  it('entering on handshake heights alone forks the chain after a machine crash without fsync, and is caught', () => {
    const caught = firstCaught({ faults: true, fsync: false, machineCrashes: [2, 4], makeNode: make(IgnoresHeights) }, 3000);
    console.log('ignoring message heights caught by:', caught);
    expect(caught?.rule).toMatch(/one history|critical section|protocol errors/);
  });

  it('delivering a channel out of order is caught', () => {
    const caught = firstCaught({ fifo: false });
    console.log('out-of-order delivery caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('skipping the balance check is caught by the money checkers', () => {
    const caught = firstCaught({ makeNode: make(NoBalanceCheck) });
    console.log('skipped balance check caught by:', caught);
    expect(caught?.rule).toMatch(/negative|conserved|protocol errors/);
  });

  it('ignoring a lost connection is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(IgnoresLostConnections) });
    console.log('ignoring lost connections caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('not serving catch-up blocks after a reconnection is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(NoCatchUp) });
    console.log('no catch-up caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('sending to a peer before its session is up (ahead of the re-sent REQUEST) is caught under faults', () => {
    const caught = firstCaught({ faults: true, makeNode: make(SendsOutsideSessions) }, 1000);
    console.log('sending outside sessions caught by:', caught);
    expect(caught).not.toBeNull();
  });

  it('the honest protocol passes the same seeds, with and without faults, with and without fsync', () => {
    expect(firstCaught({}, 100)).toBeNull();
    expect(firstCaught({ faults: true }, 100)).toBeNull();
    expect(firstCaught({ faults: true, fsync: false, machineCrashes: [2, 4] }, 100)).toBeNull();
  });
});
