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
import type { Message, NodeId, RecordedState, SnapshotId, Tx } from '../../src/core/types.js';
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

/** Never sends a reconnected peer the blocks it lacks. */
class NoCatchUp extends Node {
  override step(input: Input): Effect[] {
    return super.step(input).filter((e) => e.kind !== 'serveBlocks');
  }
}

/** Talks to a peer before its own peerUp, so its first words on a new connection are not its own. */
class SendsOutsideSessions extends Node {
  protected override inSession(_peer: NodeId): boolean {
    return true;
  }
}

function firstCaught(overrides: Partial<SimOptions>, seeds = 300): { seed: number; rule: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    try {
      runSeed(seed, overrides);
    } catch (e) {
      if (e instanceof CheckFailure) return { seed, rule: e.rule };
      if (e instanceof SnapshotCheckFailure) return { seed, rule: 'snapshot matches the channels (external)' };
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

  it('recording a channel wrongly is caught by snapshot verification', () => {
    const caught = firstCaught({ makeNode: make(WrongChannelRecording) });
    console.log('wrong channel recording caught by:', caught);
    expect(caught?.rule).toMatch(/snapshot/);
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

  it('the honest protocol passes the same seeds, with and without faults', () => {
    expect(firstCaught({}, 100)).toBeNull();
    expect(firstCaught({ faults: true }, 100)).toBeNull();
  });
});
