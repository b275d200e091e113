/**
 * The trace the core's steps produce, run through the trace viewer's own merge and cut: simulated
 * runs (with and without faults) stand in for real clients, so every message, restart and snapshot
 * the simulator makes is something the trace must get right.
 */
import { describe, expect, it } from 'vitest';
import type { GlobalSnapshot } from '../../src/core/api.js';
import type { TraceEvent } from '../../src/core/trace-events.js';
import { traceLine } from '../../src/core/trace-line.js';
import { snapshotKey } from '../../src/core/types.js';
import { computeCut } from '../../src/trace/cut.js';
import { mergeTrace } from '../../src/trace/merge.js';
import { vcBefore } from '../../src/trace/vclock.js';
import { runSeed } from './simulator.js';

function traced(seed: number, faults: boolean): { events: TraceEvent[]; snapshots: GlobalSnapshot[] } {
  const events: TraceEvent[] = [];
  const snapshots: GlobalSnapshot[] = [];
  runSeed(seed, { faults, onTrace: (e) => events.push(e), onSnapshot: (s) => snapshots.push(s) });
  return { events, snapshots };
}

describe('the trace of a simulated run, merged as `client trace` merges it', () => {
  for (const faults of [false, true]) {
    it(`${faults ? 'with faults: ' : ''}every receive matches its send, every send happens before its receive, and every snapshot's cut crosses exactly its recorded channel states`, () => {
      let seeds = 0;
      let cuts = 0;
      for (let seed = 1; seeds < 12; seed++) {
        const { events, snapshots } = traced(seed, faults);
        seeds++;
        const merged = mergeTrace(events);
        expect(merged.warnings, `seed ${seed}`).toEqual([]);
        // Every receive found its send, on the same channel and number.
        expect(merged.messages.filter((m) => m.status === 'sendMissing'), `seed ${seed}`).toEqual([]);
        // Without faults nothing is lost, and at the end nothing is in flight.
        if (!faults) expect(merged.messages.filter((m) => m.status !== 'delivered').map((m) => m.key), `seed ${seed}`).toEqual([]);
        for (const m of merged.messages) {
          if (m.send === null || m.receive === null) continue;
          expect(vcBefore(m.send.vc, m.receive.vc), `seed ${seed} ${m.key}`).toBe(true);
          expect(m.send.order).toBeLessThan(m.receive.order);
        }
        for (const s of snapshots) {
          const id = snapshotKey(s.id);
          const cut = computeCut(merged, id, { status: 'found', file: `sim seed ${seed}`, snapshot: { id, initiator: s.initiator, verified: s.verification.ok, verdict: '', nodes: s.nodes, channels: s.channels } });
          expect(cut.backwards, `seed ${seed} snapshot ${id}`).toEqual([]);
          expect(cut.agreement, `seed ${seed} snapshot ${id}`).toMatchObject({ kind: 'agrees' });
          cuts++;
        }
      }
      expect(cuts).toBeGreaterThan(10);
    });
  }

  it('every event\'s line in trace.jsonl is exactly the JSON of the event, of every kind', () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 6; seed++) {
      for (const e of traced(seed, seed % 2 === 0).events) {
        kinds.add(e.kind);
        expect(traceLine(e)).toBe(JSON.stringify(e));
      }
    }
    expect([...kinds].sort()).toEqual(['channelStart', 'channelStop', 'commit', 'enter', 'leave', 'peerDown', 'peerUp', 'receive', 'record', 'send', 'start']);
    // Strings that JSON must escape stay JSON, and so does a number that is not one.
    const odd = { v: 1, node: 1, run: 'a"b', i: 0, wall: Number.NaN, kind: 'send', to: 2, chan: '1>2/x', seq: 1, type: 'REPORT', ts: 3, desc: 'REPORT failed: "quoted"\n\\ \u2028', clock: 3, snapshot: '1.2' } as const;
    expect(JSON.parse(traceLine(odd))).toEqual(JSON.parse(JSON.stringify(odd)));
  });

  it('a restarted client continues its timeline in a new run', () => {
    for (let seed = 1; seed < 200; seed++) {
      const { events } = traced(seed, true);
      const runs = new Map<number, Set<string>>();
      for (const e of events) runs.set(e.node, (runs.get(e.node) ?? new Set()).add(e.run));
      if (![...runs.values()].some((r) => r.size > 1)) continue;
      const merged = mergeTrace(events);
      expect([...merged.runs.values()].some((r) => r.length > 1)).toBe(true);
      return;
    }
    throw new Error('no seed with a restart in 200');
  });
});
