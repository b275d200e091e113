/**
 * The page's replay of a saved run (src/web/replay.ts) is loaded and merged once per set of trace
 * files as they are: asking again costs a look at the files, not a reload of every trace; a trace
 * that grew (a live cluster's), a new saved snapshot or other sources load it again.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Replay, ReplayCache, loadReplay } from '../../src/web/replay.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';

let fixture: TraceFixture | null = null;
afterEach(() => {
  fixture?.cleanup();
  fixture = null;
});

/** A loader that counts its loads. */
function counting(): { load: (sources: readonly string[]) => Promise<Replay>; loads: () => number } {
  let loads = 0;
  return {
    load: (sources) => {
      loads++;
      return loadReplay(sources);
    },
    loads: () => loads,
  };
}

describe('the replay of a saved run', () => {
  it('is loaded once while its files stay as they are, even when asked for at once by several pages', async () => {
    fixture = writeTraceFixture();
    const loader = counting();
    const cache = new ReplayCache(loader.load);
    const [a, b] = await Promise.all([cache.json(fixture.dirs), cache.json(fixture.dirs)]);
    const c = await cache.json(fixture.dirs);
    expect(loader.loads()).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect((JSON.parse(a) as Replay).snapshots.map((s) => s.id)).toEqual([fixture.snapshotId]);
  });

  it('is loaded again when a trace grew, when a snapshot was saved, and for other sources', async () => {
    fixture = writeTraceFixture();
    const loader = counting();
    const cache = new ReplayCache(loader.load);
    const first = JSON.parse(await cache.json(fixture.dirs)) as Replay;
    const last = fixture.events.filter((e) => e.node === 2).at(-1)!;
    appendFileSync(path.join(fixture.dirs[1]!, 'trace.jsonl'), `${JSON.stringify({ ...last, i: last.i + 1, kind: 'peerDown', peer: 3 })}\n`);
    const grown = JSON.parse(await cache.json(fixture.dirs)) as Replay;
    expect(loader.loads()).toBe(2);
    expect(grown.events.length).toBe(first.events.length + 1);
    writeFileSync(path.join(fixture.dirs[0]!, 'snapshots', '9.9.json'), '{}\n');
    await cache.json(fixture.dirs);
    expect(loader.loads()).toBe(3);
    await cache.json(fixture.dirs.slice(0, 2));
    expect(loader.loads()).toBe(4);
  });
});
